package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOAuthDisableEndsRefreshTokensForGood: a refresh token never presented
// while its user was disabled stays dead after `users enable` (issue 12,
// defect 3). Before, disabling only refused refreshes, so re-enabling
// brought every untouched token back, while the help said they stop
// working.
func TestOAuthDisableEndsRefreshTokensForGood(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newOAuthEnv(t, b, nil)
		help := e.MustCLI("", "users", "disable", "--help")
		if !strings.Contains(help, "refresh tokens stop working") {
			t.Fatalf("users disable --help does not say refresh tokens stop working:\n%s", help)
		}
		e.start()
		untouched := e.login(t, "bob", bobPW, "openid")
		if untouched.status != 200 || untouched.str("refresh_token") == "" {
			t.Fatalf("login: %d %s", untouched.status, untouched.raw)
		}
		// A token of another user is not affected.
		other := e.login(t, "alice", alicePW, "").str("refresh_token")

		e.offline(t, func() {
			e.MustCLI("", "users", "disable", "bob")
			e.MustCLI("", "users", "enable", "bob")
		})
		wantOAuthError(t, e.refresh(t, untouched.str("refresh_token")), 400, "invalid_grant")
		if r := e.refresh(t, other); r.status != 200 {
			t.Fatalf("alice's refresh after bob's disable: %d %s", r.status, r.raw)
		}
		// Enabled again: bob logs in and refreshes as before.
		fresh := e.login(t, "bob", bobPW, "")
		if fresh.status != 200 {
			t.Fatalf("login after enable: %d %s", fresh.status, fresh.raw)
		}
		if r := e.refresh(t, fresh.str("refresh_token")); r.status != 200 {
			t.Fatalf("refresh after enable: %d %s", r.status, r.raw)
		}
	})
}

// TestCLISubjectsDoNotCollide: a user id may not be a client id, nor the
// reverse, so a client_credentials token's sub never names a user (issue
// 12, defect 5; RFC 9068 §5). users import and clients add refuse with exit
// status 2.
func TestCLISubjectsDoNotCollide(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := NewEnv(t, b, nil)
		e.MustCLI("", "clients", "add", "7", "--grants", "client_credentials", "--scopes", "api")
		csv := filepath.Join(e.Dir, "users.csv")
		hash := "pbkdf2_sha256$870000$c2FsdHNhbHQ$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXowMTIzNDU="
		if err := os.WriteFile(csv, []byte("id,username,password\n7,seven,"+hash+"\n8,eight,"+hash+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := e.CLI("", "users", "import", csv)
		if code != 2 || !strings.Contains(errOut, "line 2") || !strings.Contains(errOut, "client") || !strings.Contains(out, "1 users imported") {
			t.Fatalf("import: exit %d\nstdout %s\nstderr %s\nwant exit 2, line 2 refused as a client's id, eight imported", code, out, errOut)
		}
		_, errOut, code = e.CLI("", "clients", "add", "8", "--grants", "client_credentials", "--scopes", "api")
		if code != 2 || !strings.Contains(errOut, "user") {
			t.Fatalf("clients add 8 (a user id): exit %d, stderr %s; want exit 2 naming the user", code, errOut)
		}
		list := e.MustCLI("", "clients", "list")
		if strings.Contains(list, "\n8 ") || strings.HasPrefix(list, "8 ") {
			t.Fatalf("client 8 was created:\n%s", list)
		}
		if users := e.MustCLI("", "users", "list"); strings.Contains(users, "seven") {
			t.Fatalf("user seven (id 7, a client's) was imported:\n%s", users)
		}
	})
}
