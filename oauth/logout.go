package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// RP-Initiated Logout 1.0 and Back-Channel Logout 1.0.

// TypLogoutToken is the typ header of logout tokens (Back-Channel Logout
// 1.0 §2.4).
const TypLogoutToken = "logout+jwt"

// BackchannelLogoutEvent is the events member of a logout token.
const BackchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// Lifetimes and bounds of back-channel logout.
const (
	logoutTokenTTL = 2 * time.Minute
	// backchannelDeadline bounds one client's notification (all of the
	// notifier's retries).
	backchannelDeadline = 30 * time.Second
)

// Family revocation reasons of session ends.
const (
	revokeLogout = "logout"
	// RevokeUserDisabled is the revocation reason to pass to
	// EndUserSessions when a user is disabled.
	RevokeUserDisabled = revokeUserDisabled
	// RevokePasswordChanged is the revocation reason to pass to
	// EndUserSessions when a user's password changes.
	RevokePasswordChanged = revokePasswordChanged
)

// BackchannelNotifier delivers logout tokens to clients' back-channel
// logout URIs (Back-Channel Logout 1.0 §2.5). The web package implements it
// with an http.Client (short timeout, bounded retries). The service calls
// it from one goroutine per client, with a context detached from the
// logout request and bounded in time; an error is logged and never blocks
// the logout.
type BackchannelNotifier interface {
	Notify(ctx context.Context, uri, logoutToken string) error
}

// WithBackchannelNotifier sets the back-channel logout sender (default
// none: no logout tokens are sent).
func WithBackchannelNotifier(n BackchannelNotifier) Option {
	return func(s *Service) { s.notifier = n }
}

// PrepareLogout validates an RP-Initiated Logout request without ending
// anything. An id_token_hint must be an ID token this server signed (an
// expired one is accepted); client_id, when given with a hint, must be its
// audience; post_logout_redirect_uri needs a known client (from the hint or
// client_id) and must exactly equal one it registered, and gets state
// appended. Every failure is *AuthorizeError with Redirect false: the
// logout page shows it and never redirects. NeedsConfirmation is true when
// there is no hint, or the hint names another user than the session's.
func (s *Service) PrepareLogout(ctx context.Context, p LogoutParams, sessionCookie string) (*LogoutPlan, error) {
	plan, _, err := s.planLogout(ctx, p, sessionCookie)
	return plan, err
}

// Logout ends the session of sessionCookie, if any: it deletes it, revokes
// the refresh families issued in it, and sends a logout token to every
// client the session issued codes to that registered a back-channel logout
// URI (asynchronously; failures are logged). The request is validated as
// PrepareLogout does. Without a session (no cookie, unknown or expired) it
// succeeds all the same. The plan's RedirectURI is where to send the
// browser ("" for the signed-out page).
func (s *Service) Logout(ctx context.Context, p LogoutParams, sessionCookie string) (*LogoutPlan, error) {
	plan, cur, err := s.planLogout(ctx, p, sessionCookie)
	if err != nil {
		return nil, err
	}
	plan.NeedsConfirmation = false
	if cur == nil {
		return plan, nil
	}
	now := s.now()
	// Families first: if that fails the session still exists and a retry
	// finds it. A family created after this is caught by the code grant's
	// second session check once the session is deleted.
	if _, err := s.store.RevokeSessionFamilies(ctx, cur.IDHash, now, revokeLogout); err != nil {
		return nil, logoutUnavailable(s, storeErr("revoke session families", err))
	}
	sess, err := s.store.DeleteSession(ctx, cur.IDHash, now)
	if isNotFound(err) {
		return plan, nil // a concurrent logout ended it and notifies
	}
	if err != nil {
		return nil, logoutUnavailable(s, storeErr("delete session", err))
	}
	s.notifyBackchannel(ctx, sess, now)
	return plan, nil
}

// planLogout validates p and returns the plan and the current session's
// record (nil if none).
func (s *Service) planLogout(ctx context.Context, p LogoutParams, cookie string) (*LogoutPlan, *storage.Session, error) {
	plan := &LogoutPlan{}
	var hint *IDClaims
	if p.IDTokenHint != "" {
		c, err := s.parseIDTokenHint(ctx, p.IDTokenHint)
		if err != nil {
			return nil, nil, pageError(CodeInvalidRequest, "id_token_hint is not a valid ID token of this server")
		}
		hint = c
	}
	clientID := p.ClientID
	if hint != nil {
		if clientID != "" && clientID != hint.Audience {
			return nil, nil, pageError(CodeInvalidRequest, "client_id does not match the id_token_hint")
		}
		clientID = hint.Audience
	}
	var client *storage.Client
	if clientID != "" && len(clientID) <= maxClientIDLen {
		c, err := s.store.GetClient(ctx, clientID)
		switch {
		case err == nil:
			client = &c
			plan.Client = clientInfo(c)
		case !isNotFound(err):
			return nil, nil, logoutUnavailable(s, storeErr("get client", err))
		}
	}
	if p.PostLogoutRedirectURI != "" {
		switch {
		case client == nil:
			return nil, nil, pageError(CodeInvalidRequest, "post_logout_redirect_uri needs a known client_id or id_token_hint")
		case !slices.Contains(client.PostLogoutRedirectURIs, p.PostLogoutRedirectURI):
			return nil, nil, pageError(CodeInvalidRequest, "post_logout_redirect_uri is not registered for this client")
		}
		plan.RedirectURI = p.PostLogoutRedirectURI
		if p.State != "" {
			sep := "?"
			if strings.Contains(plan.RedirectURI, "?") {
				sep = "&"
			}
			plan.RedirectURI += sep + "state=" + url.QueryEscape(p.State)
		}
	}
	var sess *storage.Session
	if cookie != "" {
		rec, err := s.store.GetSession(ctx, sessionHash(cookie), s.now())
		switch {
		case err == nil:
			sess = &rec
		case !isNotFound(err):
			return nil, nil, logoutUnavailable(s, storeErr("get session", err))
		}
	}
	plan.NeedsConfirmation = hint == nil || (sess != nil && sess.UserID != hint.Subject)
	return plan, sess, nil
}

// logoutUnavailable is the error page of a storage failure.
func logoutUnavailable(s *Service, err error) *AuthorizeError {
	s.log.Warn("logout request failed", "err", err)
	return &AuthorizeError{Code: CodeTemporarilyUnavailable, Description: "storage is unavailable, retry later",
		Status: http.StatusServiceUnavailable, RetryAfter: unavailableRetry}
}

// notifyBackchannel sends a logout token to every client of sess that
// registered a back-channel logout URI, one goroutine each.
func (s *Service) notifyBackchannel(ctx context.Context, sess storage.Session, now time.Time) {
	if s.notifier == nil {
		return
	}
	sid := SessionSID(sess.IDHash)
	for _, id := range sess.Clients {
		c, err := s.store.GetClient(ctx, id)
		if err != nil {
			if !isNotFound(err) {
				s.log.Warn("back-channel logout: get client", "client_id", id, "err", err)
			}
			continue
		}
		if c.BackchannelLogoutURI == "" {
			continue
		}
		tok, err := s.signLogoutToken(c, sess.UserID, sid, now)
		if err != nil {
			s.log.Error("back-channel logout: sign logout token", "client_id", id, "err", err)
			continue
		}
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), backchannelDeadline)
		go func() {
			defer cancel()
			if err := s.notifier.Notify(bg, c.BackchannelLogoutURI, tok); err != nil {
				s.log.Warn("back-channel logout failed", "client_id", c.ID, "err", err)
			}
		}()
	}
}

// logoutClaims are the claims of a logout token (Back-Channel Logout 1.0
// §2.4); it never carries a nonce.
type logoutClaims struct {
	Issuer    string                     `json:"iss"`
	Audience  string                     `json:"aud"`
	IssuedAt  int64                      `json:"iat"`
	ExpiresAt int64                      `json:"exp"`
	JTI       string                     `json:"jti"`
	Subject   string                     `json:"sub"`
	SessionID string                     `json:"sid"`
	Events    map[string]json.RawMessage `json:"events"`
}

// signLogoutToken mints the logout token of session sid of user sub for
// client c.
func (s *Service) signLogoutToken(c storage.Client, sub, sid string, now time.Time) (string, error) {
	payload, err := json.Marshal(logoutClaims{
		Issuer:    s.cfg.Issuer,
		Audience:  c.ID,
		IssuedAt:  now.Unix(),
		ExpiresAt: now.Add(logoutTokenTTL).Unix(),
		JTI:       randomID(16),
		Subject:   sub,
		SessionID: sid,
		Events:    map[string]json.RawMessage{BackchannelLogoutEvent: json.RawMessage(`{}`)},
	})
	if err != nil {
		return "", err
	}
	return s.keys.SignJWT(c.TokenSigningAlg, TypLogoutToken, payload)
}

var errBadHint = errors.New("invalid id token hint")

// parseIDTokenHint verifies raw as an ID token this server signed, through
// the same verifier as its access tokens, set for typ JWT and no expiry
// check (RP-Initiated Logout 1.0 §2 accepts expired hints): size, header,
// algorithm equal to a published key's, signature, iss, nbf and iat; aud
// and sub must be present.
func (s *Service) parseIDTokenHint(ctx context.Context, raw string) (*IDClaims, error) {
	vc, err := s.hintVerifier.Verify(ctx, raw)
	if err != nil {
		return nil, errBadHint
	}
	var c IDClaims
	if err := vc.Decode(&c); err != nil || c.Audience == "" || c.Subject == "" {
		return nil, errBadHint
	}
	return &c, nil
}

// UserSessionEnder is the storage EndUserSessions needs; every backend's
// storage.Store satisfies it.
type UserSessionEnder interface {
	DeleteUserSessions(ctx context.Context, userID string, now time.Time) ([]storage.Session, error)
	RevokeUserFamilies(ctx context.Context, userID string, at time.Time, reason string) (int, error)
}

// EndUserSessions ends every SSO session of userID and revokes every
// refresh family of the user, recording reason (RevokeUserDisabled or
// RevokePasswordChanged). Call it after the user was disabled or their
// password changed (so that a session created concurrently is refused by
// the service's own checks). It returns how many live sessions and
// families it ended. No back-channel logout tokens are sent.
func EndUserSessions(ctx context.Context, st UserSessionEnder, userID string, now time.Time, reason string) (sessions, families int, err error) {
	ss, err := st.DeleteUserSessions(ctx, userID, now)
	if err != nil {
		return 0, 0, err
	}
	n, err := st.RevokeUserFamilies(ctx, userID, now, reason)
	if err != nil {
		return len(ss), 0, err
	}
	return len(ss), n, nil
}
