package tests

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestOAuthRevokeIntrospectUserinfo covers RFC 7009, RFC 7662 and userinfo
// against the real server on each backend.
func TestOAuthRevokeIntrospectUserinfo(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newOAuthEnv(t, b, nil)
		e.start()
		tok := e.login(t, "alice", alicePW, "openid profile email")
		at, rt, idt := tok.str("access_token"), tok.str("refresh_token"), tok.str("id_token")

		introspect := func(token string) response {
			t.Helper()
			r := e.post(t, "/oauth2/introspect", url.Values{"token": {token}}, webID, webSecret)
			if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("introspect: %d %s", r.status, r.raw)
			}
			return r
		}
		if r := introspect(at); r.body["active"] != true || r.str("client_id") != webID || r.str("scope") != "openid profile email" || r.str("token_type") != "Bearer" {
			t.Fatalf("introspect access: %s", r.raw)
		}
		if r := introspect(rt); r.body["active"] != true || r.str("username") != "alice" {
			t.Fatalf("introspect refresh: %s", r.raw)
		}
		if r := introspect("garbage"); string(r.raw) != "{\"active\":false}\n" {
			t.Fatalf("introspect garbage: %s", r.raw)
		}
		// Introspection needs client authentication.
		wantOAuthError(t, e.post(t, "/oauth2/introspect", url.Values{"token": {at}}, "", ""), 401, "invalid_client")
		wantOAuthError(t, e.post(t, "/oauth2/introspect", url.Values{"token": {at}, "client_id": {publicID}}, "", ""), 401, "invalid_client")
		wantOAuthError(t, e.post(t, "/oauth2/introspect", url.Values{"token": {at}}, webID, "wrong"), 401, "invalid_client")

		// Userinfo, GET and POST.
		bearer := map[string]string{"Authorization": "Bearer " + at}
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			r := call(t, method, e.srv.URL+"/userinfo", "", "", bearer)
			if r.status != 200 || r.str("preferred_username") != "alice" || r.str("email") != "alice@example.com" || r.str("sub") == "" {
				t.Fatalf("userinfo %s: %d %s", method, r.status, r.raw)
			}
		}
		// Refused tokens: 401 with a Bearer invalid_token challenge.
		refused := map[string]string{
			"id token":                  idt,
			"refresh token":             rt,
			"alg none":                  forgeJWT(t, at, `{"alg":"none","typ":"at+jwt"}`, nil),
			"HS256":                     forgeJWT(t, at, `{"alg":"HS256","typ":"at+jwt","kid":"`+kidOf(t, at)+`"}`, []byte("secret")),
			"HS256 keyed with the JWKS": forgeJWT(t, at, `{"alg":"HS256","typ":"at+jwt","kid":"`+kidOf(t, at)+`"}`, jwksBytes(t, e)),
			"garbage":                   "abc.def.ghi",
		}
		for name, tokn := range refused {
			t.Run("userinfo refuses "+name, func(t *testing.T) {
				r := call(t, http.MethodGet, e.srv.URL+"/userinfo", "", "", map[string]string{"Authorization": "Bearer " + tokn})
				if r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), `Bearer error="invalid_token"`) {
					t.Fatalf("%d %q %s", r.status, r.header.Get("WWW-Authenticate"), r.raw)
				}
				if name == "refresh token" {
					return // a live refresh token, just not a bearer token
				}
				if r := introspect(tokn); r.body["active"] != false {
					t.Fatalf("introspection says active: %s", r.raw)
				}
			})
		}
		noAuth := call(t, http.MethodGet, e.srv.URL+"/userinfo", "", "", nil)
		if noAuth.status != 401 || !strings.HasPrefix(noAuth.header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("userinfo without token: %d %v", noAuth.status, noAuth.header)
		}
		noOpenID := e.login(t, "alice", alicePW, "api").str("access_token")
		if r := call(t, http.MethodGet, e.srv.URL+"/userinfo", "", "", map[string]string{"Authorization": "Bearer " + noOpenID}); r.status != 403 ||
			!strings.Contains(r.header.Get("WWW-Authenticate"), "insufficient_scope") {
			t.Fatalf("userinfo without openid scope: %d %v", r.status, r.header)
		}

		// Revocation: 200 for anything, but only the client's own tokens.
		for _, tk := range []string{"unknown", "sgl_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
			if r := e.post(t, "/oauth2/revoke", url.Values{"token": {tk}}, webID, webSecret); r.status != 200 {
				t.Fatalf("revoke unknown: %d %s", r.status, r.raw)
			}
		}
		wantOAuthError(t, e.post(t, "/oauth2/revoke", url.Values{"token": {rt}, "client_id": {publicID}}, "", ""), 400, "unauthorized_client")
		wantOAuthError(t, e.post(t, "/oauth2/revoke", url.Values{}, webID, webSecret), 400, "invalid_request")
		if r := e.post(t, "/oauth2/revoke", url.Values{"token": {at}, "token_type_hint": {"access_token"}}, webID, webSecret); r.status != 200 {
			t.Fatalf("revoke access: %d %s", r.status, r.raw)
		}
		if r := introspect(at); r.body["active"] != false {
			t.Fatalf("revoked access token still active: %s", r.raw)
		}
		if r := call(t, http.MethodGet, e.srv.URL+"/userinfo", "", "", bearer); r.status != 401 {
			t.Fatalf("userinfo with revoked token: %d", r.status)
		}
		if r := e.post(t, "/oauth2/revoke", url.Values{"token": {rt}}, webID, webSecret); r.status != 200 {
			t.Fatalf("revoke refresh: %d %s", r.status, r.raw)
		}
		if r := introspect(rt); r.body["active"] != false {
			t.Fatalf("revoked refresh token still active: %s", r.raw)
		}
		wantOAuthError(t, e.refresh(t, rt), 400, "invalid_grant")

		// Discovery lists every endpoint and capability.
		status, _, body := get(t, e.srv.URL+"/.well-known/openid-configuration", nil)
		var d map[string]any
		if status != 200 || json.Unmarshal(body, &d) != nil {
			t.Fatalf("discovery %d", status)
		}
		for k, v := range map[string]string{
			"token_endpoint": "/oauth2/token", "revocation_endpoint": "/oauth2/revoke",
			"introspection_endpoint": "/oauth2/introspect", "userinfo_endpoint": "/userinfo",
		} {
			if d[k] != e.Issuer+v {
				t.Errorf("discovery %s = %v", k, d[k])
			}
		}
		for k, want := range map[string][]string{
			"grant_types_supported":                 {"password", "refresh_token", "client_credentials"},
			"token_endpoint_auth_methods_supported": {"client_secret_basic", "client_secret_post", "none"},
			"scopes_supported":                      {"openid", "profile", "email", "offline_access"},
			"claims_supported":                      {"sub", "email", "preferred_username", "auth_time"},
		} {
			got, _ := json.Marshal(d[k])
			for _, w := range want {
				if !strings.Contains(string(got), `"`+w+`"`) {
					t.Errorf("discovery %s = %s lacks %s", k, got, w)
				}
			}
		}
	})
}

// forgeJWT re-signs a real token's payload under header: alg none (key
// nil) or HMAC-SHA256 with key.
func forgeJWT(t *testing.T, real, header string, key []byte) string {
	t.Helper()
	parts := strings.Split(real, ".")
	enc := base64.RawURLEncoding
	input := enc.EncodeToString([]byte(header)) + "." + parts[1]
	if key == nil {
		return input + "."
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(input))
	return input + "." + enc.EncodeToString(m.Sum(nil))
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	_ = json.Unmarshal(b, &h)
	return h.Kid
}

func jwksBytes(t *testing.T, e *oauthEnv) []byte {
	_, _, body := get(t, e.srv.URL+"/.well-known/jwks.json", nil)
	return body
}
