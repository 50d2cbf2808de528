package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/sigilauth/sigil/keys/keystest"
)

const (
	corsApp   = "https://app.example.com"
	corsLocal = "http://localhost:5173"
	corsEvil  = "https://evil.example"
)

// newCORSServer serves every surface (token service with the simplejwt
// routes, SSO pages, console, admin API) with corsApp and corsLocal
// allowed.
func newCORSServer(t *testing.T) (*Server, *fakeTokens) {
	t.Helper()
	fake := &fakeTokens{simpleJWT: true}
	s, err := New(Config{Issuer: tIssuer, AllowedOrigins: []string{corsApp, corsLocal}, Logger: slog.New(slog.DiscardHandler)}, &keystest.Ring{},
		Deps{OAuth: fake, SSO: &fakeSSO{}, Admin: newFakeAdmin(), AdminTokens: apiFakeTokens{}, Console: &fakeConsoleAuth{}})
	if err != nil {
		t.Fatal(err)
	}
	return s, fake
}

// corsHeaders returns the response's Access-Control-* headers.
func corsHeaders(h http.Header) http.Header {
	out := http.Header{}
	for k, v := range h {
		if strings.HasPrefix(k, "Access-Control-") {
			out[k] = v
		}
	}
	return out
}

// TestCORSEndpoints checks the endpoints a browser app calls: an allowed
// origin is echoed (never with credentials) and its preflight answered
// 204; a disallowed origin, or none, gets no CORS header and the request
// is handled as usual; every answer to a request with an Origin varies by
// it.
func TestCORSEndpoints(t *testing.T) {
	const form = "application/x-www-form-urlencoded"
	tests := []struct {
		name         string
		method, path string
		ct, body     string
		hdr          map[string][]string
		wantStatus   int
		wantOrigin   string // Access-Control-Allow-Origin, "" for none
		wantMethods  string // Access-Control-Allow-Methods: set only on preflights
		wantVary     bool   // Vary includes Origin
		wantCalls    int    // calls reaching the token service
	}{
		{name: "token allowed origin", method: "POST", path: PathToken, ct: form, body: "grant_type=client_credentials&client_id=spa",
			hdr: map[string][]string{"Origin": {corsApp}}, wantStatus: 200, wantOrigin: corsApp, wantVary: true, wantCalls: 1},
		{name: "token second allowed origin, loopback http", method: "POST", path: PathToken, ct: form, body: "grant_type=client_credentials",
			hdr: map[string][]string{"Origin": {corsLocal}}, wantStatus: 200, wantOrigin: corsLocal, wantVary: true, wantCalls: 1},
		{name: "token disallowed origin is processed without CORS", method: "POST", path: PathToken, ct: form, body: "grant_type=client_credentials",
			hdr: map[string][]string{"Origin": {corsEvil}}, wantStatus: 200, wantVary: true, wantCalls: 1},
		{name: "token without origin", method: "POST", path: PathToken, ct: form, body: "grant_type=client_credentials",
			wantStatus: 200, wantCalls: 1},
		{name: "origin compared exactly: case", method: "POST", path: PathToken, ct: form, body: "grant_type=client_credentials",
			hdr: map[string][]string{"Origin": {"https://APP.example.com"}}, wantStatus: 200, wantVary: true, wantCalls: 1},
		{name: "origin compared exactly: trailing slash", method: "POST", path: PathToken, ct: form, body: "grant_type=client_credentials",
			hdr: map[string][]string{"Origin": {corsApp + "/"}}, wantStatus: 200, wantVary: true, wantCalls: 1},
		{name: "origin compared exactly: other port", method: "POST", path: PathToken, ct: form, body: "grant_type=client_credentials",
			hdr: map[string][]string{"Origin": {corsApp + ":8443"}}, wantStatus: 200, wantVary: true, wantCalls: 1},
		{name: "null origin", method: "POST", path: PathToken, ct: form, body: "grant_type=client_credentials",
			hdr: map[string][]string{"Origin": {"null"}}, wantStatus: 200, wantVary: true, wantCalls: 1},
		{name: "two origin headers", method: "POST", path: PathToken, ct: form, body: "grant_type=client_credentials",
			hdr: map[string][]string{"Origin": {corsApp, corsApp}}, wantStatus: 200, wantVary: true, wantCalls: 1},
		{name: "token preflight allowed", method: "OPTIONS", path: PathToken,
			hdr:        map[string][]string{"Origin": {corsApp}, "Access-Control-Request-Method": {"POST"}, "Access-Control-Request-Headers": {"content-type"}},
			wantStatus: 204, wantOrigin: corsApp, wantMethods: "POST", wantVary: true},
		{name: "token preflight disallowed gets the endpoint's 405", method: "OPTIONS", path: PathToken,
			hdr:        map[string][]string{"Origin": {corsEvil}, "Access-Control-Request-Method": {"POST"}},
			wantStatus: 405, wantVary: true},
		{name: "options that is no preflight goes to the handler", method: "OPTIONS", path: PathToken,
			hdr: map[string][]string{"Origin": {corsApp}}, wantStatus: 405, wantOrigin: corsApp, wantVary: true},
		{name: "revoke allowed origin", method: "POST", path: PathRevoke, ct: form, body: "token=x&client_id=spa",
			hdr: map[string][]string{"Origin": {corsApp}}, wantStatus: 200, wantOrigin: corsApp, wantVary: true, wantCalls: 1},
		{name: "revoke preflight allowed", method: "OPTIONS", path: PathRevoke,
			hdr:        map[string][]string{"Origin": {corsApp}, "Access-Control-Request-Method": {"POST"}},
			wantStatus: 204, wantOrigin: corsApp, wantMethods: "POST", wantVary: true},
		{name: "userinfo allowed origin", method: "GET", path: PathUserinfo,
			hdr:        map[string][]string{"Origin": {corsApp}, "Authorization": {"Bearer at"}},
			wantStatus: 200, wantOrigin: corsApp, wantVary: true, wantCalls: 1},
		{name: "userinfo disallowed origin", method: "GET", path: PathUserinfo,
			hdr:        map[string][]string{"Origin": {corsEvil}, "Authorization": {"Bearer at"}},
			wantStatus: 200, wantVary: true, wantCalls: 1},
		{name: "userinfo preflight allowed", method: "OPTIONS", path: PathUserinfo,
			hdr:        map[string][]string{"Origin": {corsApp}, "Access-Control-Request-Method": {"GET"}, "Access-Control-Request-Headers": {"authorization"}},
			wantStatus: 204, wantOrigin: corsApp, wantMethods: "GET, POST", wantVary: true},
		{name: "simplejwt obtain allowed origin", method: "POST", path: PathSimpleJWTObtain, ct: "application/json", body: `{"username":"u","password":"p"}`,
			hdr: map[string][]string{"Origin": {corsApp}}, wantStatus: 200, wantOrigin: corsApp, wantVary: true, wantCalls: 1},
		{name: "simplejwt refresh preflight allowed", method: "OPTIONS", path: PathSimpleJWTRefresh,
			hdr:        map[string][]string{"Origin": {corsApp}, "Access-Control-Request-Method": {"POST"}},
			wantStatus: 204, wantOrigin: corsApp, wantMethods: "POST", wantVary: true},
		{name: "introspection needs a confidential client: never CORS", method: "POST", path: PathIntrospect, ct: form, body: "token=x",
			hdr:        map[string][]string{"Origin": {corsApp}, "Authorization": {"Basic cnM6c2VjcmV0"}},
			wantStatus: 200, wantCalls: 1},
		{name: "introspection preflight", method: "OPTIONS", path: PathIntrospect,
			hdr:        map[string][]string{"Origin": {corsApp}, "Access-Control-Request-Method": {"POST"}},
			wantStatus: 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, fake := newCORSServer(t)
			r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			if tc.ct != "" {
				r.Header.Set("Content-Type", tc.ct)
			}
			for k, v := range tc.hdr {
				r.Header[k] = v
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, r)
			h := rec.Header()
			if rec.Code != tc.wantStatus {
				t.Errorf("status %d, want %d (%s)", rec.Code, tc.wantStatus, rec.Body)
			}
			if got := h.Values("Access-Control-Allow-Origin"); tc.wantOrigin == "" && len(got) > 0 || tc.wantOrigin != "" && !slices.Equal(got, []string{tc.wantOrigin}) {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tc.wantOrigin)
			}
			if got := slices.Contains(h.Values("Vary"), "Origin"); got != tc.wantVary {
				t.Errorf("Vary %q: Origin present %v, want %v", h.Values("Vary"), got, tc.wantVary)
			}
			if v := h.Get("Access-Control-Allow-Credentials"); v != "" {
				t.Errorf("Access-Control-Allow-Credentials %q: these endpoints use no cookies", v)
			}
			if fake.calls != tc.wantCalls {
				t.Errorf("token service called %d times, want %d", fake.calls, tc.wantCalls)
			}
			want := http.Header{}
			switch {
			case tc.wantMethods != "":
				want = http.Header{
					"Access-Control-Allow-Origin":  {tc.wantOrigin},
					"Access-Control-Allow-Methods": {tc.wantMethods},
					"Access-Control-Allow-Headers": {"Authorization, Content-Type"},
					"Access-Control-Max-Age":       {"600"},
				}
				if rec.Body.Len() != 0 {
					t.Errorf("preflight body %q, want none", rec.Body)
				}
			case tc.wantOrigin != "":
				want = http.Header{
					"Access-Control-Allow-Origin":   {tc.wantOrigin},
					"Access-Control-Expose-Headers": {"WWW-Authenticate, Retry-After, X-Request-Id"},
				}
			}
			if got := corsHeaders(h); !equalHeaders(got, want) {
				t.Errorf("CORS headers %v, want %v", got, want)
			}
		})
	}
}

func equalHeaders(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestCORSSimpleJWTKeepsVaryAccept: the simplejwt answer varies by Accept
// (as DRF's does) and, cross-origin, by Origin too.
func TestCORSSimpleJWTKeepsVaryAccept(t *testing.T) {
	s, _ := newCORSServer(t)
	r := httptest.NewRequest("POST", PathSimpleJWTVerify, strings.NewReader(`{"token":"t"}`))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Origin", corsApp)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	if got := rec.Header().Values("Vary"); !slices.Equal(got, []string{"Origin", "Accept"}) {
		t.Errorf("Vary %q, want [Origin Accept]", got)
	}
}

// TestCORSNeverOnPages: the sign-in, consent, logout and console pages,
// the stylesheet and the admin API answer an allowed origin, and its
// preflight, without any CORS header; discovery and the JWKS keep allowing
// every origin with "*" and nothing else.
func TestCORSNeverOnPages(t *testing.T) {
	s, fake := newCORSServer(t)
	tests := []struct {
		name, method, path string
		wantAny            bool // Access-Control-Allow-Origin: * and nothing else
	}{
		{name: "authorize", method: "GET", path: PathAuthorize + "?client_id=spa&response_type=code"},
		{name: "logout", method: "GET", path: PathLogout},
		{name: "console login page", method: "GET", path: PathLogin},
		{name: "console login post", method: "POST", path: PathLogin},
		{name: "console", method: "GET", path: PathConsole},
		{name: "stylesheet", method: "GET", path: PathStylesheet},
		{name: "admin api", method: "GET", path: AdminAPIPath + "/keys"},
		{name: "admin api preflight", method: "OPTIONS", path: AdminAPIPath + "/keys"},
		{name: "admin api openapi", method: "GET", path: AdminAPIPath + "/openapi.json"},
		{name: "console preflight", method: "OPTIONS", path: PathConsole},
		{name: "authorize preflight", method: "OPTIONS", path: PathAuthorize},
		{name: "unknown path", method: "GET", path: "/nope"},
		{name: "health", method: "GET", path: "/healthz"},
		{name: "discovery", method: "GET", path: PathOpenIDConfig, wantAny: true},
		{name: "jwks", method: "GET", path: PathJWKS, wantAny: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.path, nil)
			r.Header.Set("Origin", corsApp)
			r.Header.Set("Authorization", "Bearer admin")
			if tc.method == "OPTIONS" {
				r.Header.Set("Access-Control-Request-Method", "POST")
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, r)
			want := http.Header{}
			if tc.wantAny {
				want = http.Header{"Access-Control-Allow-Origin": {"*"}}
			}
			if got := corsHeaders(rec.Header()); !equalHeaders(got, want) {
				t.Errorf("%s %s (%d): CORS headers %v, want %v", tc.method, tc.path, rec.Code, got, want)
			}
			if slices.Contains(rec.Header().Values("Vary"), "Origin") {
				t.Errorf("Vary: Origin on %s", tc.path)
			}
		})
	}
	if fake.calls != 0 {
		t.Errorf("token service called %d times by pages", fake.calls)
	}
}

// TestSetAllowedOrigins: the set changes while serving; an invalid set is
// refused and the previous one stays; an empty set turns CORS off.
func TestSetAllowedOrigins(t *testing.T) {
	s, _ := newCORSServer(t)
	allowed := func(origin string) bool {
		t.Helper()
		r := httptest.NewRequest("POST", PathToken, strings.NewReader("grant_type=client_credentials"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Origin", origin)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, r)
		return rec.Header().Get("Access-Control-Allow-Origin") == origin
	}
	steps := []struct {
		name    string
		set     []string
		wantErr string
		want    []string // allowed afterwards
	}{
		{name: "start", want: []string{corsApp, corsLocal}},
		{name: "replace", set: []string{"https://new.example.com"}, want: []string{"https://new.example.com"}},
		{name: "wildcard refused", set: []string{"https://ok.example.com", "*"}, wantErr: "#2", want: []string{"https://new.example.com"}},
		{name: "null refused", set: []string{"null"}, wantErr: "#1", want: []string{"https://new.example.com"}},
		{name: "path refused", set: []string{"https://ok.example.com/"}, wantErr: "#1", want: []string{"https://new.example.com"}},
		{name: "upper case refused", set: []string{"https://OK.example.com"}, wantErr: "#1", want: []string{"https://new.example.com"}},
		{name: "user info refused", set: []string{"https://u:pw@ok.example.com"}, wantErr: "#1", want: []string{"https://new.example.com"}},
		{name: "no scheme refused", set: []string{"ok.example.com", "ftp://ok.example.com", ""}, wantErr: "#1, #2, #3", want: []string{"https://new.example.com"}},
		{name: "empty turns it off", set: []string{}},
	}
	for i, st := range steps {
		if i > 0 {
			err := s.SetAllowedOrigins(st.set)
			switch {
			case st.wantErr == "" && err != nil:
				t.Fatalf("%s: %v", st.name, err)
			case st.wantErr != "" && (err == nil || !strings.Contains(err.Error(), st.wantErr)):
				t.Fatalf("%s: error %v, want one naming %s", st.name, err, st.wantErr)
			case err != nil && strings.Contains(err.Error(), "pw"):
				t.Fatalf("%s: error %q quotes the entry", st.name, err)
			}
		}
		if got := s.AllowedOrigins(); !slices.Equal(got, slices.Sorted(slices.Values(st.want))) {
			t.Errorf("%s: AllowedOrigins() = %q, want %q", st.name, got, st.want)
		}
		for _, o := range []string{corsApp, corsLocal, "https://new.example.com", "https://ok.example.com"} {
			if got, want := allowed(o), slices.Contains(st.want, o); got != want {
				t.Errorf("%s: origin %s allowed %v, want %v", st.name, o, got, want)
			}
		}
	}
}

// TestNewRefusesBadOrigins: a bad Config.AllowedOrigins fails New.
func TestNewRefusesBadOrigins(t *testing.T) {
	if _, err := New(Config{Issuer: tIssuer, AllowedOrigins: []string{"*"}}, &keystest.Ring{}, Deps{}); err == nil {
		t.Fatal("New accepted the allowed origin *")
	}
}

// TestCORSNoAllocWithoutOrigin: a request without an Origin header (every
// server-to-server call), or with one while no origin is allowed, costs
// the wrapper no allocation.
func TestCORSNoAllocWithoutOrigin(t *testing.T) {
	tests := []struct {
		name    string
		origins []string
		origin  string
	}{
		{name: "no origin header", origins: []string{corsApp}},
		{name: "origin, none allowed", origin: corsApp},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newCORSServer(t)
			if err := s.SetAllowedOrigins(tc.origins); err != nil {
				t.Fatal(err)
			}
			h := s.withCORS(http.MethodPost, func(http.ResponseWriter, *http.Request) {})
			r := httptest.NewRequest("POST", PathToken, nil)
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			w := httptest.NewRecorder()
			if n := testing.AllocsPerRun(100, func() { h.ServeHTTP(w, r) }); n != 0 {
				t.Errorf("%v allocations per request, want 0", n)
			}
			if len(corsHeaders(w.Header())) != 0 || w.Header().Get("Vary") != "" {
				t.Errorf("headers set: %v", w.Header())
			}
		})
	}
}
