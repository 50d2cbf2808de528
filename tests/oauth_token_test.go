package tests

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOAuthTokenEndpoint covers the password and client_credentials
// grants, client authentication, the token shapes and every error of the
// token endpoint, against the real server on each backend.
func TestOAuthTokenEndpoint(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newOAuthEnv(t, b, nil)
		out := e.MustCLI("", "clients", "add", "svc", "--grants", "client_credentials", "--scopes", "api")
		svcSecret := ""
		for _, line := range strings.Split(out, "\n") {
			if s, ok := strings.CutPrefix(line, "client_secret: "); ok {
				svcSecret = strings.TrimSpace(s)
			}
		}
		e.start()

		// Success, client_secret_basic.
		r := e.login(t, "alice", alicePW, "openid profile email api")
		for k, v := range map[string]string{"Cache-Control": "no-store", "Pragma": "no-cache"} {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		if r.str("token_type") != "Bearer" || r.body["expires_in"] != float64(300) || r.str("scope") != "openid profile email api" {
			t.Fatalf("token response %s", r.raw)
		}
		if !strings.HasPrefix(r.str("refresh_token"), "sgl_rt_") || len(r.str("refresh_token")) != 73 {
			t.Fatalf("refresh token shape")
		}
		h, c := e.verifyJWT(t, r.str("access_token"))
		if h.ExtraHeaders["typ"] != "at+jwt" || h.Algorithm != "ES256" || h.KeyID == "" {
			t.Fatalf("access token header %+v", h)
		}
		for _, k := range []string{"iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "token_type", "user_id"} {
			if _, ok := c[k]; !ok {
				t.Errorf("access token lacks %s", k)
			}
		}
		if c["iss"] != e.Issuer || c["aud"] != apiAud || c["client_id"] != webID || c["token_type"] != "access" {
			t.Fatalf("access claims %v", c)
		}
		h, c = e.verifyJWT(t, r.str("id_token"))
		if h.ExtraHeaders["typ"] != "JWT" || c["aud"] != webID || c["email"] != "alice@example.com" || c["name"] != "Alice Liddell" || c["auth_time"] == nil {
			t.Fatalf("id token %+v %v", h, c)
		}

		// client_secret_post and public clients (none).
		if r := e.post(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {bobPW},
			"client_id": {webID}, "client_secret": {webSecret}}, "", ""); r.status != 200 {
			t.Fatalf("client_secret_post: %d %s", r.status, r.raw)
		}
		if r := e.post(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {bobPW},
			"client_id": {publicID}}, "", ""); r.status != 200 || r.str("scope") != "openid profile" {
			t.Fatalf("public client: %d %s", r.status, r.raw)
		}

		// client_credentials: no refresh token, subject is the client.
		r = e.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "svc", svcSecret)
		if r.status != 200 || r.str("refresh_token") != "" || r.str("id_token") != "" {
			t.Fatalf("client_credentials: %d %s", r.status, r.raw)
		}
		if _, c := e.verifyJWT(t, r.str("access_token")); c["sub"] != "svc" {
			t.Fatalf("client_credentials sub %v", c["sub"])
		}

		pw := url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePW}}
		with := func(extra url.Values) url.Values {
			v := url.Values{}
			for k, vs := range pw {
				v[k] = append([]string(nil), vs...)
			}
			for k, vs := range extra {
				v[k] = vs
			}
			return v
		}
		tests := []struct {
			name      string
			form      url.Values
			id, sec   string
			status    int
			code      string
			challenge string
		}{
			{"no grant_type", url.Values{"username": {"alice"}}, webID, webSecret, 400, "invalid_request", ""},
			// authorization_code is a grant since single sign-on; the device
			// grant is one Sigil does not offer.
			{"unknown grant", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}}, webID, webSecret, 400, "unsupported_grant_type", ""},
			{"wrong secret basic", pw, webID, "wrong-secret", 401, "invalid_client", "Basic"},
			{"unknown client", pw, "ghost", webSecret, 401, "invalid_client", "Basic"},
			{"no client", pw, "", "", 401, "invalid_client", ""},
			{"wrong secret post", with(url.Values{"client_id": {webID}, "client_secret": {"nope"}}), "", "", 401, "invalid_client", ""},
			{"grant not registered", url.Values{"grant_type": {"client_credentials"}}, webID, webSecret, 400, "unauthorized_client", ""},
			{"password grant not registered", pw, "svc", svcSecret, 400, "unauthorized_client", ""},
			{"scope not registered", with(url.Values{"scope": {"openid admin"}}), webID, webSecret, 400, "invalid_scope", ""},
			{"wrong password", with(url.Values{"password": {"nope"}}), webID, webSecret, 400, "invalid_grant", ""},
			{"missing password", url.Values{"grant_type": {"password"}, "username": {"alice"}}, webID, webSecret, 400, "invalid_request", ""},
			{"bad refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"sgl_rt_x"}}, webID, webSecret, 400, "invalid_grant", ""},
			{"openid for client_credentials", url.Values{"grant_type": {"client_credentials"}, "scope": {"openid"}}, "svc", svcSecret, 400, "invalid_scope", ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := e.post(t, "/oauth2/token", tc.form, tc.id, tc.sec)
				wantOAuthError(t, r, tc.status, tc.code)
				if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, tc.challenge) || (tc.challenge == "" && got != "") {
					t.Fatalf("WWW-Authenticate %q, want %q", got, tc.challenge)
				}
			})
		}

		// Transport-level mistakes get clear errors, never a 500.
		good := pw.Encode()
		basicHdr := map[string]string{"Authorization": "Basic " + basicCreds(webID, webSecret)}
		transport := []struct {
			name, method, path, ct, body string
			status                       int
		}{
			{"GET", http.MethodGet, "/oauth2/token", "", "", 405},
			{"JSON body", http.MethodPost, "/oauth2/token", "application/json", `{"grant_type":"password"}`, 415},
			{"no content type", http.MethodPost, "/oauth2/token", "", good, 415},
			{"repeated parameter", http.MethodPost, "/oauth2/token", "application/x-www-form-urlencoded", good + "&grant_type=password", 400},
			{"body over 64 KiB", http.MethodPost, "/oauth2/token", "application/x-www-form-urlencoded", good + "&pad=" + strings.Repeat("x", 70<<10), 413},
			{"credentials in the URL", http.MethodPost, "/oauth2/token?" + good, "application/x-www-form-urlencoded", "", 400},
			{"malformed form", http.MethodPost, "/oauth2/token", "application/x-www-form-urlencoded", "grant_type=%zz", 400},
		}
		for _, tc := range transport {
			t.Run(tc.name, func(t *testing.T) {
				r := call(t, tc.method, e.srv.URL+tc.path, tc.ct, tc.body, basicHdr)
				wantOAuthError(t, r, tc.status, "invalid_request")
				if tc.status == 405 && r.header.Get("Allow") != "POST" {
					t.Fatalf("Allow %q", r.header.Get("Allow"))
				}
			})
		}
	})
}

func basicCreds(id, secret string) string {
	return base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id) + ":" + url.QueryEscape(secret)))
}

// TestOAuthRefresh covers rotation, reuse detection, and every reason a
// refresh fails.
func TestOAuthRefresh(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newOAuthEnv(t, b, map[string]string{"tokens.refresh_ttl": "4s"})
		e.start()

		first := e.login(t, "alice", alicePW, "openid api")
		second := e.refresh(t, first.str("refresh_token"))
		if second.status != 200 || second.str("refresh_token") == first.str("refresh_token") || second.str("id_token") == "" {
			t.Fatalf("rotation: %d %s", second.status, second.raw)
		}
		// Narrower scope is fine, wider is not.
		narrow := e.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {second.str("refresh_token")}, "scope": {"api"}}, webID, webSecret)
		if narrow.status != 200 || narrow.str("scope") != "api" {
			t.Fatalf("narrowed refresh: %d %s", narrow.status, narrow.raw)
		}
		wide := e.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {narrow.str("refresh_token")}, "scope": {"openid api email"}}, webID, webSecret)
		wantOAuthError(t, wide, 400, "invalid_scope")
		// Another client cannot use it.
		other := e.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {narrow.str("refresh_token")}, "client_id": {publicID}}, "", "")
		wantOAuthError(t, other, 400, "invalid_grant")
		// Still usable by its own client after those refusals.
		third := e.refresh(t, narrow.str("refresh_token"))
		if third.status != 200 {
			t.Fatalf("refresh after refusals: %d %s", third.status, third.raw)
		}
		// Reuse of an old token revokes the family: the newest token dies too.
		wantOAuthError(t, e.refresh(t, first.str("refresh_token")), 400, "invalid_grant")
		wantOAuthError(t, e.refresh(t, third.str("refresh_token")), 400, "invalid_grant")

		// Disabled user, changed password.
		dis := e.login(t, "bob", bobPW, "")
		chg := e.login(t, "alice", alicePW, "")
		e.offline(t, func() {
			e.MustCLI("", "users", "disable", "bob")
			e.MustCLI("a brand new password\n", "users", "set-password", "alice", "--password-stdin")
		})
		wantOAuthError(t, e.refresh(t, dis.str("refresh_token")), 400, "invalid_grant")
		wantOAuthError(t, e.refresh(t, chg.str("refresh_token")), 400, "invalid_grant")
		fresh := e.login(t, "alice", "a brand new password", "")
		if r := e.refresh(t, fresh.str("refresh_token")); r.status != 200 {
			t.Fatalf("refresh after new login: %d %s", r.status, r.raw)
		}

		// Absolute lifetime: 4s from the login, however often it rotates.
		// The server's login time lies between before and after (a loaded
		// machine may take a while to hash), so refreshes until before+3s
		// are within the lifetime and one after after+4.2s is not.
		before := time.Now()
		cur := e.login(t, "alice", "a brand new password", "").str("refresh_token")
		after := time.Now()
		for time.Since(before) < 3*time.Second {
			r := e.refresh(t, cur)
			if r.status != 200 {
				t.Fatalf("refresh within lifetime: %d %s", r.status, r.raw)
			}
			cur = r.str("refresh_token")
			time.Sleep(500 * time.Millisecond)
		}
		time.Sleep(time.Until(after.Add(4*time.Second + 200*time.Millisecond)))
		wantOAuthError(t, e.refresh(t, cur), 400, "invalid_grant")
	})
}

// TestOAuthRefreshIdleLifetime: a token unused for refresh_idle_ttl dies.
func TestOAuthRefreshIdleLifetime(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newOAuthEnv(t, b, map[string]string{"tokens.refresh_idle_ttl": "2s"})
		e.start()
		r := e.login(t, "alice", alicePW, "")
		r1 := e.refresh(t, r.str("refresh_token"))
		if r1.status != 200 {
			t.Fatal(r1.status)
		}
		time.Sleep(2200 * time.Millisecond)
		wantOAuthError(t, e.refresh(t, r1.str("refresh_token")), 400, "invalid_grant")
	})
}

// TestOAuthConcurrentRefresh: 100 concurrent refreshes of one token yield
// exactly one new pair; the other 99 get invalid_grant and the family is
// revoked.
func TestOAuthConcurrentRefresh(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newOAuthEnv(t, b, nil)
		e.start()
		rt := e.login(t, "alice", alicePW, "").str("refresh_token")
		const n = 100
		results := make([]response, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i] = e.refresh(t, rt)
			}()
		}
		close(start)
		wg.Wait()
		var winner string
		for i, r := range results {
			switch {
			case r.status == 200:
				if winner != "" {
					t.Fatalf("second success (request %d)", i)
				}
				winner = r.str("refresh_token")
			case r.status == 400 && r.str("error") == "invalid_grant":
			default:
				t.Fatalf("request %d: %d %s", i, r.status, r.raw)
			}
		}
		if winner == "" {
			t.Fatal("no refresh succeeded")
		}
		// The family is revoked: even the winner's token is dead.
		wantOAuthError(t, e.refresh(t, winner), 400, "invalid_grant")
	})
}

// TestOAuthRefreshReuseGrace: within tokens.refresh_reuse_grace the same
// client replaying a used token gets a fresh pair and the earlier child is
// revoked; after the grace, replay revokes the family.
func TestOAuthRefreshReuseGrace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newOAuthEnv(t, b, map[string]string{"tokens.refresh_reuse_grace": "3s"})
		e.start()
		first := e.login(t, "alice", alicePW, "").str("refresh_token")
		lost := e.refresh(t, first) // the client never sees this response
		if lost.status != 200 {
			t.Fatal(lost.status)
		}
		retry := e.refresh(t, first)
		if retry.status != 200 || retry.str("refresh_token") == lost.str("refresh_token") {
			t.Fatalf("replay within grace: %d %s", retry.status, retry.raw)
		}
		// Another client replaying it gets nothing.
		wantOAuthError(t, e.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first}, "client_id": {publicID}}, "", ""), 400, "invalid_grant")
		// The client carries on with the fresh pair.
		next := e.refresh(t, retry.str("refresh_token"))
		if next.status != 200 {
			t.Fatalf("continue after grace replay: %d %s", next.status, next.raw)
		}
		// The earlier child was revoked: presenting it is reuse, which
		// revokes the family.
		wantOAuthError(t, e.refresh(t, lost.str("refresh_token")), 400, "invalid_grant")
		wantOAuthError(t, e.refresh(t, next.str("refresh_token")), 400, "invalid_grant")

		// After the grace, a replay revokes the family.
		a := e.login(t, "alice", alicePW, "").str("refresh_token")
		a1 := e.refresh(t, a)
		time.Sleep(3200 * time.Millisecond)
		wantOAuthError(t, e.refresh(t, a), 400, "invalid_grant")
		wantOAuthError(t, e.refresh(t, a1.str("refresh_token")), 400, "invalid_grant")
	})
}

// TestOAuthClientSigningAlg: a client registered with --signing-alg RS256
// gets RS256 tokens while others get the default ES256, and both verify
// against the published JWKS.
func TestOAuthClientSigningAlg(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newOAuthEnv(t, b, map[string]string{"keys.algorithms": "[ES256, RS256]"})
		e.MustCLI("", "clients", "add", "rsa-app", "--public", "--grants", "password", "--scopes", "openid", "--signing-alg", "RS256")
		e.start()
		r := e.post(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePW},
			"client_id": {"rsa-app"}, "scope": {"openid"}}, "", "")
		if r.status != 200 || r.str("refresh_token") != "" {
			t.Fatalf("rsa-app: %d %s (no refresh_token without the refresh_token grant)", r.status, r.raw)
		}
		for _, tok := range []string{r.str("access_token"), r.str("id_token")} {
			if h, _ := e.verifyJWT(t, tok); h.Algorithm != "RS256" {
				t.Fatalf("rsa-app token signed with %s", h.Algorithm)
			}
		}
		if h, _ := e.verifyJWT(t, e.login(t, "alice", alicePW, "").str("access_token")); h.Algorithm != "ES256" {
			t.Fatalf("default client token signed with %s", h.Algorithm)
		}
	})
}
