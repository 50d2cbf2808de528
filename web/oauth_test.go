package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigilauth/sigil/keys/keystest"
	"github.com/sigilauth/sigil/oauth"
	"github.com/sigilauth/sigil/oauth/password"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/bolt"
)

const (
	tIssuer   = "https://id.example.com"
	tSecret   = "s3cret-s3cret-s3cret-s3cret-s3cret-!"
	tPassword = "pa55 word"
)

type oauthFixture struct {
	srv   *Server
	store *bolt.Store
	keys  *keystest.Ring
	logs  *bytes.Buffer
}

func newOAuthFixture(t *testing.T, simplejwt bool) *oauthFixture {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	keys := &keystest.Ring{}
	params := password.Params{Memory: 64, Time: 1, Threads: 1}
	logs := &bytes.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	svc, err := oauth.New(oauth.Config{Issuer: tIssuer, SimpleJWT: simplejwt, CompatClientID: "sj"}, st, keys, oauth.Argon2id(params),
		oauth.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sum := sha256.Sum256([]byte(tSecret))
	for _, c := range []storage.Client{
		{ID: "web", SecretHash: sum[:], Grants: []string{"password", "refresh_token", "client_credentials"}, Scopes: []string{"openid", "profile", "api"}},
		{ID: "cli", Public: true, Grants: []string{"password", "refresh_token"}, Scopes: []string{"openid"}},
		{ID: "sj", Public: true, Grants: []string{"password", "refresh_token"}, Scopes: []string{"api"}},
	} {
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	h, _ := password.Hash(tPassword, params)
	if err := st.CreateUser(ctx, storage.User{ID: "7", Username: "alice", Name: "Alice", PasswordHash: h}); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Issuer: tIssuer, JWKSMaxAge: time.Minute, Logger: logger}, keys, Deps{OAuth: svc})
	if err != nil {
		t.Fatal(err)
	}
	return &oauthFixture{srv: srv, store: st, keys: keys, logs: logs}
}

type req struct {
	method, path, ct, body string
	hdr                    map[string]string
}

func (f *oauthFixture) do(r req) *httptest.ResponseRecorder {
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.ct == "" && r.method == http.MethodPost {
		r.ct = contentTypeForm
	}
	hr := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	if r.ct != "-" {
		hr.Header.Set("Content-Type", r.ct)
	}
	for k, v := range r.hdr {
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.srv.ServeHTTP(rec, hr)
	return rec
}

func basicAuth(id, secret string) map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))}
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

func decodeBody(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	return m
}

func (f *oauthFixture) login(t *testing.T, scope string) map[string]any {
	t.Helper()
	rec := f.do(req{path: "/oauth2/token", hdr: basicAuth("web", tSecret),
		body: form("grant_type", "password", "username", "alice", "password", tPassword, "scope", scope)})
	if rec.Code != 200 {
		t.Fatalf("login: %d %s", rec.Code, rec.Body)
	}
	return decodeBody(t, rec)
}

func TestTokenEndpointSuccess(t *testing.T) {
	f := newOAuthFixture(t, false)
	rec := f.do(req{path: "/oauth2/token", hdr: basicAuth("web", tSecret),
		body: form("grant_type", "password", "username", "alice", "password", tPassword, "scope", "openid profile")})
	if rec.Code != 200 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	for k, v := range map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache", "Content-Type": "application/json;charset=UTF-8"} {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	m := decodeBody(t, rec)
	if m["token_type"] != "Bearer" || m["expires_in"] != float64(300) || m["scope"] != "openid profile" {
		t.Fatalf("body %v", m)
	}
	for _, k := range []string{"access_token", "refresh_token", "id_token"} {
		if s, _ := m[k].(string); s == "" {
			t.Errorf("%s missing", k)
		}
	}
	// Refresh with client_secret_post.
	rec = f.do(req{path: "/oauth2/token", body: form("grant_type", "refresh_token", "refresh_token", m["refresh_token"].(string),
		"client_id", "web", "client_secret", tSecret)})
	if rec.Code != 200 {
		t.Fatalf("refresh: %d %s", rec.Code, rec.Body)
	}
	// client_credentials has no refresh token.
	rec = f.do(req{path: "/oauth2/token", hdr: basicAuth("web", tSecret), body: form("grant_type", "client_credentials", "scope", "api")})
	if m := decodeBody(t, rec); rec.Code != 200 || m["refresh_token"] != nil {
		t.Fatalf("client_credentials: %d %v", rec.Code, m)
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	f := newOAuthFixture(t, false)
	good := form("grant_type", "password", "username", "alice", "password", tPassword)
	auth := basicAuth("web", tSecret)
	tests := []struct {
		name      string
		r         req
		status    int
		code      string
		wantHdr   map[string]string
		descMatch string
	}{
		{name: "GET", r: req{method: "GET", path: "/oauth2/token"}, status: 405, code: "invalid_request", wantHdr: map[string]string{"Allow": "POST"}},
		{name: "PUT", r: req{method: "PUT", path: "/oauth2/token", body: good, ct: contentTypeForm, hdr: auth}, status: 405, code: "invalid_request"},
		{name: "JSON body", r: req{path: "/oauth2/token", ct: "application/json", body: `{"grant_type":"password"}`, hdr: auth}, status: 415, code: "invalid_request", descMatch: "application/x-www-form-urlencoded"},
		{name: "no content type", r: req{path: "/oauth2/token", ct: "-", body: good, hdr: auth}, status: 415, code: "invalid_request"},
		{name: "latin1 charset", r: req{path: "/oauth2/token", ct: contentTypeForm + "; charset=ISO-8859-1", body: good, hdr: auth}, status: 415, code: "invalid_request"},
		{name: "utf-8 charset ok", r: req{path: "/oauth2/token", ct: contentTypeForm + "; charset=UTF-8", body: good, hdr: auth}, status: 200},
		{name: "repeated parameter", r: req{path: "/oauth2/token", body: good + "&scope=openid&scope=api", hdr: auth}, status: 400, code: "invalid_request", descMatch: `"scope" is repeated`},
		{name: "body over 64 KiB", r: req{path: "/oauth2/token", body: good + "&pad=" + strings.Repeat("a", 64<<10), hdr: auth}, status: 413, code: "invalid_request"},
		{name: "query string", r: req{path: "/oauth2/token?password=x", body: good, hdr: auth}, status: 400, code: "invalid_request"},
		{name: "malformed form", r: req{path: "/oauth2/token", body: "grant_type=%zz", hdr: auth}, status: 400, code: "invalid_request"},
		{name: "missing grant type", r: req{path: "/oauth2/token", body: "", hdr: auth}, status: 400, code: "invalid_request"},
		{name: "unsupported grant", r: req{path: "/oauth2/token", body: form("grant_type", "implicit"), hdr: auth}, status: 400, code: "unsupported_grant_type"},
		{name: "bad secret basic", r: req{path: "/oauth2/token", body: good, hdr: basicAuth("web", "nope")}, status: 401, code: "invalid_client", wantHdr: map[string]string{"WWW-Authenticate": `Basic realm="sigil", charset="UTF-8"`}},
		{name: "bad secret post", r: req{path: "/oauth2/token", body: good + "&client_id=web&client_secret=nope"}, status: 401, code: "invalid_client", wantHdr: map[string]string{"WWW-Authenticate": ""}},
		{name: "two auth methods", r: req{path: "/oauth2/token", body: good + "&client_secret=" + tSecret, hdr: auth}, status: 400, code: "invalid_request"},
		{name: "unauthorized grant", r: req{path: "/oauth2/token", body: form("grant_type", "client_credentials", "client_id", "cli")}, status: 400, code: "unauthorized_client"},
		{name: "invalid scope", r: req{path: "/oauth2/token", body: good + "&scope=admin", hdr: auth}, status: 400, code: "invalid_scope"},
		{name: "bad password", r: req{path: "/oauth2/token", body: form("grant_type", "password", "username", "alice", "password", "x"), hdr: auth}, status: 400, code: "invalid_grant"},
		{name: "bad refresh token", r: req{path: "/oauth2/token", body: form("grant_type", "refresh_token", "refresh_token", "sgl_rt_nope"), hdr: auth}, status: 400, code: "invalid_grant"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(tc.r)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control %q", rec.Header().Get("Cache-Control"))
			}
			if tc.code != "" {
				m := decodeBody(t, rec)
				if m["error"] != tc.code {
					t.Fatalf("error %v, want %s", m["error"], tc.code)
				}
				if d, _ := m["error_description"].(string); !strings.Contains(d, tc.descMatch) {
					t.Fatalf("description %q lacks %q", d, tc.descMatch)
				}
			}
			for k, v := range tc.wantHdr {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

// TestFailedClientAuthLimitedPerAddress sends 200 wrong client secrets from
// one address through the HTTP layer: after the burst the answer is 429
// temporarily_unavailable with Retry-After, on the token and introspection
// endpoints alike, while another address still gets invalid_client.
func TestFailedClientAuthLimitedPerAddress(t *testing.T) {
	f := newOAuthFixture(t, false)
	send := func(path, remote string) *httptest.ResponseRecorder {
		hr := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form("grant_type", "client_credentials", "token", "t")))
		hr.Header.Set("Content-Type", contentTypeForm)
		hr.Header.Set("Authorization", basicAuth("web", "nope")["Authorization"])
		hr.RemoteAddr = remote
		rec := httptest.NewRecorder()
		f.srv.ServeHTTP(rec, hr)
		return rec
	}
	counts := map[int]int{}
	for range 200 {
		counts[send("/oauth2/token", "198.51.100.66:5000").Code]++
	}
	// The default burst is 30 and the clock is real: a token or two may
	// refill during the run, no more.
	if counts[401] < 30 || counts[401] > 32 || counts[429] != 200-counts[401] {
		t.Fatalf("answers %v, want about 30 401s then 429s", counts)
	}
	for _, path := range []string{"/oauth2/token", "/oauth2/introspect"} {
		rec := send(path, "198.51.100.66:5001")
		if rec.Code != 429 || rec.Header().Get("Retry-After") == "" || decodeBody(t, rec)["error"] != "temporarily_unavailable" {
			t.Fatalf("%s from the limited address: %d %v %s", path, rec.Code, rec.Header(), rec.Body)
		}
	}
	if rec := send("/oauth2/token", "203.0.113.7:5000"); rec.Code != 401 || decodeBody(t, rec)["error"] != "invalid_client" {
		t.Fatalf("another address: %d %s", rec.Code, rec.Body)
	}
}

func TestTokenEndpointStorageDownIs503(t *testing.T) {
	f := newOAuthFixture(t, true)
	_ = f.store.Close()
	for _, r := range []req{
		{path: "/oauth2/token", hdr: basicAuth("web", tSecret), body: form("grant_type", "password", "username", "alice", "password", tPassword)},
		{path: "/oauth2/revoke", hdr: basicAuth("web", tSecret), body: form("token", "sgl_rt_"+strings.Repeat("A", 22)+"."+strings.Repeat("A", 43))},
		{path: "/api/token/", ct: "application/json", body: `{"username":"alice","password":"x"}`},
	} {
		t.Run(r.path, func(t *testing.T) {
			rec := f.do(r)
			if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
				t.Fatalf("status %d Retry-After %q: %s", rec.Code, rec.Header().Get("Retry-After"), rec.Body)
			}
		})
	}
}

func TestTokenEndpointInternalErrorHidesCause(t *testing.T) {
	f := newOAuthFixture(t, false)
	f.keys.SetFailing(true)
	rec := f.do(req{path: "/oauth2/token", hdr: basicAuth("web", tSecret), body: form("grant_type", "client_credentials")})
	if rec.Code != 500 {
		t.Fatalf("status %d", rec.Code)
	}
	if m := decodeBody(t, rec); m["error"] != "server_error" || strings.Contains(rec.Body.String(), "deadbeef") {
		t.Fatalf("body %s", rec.Body)
	}
	if !strings.Contains(f.logs.String(), "sign access token") {
		t.Fatalf("cause not logged: %s", f.logs)
	}
}

func TestSecretsNeverLogged(t *testing.T) {
	f := newOAuthFixture(t, true)
	m := f.login(t, "openid")
	_ = f.do(req{path: "/oauth2/token", hdr: basicAuth("web", tSecret), body: form("grant_type", "password", "username", "alice", "password", "wrong-"+tPassword)})
	_ = f.do(req{path: "/oauth2/token", hdr: basicAuth("web", tSecret), body: form("grant_type", "refresh_token", "refresh_token", m["refresh_token"].(string))})
	_ = f.do(req{path: "/oauth2/token", hdr: basicAuth("web", tSecret), body: form("grant_type", "refresh_token", "refresh_token", m["refresh_token"].(string))}) // reuse: logged
	logs := f.logs.String()
	if !strings.Contains(logs, "reuse") {
		t.Fatalf("reuse not logged: %s", logs)
	}
	for _, secret := range []string{tPassword, tSecret, m["refresh_token"].(string), m["access_token"].(string)} {
		if strings.Contains(logs, secret) {
			t.Fatalf("secret in logs: %s", logs)
		}
	}
}

func TestUserinfoEndpoint(t *testing.T) {
	f := newOAuthFixture(t, false)
	m := f.login(t, "openid profile")
	at, idt := m["access_token"].(string), m["id_token"].(string)
	tests := []struct {
		name      string
		r         req
		status    int
		challenge string
	}{
		{name: "GET bearer", r: req{method: "GET", path: "/userinfo", hdr: map[string]string{"Authorization": "Bearer " + at}}, status: 200},
		{name: "POST bearer", r: req{path: "/userinfo", ct: "-", hdr: map[string]string{"Authorization": "Bearer " + at}}, status: 200},
		{name: "POST form token", r: req{path: "/userinfo", body: form("access_token", at)}, status: 200},
		{name: "both header and body", r: req{path: "/userinfo", body: form("access_token", at), hdr: map[string]string{"Authorization": "Bearer " + at}}, status: 400},
		{name: "no token", r: req{method: "GET", path: "/userinfo"}, status: 401, challenge: `Bearer realm="sigil"`},
		{name: "basic scheme", r: req{method: "GET", path: "/userinfo", hdr: basicAuth("web", tSecret)}, status: 401, challenge: `Bearer realm="sigil"`},
		{name: "id token", r: req{method: "GET", path: "/userinfo", hdr: map[string]string{"Authorization": "Bearer " + idt}}, status: 401, challenge: `Bearer error="invalid_token"`},
		{name: "garbage", r: req{method: "GET", path: "/userinfo", hdr: map[string]string{"Authorization": "Bearer abc"}}, status: 401, challenge: `Bearer error="invalid_token"`},
		{name: "DELETE", r: req{method: "DELETE", path: "/userinfo"}, status: 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(tc.r)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if tc.status == 200 {
				if b := decodeBody(t, rec); b["sub"] != "7" || b["name"] != "Alice" || b["preferred_username"] != "alice" {
					t.Fatalf("userinfo %v", b)
				}
			}
			if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, tc.challenge) {
				t.Fatalf("WWW-Authenticate %q, want prefix %q", got, tc.challenge)
			}
		})
	}
}

func TestRevokeAndIntrospectEndpoints(t *testing.T) {
	f := newOAuthFixture(t, false)
	m := f.login(t, "openid")
	at, rt := m["access_token"].(string), m["refresh_token"].(string)
	introspect := func(tok string) map[string]any {
		t.Helper()
		rec := f.do(req{path: "/oauth2/introspect", hdr: basicAuth("web", tSecret), body: form("token", tok)})
		if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-store" {
			t.Fatalf("introspect: %d %s", rec.Code, rec.Body)
		}
		return decodeBody(t, rec)
	}
	if in := introspect(at); in["active"] != true || in["sub"] != "7" {
		t.Fatalf("introspect access %v", in)
	}
	if in := introspect(rt); in["active"] != true {
		t.Fatalf("introspect refresh %v", in)
	}
	for _, tok := range []string{at, rt, "unknown-token"} {
		rec := f.do(req{path: "/oauth2/revoke", hdr: basicAuth("web", tSecret), body: form("token", tok)})
		if rec.Code != 200 || rec.Body.Len() != 0 {
			t.Fatalf("revoke: %d %q", rec.Code, rec.Body)
		}
	}
	if in := introspect(at); in["active"] != false || len(in) != 1 {
		t.Fatalf("revoked access %v", in)
	}
	if in := introspect(rt); in["active"] != false {
		t.Fatalf("revoked refresh %v", in)
	}
	if rec := f.do(req{path: "/oauth2/introspect", body: form("token", at, "client_id", "cli")}); rec.Code != 401 {
		t.Fatalf("introspect by public client: %d", rec.Code)
	}
	if rec := f.do(req{path: "/oauth2/revoke", hdr: basicAuth("web", tSecret)}); rec.Code != 400 {
		t.Fatalf("revoke without token: %d", rec.Code)
	}
	if rec := f.do(req{method: "GET", path: "/oauth2/revoke"}); rec.Code != 405 {
		t.Fatalf("GET revoke: %d", rec.Code)
	}
}

func TestOAuthRoutesAbsentWithoutService(t *testing.T) {
	s, err := New(Config{Issuer: tIssuer}, &keystest.Ring{}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("POST", "/oauth2/token", nil))
	if rec.Code != 404 {
		t.Fatalf("status %d", rec.Code)
	}
}

func TestSimpleJWTEndpoints(t *testing.T) {
	f := newOAuthFixture(t, true)
	rec := f.do(req{path: "/api/token/", ct: "application/json", body: `{"username":"alice","password":"` + tPassword + `"}`})
	if rec.Code != 200 {
		t.Fatalf("obtain: %d %s", rec.Code, rec.Body)
	}
	pair := decodeBody(t, rec)
	if len(pair) != 2 || pair["access"] == "" || pair["refresh"] == "" {
		t.Fatalf("pair %v", pair)
	}
	// Form bodies work too.
	rec = f.do(req{path: "/api/token/", body: form("username", "alice", "password", tPassword)})
	if rec.Code != 200 {
		t.Fatalf("form obtain: %d %s", rec.Code, rec.Body)
	}
	other := decodeBody(t, rec)
	// And multipart.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	_ = mw.WriteField("username", "alice")
	_ = mw.WriteField("password", tPassword)
	_ = mw.Close()
	if rec := f.do(req{path: "/api/token/", ct: mw.FormDataContentType(), body: mp.String()}); rec.Code != 200 {
		t.Fatalf("multipart obtain: %d %s", rec.Code, rec.Body)
	}

	rec = f.do(req{path: "/api/token/refresh/", ct: "application/json", body: `{"refresh":"` + pair["refresh"].(string) + `"}`})
	if rec.Code != 200 {
		t.Fatalf("refresh: %d %s", rec.Code, rec.Body)
	}
	next := decodeBody(t, rec)
	if next["refresh"] == pair["refresh"] || next["access"] == "" {
		t.Fatalf("refresh did not rotate: %v", next)
	}
	tests := []struct {
		name   string
		r      req
		status int
		body   string
		hdr    map[string]string
	}{
		{name: "verify access", r: req{path: "/api/token/verify/", ct: "application/json", body: `{"token":"` + next["access"].(string) + `"}`}, status: 200, body: `{}`},
		{name: "verify garbage", r: req{path: "/api/token/verify/", ct: "application/json", body: `{"token":"abc"}`}, status: 401,
			body: `{"detail":"Token is invalid","code":"token_not_valid"}`, hdr: map[string]string{"WWW-Authenticate": `Bearer realm="api"`}},
		{name: "bad credentials", r: req{path: "/api/token/", ct: "application/json", body: `{"username":"alice","password":"nope"}`}, status: 401,
			body: `{"detail":"No active account found with the given credentials"}`, hdr: map[string]string{"WWW-Authenticate": `Bearer realm="api"`}},
		{name: "unknown user", r: req{path: "/api/token/", ct: "application/json", body: `{"username":"bob","password":"nope"}`}, status: 401,
			body: `{"detail":"No active account found with the given credentials"}`},
		{name: "missing fields", r: req{path: "/api/token/", ct: "application/json", body: `{}`}, status: 400,
			body: `{"username":["This field is required."],"password":["This field is required."]}`},
		{name: "empty body", r: req{path: "/api/token/", ct: "-"}, status: 400,
			body: `{"username":["This field is required."],"password":["This field is required."]}`},
		{name: "blank and null", r: req{path: "/api/token/", ct: "application/json", body: `{"username":"  ","password":null}`}, status: 400,
			body: `{"username":["This field may not be blank."],"password":["This field may not be null."]}`},
		{name: "not a string", r: req{path: "/api/token/", ct: "application/json", body: `{"username":["a"],"password":true}`}, status: 400,
			body: `{"username":["Not a valid string."],"password":["Not a valid string."]}`},
		{name: "null character", r: req{path: "/api/token/verify/", ct: "application/json", body: `{"token":"a\u0000b"}`}, status: 400,
			body: `{"token":["Null characters are not allowed."]}`},
		{name: "list body", r: req{path: "/api/token/verify/", ct: "application/json", body: `[1]`}, status: 400,
			body: `{"non_field_errors":["Invalid data. Expected a dictionary, but got list."]}`},
		{name: "bad JSON", r: req{path: "/api/token/verify/", ct: "application/json", body: `{"token":`}, status: 400,
			body: `{"detail":"JSON parse error - the body is not valid JSON"}`},
		{name: "text/plain", r: req{path: "/api/token/verify/", ct: "text/plain", body: `token=x`}, status: 415,
			body: `{"detail":"Unsupported media type \"text/plain\" in request."}`},
		{name: "GET", r: req{method: "GET", path: "/api/token/"}, status: 405,
			body: `{"detail":"Method \"GET\" not allowed."}`, hdr: map[string]string{"Allow": "POST, OPTIONS"}},
		{name: "repeated form field", r: req{path: "/api/token/verify/", body: "token=a&token=b"}, status: 400,
			body: `{"detail":"Parameter \"token\" is repeated."}`},
		{name: "repeated JSON key", r: req{path: "/api/token/", ct: "application/json", body: `{"username":"alice","password":"nope","username":"bob"}`}, status: 400,
			body: `{"detail":"JSON parse error - duplicate key \"username\""}`},
		{name: "repeated JSON key, same value", r: req{path: "/api/token/verify/", ct: "application/json", body: `{"token":"a", "token" : "a"}`}, status: 400,
			body: `{"detail":"JSON parse error - duplicate key \"token\""}`},
		{name: "repeated JSON key, escaped spelling", r: req{path: "/api/token/verify/", ct: "application/json", body: `{"token":"a","\u0074oken":"b"}`}, status: 400,
			body: `{"detail":"JSON parse error - duplicate key \"token\""}`},
		{name: "same key in a nested object is no duplicate", r: req{path: "/api/token/verify/", ct: "application/json", body: `{"token":{"a":1,"a":2}}`}, status: 400,
			body: `{"token":["Not a valid string."]}`},
		{name: "too large", r: req{path: "/api/token/verify/", ct: "application/json", body: `{"token":"` + strings.Repeat("a", 70000) + `"}`}, status: 413,
			body: `{"detail":"Request body exceeds 64 KiB."}`},
		{name: "refresh reused revokes the family", r: req{path: "/api/token/refresh/", ct: "application/json", body: `{"refresh":"` + pair["refresh"].(string) + `"}`}, status: 401,
			body: `{"detail":"Token is blacklisted","code":"token_not_valid"}`},
		{name: "child of revoked family", r: req{path: "/api/token/refresh/", ct: "application/json", body: `{"refresh":"` + next["refresh"].(string) + `"}`}, status: 401,
			body: `{"detail":"Token is blacklisted","code":"token_not_valid"}`},
		{name: "blacklist", r: req{path: "/api/token/blacklist/", ct: "application/json", body: `{"refresh":"` + other["refresh"].(string) + `"}`}, status: 200, body: `{}`},
		{name: "blacklist again", r: req{path: "/api/token/blacklist/", ct: "application/json", body: `{"refresh":"` + other["refresh"].(string) + `"}`}, status: 401,
			body: `{"detail":"Token is blacklisted","code":"token_not_valid"}`},
		{name: "refresh blacklisted", r: req{path: "/api/token/refresh/", ct: "application/json", body: `{"refresh":"` + other["refresh"].(string) + `"}`}, status: 401,
			body: `{"detail":"Token is blacklisted","code":"token_not_valid"}`},
		{name: "number coerced to string", r: req{path: "/api/token/verify/", ct: "application/json", body: `{"token":12}`}, status: 401,
			body: `{"detail":"Token is invalid","code":"token_not_valid"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do(tc.r)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			if got := strings.TrimSpace(rec.Body.String()); got != tc.body {
				t.Fatalf("body %s\nwant %s", got, tc.body)
			}
			if rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("Content-Type %q", rec.Header().Get("Content-Type"))
			}
			for k, v := range tc.hdr {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestSimpleJWTRoutesOffByDefault(t *testing.T) {
	f := newOAuthFixture(t, false)
	rec := f.do(req{path: "/api/token/", ct: "application/json", body: `{}`})
	if rec.Code != 404 {
		t.Fatalf("status %d", rec.Code)
	}
}
