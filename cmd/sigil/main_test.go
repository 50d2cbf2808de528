package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/oauth/password"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/mongo/mongotest"
)

// env is one isolated deployment for CLI tests: a config file naming a
// fresh bolt file or MongoDB database.
type env struct {
	t      *testing.T
	config string // path of the config file
	cfg    configs.Config
}

// backends lists the storage backends every verb is tested against.
var backends = []string{"bolt", "mongo"}

// newEnv writes a config for backend into a temp dir. The mongo backend
// skips (through mongotest) when no MongoDB is configured, and its database
// is dropped afterwards.
func newEnv(t *testing.T, backend string) *env {
	t.Helper()
	dir := t.TempDir()
	var storageYAML string
	switch backend {
	case "bolt":
		storageYAML = fmt.Sprintf("  backend: bolt\n  bolt_path: %q\n", filepath.Join(dir, "data", "sigil.db"))
	case "mongo":
		uri, db := mongotest.NewDatabase(t)
		storageYAML = fmt.Sprintf("  backend: mongo\n  mongo_uri: %q\n  mongo_database: %s\n", uri, db)
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	path := filepath.Join(dir, "sigil.yaml")
	content := "listen: 127.0.0.1:0\nstorage:\n" + storageYAML + "keys:\n  algorithms: [ES256]\nlog:\n  level: debug\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, config: path, cfg: cfg}
}

// result is what one Main call produced.
type result struct {
	code           int
	stdout, stderr string
}

// run calls Main with --config and args, feeding stdin.
func (e *env) run(stdin string, args ...string) result {
	e.t.Helper()
	return runMain(e.t, stdin, append([]string{"--config", e.config}, args...)...)
}

// mustRun is run that fails the test unless the exit status is 0.
func (e *env) mustRun(stdin string, args ...string) result {
	e.t.Helper()
	r := e.run(stdin, args...)
	if r.code != 0 {
		e.t.Fatalf("sigil %s: exit %d, stderr %q", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

func runMain(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, strings.NewReader(stdin), &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// dump returns the JSON listings of users and clients: the observable state
// of the store.
func (e *env) dump() string {
	e.t.Helper()
	return e.mustRun("", "users", "list", "--json").stdout + e.mustRun("", "clients", "list", "--json").stdout
}

// withStore opens the env's store directly, for checks the CLI does not
// show (hashes).
func (e *env) withStore(fn func(s storage.Store)) {
	e.t.Helper()
	s, err := openStore(context.Background(), e.cfg)
	if err != nil {
		e.t.Fatalf("open store: %v", err)
	}
	defer s.Close()
	fn(s)
}

func (e *env) userJSON(username string) userView {
	e.t.Helper()
	var users []userView
	if err := json.Unmarshal([]byte(e.mustRun("", "users", "list", "--json").stdout), &users); err != nil {
		e.t.Fatal(err)
	}
	for _, u := range users {
		if u.Username == username {
			return u
		}
	}
	e.t.Fatalf("user %q not listed", username)
	return userView{}
}

func (e *env) clientsJSON() []clientView {
	e.t.Helper()
	var clients []clientView
	if err := json.Unmarshal([]byte(e.mustRun("", "clients", "list", "--json").stdout), &clients); err != nil {
		e.t.Fatal(err)
	}
	return clients
}

// assertNoLeak fails if secret appears in the output of r.
func assertNoLeak(t *testing.T, r result, secret string) {
	t.Helper()
	if secret == "" {
		return
	}
	if strings.Contains(r.stdout, secret) || strings.Contains(r.stderr, secret) {
		t.Errorf("secret %q leaked: stdout %q, stderr %q", secret, r.stdout, r.stderr)
	}
}

var secretLine = regexp.MustCompile(`(?m)^client_secret: ([A-Za-z0-9_-]{43})$`)

func TestVerbs(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)

			// Empty store.
			if got := e.mustRun("", "users", "list", "--json").stdout; strings.TrimSpace(got) != "[]" {
				t.Errorf("users list --json on empty store = %q, want []", got)
			}
			if got := e.mustRun("", "clients", "list", "--json").stdout; strings.TrimSpace(got) != "[]" {
				t.Errorf("clients list --json on empty store = %q, want []", got)
			}

			// users add
			const alicePW = "alice-Pa55word with spaces"
			r := e.mustRun(alicePW+"\n", "users", "add", "alice", "--password-stdin", "--email", "alice@example.com", "--name", "Alice Liddell")
			assertNoLeak(t, r, alicePW)
			if !strings.Contains(r.stdout, `user "alice" created`) {
				t.Errorf("users add stdout = %q", r.stdout)
			}
			const bobPW = "b0b-secret"
			r = e.mustRun(bobPW+"\r\nignored second line\n", "users", "add", "bob", "--password-stdin")
			assertNoLeak(t, r, bobPW)

			alice := e.userJSON("alice")
			if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(alice.ID) {
				t.Errorf("user id %q is not a UUIDv4", alice.ID)
			}
			if alice.Email != "alice@example.com" || alice.Name != "Alice Liddell" || alice.Disabled {
				t.Errorf("alice = %+v", alice)
			}
			e.withStore(func(s storage.Store) {
				for name, pw := range map[string]string{"alice": alicePW, "bob": bobPW} {
					u, err := s.GetUserByUsername(context.Background(), name)
					if err != nil {
						t.Fatal(err)
					}
					if !strings.HasPrefix(u.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") {
						t.Errorf("%s: hash is not argon2id with default params", name)
					}
					ok, rehash, err := password.Verify(u.PasswordHash, pw, password.DefaultParams)
					if err != nil || !ok || rehash {
						t.Errorf("%s: Verify(stored hash) = %v, %v, %v", name, ok, rehash, err)
					}
				}
			})

			// users list
			r = e.mustRun("", "users", "list")
			for _, want := range []string{"ID", "USERNAME", "alice", "alice@example.com", "Alice Liddell", "bob", alice.ID} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("users list lacks %q:\n%s", want, r.stdout)
				}
			}
			r = e.mustRun("", "users", "list", "--json")
			if strings.Contains(r.stdout, "argon2") || strings.Contains(strings.ToLower(r.stdout), "hash") {
				t.Errorf("users list --json shows hashes: %s", r.stdout)
			}

			// users set-password
			const alicePW2 = "n3w-alice-password"
			r = e.mustRun(alicePW2+"\n", "users", "set-password", "alice", "--password-stdin")
			assertNoLeak(t, r, alicePW2)
			e.withStore(func(s storage.Store) {
				u, err := s.GetUserByUsername(context.Background(), "alice")
				if err != nil {
					t.Fatal(err)
				}
				if ok, _, _ := password.Verify(u.PasswordHash, alicePW2, password.DefaultParams); !ok {
					t.Error("new password does not verify after set-password")
				}
				if ok, _, _ := password.Verify(u.PasswordHash, alicePW, password.DefaultParams); ok {
					t.Error("old password still verifies after set-password")
				}
				if !u.PasswordChangedAt.After(u.CreatedAt) {
					t.Errorf("PasswordChangedAt %v not after CreatedAt %v", u.PasswordChangedAt, u.CreatedAt)
				}
			})

			// users disable / enable
			e.mustRun("", "users", "disable", "alice")
			if !e.userJSON("alice").Disabled {
				t.Error("alice not disabled")
			}
			if e.userJSON("bob").Disabled {
				t.Error("bob disabled too")
			}
			e.mustRun("", "users", "enable", "alice")
			if e.userJSON("alice").Disabled {
				t.Error("alice still disabled after enable")
			}
			e.mustRun("", "users", "disable", "alice")

			// clients add: generated secret
			r = e.mustRun("", "clients", "add", "web", "--grants", "password,refresh_token", "--scopes", "openid,profile",
				"--audience", "https://api.example.com", "--audience", "https://other.example.com", "--name", "Web app", "--signing-alg", "ES256")
			m := secretLine.FindStringSubmatch(r.stdout)
			if m == nil {
				t.Fatalf("clients add printed no secret: %q", r.stdout)
			}
			generated := m[1]
			if strings.Count(r.stdout, generated) != 1 || !strings.Contains(r.stdout, "Store this secret now") {
				t.Errorf("secret must be printed exactly once with a warning: %q", r.stdout)
			}
			if strings.Contains(r.stderr, generated) {
				t.Errorf("secret on stderr: %q", r.stderr)
			}

			// clients add: secret from stdin
			const svcSecret = "0123456789abcdefghijklmnopqrstuvwxyz-svc"
			r = e.mustRun(svcSecret+"\n", "clients", "add", "svc", "--secret-stdin", "--grants", "client_credentials", "--scopes", "api:read")
			assertNoLeak(t, r, svcSecret)

			// clients add: public
			r = e.mustRun("", "clients", "add", "cli", "--public", "--grants", "password,refresh_token", "--scopes", "openid")
			if secretLine.MatchString(r.stdout) {
				t.Errorf("public client got a secret: %q", r.stdout)
			}

			e.withStore(func(s storage.Store) {
				for id, secret := range map[string]string{"web": generated, "svc": svcSecret} {
					c, err := s.GetClient(context.Background(), id)
					if err != nil {
						t.Fatal(err)
					}
					sum := sha256.Sum256([]byte(secret))
					if !bytes.Equal(c.SecretHash, sum[:]) || c.Public {
						t.Errorf("client %s: stored secret hash is not sha256 of the secret", id)
					}
				}
				c, err := s.GetClient(context.Background(), "cli")
				if err != nil {
					t.Fatal(err)
				}
				if !c.Public || len(c.SecretHash) != 0 {
					t.Errorf("cli: public %v, secret hash %x", c.Public, c.SecretHash)
				}
			})

			// clients list
			clients := e.clientsJSON()
			if len(clients) != 3 {
				t.Fatalf("clients list --json: %d clients, want 3", len(clients))
			}
			web := clients[2] // ordered by id: cli, svc, web
			if web.ID != "web" || web.Name != "Web app" || web.Public || web.TokenSigningAlg != "ES256" ||
				strings.Join(web.Grants, ",") != "password,refresh_token" ||
				strings.Join(web.Scopes, ",") != "openid,profile" ||
				strings.Join(web.Audiences, ",") != "https://api.example.com,https://other.example.com" {
				t.Errorf("web = %+v", web)
			}
			r = e.mustRun("", "clients", "list", "--json")
			if strings.Contains(strings.ToLower(r.stdout), "secret") {
				t.Errorf("clients list --json shows secrets: %s", r.stdout)
			}
			r = e.mustRun("", "clients", "list")
			for _, want := range []string{"ID", "web", "svc", "cli", "public", "confidential", "client_credentials", "api:read"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("clients list lacks %q:\n%s", want, r.stdout)
				}
			}
			assertNoLeak(t, r, generated)

			// clients delete
			e.mustRun("", "clients", "delete", "cli")
			if got := len(e.clientsJSON()); got != 2 {
				t.Errorf("after delete: %d clients, want 2", got)
			}
		})
	}
}

func TestBadInputChangesNothing(t *testing.T) {
	const seedPW = "seed-password-1"
	const longSecret = "this-is-a-long-enough-client-secret-0123"
	tests := []struct {
		name  string
		stdin string
		// args come after --config; {badconfig} / {missingconfig} replace
		// the config path.
		args []string
		// wantIn must appear in stderr.
		wantIn string
	}{
		{name: "duplicate user", stdin: "other-password\n", args: []string{"users", "add", "alice", "--password-stdin"}, wantIn: `"alice" already exists`},
		{name: "empty password", stdin: "", args: []string{"users", "add", "carol", "--password-stdin"}, wantIn: "empty password"},
		{name: "empty password line", stdin: "\n", args: []string{"users", "add", "carol", "--password-stdin"}, wantIn: "empty password"},
		{name: "crlf only password", stdin: "\r\n", args: []string{"users", "add", "carol", "--password-stdin"}, wantIn: "empty password"},
		{name: "oversized password", stdin: strings.Repeat("x", 5000) + "\n", args: []string{"users", "add", "carol", "--password-stdin"}, wantIn: "longer than"},
		{name: "password not from stdin", stdin: "a-password\n", args: []string{"users", "add", "carol"}, wantIn: "--password-stdin is required"},
		{name: "user name missing", args: []string{"users", "add", "--password-stdin"}, stdin: "pw-123456\n", wantIn: "NAME"},
		{name: "too many arguments", args: []string{"users", "add", "carol", "dave", "--password-stdin"}, stdin: "pw-123456\n"},
		{name: "empty user name", args: []string{"users", "add", "", "--password-stdin"}, stdin: "pw-123456\n", wantIn: "empty user name"},
		{name: "user name with space", args: []string{"users", "add", "carol smith", "--password-stdin"}, stdin: "pw-123456\n"},
		{name: "bad email", args: []string{"users", "add", "carol", "--password-stdin", "--email", "not-an-email"}, stdin: "pw-123456\n", wantIn: "email"},
		{name: "set-password unknown user", stdin: "pw-123456\n", args: []string{"users", "set-password", "ghost", "--password-stdin"}, wantIn: `no user named "ghost"`},
		{name: "set-password empty", stdin: "\n", args: []string{"users", "set-password", "alice", "--password-stdin"}, wantIn: "empty password"},
		{name: "disable unknown user", args: []string{"users", "disable", "ghost"}, wantIn: "ghost"},
		{name: "enable unknown user", args: []string{"users", "enable", "ghost"}, wantIn: "ghost"},
		{name: "users list argument", args: []string{"users", "list", "extra"}},
		{name: "unknown users verb", args: []string{"users", "remove", "alice"}, wantIn: "unknown command"},
		{name: "unknown command", args: []string{"usres", "list"}, wantIn: "unknown command"},
		{name: "unknown flag", args: []string{"users", "list", "--yaml"}, wantIn: "unknown flag"},

		{name: "duplicate client", args: []string{"clients", "add", "web", "--grants", "password", "--scopes", "openid"}, wantIn: `"web" already exists`},
		{name: "unknown grant", args: []string{"clients", "add", "new", "--grants", "password,implicit", "--scopes", "openid"}, wantIn: `unknown grant "implicit"`},
		// authorization_code is a grant since single sign-on; it needs
		// registered redirect URIs, each absolute, fragment-free and https
		// except on loopback or a private-use scheme (RFC 8252).
		{name: "authorization_code without redirect uri", args: []string{"clients", "add", "new", "--grants", "authorization_code", "--scopes", "openid"}, wantIn: "needs at least one redirect URI"},
		{name: "http redirect uri", args: []string{"clients", "add", "new", "--grants", "authorization_code", "--scopes", "openid", "--redirect-uri", "http://app.example.com/cb"}, wantIn: "must use https"},
		{name: "redirect uri with fragment", args: []string{"clients", "add", "new", "--grants", "authorization_code", "--scopes", "openid", "--redirect-uri", "https://app.example.com/cb#x"}, wantIn: "fragment"},
		{name: "relative redirect uri", args: []string{"clients", "add", "new", "--grants", "authorization_code", "--scopes", "openid", "--redirect-uri", "/cb"}, wantIn: "absolute"},
		{name: "empty redirect uri in a list", args: []string{"clients", "add", "new", "--grants", "authorization_code", "--scopes", "openid", "--redirect-uri", "https://app.example.com/cb,"}, wantIn: "empty"},
		{name: "unknown redirect scheme", args: []string{"clients", "add", "new", "--grants", "authorization_code", "--scopes", "openid", "--redirect-uri", "javascript:alert(1)"}, wantIn: "not allowed"},
		{name: "redirect uri without the code grant", args: []string{"clients", "add", "new", "--grants", "password", "--scopes", "openid", "--redirect-uri", "https://app.example.com/cb"}, wantIn: "only used by the authorization_code grant"},
		{name: "bad post-logout redirect uri", args: []string{"clients", "add", "new", "--grants", "authorization_code", "--scopes", "openid", "--redirect-uri", "https://app.example.com/cb", "--post-logout-redirect-uri", "http://evil.example/"}, wantIn: "post-logout"},
		{name: "bad backchannel uri", args: []string{"clients", "add", "new", "--grants", "authorization_code", "--scopes", "openid", "--redirect-uri", "https://app.example.com/cb", "--backchannel-logout-uri", "com.example.app:/logout"}, wantIn: "back-channel"},
		{name: "consents of an unknown user", args: []string{"users", "consents", "nobody"}, wantIn: "nobody"},
		{name: "no grants", args: []string{"clients", "add", "new", "--scopes", "openid"}, wantIn: "--grants"},
		{name: "empty grant", args: []string{"clients", "add", "new", "--grants", "password,", "--scopes", "openid"}, wantIn: "unknown grant"},
		{name: "no scopes", args: []string{"clients", "add", "new", "--grants", "password"}, wantIn: "--scopes"},
		{name: "scope with quote", args: []string{"clients", "add", "new", "--grants", "password", "--scopes", `open"id`}, wantIn: "invalid scope"},
		{name: "scope with backslash", args: []string{"clients", "add", "new", "--grants", "password", "--scopes", `a\b`}, wantIn: "invalid scope"},
		{name: "scope with space", args: []string{"clients", "add", "new", "--grants", "password", "--scopes", "a b"}, wantIn: "invalid scope"},
		{name: "empty scope", args: []string{"clients", "add", "new", "--grants", "password", "--scopes", "openid,,profile"}, wantIn: "invalid scope"},
		{name: "public and secret-stdin", stdin: longSecret + "\n", args: []string{"clients", "add", "new", "--public", "--secret-stdin", "--grants", "password", "--scopes", "openid"}, wantIn: "mutually exclusive"},
		{name: "public client_credentials", args: []string{"clients", "add", "new", "--public", "--grants", "client_credentials", "--scopes", "openid"}, wantIn: "client_credentials"},
		{name: "short secret", stdin: "too-short-secret-1234\n", args: []string{"clients", "add", "new", "--secret-stdin", "--grants", "password", "--scopes", "openid"}, wantIn: "fewer than 32"},
		{name: "empty secret", stdin: "", args: []string{"clients", "add", "new", "--secret-stdin", "--grants", "password", "--scopes", "openid"}, wantIn: "empty client secret"},
		{name: "unsupported signing alg", args: []string{"clients", "add", "new", "--grants", "password", "--scopes", "openid", "--signing-alg", "HS256"}, wantIn: "HS256"},
		{name: "signing alg not configured", args: []string{"clients", "add", "new", "--grants", "password", "--scopes", "openid", "--signing-alg", "RS256"}, wantIn: "keys.algorithms"},
		{name: "client id with colon", args: []string{"clients", "add", "a:b", "--grants", "password", "--scopes", "openid"}, wantIn: "client id"},
		{name: "client id with space", args: []string{"clients", "add", "a b", "--grants", "password", "--scopes", "openid"}, wantIn: "client id"},
		{name: "empty audience", args: []string{"clients", "add", "new", "--grants", "password", "--scopes", "openid", "--audience", " "}, wantIn: "audience"},
		{name: "delete unknown client", args: []string{"clients", "delete", "ghost"}, wantIn: `no client with id "ghost"`},
		{name: "delete without id", args: []string{"clients", "delete"}},

		{name: "invalid config", stdin: "pw-123456\n", args: []string{"--config", "{badconfig}", "users", "add", "carol", "--password-stdin"}, wantIn: "storage.backend"},
		{name: "missing config file", args: []string{"--config", "{missingconfig}", "clients", "add", "new", "--grants", "password", "--scopes", "openid"}, wantIn: "no such file"},
	}
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			e.mustRun(seedPW+"\n", "users", "add", "alice", "--password-stdin")
			e.mustRun("", "clients", "add", "web", "--grants", "password", "--scopes", "openid")
			badConfig := filepath.Join(t.TempDir(), "bad.yaml")
			if err := os.WriteFile(badConfig, []byte("storage:\n  backend: sqlite\nlog:\n  level: chatty\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			missing := filepath.Join(t.TempDir(), "absent.yaml")
			before := e.dump()

			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					args := make([]string, len(tc.args))
					for i, a := range tc.args {
						args[i] = strings.NewReplacer("{badconfig}", badConfig, "{missingconfig}", missing).Replace(a)
					}
					r := e.run(tc.stdin, args...)
					if r.code != exitUsage {
						t.Errorf("exit status %d, want %d (stderr %q)", r.code, exitUsage, r.stderr)
					}
					if !strings.HasPrefix(r.stderr, "sigil: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
						t.Errorf("stderr is not one line \"sigil: ...\": %q", r.stderr)
					}
					if !strings.Contains(r.stderr, tc.wantIn) {
						t.Errorf("stderr %q does not contain %q", r.stderr, tc.wantIn)
					}
					if r.stdout != "" {
						t.Errorf("stdout not empty: %q", r.stdout)
					}
					if secret := strings.TrimSpace(tc.stdin); len(secret) >= 6 {
						assertNoLeak(t, r, secret)
					}
					if after := e.dump(); after != before {
						t.Errorf("store changed:\nbefore %s\nafter  %s", before, after)
					}
				})
			}
			// The seed user's password is untouched too (not visible in dump).
			e.withStore(func(s storage.Store) {
				u, err := s.GetUserByUsername(context.Background(), "alice")
				if err != nil {
					t.Fatal(err)
				}
				if ok, _, _ := password.Verify(u.PasswordHash, seedPW, password.DefaultParams); !ok {
					t.Error("alice's password changed")
				}
			})
		})
	}
}

func TestInvalidConfigListsEveryProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sigil.yaml")
	content := "issuer: http://id.example.com\nkeys:\n  prepublish: 10s\n  rotaton: \"@daily\"\njwks:\n  max_age: 1m\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// The unknown key is reported by Load, before validation.
	r := runMain(t, "", "--config", path, "serve")
	if r.code != exitUsage || !strings.Contains(r.stderr, "keys.rotaton") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	content = strings.Replace(content, "  rotaton: \"@daily\"\n", "", 1)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	r = runMain(t, "", "--config", path, "serve")
	if r.code != exitUsage {
		t.Fatalf("exit %d, want %d", r.code, exitUsage)
	}
	for _, want := range []string{"issuer:", "keys.prepublish: (10s) must be at least jwks.max_age (1m0s)"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr %q lacks %q", r.stderr, want)
		}
	}
	if strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("stderr is not one line: %q", r.stderr)
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	e := newEnv(t, "bolt")
	t.Setenv(configEnv, e.config)
	r := runMain(t, "pw-from-env-config\n", "users", "add", "erin", "--password-stdin")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	// The user went to the store named by $SIGIL_CONFIG.
	if got := e.userJSON("erin"); got.Username != "erin" {
		t.Errorf("user not in the store of $SIGIL_CONFIG")
	}
}

func TestStorageFailureExitsOne(t *testing.T) {
	dir := t.TempDir()
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	const mongoPassword = "hunter2-mongo-pw"
	configFiles := map[string]string{
		// bolt_path's parent is a regular file: storage cannot be opened.
		"bolt": fmt.Sprintf("storage:\n  bolt_path: %q\n", filepath.Join(blocker, "data", "sigil.db")),
		// Nothing listens on port 1.
		"mongo": "storage:\n  backend: mongo\n  mongo_uri: \"mongodb://admin:" + mongoPassword +
			"@127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300\"\n",
	}
	tests := []struct {
		name  string
		stdin string
		args  []string
	}{
		{name: "users list", args: []string{"users", "list"}},
		{name: "users add", stdin: "pw-123456\n", args: []string{"users", "add", "x", "--password-stdin"}},
		{name: "users disable", args: []string{"users", "disable", "x"}},
		{name: "clients add", args: []string{"clients", "add", "x", "--grants", "password", "--scopes", "openid"}},
		{name: "clients delete", args: []string{"clients", "delete", "x"}},
		{name: "serve", args: []string{"serve"}},
	}
	for backend, content := range configFiles {
		path := filepath.Join(dir, backend+".yaml")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, tc := range tests {
			t.Run(backend+"/"+tc.name, func(t *testing.T) {
				r := runMain(t, tc.stdin, append([]string{"--config", path}, tc.args...)...)
				if r.code != exitFailure {
					t.Errorf("exit %d, want %d (stderr %q)", r.code, exitFailure, r.stderr)
				}
				lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
				if last := lines[len(lines)-1]; !strings.HasPrefix(last, "sigil: ") {
					t.Errorf("last stderr line %q is not the error", last)
				}
				if secretLine.MatchString(r.stdout) {
					t.Errorf("a secret was printed for a client that was not stored: %q", r.stdout)
				}
				assertNoLeak(t, r, mongoPassword)
			})
		}
	}
}

func TestVersionAndHelp(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
	}{
		{name: "version", args: []string{"version"}, stdout: "sigil dev (commit unknown, built unknown, go1."},
		{name: "help", args: []string{"--help"}, stdout: "Available Commands"},
		{name: "users help", args: []string{"users", "--help"}, stdout: "set-password"},
		{name: "clients add help", args: []string{"clients", "add", "--help"}, stdout: "--secret-stdin"},
		{name: "bare users shows help", args: []string{"users"}, stdout: "Available Commands"},
		{name: "no command", args: nil, code: exitUsage},
		{name: "version with argument", args: []string{"version", "x"}, code: exitUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runMain(t, "", tc.args...)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d (stderr %q)", r.code, tc.code, r.stderr)
			}
			if !strings.Contains(r.stdout, tc.stdout) {
				t.Errorf("stdout %q lacks %q", r.stdout, tc.stdout)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServe(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stdout, stderr syncBuffer
			if backend == "mongo" {
				// MongoDB deployments need an explicit key-encryption key.
				t.Setenv("SIGIL_KEY_ENCRYPTION_KEY", "c2lnaWwtdGVzdC1rZXktZW5jcnlwdGlvbi1rZXkhISE=")
			}
			done := make(chan int, 1)
			go func() {
				done <- Main(ctx, []string{"--config", e.config, "serve"}, strings.NewReader(""), &stdout, &stderr)
			}()
			deadline := time.After(30 * time.Second)
			for !strings.Contains(stderr.String(), "msg=listening") {
				select {
				case code := <-done:
					t.Fatalf("serve exited early with %d: %s", code, stderr.String())
				case <-deadline:
					t.Fatalf("serve did not open storage: %s", stderr.String())
				case <-time.After(20 * time.Millisecond):
				}
			}
			if !strings.Contains(stderr.String(), "backend="+backend) {
				t.Errorf("log lacks the backend: %s", stderr.String())
			}
			cancel()
			select {
			case code := <-done:
				if code != 0 {
					t.Fatalf("serve exit %d: %s", code, stderr.String())
				}
			case <-time.After(30 * time.Second):
				t.Fatal("serve did not stop after cancellation")
			}
			if !strings.Contains(stderr.String(), "storage closed") {
				t.Errorf("storage not closed cleanly: %s", stderr.String())
			}
			// The store is usable (closed and unlocked) afterwards.
			e.mustRun("", "users", "list")
		})
	}
}

func TestServeWithoutConfig(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv(configEnv, "")
	// No config file; only the port is moved off 8080, which may be taken
	// on a shared machine.
	t.Setenv("SIGIL_LISTEN", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- Main(ctx, []string{"serve"}, strings.NewReader(""), &bytes.Buffer{}, &stderr) }()
	deadline := time.After(30 * time.Second)
	for !strings.Contains(stderr.String(), "msg=listening") {
		select {
		case code := <-done:
			cancel()
			t.Fatalf("serve exited early with %d: %s", code, stderr.String())
		case <-deadline:
			cancel()
			t.Fatalf("serve did not start: %s", stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "sigil-data", "sigil.db")); err != nil {
		t.Errorf("default bolt file: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, "sigil-data", "key-encryption-key"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("generated key-encryption key file: %v (mode %v), want mode 0600", err, fi.Mode().Perm())
	}
}

func TestMongoHostsHidesCredentials(t *testing.T) {
	tests := []struct {
		name, uri, want string
	}{
		{name: "plain", uri: "mongodb://db:27017/sigil", want: "mongodb://db:27017"},
		{name: "credentials", uri: "mongodb://admin:s3cr3t@db1:27017,db2:27017/sigil?replicaSet=rs0", want: "mongodb://db1:27017,db2:27017"},
		{name: "at sign in password", uri: "mongodb://u:p@ss@db/", want: "mongodb://db"},
		{name: "srv with options", uri: "mongodb+srv://u:pw@cluster.example.net/?tlsCertificateKeyFilePassword=xyz", want: "mongodb+srv://cluster.example.net"},
		{name: "no path", uri: "mongodb://u:pw@host?authSource=admin", want: "mongodb://host"},
		{name: "garbage", uri: "user:pw", want: "(invalid)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := mongoHosts(tc.uri); got != tc.want {
				t.Errorf("mongoHosts(%q) = %q, want %q", tc.uri, got, tc.want)
			}
		})
	}
}

func TestReadSecretLine(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr string
	}{
		{name: "newline", in: "abc\n", want: "abc"},
		{name: "crlf", in: "abc\r\n", want: "abc"},
		{name: "no newline", in: "abc", want: "abc"},
		{name: "first line only", in: "abc\ndef\n", want: "abc"},
		{name: "inner spaces kept", in: " a b \n", want: " a b "},
		{name: "empty", in: "", wantErr: "empty"},
		{name: "blank line", in: "\nabc\n", wantErr: "empty"},
		{name: "max length", in: strings.Repeat("x", maxSecretLine) + "\r\n", want: strings.Repeat("x", maxSecretLine)},
		{name: "too long", in: strings.Repeat("x", maxSecretLine+1) + "\n", wantErr: "longer than"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readSecretLine(strings.NewReader(tc.in), "password")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("readSecretLine = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestRootListsEveryCommand(t *testing.T) {
	root := newRootCmd(&app{})
	var got []string
	for _, c := range root.Commands() {
		switch c.Name() {
		case "help", "completion": // cobra's own
			continue
		}
		got = append(got, c.Name())
	}
	want := []string{"backup", "clients", "config", "keys", "restore", "serve", "users", "verify", "version"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("root commands %v, want %v", got, want)
	}
}

// TestClientsAddSSOAndIntrospectFlags: the browser-flow and introspection
// flags of clients add reach the stored record, as clients list shows it.
func TestClientsAddSSOAndIntrospectFlags(t *testing.T) {
	e := newEnv(t, "bolt")
	e.mustRun("", "clients", "add", "notes", "--name", "Acme Notes", "--grants", "authorization_code,refresh_token",
		"--scopes", "openid,profile", "--redirect-uri", "https://notes.example.com/cb,http://127.0.0.1:8765/cb",
		"--post-logout-redirect-uri", "https://notes.example.com/", "--backchannel-logout-uri", "https://notes.example.com/bc",
		"--first-party")
	e.mustRun("", "clients", "add", "gateway", "--grants", "client_credentials", "--scopes", "api", "--introspect-any")
	got := map[string]clientView{}
	for _, c := range e.clientsJSON() {
		got[c.ID] = c
	}
	n, g := got["notes"], got["gateway"]
	if !slices.Equal(n.RedirectURIs, []string{"https://notes.example.com/cb", "http://127.0.0.1:8765/cb"}) ||
		!slices.Equal(n.PostLogoutRedirectURIs, []string{"https://notes.example.com/"}) ||
		n.BackchannelLogoutURI != "https://notes.example.com/bc" || !n.FirstParty || n.IntrospectAny {
		t.Fatalf("notes listed as %+v", n)
	}
	if !g.IntrospectAny || g.FirstParty || len(g.RedirectURIs) != 0 {
		t.Fatalf("gateway listed as %+v", g)
	}
}
