package web

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/sigilauth/sigil/keys/keystest"
	"github.com/sigilauth/sigil/oauth"
)

// fakeTokens is a TokenService that records what the handlers pass it and
// answers with err, or a fixed success.
type fakeTokens struct {
	simpleJWT bool
	err       error

	calls   int
	token   oauth.TokenRequest
	revoke  oauth.RevokeRequest
	intro   oauth.IntrospectRequest
	obtainU string
	obtainP string
	obtainA netip.Addr
}

var _ TokenService = (*fakeTokens)(nil)

func (f *fakeTokens) Token(_ context.Context, r oauth.TokenRequest) (*oauth.TokenResponse, error) {
	f.calls++
	f.token = r
	if f.err != nil {
		return nil, f.err
	}
	return &oauth.TokenResponse{AccessToken: "at", TokenType: "Bearer", ExpiresIn: 300}, nil
}

func (f *fakeTokens) Revoke(_ context.Context, r oauth.RevokeRequest) error {
	f.calls++
	f.revoke = r
	return f.err
}

func (f *fakeTokens) Introspect(_ context.Context, r oauth.IntrospectRequest) (*oauth.Introspection, error) {
	f.calls++
	f.intro = r
	if f.err != nil {
		return nil, f.err
	}
	return &oauth.Introspection{Active: true, JTI: "j"}, nil
}

func (f *fakeTokens) UserInfo(context.Context, string) (*oauth.IDClaims, error) {
	f.calls++
	return &oauth.IDClaims{Subject: "7"}, f.err
}

func (f *fakeTokens) SimpleJWTEnabled() bool { return f.simpleJWT }

func (f *fakeTokens) SimpleJWTObtain(_ context.Context, u, p string, ip netip.Addr) (*oauth.SimpleJWTPair, error) {
	f.calls++
	f.obtainU, f.obtainP, f.obtainA = u, p, ip
	return &oauth.SimpleJWTPair{Access: "a", Refresh: "r"}, f.err
}

func (f *fakeTokens) SimpleJWTRefresh(context.Context, string) (*oauth.SimpleJWTPair, error) {
	f.calls++
	return &oauth.SimpleJWTPair{Access: "a", Refresh: "r"}, f.err
}

func (f *fakeTokens) SimpleJWTVerify(context.Context, string) error    { f.calls++; return f.err }
func (f *fakeTokens) SimpleJWTBlacklist(context.Context, string) error { f.calls++; return f.err }

// newFakeServer serves fake behind a router that trusts 10.0.0.0/8 as
// proxies.
func newFakeServer(t *testing.T, fake *fakeTokens) (*Server, *bytes.Buffer) {
	t.Helper()
	trusted, err := ParsePrefixes([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	s, err := New(Config{Issuer: tIssuer, TrustedProxies: trusted, Logger: slog.New(slog.NewTextHandler(logs, nil))},
		&keystest.Ring{}, Deps{OAuth: fake})
	if err != nil {
		t.Fatal(err)
	}
	return s, logs
}

func fakeDo(s *Server, method, path, ct, body, remote string, hdr map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = remote
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	return rec
}

// TestHandlersDecodeIntoTypedRequests checks, against a fake service, that
// the handlers hand it typed requests: form fields, client credentials
// from Basic or the form, and the client address with X-Forwarded-For
// believed only from a trusted proxy.
func TestHandlersDecodeIntoTypedRequests(t *testing.T) {
	xff := map[string]string{"X-Forwarded-For": "198.51.100.9"}
	withXFF := func(h map[string]string) map[string]string {
		out := map[string]string{"X-Forwarded-For": "198.51.100.9"}
		for k, v := range h {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name   string
		path   string
		body   string
		remote string
		hdr    map[string]string
		check  func(t *testing.T, f *fakeTokens)
	}{
		{name: "token via trusted proxy, basic auth", path: PathToken, remote: "10.1.2.3:4000", hdr: withXFF(basicAuth("web", "s e")),
			body: form("grant_type", "password", "username", "alice", "password", "pw", "scope", "openid", "refresh_token", "rt"),
			check: func(t *testing.T, f *fakeTokens) {
				want := oauth.TokenRequest{GrantType: "password", Client: oauth.ClientCredentials{ID: "web", Secret: "s e", Basic: true, RemoteIP: netip.MustParseAddr("198.51.100.9")},
					Scope: "openid", Username: "alice", Password: "pw", RefreshToken: "rt", RemoteIP: netip.MustParseAddr("198.51.100.9")}
				if f.token != want {
					t.Fatalf("got %+v, want %+v", f.token, want)
				}
			}},
		{name: "token from untrusted peer ignores X-Forwarded-For", path: PathToken, remote: "203.0.113.5:4000", hdr: xff,
			body: form("grant_type", "client_credentials", "client_id", "svc", "client_secret", "x"),
			check: func(t *testing.T, f *fakeTokens) {
				if f.token.RemoteIP != netip.MustParseAddr("203.0.113.5") || f.token.Client != (oauth.ClientCredentials{ID: "svc", Secret: "x", RemoteIP: netip.MustParseAddr("203.0.113.5")}) {
					t.Fatalf("got %+v", f.token)
				}
			}},
		{name: "revoke", path: PathRevoke, remote: "203.0.113.5:1", body: form("token", "tok", "token_type_hint", "access_token", "client_id", "cli"),
			check: func(t *testing.T, f *fakeTokens) {
				want := oauth.RevokeRequest{Client: oauth.ClientCredentials{ID: "cli", RemoteIP: netip.MustParseAddr("203.0.113.5")}, Token: "tok", TokenTypeHint: "access_token"}
				if f.revoke != want {
					t.Fatalf("got %+v", f.revoke)
				}
			}},
		{name: "introspect", path: PathIntrospect, remote: "203.0.113.5:1", hdr: basicAuth("web", "s"), body: form("token", "tok"),
			check: func(t *testing.T, f *fakeTokens) {
				want := oauth.IntrospectRequest{Client: oauth.ClientCredentials{ID: "web", Secret: "s", Basic: true, RemoteIP: netip.MustParseAddr("203.0.113.5")}, Token: "tok"}
				if f.intro != want {
					t.Fatalf("got %+v", f.intro)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeTokens{}
			s, _ := newFakeServer(t, fake)
			rec := fakeDo(s, http.MethodPost, tc.path, contentTypeForm, tc.body, tc.remote, tc.hdr)
			if rec.Code != 200 || fake.calls != 1 {
				t.Fatalf("status %d, %d calls: %s", rec.Code, fake.calls, rec.Body)
			}
			tc.check(t, fake)
		})
	}
}

// TestHandlersPreambleAndErrors checks that a request failing the shared
// preamble never reaches the service, and that service errors are mapped
// at the edge: an *oauth.Error as itself, anything else as a logged 500
// that shows no detail.
func TestHandlersPreambleAndErrors(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		path      string
		ct        string
		hdr       map[string]string
		err       error
		status    int
		code      string
		calls     int
		wantLog   string
		challenge string
	}{
		{name: "GET token", method: "GET", path: PathToken, status: 405, code: "invalid_request"},
		{name: "JSON revoke", path: PathRevoke, ct: "application/json", status: 415, code: "invalid_request"},
		{name: "malformed basic introspect", path: PathIntrospect, hdr: map[string]string{"Authorization": "Basic !!!"},
			status: 401, code: "invalid_client", challenge: oauth.ChallengeBasic},
		{name: "protocol error", path: PathToken, err: &oauth.Error{Code: oauth.CodeInvalidGrant, Status: 400, Description: "nope"},
			status: 400, code: "invalid_grant", calls: 1},
		{name: "unexpected error", path: PathIntrospect, err: errors.New("db password hunter2 rejected"),
			status: 500, code: "server_error", calls: 1, wantLog: "hunter2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeTokens{err: tc.err}
			s, logs := newFakeServer(t, fake)
			if tc.method == "" {
				tc.method = http.MethodPost
			}
			if tc.ct == "" {
				tc.ct = contentTypeForm
			}
			rec := fakeDo(s, tc.method, tc.path, tc.ct, form("token", "t", "client_id", "c"), "203.0.113.5:1", tc.hdr)
			if rec.Code != tc.status || fake.calls != tc.calls {
				t.Fatalf("status %d (want %d), %d calls (want %d): %s", rec.Code, tc.status, fake.calls, tc.calls, rec.Body)
			}
			if m := decodeBody(t, rec); m["error"] != tc.code {
				t.Fatalf("body %v", m)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tc.challenge {
				t.Fatalf("challenge %q", got)
			}
			if strings.Contains(rec.Body.String(), "hunter2") {
				t.Fatal("error detail leaked to the client")
			}
			if tc.wantLog != "" && !strings.Contains(logs.String(), tc.wantLog) {
				t.Fatalf("unexpected error not logged: %s", logs)
			}
		})
	}
}

// TestSimpleJWTSwitchIsTheService checks that the simplejwt routes follow
// the service's one switch, and that obtain gets the client address.
func TestSimpleJWTSwitchIsTheService(t *testing.T) {
	for _, on := range []bool{false, true} {
		fake := &fakeTokens{simpleJWT: on}
		s, _ := newFakeServer(t, fake)
		rec := fakeDo(s, http.MethodPost, PathSimpleJWTObtain, "application/json", `{"username":"u","password":"p"}`,
			"10.0.0.1:1", map[string]string{"X-Forwarded-For": "2001:db8::5"})
		if !on {
			if rec.Code != 404 || fake.calls != 0 {
				t.Fatalf("simplejwt off: status %d, %d calls", rec.Code, fake.calls)
			}
			continue
		}
		if rec.Code != 200 || fake.obtainU != "u" || fake.obtainP != "p" || fake.obtainA != netip.MustParseAddr("2001:db8::5") {
			t.Fatalf("simplejwt on: status %d, got %q %q %v", rec.Code, fake.obtainU, fake.obtainP, fake.obtainA)
		}
	}
}
