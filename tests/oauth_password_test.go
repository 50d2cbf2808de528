package tests

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func pwForm(user, pw string) url.Values {
	return url.Values{"grant_type": {"password"}, "username": {user}, "password": {pw}}
}

// TestOAuthLoginFailuresLookAlike: unknown user, wrong password, disabled
// and locked accounts get the same status and body, and similar timing.
func TestOAuthLoginFailuresLookAlike(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newOAuthEnv(t, b, nil)
		e.MustCLI("carol's password\n", "users", "add", "carol", "--password-stdin")
		e.MustCLI("", "users", "disable", "carol")
		e.MustCLI("dave's password\n", "users", "add", "dave", "--password-stdin")
		e.start()
		for range 5 {
			e.post(t, "/oauth2/token", pwForm("dave", "wrong"), webID, webSecret)
		}
		// The locked case goes first: the lock after five failures lasts
		// one second, which a loaded machine could spend on the others.
		cases := []struct {
			name string
			form url.Values
		}{
			{"locked user", pwForm("dave", "dave's password")}, // right password, locked out
			{"unknown user", pwForm("mallory", alicePW)},
			{"wrong password", pwForm("alice", "wrong")},
			{"disabled user", pwForm("carol", "carol's password")},
		}
		var first response
		for _, tc := range cases {
			name, f := tc.name, tc.form
			r := e.post(t, "/oauth2/token", f, webID, webSecret)
			if first.raw == nil {
				first = r
			}
			if r.status != 400 || r.str("error") != "invalid_grant" || string(r.raw) != string(first.raw) {
				t.Fatalf("%s: %d %s, want the same 400 as the others (%s)", name, r.status, r.raw, first.raw)
			}
		}
		// Timing: an unknown user costs a (dummy) hash like a known one.
		// Samples alternate, so load on a shared machine hits both alike; the
		// bound is a loose ratio measured in the same run, not a duration.
		var knownD, unknownD []time.Duration
		for range 5 {
			for _, f := range []struct {
				form url.Values
				into *[]time.Duration
			}{{pwForm("bob", "wrong"), &knownD}, {pwForm("nobody", "wrong"), &unknownD}} {
				start := time.Now()
				e.post(t, "/oauth2/token", f.form, webID, webSecret)
				*f.into = append(*f.into, time.Since(start))
			}
		}
		slices.Sort(knownD)
		slices.Sort(unknownD)
		known, unknown := knownD[2], unknownD[2]
		if unknown < known*3/10 {
			t.Fatalf("unknown user answered in %v, wrong password in %v: no dummy hash?", unknown, known)
		}
	})
}

// TestOAuthLockoutIsStored: the per-account backoff lives in storage, so
// another replica (MongoDB) or a restarted server (bolt) sees it.
func TestOAuthLockoutIsStored(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newOAuthEnv(t, b, nil)
		e.start()
		// 5 free failures, then delays of 1, 2, 4, 8 s: after 8 failures the
		// account stays locked for 8 s, long enough to restart a server under
		// -race on a slow machine and still find it locked.
		for i := range 8 {
			if i >= 5 {
				time.Sleep(time.Duration(1<<(i-5))*time.Second + 100*time.Millisecond)
			}
			wantOAuthError(t, e.post(t, "/oauth2/token", pwForm("bob", "wrong"), webID, webSecret), 400, "invalid_grant")
		}
		var other *Server
		if b == Mongo {
			other = e.StartOn("127.0.0.1:" + freePort(t))
		} else {
			e.srv.Stop(t)
			other = e.start()
		}
		r := call(t, "POST", other.URL+"/oauth2/token", "application/x-www-form-urlencoded", pwForm("bob", bobPW).Encode(),
			map[string]string{"Authorization": "Basic " + basicCreds(webID, webSecret)})
		wantOAuthError(t, r, 400, "invalid_grant")
		// Other accounts are unaffected.
		r = call(t, "POST", other.URL+"/oauth2/token", "application/x-www-form-urlencoded", pwForm("alice", alicePW).Encode(),
			map[string]string{"Authorization": "Basic " + basicCreds(webID, webSecret)})
		if r.status != 200 {
			t.Fatalf("other account: %d %s", r.status, r.raw)
		}
	})
}

// TestOAuthAddressRateLimit: a per-address bucket limits attempts across
// accounts; X-Forwarded-For counts only from trusted proxies.
func TestOAuthAddressRateLimit(t *testing.T) {
	spray1 := func(t *testing.T, e *oauthEnv, i int, xff func(i int) string) response {
		hdr := map[string]string{"Authorization": "Basic " + basicCreds(webID, webSecret)}
		if xff != nil {
			hdr["X-Forwarded-For"] = xff(i)
		}
		return call(t, "POST", e.srv.URL+"/oauth2/token", "application/x-www-form-urlencoded",
			pwForm(fmt.Sprintf("user%d", i), "guess").Encode(), hdr)
	}
	spray := func(t *testing.T, e *oauthEnv, n int, xff func(i int) string) []response {
		var out []response
		for i := range n {
			out = append(out, spray1(t, e, i, xff))
		}
		return out
	}
	// untilLimited sends attempts until one is answered 429 and returns how
	// many passed before it. The bucket holds 30 and gains one every 2 s, so
	// on a slow machine (argon2id under -race) a few more may pass than 30:
	// never fewer, and never more than 30 + the refills of the elapsed time.
	untilLimited := func(t *testing.T, e *oauthEnv, xff func(i int) string) (int, response) {
		t.Helper()
		start := time.Now()
		for i := 0; ; i++ {
			r := spray1(t, e, i, xff)
			if r.status == 429 {
				if i < 30 {
					t.Fatalf("limited after %d attempts, want at least the burst of 30", i)
				}
				return i, r
			}
			wantOAuthError(t, r, 400, "invalid_grant")
			if allowed := 30 + int(time.Since(start)/(2*time.Second)) + 1; i+1 > allowed {
				t.Fatalf("%d attempts passed in %s; the bucket allows at most %d", i+1, time.Since(start).Round(time.Millisecond), allowed)
			}
		}
	}
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Run("untrusted forwarded-for ignored", func(t *testing.T) {
			e := newOAuthEnv(t, b, nil)
			e.start()
			_, last := untilLimited(t, e, func(i int) string { return fmt.Sprintf("203.0.113.%d", i) })
			if last.header.Get("Retry-After") == "" || last.str("error") == "" {
				t.Fatalf("limited attempt: %d %v %s", last.status, last.header, last.raw)
			}
			// The bucket is per address, not per account: alice from here is
			// limited too.
			if r := e.post(t, "/oauth2/token", pwForm("alice", alicePW), webID, webSecret); r.status != 429 {
				t.Fatalf("alice from a limited address: %d", r.status)
			}
		})
		t.Run("trusted proxy", func(t *testing.T) {
			e := newOAuthEnv(t, b, map[string]string{"security.trusted_proxies": "[127.0.0.1]"})
			e.start()
			// 35 distinct forwarded addresses: none is limited.
			for _, r := range spray(t, e, 35, func(i int) string { return fmt.Sprintf("203.0.113.%d", i) }) {
				wantOAuthError(t, r, 400, "invalid_grant")
			}
			// One client behind the proxy is limited.
			untilLimited(t, e, func(int) string { return "198.51.100.9" })
		})
	})
}

// TestOAuthPasswordHashBound: with one hash slot, a burst of logins queues
// for it: with the default queue every login succeeds; with a queue of 4
// the logins beyond it get 503 with Retry-After, never another failure.
func TestOAuthPasswordHashBound(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		wantBusy bool
	}{
		{"default queue: all wait", map[string]string{"security.password_hash_concurrency": "1"}, false},
		{"queue of 4: the rest 503", map[string]string{"security.password_hash_concurrency": "1",
			"security.password_hash_queue": "4", "security.password_hash_wait": "1m"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b Backend) {
				e := newOAuthEnv(t, b, tc.settings)
				e.start()
				const n = 24
				var wg sync.WaitGroup
				rs := make([]response, n)
				start := make(chan struct{})
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						rs[i] = e.post(t, "/oauth2/token", pwForm("alice", alicePW), webID, webSecret)
					}()
				}
				close(start)
				wg.Wait()
				ok, busy := 0, 0
				for _, r := range rs {
					switch {
					case r.status == 200:
						ok++
					case r.status == 503 && r.header.Get("Retry-After") != "" && r.str("error") == "temporarily_unavailable":
						busy++
					default:
						t.Fatalf("unexpected answer %d %s", r.status, r.raw)
					}
				}
				if tc.wantBusy && (ok < 5 || busy == 0) {
					t.Fatalf("%d ok, %d busy: want at least the slot and the queue to succeed, and some 503", ok, busy)
				}
				if !tc.wantBusy && busy != 0 {
					t.Fatalf("%d ok, %d busy: want every login to wait for the slot", ok, busy)
				}
				if r := e.post(t, "/oauth2/token", pwForm("alice", alicePW), webID, webSecret); r.status != 200 {
					t.Fatalf("after the burst: %d", r.status)
				}
			})
		})
	}
}

func djangoPBKDF2(pw string, iter int) string {
	salt := "Zm9vYmFyYmF6cXV4"
	k, err := pbkdf2.Key(sha256.New, pw, []byte(salt), iter, 32)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("pbkdf2_sha256$%d$%s$%s", iter, salt, base64.StdEncoding.EncodeToString(k))
}

// TestDjangoUsersImportLoginRehash: Django users imported with their
// pbkdf2_sha256 hashes log in with their old passwords (OAuth and
// simplejwt), keep their pk as sub and user_id, and are rehashed to
// argon2id on that login.
func TestDjangoUsersImportLoginRehash(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newOAuthEnv(t, b, nil)
		dump := fmt.Sprintf(`[
  {"model": "auth.user", "pk": 1001, "fields": {"password": %q, "username": "django_ann", "email": "ann@example.com",
   "first_name": "Ann", "last_name": "Smith", "is_active": true, "date_joined": "2019-05-01T10:00:00Z"}},
  {"model": "auth.user", "pk": 1002, "fields": {"password": %q, "username": "django_ben", "is_active": true}},
  {"model": "auth.user", "pk": 1003, "fields": {"password": "unsalted_md5$$abc", "username": "django_old"}}
]`, djangoPBKDF2("ann-old-password", 20000), djangoPBKDF2("ben-old-password", 20000))
		path := filepath.Join(e.Dir, "users.json")
		if err := os.WriteFile(path, []byte(dump), 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := e.CLI("", "users", "import", path)
		if code != 2 || !strings.Contains(out, "2 users imported") || !strings.Contains(errOut, "line 5") {
			t.Fatalf("import: exit %d\n%s\n%s", code, out, errOut)
		}
		out, _, _ = e.CLI("", "users", "import", path)
		if !strings.Contains(out, "0 users imported, 2 already present") {
			t.Fatalf("second import: %s", out)
		}
		e.start()

		r := e.login(t, "django_ann", "ann-old-password", "openid profile")
		_, c := e.verifyJWT(t, r.str("access_token"))
		if c["sub"] != "1001" || fmt.Sprint(c["user_id"]) != "1001" {
			t.Fatalf("sub %v user_id %v", c["sub"], c["user_id"])
		}
		if _, isNum := c["user_id"].(json.Number); !isNum {
			t.Fatalf("user_id %v is not a number like Django's pk", c["user_id"])
		}
		sj := e.postJSON(t, "/api/token/", map[string]string{"username": "django_ben", "password": "ben-old-password"})
		if sj.status != 200 {
			t.Fatalf("simplejwt login: %d %s", sj.status, sj.raw)
		}
		if len(e.srv.Lines("password rehashed")) != 2 {
			t.Fatalf("rehash not logged twice:\n%s", e.srv.Logs())
		}

		e.srv.Stop(t)
		st := e.store(t)
		for _, name := range []string{"django_ann", "django_ben"} {
			u, err := st.GetUserByUsername(context.Background(), name)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
				t.Fatalf("%s not rehashed: %.20s", name, u.PasswordHash)
			}
		}
		_ = st.Close()
		e.start()
		// The old password still works against the new hash.
		e.login(t, "django_ann", "ann-old-password", "")
	})
}
