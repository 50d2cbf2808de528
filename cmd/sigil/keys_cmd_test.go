package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigilauth/sigil/keys"
	"github.com/sigilauth/sigil/web"
)

type keysListJSON struct {
	Version int64     `json:"version"`
	Keys    []keyView `json:"keys"`
}

func (e *env) keysJSON() keysListJSON {
	e.t.Helper()
	var out keysListJSON
	if err := json.Unmarshal([]byte(e.mustRun("", "keys", "list", "--json").stdout), &out); err != nil {
		e.t.Fatal(err)
	}
	return out
}

func stateKID(l keysListJSON, state string) string {
	for _, k := range l.Keys {
		if string(k.State) == state {
			return k.KID
		}
	}
	return ""
}

const testKEK = "c2lnaWwtdGVzdC1rZXktZW5jcnlwdGlvbi1rZXkhISE="

func TestKeysVerbs(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			if backend == "mongo" {
				r := e.run("", "keys", "rotate")
				if r.code != 2 || !strings.Contains(r.stderr, "key-encryption key") {
					t.Fatalf("mongo without a KEK: exit %d, stderr %q", r.code, r.stderr)
				}
				t.Setenv("SIGIL_KEY_ENCRYPTION_KEY", testKEK)
			}
			if out := e.mustRun("", "keys", "list").stdout; !strings.Contains(out, "no keys yet") {
				t.Fatalf("empty list: %q", out)
			}
			out := e.mustRun("", "keys", "rotate").stdout
			if !strings.Contains(out, "generate ES256") {
				t.Fatalf("first rotate did not bootstrap: %q", out)
			}
			l := e.keysJSON()
			active, next := stateKID(l, "active"), stateKID(l, "next")
			if active == "" || next == "" || len(l.Keys) != 2 {
				t.Fatalf("after bootstrap: %+v", l)
			}
			for _, k := range l.Keys {
				if k.State == "active" && k.NextRotation == nil {
					t.Fatal("active key without next rotation time")
				}
			}
			if out := e.mustRun("", "keys", "rotate").stdout; !strings.Contains(out, "rotation possible at") {
				t.Fatalf("rotate before pre-publication should wait: %q", out)
			}
			if e.keysJSON().Version != l.Version {
				t.Fatal("a waiting rotate changed the key set")
			}
			r := e.mustRun("", "keys", "rotate", "--now", "--reason", "drill")
			if !strings.Contains(r.stderr, "warning") {
				t.Fatalf("rotate --now without a warning: %q", r.stderr)
			}
			l = e.keysJSON()
			if stateKID(l, "active") != next {
				t.Fatalf("rotate --now did not promote the next key")
			}

			before := e.keysJSON()
			bad := []struct {
				name string
				args []string
			}{
				{"revoke without reason", []string{"keys", "revoke", "--", next}},
				{"revoke blank reason", []string{"keys", "revoke", "--reason", "  ", "--", next}},
				{"revoke unknown kid", []string{"keys", "revoke", "no-such-kid", "--reason", "x"}},
				{"revoke without kid", []string{"keys", "revoke", "--reason", "x"}},
				{"revoke kid twice", []string{"keys", "revoke", "--reason", "x", "--kid", next, "--", next}},
				{"revoke two kids", []string{"keys", "revoke", "--reason", "x", "--kid", next, active}},
				{"revoke empty kid flag", []string{"keys", "revoke", "--reason", "x", "--kid", ""}},
				{"revoke empty kid argument", []string{"keys", "revoke", "--reason", "x", "--", ""}},
				{"revoke two arguments", []string{"keys", "revoke", "--reason", "x", "--", next, active}},
				{"rewrap without file", []string{"keys", "rewrap"}},
				{"rewrap missing file", []string{"keys", "rewrap", "--new-key-file", filepath.Join(t.TempDir(), "nope")}},
				{"list with argument", []string{"keys", "list", "extra"}},
			}
			for _, tc := range bad {
				t.Run(tc.name, func(t *testing.T) {
					r := e.run("", tc.args...)
					if r.code != 2 {
						t.Fatalf("exit %d, want 2 (stderr %q)", r.code, r.stderr)
					}
					if lines := strings.Count(strings.TrimSpace(r.stderr), "\n"); lines != 0 {
						t.Fatalf("stderr is not one line: %q", r.stderr)
					}
					if after := e.keysJSON(); after.Version != before.Version {
						t.Fatal("bad input changed the key set")
					}
				})
			}

			e.mustRun("", "keys", "revoke", "--reason", "key leaked", "--", next)
			l = e.keysJSON()
			if a := stateKID(l, "active"); a == "" || a == next {
				t.Fatal("no replacement after revoking the active key")
			}
			var revoked bool
			for _, k := range l.Keys {
				if k.KID == next {
					revoked = k.State == "revoked" && !k.Published && k.RevokeReason == "key leaked"
				}
			}
			if !revoked {
				t.Fatalf("revoked key: %+v", l.Keys)
			}
			if out := e.mustRun("", "keys", "revoke", "--kid", next, "--reason", "again").stdout; !strings.Contains(out, "already revoked") {
				t.Fatalf("second revoke: %q", out)
			}

			var events []struct {
				Action, KID, Actor, Reason string
			}
			if err := json.Unmarshal([]byte(e.mustRun("", "keys", "events", "--json").stdout), &events); err != nil {
				t.Fatal(err)
			}
			var sawRevoke bool
			for _, ev := range events {
				if ev.Action == "revoke" && ev.KID == next && ev.Reason == "key leaked" && strings.HasPrefix(ev.Actor, "operator:") {
					sawRevoke = true
				}
			}
			if !sawRevoke {
				t.Fatalf("audit trail lacks the revocation: %+v", events)
			}

			// Rewrap under a new KEK; afterwards only the new KEK opens keys.
			newKEK := filepath.Join(t.TempDir(), "kek2")
			if _, err := keys.GenerateKEKFile(newKEK); err != nil {
				t.Fatal(err)
			}
			if out := e.mustRun("", "keys", "rewrap", "--new-key-file", newKEK).stdout; !strings.Contains(out, "re-sealed") {
				t.Fatalf("rewrap: %q", out)
			}
			stale := e.keysJSON()
			if r := e.run("", "keys", "rotate", "--now"); r.code == 0 || !strings.Contains(r.stderr, "sealed under") {
				t.Fatalf("old KEK still changes keys after rewrap: exit %d %q", r.code, r.stderr)
			}
			if e.keysJSON().Version != stale.Version {
				t.Fatal("a process with the old KEK changed the key set")
			}
			kekText, err := os.ReadFile(newKEK)
			if err != nil {
				t.Fatal(err)
			}
			t.Setenv("SIGIL_KEY_ENCRYPTION_KEY", strings.TrimSpace(string(kekText)))
			e.mustRun("", "keys", "rotate", "--now")
		})
	}
}

// TestRevokeKIDStartingWithDash: a kid is base64url and may begin with "-";
// given as --kid, or after "--", it is the kid, not a flag, both on storage
// and through --server.
func TestRevokeKIDStartingWithDash(t *testing.T) {
	const kid = "-Y9GWiJObxrwcYMXFABUR48zQR3Cs-E0D1UuP4VL8uw"
	e := newEnv(t, "bolt")
	var got []string // kids the fake admin API was asked to revoke
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/oauth2/token":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"access_token":"t","token_type":"Bearer"}`)
		case web.AdminAPIPath + "/keys/revoke":
			var in struct{ KID, Reason string }
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil || r.Header.Get("Authorization") != "Bearer t" {
				http.Error(w, "bad request", http.StatusBadRequest)
				return
			}
			got = append(got, in.KID)
			w.WriteHeader(http.StatusNoContent)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	t.Setenv("SIGIL_ADMIN_CLIENT_ID", "ops")
	t.Setenv("SIGIL_ADMIN_CLIENT_SECRET", "secret")

	tests := []struct {
		name string
		args []string
	}{
		{"Argument", []string{"--reason", "x", "--", kid}},
		{"Flag", []string{"--kid", kid, "--reason", "x"}},
		{"FlagEquals", []string{"--kid=" + kid, "--reason", "x"}},
		{"FlagLast", []string{"--reason", "x", "--kid", kid}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.run("", append([]string{"keys", "revoke"}, tc.args...)...)
			if r.code != 2 || !strings.Contains(r.stderr, `no key with kid "`+kid+`"`) {
				t.Fatalf("exit %d, stderr %q: the kid was not taken as the kid", r.code, r.stderr)
			}
		})
		t.Run(tc.name+"Server", func(t *testing.T) {
			got = nil
			r := e.run("", append([]string{"--server", srv.URL, "keys", "revoke"}, tc.args...)...)
			if r.code != 0 || len(got) != 1 || got[0] != kid || !strings.Contains(r.stdout, "revoked "+kid) {
				t.Fatalf("exit %d, stderr %q, stdout %q, server asked to revoke %q; want %q", r.code, r.stderr, r.stdout, got, kid)
			}
		})
	}
	for _, args := range [][]string{
		{"--kid", kid, "--reason", "x", "--", kid},
		{"--reason", "x"},
	} {
		got = nil
		r := e.run("", append([]string{"--server", srv.URL, "keys", "revoke"}, args...)...)
		if r.code != 2 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || got != nil {
			t.Fatalf("%q through --server: exit %d, stderr %q, server asked %q; want a one-line usage error", args, r.code, r.stderr, got)
		}
	}
}
