package tests

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSimpleJWTCompat drives /api/token/... as a djangorestframework-
// simplejwt client would, checking simplejwt's response and error shapes.
func TestSimpleJWTCompat(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newOAuthEnv(t, b, nil)
		e.start()
		u := func(p string) string { return e.srv.URL + p }
		exact := func(t *testing.T, r response, status int, body string) {
			t.Helper()
			if r.status != status || strings.TrimSpace(string(r.raw)) != body {
				t.Fatalf("got %d %s\nwant %d %s", r.status, r.raw, status, body)
			}
		}

		pair := e.postJSON(t, "/api/token/", map[string]string{"username": "alice", "password": alicePW})
		if pair.status != 200 || len(pair.body) != 2 || pair.str("access") == "" || pair.str("refresh") == "" {
			t.Fatalf("obtain: %d %s", pair.status, pair.raw)
		}
		_, c := e.verifyJWT(t, pair.str("access"))
		if c["token_type"] != "access" || c["user_id"] == nil || c["jti"] == nil || c["exp"] == nil {
			t.Fatalf("simplejwt claims %v", c)
		}
		// Form bodies too.
		form := call(t, http.MethodPost, u("/api/token/"), "application/x-www-form-urlencoded",
			url.Values{"username": {"bob"}, "password": {bobPW}}.Encode(), nil)
		if form.status != 200 {
			t.Fatalf("form obtain: %d %s", form.status, form.raw)
		}

		exact(t, e.postJSON(t, "/api/token/verify/", map[string]string{"token": pair.str("access")}), 200, `{}`)
		rot := e.postJSON(t, "/api/token/refresh/", map[string]string{"refresh": pair.str("refresh")})
		if rot.status != 200 || rot.str("access") == "" || rot.str("refresh") == "" || rot.str("refresh") == pair.str("refresh") {
			t.Fatalf("refresh: %d %s", rot.status, rot.raw)
		}
		exact(t, e.postJSON(t, "/api/token/blacklist/", map[string]string{"refresh": form.str("refresh")}), 200, `{}`)

		badCreds := `{"detail":"No active account found with the given credentials"}`
		tokenInvalid := `{"detail":"Token is invalid","code":"token_not_valid"}`
		blacklisted := `{"detail":"Token is blacklisted","code":"token_not_valid"}`
		tests := []struct {
			name   string
			path   string
			body   any
			status int
			want   string
		}{
			{"wrong password", "/api/token/", map[string]string{"username": "alice", "password": "nope"}, 401, badCreds},
			{"unknown user", "/api/token/", map[string]string{"username": "nobody", "password": "nope"}, 401, badCreds},
			{"missing fields", "/api/token/", map[string]string{}, 400, `{"username":["This field is required."],"password":["This field is required."]}`},
			{"blank password", "/api/token/", map[string]string{"username": "alice", "password": ""}, 400, `{"password":["This field may not be blank."]}`},
			{"verify garbage", "/api/token/verify/", map[string]string{"token": "garbage"}, 401, tokenInvalid},
			{"verify without token", "/api/token/verify/", map[string]string{}, 400, `{"token":["This field is required."]}`},
			{"refresh garbage", "/api/token/refresh/", map[string]string{"refresh": "garbage"}, 401, tokenInvalid},
			{"refresh blacklisted", "/api/token/refresh/", map[string]string{"refresh": form.str("refresh")}, 401, blacklisted},
			{"blacklist twice", "/api/token/blacklist/", map[string]string{"refresh": form.str("refresh")}, 401, blacklisted},
			{"blacklist garbage", "/api/token/blacklist/", map[string]string{"refresh": "garbage"}, 401, tokenInvalid},
			{"refresh reused", "/api/token/refresh/", map[string]string{"refresh": pair.str("refresh")}, 401, blacklisted},
			{"rotated child after reuse", "/api/token/refresh/", map[string]string{"refresh": rot.str("refresh")}, 401, blacklisted},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := e.postJSON(t, tc.path, tc.body)
				exact(t, r, tc.status, tc.want)
				if tc.status == 401 && r.header.Get("WWW-Authenticate") != `Bearer realm="api"` {
					t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
			})
		}
		exact(t, call(t, http.MethodGet, u("/api/token/"), "", "", nil), 405, `{"detail":"Method \"GET\" not allowed."}`)
		exact(t, call(t, http.MethodPost, u("/api/token/verify/"), "text/plain", "token=x", nil), 415,
			`{"detail":"Unsupported media type \"text/plain\" in request."}`)
		exact(t, call(t, http.MethodPost, u("/api/token/verify/"), "application/json", `{"token":`, nil), 400,
			`{"detail":"JSON parse error - the body is not valid JSON"}`)

		// An access token verified after revocation through RFC 7009.
		at := e.login(t, "alice", alicePW, "").str("access_token")
		e.post(t, "/oauth2/revoke", url.Values{"token": {at}}, webID, webSecret)
		exact(t, e.postJSON(t, "/api/token/verify/", map[string]string{"token": at}), 401, blacklisted)
	})
}

// TestSimpleJWTRoutesNeedCompat: without compat.simplejwt the routes do
// not exist; with it but no compat client, they fail loudly, not silently.
func TestSimpleJWTRoutesNeedCompat(t *testing.T) {
	off := newOAuthEnv(t, Bolt, map[string]string{"compat.simplejwt": "false"})
	off.start()
	if r := off.postJSON(t, "/api/token/", map[string]string{"username": "alice", "password": alicePW}); r.status != 404 {
		t.Fatalf("simplejwt route while off: %d", r.status)
	}
	missing := newOAuthEnv(t, Bolt, map[string]string{"compat.client_id": "not-registered"})
	missing.start()
	r := missing.postJSON(t, "/api/token/", map[string]string{"username": "alice", "password": alicePW})
	if r.status != 500 || r.str("detail") == "" {
		t.Fatalf("unregistered compat client: %d %s", r.status, r.raw)
	}
	if len(missing.srv.Lines("compat.client_id names no client")) == 0 {
		t.Fatalf("no start-up warning:\n%s", missing.srv.Logs())
	}
}
