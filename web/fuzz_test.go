package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigilauth/sigil/keys/keystest"
	"github.com/sigilauth/sigil/oauth"
	"github.com/sigilauth/sigil/oauth/password"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/bolt"
)

// fuzzServer is a token service over bolt with the clients of
// newOAuthFixture, built once per fuzz target (newOAuthFixture needs a
// *testing.T). logs collects everything the server logs.
type fuzzServer struct {
	srv  *Server
	mu   sync.Mutex
	logs bytes.Buffer
}

func (f *fuzzServer) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.logs.Write(p)
}

func newFuzzServer(tb testing.TB) *fuzzServer {
	tb.Helper()
	st, err := bolt.Open(filepath.Join(tb.TempDir(), "db"), bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	keys := &keystest.Ring{}
	params := password.Params{Memory: 64, Time: 1, Threads: 1}
	fs := &fuzzServer{}
	logger := slog.New(slog.NewTextHandler(fs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	svc, err := oauth.New(oauth.Config{Issuer: tIssuer, SimpleJWT: true, CompatClientID: "sj"}, st, keys, oauth.Argon2id(params),
		oauth.WithLogger(logger))
	if err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256([]byte(tSecret))
	for _, c := range []storage.Client{
		{ID: "web", SecretHash: sum[:], Grants: []string{"password", "refresh_token", "client_credentials"}, Scopes: []string{"openid", "profile", "api"}},
		{ID: "cli", Public: true, Grants: []string{"password", "refresh_token"}, Scopes: []string{"openid"}},
		{ID: "sj", Public: true, Grants: []string{"password", "refresh_token"}, Scopes: []string{"api"}},
	} {
		if err := st.CreateClient(context.Background(), c); err != nil {
			tb.Fatal(err)
		}
	}
	h, _ := password.Hash(tPassword, params)
	if err := st.CreateUser(context.Background(), storage.User{ID: "7", Username: "alice", Name: "Alice", PasswordHash: h}); err != nil {
		tb.Fatal(err)
	}
	fs.srv, err = New(Config{Issuer: tIssuer, JWKSMaxAge: time.Minute, Logger: logger}, keys, Deps{OAuth: svc})
	if err != nil {
		tb.Fatal(err)
	}
	return fs
}

// secretsOf lists the secrets a token request carries: the client secret
// (form or Basic), the password and the refresh token. Only values long
// enough not to occur in an answer by chance count.
func secretsOf(body, authorization string) []string {
	var out []string
	add := func(s string) {
		if len(s) >= 8 && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if form, err := url.ParseQuery(body); err == nil {
		for _, k := range []string{"client_secret", "password", "refresh_token", "code", "code_verifier"} {
			for _, v := range form[k] {
				add(v)
			}
		}
	}
	if _, rest, ok := strings.Cut(authorization, " "); ok {
		if raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest)); err == nil {
			if _, pass, ok := strings.Cut(string(raw), ":"); ok {
				add(pass)
				if p, err := url.QueryUnescape(pass); err == nil {
					add(p)
				}
			}
		}
	}
	return out
}

// FuzzTokenEndpoint sends arbitrary bodies, content types and Authorization
// headers to POST /oauth2/token and /oauth2/revoke and /oauth2/introspect.
// Every answer is an RFC 6749 JSON answer with a status the contract
// allows (never 500), errors carry no-store and a known error code, and
// neither an error answer nor the log ever contains a secret of the
// request.
func FuzzTokenEndpoint(f *testing.F) {
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	}
	for _, s := range []struct{ path, body, ct, authz string }{
		{"/oauth2/token", "grant_type=password&username=alice&password=pa55+word", contentTypeForm, basic("web", tSecret)},
		{"/oauth2/token", "grant_type=password&username=alice&password=wrong-password", contentTypeForm, basic("web", "wrong-secret-value")},
		{"/oauth2/token", "grant_type=client_credentials&client_id=web&client_secret=wrong-secret-value", contentTypeForm, ""},
		{"/oauth2/token", "grant_type=client_credentials&client_secret=a&client_secret=b", contentTypeForm, ""},
		{"/oauth2/token", "grant_type=refresh_token&refresh_token=not-a-refresh-token&client_id=cli", contentTypeForm + "; charset=utf-8", ""},
		{"/oauth2/token", `{"grant_type":"password","username":"alice","password":"pa55 word"}`, "application/json", basic("web", tSecret)},
		{"/oauth2/token", "grant_type=password&client_secret=also-a-secret", contentTypeForm, basic("web", tSecret)},
		{"/oauth2/token", "%zz=%zz", contentTypeForm, "Basic !!!"},
		{"/oauth2/token", "grant_type=client_credentials", contentTypeForm, "Bearer abc"},
		{"/oauth2/revoke", "token=some-token-value-123", contentTypeForm, basic("web", "wrong-secret-value")},
		{"/oauth2/introspect", "token=some-token-value-123", contentTypeForm, basic("cli", "public-client-secret")},
	} {
		f.Add(s.path, s.body, s.ct, s.authz)
	}
	fs := newFuzzServer(f)
	allowed := []int{200, 400, 401, 405, 413, 415, 429, 503}
	codes := []string{"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "unsupported_grant_type",
		"invalid_scope", "temporarily_unavailable", "slow_down"}
	f.Fuzz(func(t *testing.T, path, body, ct, authz string) {
		switch path {
		case "/oauth2/token", "/oauth2/revoke", "/oauth2/introspect":
		default:
			path = "/oauth2/token"
		}
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.Header.Set("Content-Type", ct)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		fs.mu.Lock()
		fs.logs.Reset()
		fs.mu.Unlock()
		rec := httptest.NewRecorder()
		fs.srv.ServeHTTP(rec, req)
		if !slices.Contains(allowed, rec.Code) {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
		secrets := secretsOf(body, authz)
		fs.mu.Lock()
		logs := fs.logs.String()
		fs.mu.Unlock()
		for _, s := range secrets {
			if strings.Contains(logs, s) {
				t.Fatalf("the log contains a secret of the request: %s", logs)
			}
		}
		if rec.Code == 200 {
			return
		}
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || !slices.Contains(codes, e.Error) {
			t.Fatalf("status %d with body %q: not an RFC 6749 error", rec.Code, rec.Body)
		}
		if rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("error without Cache-Control: no-store")
		}
		for _, s := range secrets {
			if strings.Contains(rec.Body.String(), s) {
				t.Fatalf("error answer %q contains a secret of the request", rec.Body)
			}
		}
	})
}

// FuzzClientCredentials: client credentials sent with Basic (form-encoded
// then base64, RFC 6749 §2.3.1) or in the form come back exactly; a
// malformed header is invalid_client, never a panic, and no error message
// contains the secret.
func FuzzClientCredentials(f *testing.F) {
	f.Add("web", tSecret, "")
	f.Add("a:b", "c:d%", "Basic Og==")
	f.Add("ünïcode id", "sécret with spaces+plus", "basic   d2ViOnNlY3JldA==  ")
	f.Add("", "", "Basic !!!")
	f.Fuzz(func(t *testing.T, id, secret, raw string) {
		hdr := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
		cc, err := parseClientCredentials(hdr, url.Values{})
		if err != nil || cc.ID != id || cc.Secret != secret || !cc.Basic {
			t.Fatalf("Basic round trip: %+v, %v", cc, err)
		}
		cc, err = parseClientCredentials("", url.Values{"client_id": {id}, "client_secret": {secret}})
		if err != nil || cc.ID != id || cc.Secret != secret || cc.Basic {
			t.Fatalf("form round trip: %+v, %v", cc, err)
		}
		_, err = parseClientCredentials(hdr, url.Values{"client_secret": {secret}})
		if err == nil {
			t.Fatal("Basic and client_secret together were accepted")
		}
		_, err = parseClientCredentials(raw, url.Values{"client_id": {id}})
		if err != nil {
			e := oauth.AsError(err)
			if e == nil || e.Status < 400 || e.Status >= 500 {
				t.Fatalf("error %v is not a 4xx *oauth.Error", err)
			}
			for _, s := range append(secretsOf("", raw), secret) {
				if len(s) >= 8 && strings.Contains(e.Description, s) {
					t.Fatalf("error %q contains the secret", e.Description)
				}
			}
		}
	})
}
