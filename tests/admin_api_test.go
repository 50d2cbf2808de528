package tests

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Admin API clients and users on top of oauthEnv's.
const (
	opsID      = "ops"
	weakID     = "weak"
	admPWID    = "adm-pw"
	rootPW     = "root's long passphrase"
	carolPW    = "carol's first password"
	carolNewPW = "carol's second password"
)

// adminEnv is an oauthEnv with an admin client (ops: client_credentials,
// sigil:admin), a client without the scope (weak), a password client
// that may ask for sigil:admin (adm-pw), and an admin user root.
type adminEnv struct {
	*oauthEnv
	opsSecret, weakSecret, admPWSecret string
}

var secretLine = regexp.MustCompile(`client_secret: (\S+)`)

func addClientSecret(t *testing.T, e *oauthEnv, args ...string) string {
	t.Helper()
	out := e.MustCLI("", append([]string{"clients", "add"}, args...)...)
	m := secretLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no secret in %q", out)
	}
	return m[1]
}

func newAdminEnv(t *testing.T, b Backend) *adminEnv {
	t.Helper()
	// Short access tokens, so the expiry case waits about 2 s; every call
	// below gets a fresh token.
	e := &adminEnv{oauthEnv: newOAuthEnv(t, b, map[string]string{"tokens.access_ttl": "2s"})}
	e.opsSecret = addClientSecret(t, e.oauthEnv, opsID, "--grants", "client_credentials", "--scopes", "sigil:admin")
	e.weakSecret = addClientSecret(t, e.oauthEnv, weakID, "--grants", "client_credentials", "--scopes", "api")
	e.admPWSecret = addClientSecret(t, e.oauthEnv, admPWID, "--grants", "password", "--scopes", "sigil:admin")
	e.MustCLI(rootPW+"\n", "users", "add", "root", "--password-stdin", "--admin")
	e.start()
	return e
}

func (e *adminEnv) ccToken(t *testing.T, id, secret, scope string) string {
	t.Helper()
	r := e.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, id, secret)
	if r.status != 200 {
		t.Fatalf("client_credentials %s: %d %s", id, r.status, r.raw)
	}
	return r.str("access_token")
}

func (e *adminEnv) userToken(t *testing.T, user, pw string) string {
	t.Helper()
	r := e.post(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {user}, "password": {pw}, "scope": {"sigil:admin"}}, admPWID, e.admPWSecret)
	if r.status != 200 {
		t.Fatalf("password grant %s: %d %s", user, r.status, r.raw)
	}
	return r.str("access_token")
}

// api calls the admin API with token ("" for none) and a JSON body ("" for
// none).
func (e *adminEnv) api(t *testing.T, token, method, path, body string) response {
	t.Helper()
	hdr := map[string]string{}
	if token != "" {
		hdr["Authorization"] = "Bearer " + token
	}
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	return call(t, method, e.srv.URL+"/admin/api/v1"+path, ct, body, hdr)
}

// ops calls the admin API as the ops client with a fresh token.
func (e *adminEnv) ops(t *testing.T, method, path, body string) response {
	t.Helper()
	return e.api(t, e.ccToken(t, opsID, e.opsSecret, "sigil:admin"), method, path, body)
}

func wantStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	if status >= 400 {
		if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
			t.Fatalf("problem Content-Type %q", ct)
		}
		if r.body["status"] != float64(status) || r.str("title") == "" || r.str("type") == "" {
			t.Fatalf("not a problem document: %s", r.raw)
		}
	}
}

func decodeInto(t *testing.T, r response, v any) {
	t.Helper()
	if err := json.Unmarshal(r.raw, v); err != nil {
		t.Fatalf("decode %s: %v", r.raw, err)
	}
}

type apiAuditPage struct {
	Entries []struct {
		ID, Kind, Action, Target, Actor, Replica, Reason string
	} `json:"entries"`
	Next string `json:"next"`
}

func TestAdminAPIAuthorization(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newAdminEnv(t, b)
		expiring := e.ccToken(t, opsID, e.opsSecret, "sigil:admin")
		tests := []struct {
			name    string
			token   func() string
			status  int
			wwwAuth string
		}{
			{"NoToken", func() string { return "" }, 401, "Bearer"},
			{"Garbage", func() string { return "not.a.token" }, 401, `error="invalid_token"`},
			{"WrongScope", func() string { return e.ccToken(t, weakID, e.weakSecret, "api") }, 403, `error="insufficient_scope"`},
			{"NonAdminUser", func() string { return e.userToken(t, "bob", bobPW) }, 403, `error="insufficient_scope"`},
			{"AdminUser", func() string { return e.userToken(t, "root", rootPW) }, 200, ""},
			{"AdminClient", func() string { return e.ccToken(t, opsID, e.opsSecret, "sigil:admin") }, 200, ""},
			{"Expired", func() string {
				time.Sleep(2100 * time.Millisecond) // tokens.access_ttl is 2s
				return expiring
			}, 401, `error="invalid_token"`},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := e.api(t, tc.token(), http.MethodGet, "/users", "")
				wantStatus(t, r, tc.status)
				if !strings.Contains(r.header.Get("WWW-Authenticate"), tc.wwwAuth) {
					t.Fatalf("WWW-Authenticate %q, want %q", r.header.Get("WWW-Authenticate"), tc.wwwAuth)
				}
			})
		}
		// The document needs no token.
		r := e.api(t, "", http.MethodGet, "/openapi.json", "")
		if r.status != 200 || r.str("openapi") != "3.1.0" {
			t.Fatalf("openapi.json: %d %.100s", r.status, r.raw)
		}
	})
}

func TestAdminAPIVerbs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newAdminEnv(t, b)

		t.Run("Users", func(t *testing.T) {
			var users []struct {
				Username string `json:"username"`
				Admin    bool   `json:"admin"`
				Disabled bool   `json:"disabled"`
			}
			decodeInto(t, e.ops(t, "GET", "/users", ""), &users)
			admins := map[string]bool{}
			for _, u := range users {
				admins[u.Username] = u.Admin
			}
			if len(users) != 3 || !admins["root"] || admins["alice"] || admins["bob"] {
				t.Fatalf("users %+v", users)
			}
			wantStatus(t, e.ops(t, "POST", "/users", `{"username":"carol","password":"`+carolPW+`","email":"carol@example.com"}`), 201)
			wantStatus(t, e.ops(t, "POST", "/users", `{"username":"carol","password":"x"}`), 409)
			wantStatus(t, e.ops(t, "POST", "/users", `{"username":"has space","password":"x"}`), 400)
			wantStatus(t, e.ops(t, "POST", "/users/carol/admin", `{"admin":true}`), 204)
			if tok := e.userToken(t, "carol", carolPW); e.api(t, tok, "GET", "/users", "").status != 200 {
				t.Fatal("carol made admin cannot use the API")
			}
			wantStatus(t, e.ops(t, "POST", "/users/carol/admin", `{"admin":false}`), 204)

			// Disable ends carol's refresh families for good.
			rt := e.login(t, "carol", carolPW, "openid").str("refresh_token")
			if rt == "" {
				t.Fatal("no refresh token")
			}
			r0 := e.refresh(t, rt)
			if r0.status != 200 {
				t.Fatalf("refresh before disable: %d %s", r0.status, r0.raw)
			}
			rt = r0.str("refresh_token")
			wantStatus(t, e.ops(t, "POST", "/users/carol/disable", `{"reason":"left the team"}`), 204)
			wantOAuthError(t, e.refresh(t, rt), 400, "invalid_grant")
			r := e.post(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {carolPW}}, webID, webSecret)
			if r.status == 200 {
				t.Fatal("disabled user logged in")
			}
			wantStatus(t, e.ops(t, "POST", "/users/carol/enable", ""), 204)
			wantOAuthError(t, e.refresh(t, rt), 400, "invalid_grant")
			wantStatus(t, e.ops(t, "POST", "/users/carol/password", `{"password":"`+carolNewPW+`"}`), 204)
			e.login(t, "carol", carolNewPW, "openid")
			wantStatus(t, e.ops(t, "POST", "/users/nobody/disable", ""), 404)
			wantStatus(t, e.ops(t, "POST", "/users/carol/password", `{"password":""}`), 400)
		})

		t.Run("Clients", func(t *testing.T) {
			r := e.ops(t, "POST", "/clients", `{"id":"svc2","grants":["client_credentials"],"scopes":["api"]}`)
			wantStatus(t, r, 201)
			first := r.str("client_secret")
			e.ccToken(t, "svc2", first, "api")
			wantStatus(t, e.ops(t, "POST", "/clients", `{"id":"svc2","grants":["client_credentials"],"scopes":["api"]}`), 409)
			wantStatus(t, e.ops(t, "POST", "/clients", `{"id":"bad","grants":["implicit"],"scopes":["api"]}`), 400)
			r = e.ops(t, "POST", "/clients/svc2/secret", "")
			wantStatus(t, r, 200)
			second := r.str("client_secret")
			if second == "" || second == first {
				t.Fatalf("rotated secret %q", second)
			}
			if old := e.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, "svc2", first); old.status != 401 {
				t.Fatalf("old secret still works: %d", old.status)
			}
			e.ccToken(t, "svc2", second, "api")
			var clients []struct{ ID string }
			decodeInto(t, e.ops(t, "GET", "/clients", ""), &clients)
			if len(clients) != 7 {
				t.Fatalf("clients %+v", clients)
			}
			wantStatus(t, e.ops(t, "DELETE", "/clients/svc2?reason=decommissioned", ""), 204)
			wantStatus(t, e.ops(t, "DELETE", "/clients/svc2", ""), 404)
		})

		// A client registered through the API with introspect_any sees
		// another client's token; one without it does not. The
		// registration's audit entry names the privilege.
		t.Run("IntrospectAny", func(t *testing.T) {
			tok := e.login(t, "alice", alicePW, "openid").str("access_token")
			tests := []struct {
				name, id, extra string
				any             bool
			}{
				{"Without", "rs-own", "", false},
				{"With", "rs-any", `,"introspect_any":true`, true},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					r := e.ops(t, "POST", "/clients", `{"id":"`+tc.id+`","grants":["client_credentials"],"scopes":["api"]`+tc.extra+`}`)
					wantStatus(t, r, 201)
					if got, _ := r.body["introspect_any"].(bool); got != tc.any {
						t.Fatalf("introspect_any %v in %s", r.body["introspect_any"], r.raw)
					}
					in := e.post(t, "/oauth2/introspect", url.Values{"token": {tok}}, tc.id, r.str("client_secret"))
					if active, _ := in.body["active"].(bool); in.status != 200 || active != tc.any {
						t.Fatalf("introspect by %s: %d %s; want active %t", tc.id, in.status, in.raw, tc.any)
					}
					var page apiAuditPage
					decodeInto(t, e.ops(t, "GET", "/audit?kind=client", ""), &page)
					want := map[bool]string{true: "introspect_any", false: ""}[tc.any]
					found := false
					for _, en := range page.Entries {
						found = found || (en.Action == "add" && en.Target == tc.id && en.Actor == opsID && en.Reason == want)
					}
					if !found {
						t.Fatalf("no add entry for %s with reason %q: %+v", tc.id, want, page.Entries)
					}
				})
			}
		})

		t.Run("Keys", func(t *testing.T) {
			var ks struct {
				Algorithms []struct {
					Alg  string
					Keys []struct{ KID, State string }
				}
			}
			decodeInto(t, e.ops(t, "GET", "/keys", ""), &ks)
			if len(ks.Algorithms) != 1 || len(ks.Algorithms[0].Keys) != 2 {
				t.Fatalf("keys %+v", ks)
			}
			// The next key was published at start-up, less than
			// jwks.max_age (15m) ago.
			r := e.ops(t, "POST", "/keys/rotate", `{"reason":"drill"}`)
			wantStatus(t, r, 409)
			if !strings.Contains(r.str("detail"), "max_age") {
				t.Fatalf("409 without the reason: %s", r.raw)
			}
			r = e.ops(t, "POST", "/keys/rotate?force=true", `{"reason":"drill"}`)
			wantStatus(t, r, 200)
			var rot struct{ Promoted []string }
			decodeInto(t, r, &rot)
			if len(rot.Promoted) != 1 {
				t.Fatalf("rotation %s", r.raw)
			}
			// A token signed now carries the promoted kid; revoking it
			// takes it out of the JWKS within the request.
			tok := e.login(t, "alice", alicePW, "openid").str("access_token")
			kid := kidOf(t, tok)
			if kid != rot.Promoted[0] {
				t.Fatalf("signing kid %s, promoted %s", kid, rot.Promoted[0])
			}
			if !strings.Contains(string(jwksBytes(t, e.oauthEnv)), kid) {
				t.Fatal("active kid not in the JWKS")
			}
			wantStatus(t, e.ops(t, "POST", "/keys/revoke", `{"kid":"`+kid+`","reason":"compromised"}`), 204)
			if strings.Contains(string(jwksBytes(t, e.oauthEnv)), kid) {
				t.Fatal("revoked kid still in the JWKS right after the revocation")
			}
			if r := call(t, "GET", e.srv.URL+"/userinfo", "", "", map[string]string{"Authorization": "Bearer " + tok}); r.status != 401 {
				t.Fatalf("token of the revoked key accepted by userinfo: %d", r.status)
			}
			wantStatus(t, e.ops(t, "POST", "/keys/revoke", `{"kid":"nope","reason":"x"}`), 404)
			wantStatus(t, e.ops(t, "POST", "/keys/revoke", `{"kid":"`+kid+`"}`), 400)

			var ev apiAuditPage
			decodeInto(t, e.ops(t, "GET", "/keys/events", ""), &ev)
			found := 0
			for _, en := range ev.Entries {
				if en.Kind != "key" {
					t.Fatalf("keys/events entry of kind %s", en.Kind)
				}
				if en.Action == "revoke" && en.Target == kid && en.Actor == opsID && en.Reason == "compromised" {
					found++
				}
			}
			if found != 2 { // the key event and the admin entry
				t.Fatalf("revocation found %d times in %+v", found, ev.Entries)
			}
		})

		t.Run("Audit", func(t *testing.T) {
			want := map[string][]string{
				"user":   {"set-password:carol", "enable:carol", "disable:carol:left the team", "unset-admin:carol", "set-admin:carol", "add:carol"},
				"client": {"add:rs-any:introspect_any", "add:rs-own", "delete:svc2:decommissioned", "rotate-secret:svc2", "add:svc2"},
			}
			for kind, actions := range want {
				var page apiAuditPage
				decodeInto(t, e.ops(t, "GET", "/audit?kind="+kind, ""), &page)
				var got []string
				for _, en := range page.Entries {
					if en.Actor != opsID && en.Actor[:9] != "operator:" {
						t.Fatalf("actor %q", en.Actor)
					}
					if en.Actor != opsID {
						continue // the CLI's own entries from the set-up
					}
					if en.Replica == "" {
						t.Fatalf("entry without replica: %+v", en)
					}
					s := en.Action + ":" + en.Target
					if en.Reason != "" {
						s += ":" + en.Reason
					}
					got = append(got, s)
				}
				if strings.Join(got, "|") != strings.Join(actions, "|") {
					t.Fatalf("audit %s = %v, want %v", kind, got, actions)
				}
			}
			// Paging walks every entry once, newest first.
			seen := map[string]bool{}
			before, pages := "", 0
			for {
				var page apiAuditPage
				decodeInto(t, e.ops(t, "GET", "/audit?limit=3&before="+url.QueryEscape(before), ""), &page)
				pages++
				for _, en := range page.Entries {
					if seen[en.ID] || (before != "" && en.ID >= before) {
						t.Fatalf("entry %s twice or out of order", en.ID)
					}
					seen[en.ID] = true
				}
				if page.Next == "" {
					break
				}
				before = page.Next
			}
			if pages < 3 || len(seen) < 10 {
				t.Fatalf("%d pages, %d entries", pages, len(seen))
			}
			wantStatus(t, e.ops(t, "GET", "/audit?kind=nope", ""), 400)
		})
	})
}

// TestAdminCLIServer drives the CLI's --server mode against a running bolt
// server, whose store the CLI could not open.
func TestAdminCLIServer(t *testing.T) {
	e := newAdminEnv(t, Bolt)
	url := e.srv.URL
	e.ExtraEnv = append(e.ExtraEnv, "SIGIL_ADMIN_CLIENT_ID="+opsID, "SIGIL_ADMIN_CLIENT_SECRET="+e.opsSecret)

	out := e.MustCLI("", "--server", url, "users", "list")
	if !strings.Contains(out, "ADMIN") || !regexp.MustCompile(`root\s+-\s+-\s+true`).MatchString(out) {
		t.Fatalf("users list:\n%s", out)
	}
	e.MustCLI("", "users", "set-admin", "bob", "true", "--server", url)
	if out := e.MustCLI("", "--server", url, "users", "list", "--json"); !strings.Contains(out, `"username": "bob"`) {
		t.Fatalf("users list --json:\n%s", out)
	}
	e.MustCLI("dave's password\n", "--server", url, "users", "add", "dave", "--password-stdin", "--admin")
	e.MustCLI("", "--server", url, "users", "disable", "dave", "--reason", "test")
	e.MustCLI("", "--server", url, "users", "enable", "dave")
	out = e.MustCLI("", "--server", url, "clients", "add", "svc3", "--grants", "client_credentials", "--scopes", "api", "--introspect-any")
	if !secretLine.MatchString(out) {
		t.Fatalf("clients add:\n%s", out)
	}
	if out := e.MustCLI("", "--server", url, "clients", "list", "--json"); !regexp.MustCompile(`"id": "svc3",[^}]*"introspect_any": true`).MatchString(out) {
		t.Fatalf("clients list --json: svc3 without introspect_any:\n%s", out)
	}
	e.MustCLI("", "--server", url, "clients", "rotate-secret", "svc3")
	e.MustCLI("", "--server", url, "clients", "delete", "svc3", "--reason", "test")

	// The active key, revoked through the running server.
	tok := e.login(t, "alice", alicePW, "openid").str("access_token")
	kid := kidOf(t, tok)
	if out := e.MustCLI("", "--server", url, "keys", "list"); !strings.Contains(out, kid) {
		t.Fatalf("keys list lacks %s:\n%s", kid, out)
	}
	// The documented form; a kid may begin with "-", which then needs "--".
	revoke := []string{"--server", url, "keys", "revoke", kid, "--reason", "leaked in a log"}
	if strings.HasPrefix(kid, "-") {
		revoke = []string{"--server", url, "keys", "revoke", "--reason", "leaked in a log", "--", kid}
	}
	e.MustCLI("", revoke...)
	if strings.Contains(string(jwksBytes(t, e.oauthEnv)), kid) {
		t.Fatal("revoked kid still in the JWKS")
	}
	if out := e.MustCLI("", "--server", url, "keys", "events"); !strings.Contains(out, "leaked in a log") {
		t.Fatalf("keys events lacks the revocation:\n%s", out)
	}
	// The next key by --kid: it leaves the JWKS too.
	var ks struct {
		Algorithms []struct{ Keys []struct{ KID, State string } }
	}
	decodeInto(t, e.ops(t, "GET", "/keys", ""), &ks)
	next := ""
	for _, k := range ks.Algorithms[0].Keys {
		if k.State == "next" {
			next = k.KID
		}
	}
	e.MustCLI("", "--server", url, "keys", "revoke", "--kid", next, "--reason", "drill")
	if strings.Contains(string(jwksBytes(t, e.oauthEnv)), next) {
		t.Fatal("revoked next kid still in the JWKS")
	}

	tests := []struct {
		name string
		env  []string
		args []string
		code int
		msg  string
	}{
		{"UnknownKid", nil, []string{"--server", url, "keys", "revoke", "--kid", "nope", "--reason", "r"}, 2, "no key"},
		{"NoReason", nil, []string{"--server", url, "keys", "revoke", "--kid", "nope"}, 2, "--reason"},
		{"TwoKids", nil, []string{"--server", url, "keys", "revoke", "a", "--kid", "b", "--reason", "r"}, 2, "not both"},
		{"KidTwice", nil, []string{"--server", url, "keys", "revoke", "--kid", next, "--reason", "r", "--", next}, 2, "not both"},
		{"NoKid", nil, []string{"--server", url, "keys", "revoke", "--reason", "r"}, 2, "--kid"},
		{"DashKid", nil, []string{"--server", url, "keys", "revoke", "--kid", "-nope", "--reason", "r"}, 2, "no key"},
		{"UnknownUser", nil, []string{"--server", url, "users", "set-admin", "nobody", "true"}, 2, "no user"},
		{"BadBool", nil, []string{"--server", url, "users", "set-admin", "bob", "maybe"}, 2, "true or false"},
		{"BadURL", nil, []string{"--server", "ftp://x", "users", "list"}, 2, "--server"},
		{"NoCredentials", []string{"SIGIL_ADMIN_CLIENT_ID=", "SIGIL_ADMIN_CLIENT_SECRET="}, []string{"--server", url, "users", "list"}, 2, "SIGIL_ADMIN_CLIENT_ID"},
		{"WrongSecret", []string{"SIGIL_ADMIN_CLIENT_SECRET=wrong"}, []string{"--server", url, "users", "list"}, 2, "invalid_client"},
		{"Unreachable", nil, []string{"--server", "http://127.0.0.1:1", "users", "list"}, 1, "admin token"},
		{"RewrapNotRemote", nil, []string{"--server", url, "keys", "rewrap", "--new-key-file", "x"}, 2, "storage directly"},
	}
	base := e.ExtraEnv
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.ExtraEnv = append(append([]string{}, base...), tc.env...)
			defer func() { e.ExtraEnv = base }()
			_, stderr, code := e.CLI("", tc.args...)
			if code != tc.code || !strings.Contains(stderr, tc.msg) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
				t.Fatalf("exit %d, stderr %q; want %d and one line with %q", code, stderr, tc.code, tc.msg)
			}
		})
	}
}
