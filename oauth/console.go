package oauth

import (
	"context"
	"net/netip"
	"time"
)

// The console's sign-in: the SSO session and the password check of the
// authorization flow, without an authorization request. The web layer's
// ConsoleAuth interface names these methods (its SessionUser and
// SignInInput are aliases of the types here, since oauth cannot import web).

// SessionUser is the user of a live SSO session.
type SessionUser struct {
	UserID   string
	Username string
	Admin    bool
	AuthTime time.Time
}

// SignInInput is a submitted console sign-in form.
type SignInInput struct {
	// Username and Password are checked like the authorization flow's
	// login. The password is never logged.
	Username, Password string
	// RemoteAddr is the client address (trusted proxies applied by web).
	RemoteAddr netip.Addr
	// SessionCookie is the session the browser presented ("" if none); it
	// is replaced. Never logged.
	SessionCookie string
}

// SessionUser returns the user of the live session of sessionCookie and the
// session's auth_time, touching the session like the authorization flow
// does. ok is false when there is no live session: no cookie, an unknown or
// expired session, or a user who is gone, disabled or changed password
// since the login. Storage failures are *Error values.
func (s *Service) SessionUser(ctx context.Context, sessionCookie string) (user SessionUser, ok bool, err error) {
	sess, err := s.currentSession(ctx, sessionCookie, s.now())
	if err != nil || sess == nil {
		return SessionUser{}, false, err
	}
	return SessionUser{
		UserID:   sess.user.ID,
		Username: sess.user.Username,
		Admin:    sess.user.Admin,
		AuthTime: sess.rec.AuthTime,
	}, true, nil
}

// SignIn checks the password with every throttle of the authorization
// flow's login (address bucket, account lockout, bounded hashing) and
// starts a new SSO session, deleting in.SessionCookie's (session fixation).
// It returns the new cookie value and when the session expires. Failures
// are *Error: ReasonBadCredentials 400 (one for every credential failure,
// a blank field included), ReasonRateLimited 429, ReasonBusy or
// ReasonUnavailable 503, also when the session cannot be stored.
func (s *Service) SignIn(ctx context.Context, in SignInInput) (cookie string, expires time.Time, err error) {
	if in.Username == "" || in.Password == "" {
		return "", time.Time{}, badCredentials()
	}
	user, err := s.login(ctx, in.Username, in.Password, in.RemoteAddr)
	if err != nil {
		return "", time.Time{}, err
	}
	cookie, rec, err := s.startSession(ctx, user, in.SessionCookie, s.now())
	if err != nil {
		return "", time.Time{}, err
	}
	return cookie, rec.ExpiresAt, nil
}
