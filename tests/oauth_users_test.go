package tests

import (
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
