package oauth

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

func TestConsoleSignIn(t *testing.T) {
	addr := netip.MustParseAddr(loginAddr)
	tests := []struct {
		name       string
		user, pw   string
		wantReason Reason
	}{
		{name: "wrong password", user: "alice", pw: "wrong", wantReason: ReasonBadCredentials},
		{name: "unknown user", user: "mallory", pw: userPW, wantReason: ReasonBadCredentials},
		{name: "blank password", user: "alice", pw: "", wantReason: ReasonBadCredentials},
		{name: "blank username", user: "", pw: userPW, wantReason: ReasonBadCredentials},
		{name: "success", user: "alice", pw: userPW},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			cookie, exp, err := e.svc.SignIn(e.ctx, SignInInput{Username: tc.user, Password: tc.pw, RemoteAddr: addr})
			if tc.wantReason != "" {
				got := wantErr(t, err, CodeInvalidGrant, 400)
				if got.Reason != tc.wantReason || cookie != "" {
					t.Fatalf("reason %q cookie %q", got.Reason, cookie)
				}
				return
			}
			if err != nil || cookie == "" {
				t.Fatalf("SignIn = %q, %v", cookie, err)
			}
			if want := e.clock.Now().Add(e.svc.Config().SessionTTL); !exp.Equal(want) {
				t.Fatalf("expires %v, want %v", exp, want)
			}
			u, ok, err := e.svc.SessionUser(e.ctx, cookie)
			stored, gerr := e.store.Store.GetUser(e.ctx, "42")
			if err != nil || gerr != nil || !ok {
				t.Fatalf("SessionUser = %+v, %v, %v (%v)", u, ok, err, gerr)
			}
			want := SessionUser{UserID: "42", Username: "alice", Admin: stored.Admin, AuthTime: e.clock.Now()}
			if u != want {
				t.Fatalf("SessionUser = %+v, want %+v", u, want)
			}
		})
	}
}

// TestConsoleSignInSharesLoginThrottles: failures through the console lock
// the account for the authorization flow too (one lockout, not a second
// door), and a sign-in replaces the presented session.
func TestConsoleSignInSharesLoginThrottles(t *testing.T) {
	addr := netip.MustParseAddr(loginAddr)
	e := newEnv(t, nil)
	first, _, err := e.svc.SignIn(e.ctx, SignInInput{Username: "alice", Password: userPW, RemoteAddr: addr})
	if err != nil {
		t.Fatal(err)
	}
	second, _, err := e.svc.SignIn(e.ctx, SignInInput{Username: "alice", Password: userPW, RemoteAddr: addr, SessionCookie: first})
	if err != nil || second == first {
		t.Fatalf("second sign-in = %q, %v", second, err)
	}
	if _, err := e.store.GetSession(e.ctx, sessionHash(first), e.clock.Now()); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("replaced session still there: %v", err)
	}
	for range 6 {
		_, _, _ = e.svc.SignIn(e.ctx, SignInInput{Username: "alice", Password: "wrong", RemoteAddr: addr})
	}
	if _, _, err := e.svc.SignIn(e.ctx, SignInInput{Username: "alice", Password: userPW, RemoteAddr: addr}); err == nil {
		t.Fatal("the right password signed in during a lockout")
	}
	if _, err := e.svc.Token(e.ctx, pwReq("alice", userPW)); err == nil {
		t.Fatal("console failures did not lock the password grant")
	}
}

func TestConsoleSessionUser(t *testing.T) {
	addr := netip.MustParseAddr(loginAddr)
	tests := []struct {
		name  string
		after func(e *env, cookie string) string // returns the cookie to present
	}{
		{name: "no cookie", after: func(*env, string) string { return "" }},
		{name: "unknown cookie", after: func(*env, string) string { return "not-a-session" }},
		{name: "oversized cookie", after: func(_ *env, c string) string { return c + string(make([]byte, 200)) }},
		{name: "expired", after: func(e *env, c string) string {
			e.clock.Advance(e.svc.Config().SessionTTL + time.Minute)
			return c
		}},
		{name: "disabled user", after: func(e *env, c string) string {
			_ = e.store.Store.SetUserDisabled(e.ctx, "42", true, e.clock.Now())
			return c
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			cookie, _, err := e.svc.SignIn(e.ctx, SignInInput{Username: "alice", Password: userPW, RemoteAddr: addr})
			if err != nil {
				t.Fatal(err)
			}
			u, ok, err := e.svc.SessionUser(e.ctx, tc.after(e, cookie))
			if err != nil || ok || u != (SessionUser{}) {
				t.Fatalf("SessionUser = %+v, %v, %v; want no session", u, ok, err)
			}
		})
	}
}
