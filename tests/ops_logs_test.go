package tests

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestLogsCarryNoSecrets runs the token flows (password grant, refresh,
// client_credentials, revoke, introspect, simplejwt obtain, refresh and
// verify) against a live server with its logs captured, then asserts that
// no password, client secret, refresh token, access token or ID token
// appears in them, and that each request left an access-log line with a
// request id.
func TestLogsCarryNoSecrets(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		const ccSecret = "cc-secret-0123456789abcdef0123456789ab"
		e := newOAuthEnv(t, b, nil)
		e.MustCLI(ccSecret+"\n", "clients", "add", "svc", "--secret-stdin", "--grants", "client_credentials", "--scopes", "api")
		e.start()

		var secrets []string
		keep := func(vals ...string) {
			for _, v := range vals {
				if v != "" {
					secrets = append(secrets, v)
				}
			}
		}
		keep(alicePW, bobPW, webSecret, ccSecret)

		tok := e.login(t, "alice", alicePW, "openid api")
		if tok.status != 200 {
			t.Fatalf("login: %d %s", tok.status, tok.raw)
		}
		keep(tok.str("access_token"), tok.str("refresh_token"), tok.str("id_token"))
		ref := e.refresh(t, tok.str("refresh_token"))
		if ref.status != 200 {
			t.Fatalf("refresh: %d %s", ref.status, ref.raw)
		}
		keep(ref.str("access_token"), ref.str("refresh_token"), ref.str("id_token"))
		// A wrong password and a wrong secret are secrets too.
		keep("not-alices-password-xyz", "wrong-secret-abcdef")
		e.post(t, "/oauth2/token", pwForm("alice", "not-alices-password-xyz"), webID, webSecret)
		e.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "svc", "wrong-secret-abcdef")

		cc := e.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "svc", ccSecret)
		if cc.status != 200 {
			t.Fatalf("client_credentials: %d %s", cc.status, cc.raw)
		}
		keep(cc.str("access_token"))
		if r := e.post(t, "/oauth2/introspect", url.Values{"token": {ref.str("access_token")}}, webID, webSecret); r.status != 200 {
			t.Fatalf("introspect: %d %s", r.status, r.raw)
		}
		if r := call(t, http.MethodGet, e.srv.URL+"/userinfo", "", "", map[string]string{"Authorization": "Bearer " + ref.str("access_token")}); r.status != 200 {
			t.Fatalf("userinfo: %d %s", r.status, r.raw)
		}
		if r := e.post(t, "/oauth2/revoke", url.Values{"token": {ref.str("refresh_token")}}, webID, webSecret); r.status != 200 {
			t.Fatalf("revoke: %d %s", r.status, r.raw)
		}
		sj := e.postJSON(t, "/api/token/", map[string]string{"username": "alice", "password": alicePW})
		if sj.status != 200 {
			t.Fatalf("simplejwt obtain: %d %s", sj.status, sj.raw)
		}
		keep(sj.str("access"), sj.str("refresh"))
		sr := e.postJSON(t, "/api/token/refresh/", map[string]string{"refresh": sj.str("refresh")})
		keep(sr.str("access"), sr.str("refresh"))
		e.postJSON(t, "/api/token/verify/", map[string]string{"token": sj.str("access")})

		logs := e.srv.Logs()
		for _, s := range secrets {
			if strings.Contains(logs, s) {
				t.Errorf("server logs carry a secret (%d bytes, starts %q)", len(s), s[:4])
			}
		}
		lines := e.srv.Lines(`"route":"/oauth2/token"`)
		if len(lines) < 5 {
			t.Fatalf("want an access-log line per token request, got %d:\n%s", len(lines), logs)
		}
		for _, l := range lines {
			if !strings.Contains(l, `"request_id":`) || !strings.Contains(l, `"status":`) || !strings.Contains(l, `"duration":`) {
				t.Errorf("access-log line lacks fields: %s", l)
			}
		}
		if len(e.srv.Lines(`"client_id":"svc"`)) == 0 {
			t.Errorf("no access-log line names the authenticated client svc:\n%s", logs)
		}
	})
}
