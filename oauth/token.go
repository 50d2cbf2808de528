package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// Grant types.
const (
	GrantPassword          = "password"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"
)

// TokenRequest is a decoded token-endpoint request.
type TokenRequest struct {
	// GrantType is the grant_type parameter.
	GrantType string
	// Client is the client authentication the request carried.
	Client ClientCredentials
	// Scope is the raw scope parameter ("" when absent).
	Scope string
	// Username and Password are the password grant's parameters.
	Username, Password string
	// RefreshToken is the refresh_token grant's parameter.
	RefreshToken string
	// Code, RedirectURI and CodeVerifier are the authorization_code grant's
	// parameters (RFC 6749 §4.1.3, RFC 7636 §4.5).
	Code, RedirectURI, CodeVerifier string
	// RemoteIP is the client address (the HTTP layer resolves proxies), for the
	// per-address login limit.
	RemoteIP netip.Addr
}

// Token runs the token endpoint (RFC 6749 §4.1.3, §4.3, §4.4, §6): it authenticates
// the client, checks that it registered the grant and the scopes, and runs
// the grant.
//
//   - authorization_code: see codeGrant (codegrant.go).
//   - password: see docs/design.md "Users, passwords, throttling"; unknown user, wrong
//     password, disabled and locked accounts all give the same invalid_grant.
//     A refresh token is issued when the client also registered the
//     refresh_token grant.
//   - refresh_token: the presented token is rotated (see refresh.go); a
//     reused token revokes its family unless RefreshReuseGrace applies.
//   - client_credentials: confidential clients only; user scopes (openid,
//     profile, email, offline_access) are refused, and the subject is the
//     client id. No refresh token.
//
// Errors are *Error values; storage failures are 503 with Retry-After.
func (s *Service) Token(ctx context.Context, req TokenRequest) (*TokenResponse, error) {
	resp, err := s.token(ctx, req)
	if err != nil {
		code := CodeServerError
		if e := AsError(err); e != nil {
			code = e.Code
		}
		s.obs.TokenFailed(grantLabel(req.GrantType), code)
		return nil, err
	}
	s.obs.TokenIssued(req.GrantType, resp.alg, resp.clientID)
	return resp, nil
}

// grantLabel keeps metric labels bounded.
func grantLabel(g string) string {
	switch g {
	case GrantPassword, GrantRefreshToken, GrantClientCredentials, GrantAuthorizationCode:
		return g
	}
	return "other"
}

func (s *Service) token(ctx context.Context, req TokenRequest) (*TokenResponse, error) {
	switch req.GrantType {
	case "":
		return nil, errInvalidRequest("missing grant_type")
	case GrantPassword, GrantRefreshToken, GrantClientCredentials, GrantAuthorizationCode:
	default:
		return nil, newError(CodeUnsupportedGrantType, http.StatusBadRequest, "grant_type must be authorization_code, password, refresh_token or client_credentials")
	}
	requested, err := parseScope(req.Scope)
	if err != nil {
		return nil, err
	}
	client, err := s.authenticateClient(ctx, req.Client)
	if err != nil {
		return nil, err
	}
	if !allowsGrant(client, req.GrantType) {
		return nil, errUnauthorizedClient("client may not use the %s grant", req.GrantType)
	}
	switch req.GrantType {
	case GrantPassword:
		scopes, err := chooseScopes(requested, client.Scopes)
		if err != nil {
			return nil, err
		}
		if req.Username == "" {
			return nil, errInvalidRequest("missing username")
		}
		if req.Password == "" {
			return nil, errInvalidRequest("missing password")
		}
		return s.passwordGrant(ctx, client, req.Username, req.Password, scopes, req.RemoteIP)
	case GrantRefreshToken:
		if req.RefreshToken == "" {
			return nil, errInvalidRequest("missing refresh_token")
		}
		return s.refreshGrant(ctx, client, req.RefreshToken, requested)
	case GrantAuthorizationCode:
		return s.codeGrant(ctx, client, req)
	default:
		return s.clientCredentialsGrant(client, requested)
	}
}

func (s *Service) clientCredentialsGrant(client storage.Client, requested []string) (*TokenResponse, error) {
	if client.Public {
		return nil, errUnauthorizedClient("public clients may not use the client_credentials grant")
	}
	var scopes []string
	if requested == nil {
		for _, sc := range client.Scopes {
			if !userScope(sc) {
				scopes = append(scopes, sc)
			}
		}
	} else {
		for _, sc := range requested {
			if userScope(sc) {
				return nil, errInvalidScope("scope %q needs a user; client_credentials has none", sc)
			}
		}
		var err error
		if scopes, err = chooseScopes(requested, client.Scopes); err != nil {
			return nil, err
		}
	}
	return s.signResponse(s.now(), issued{client: client, scopes: scopes})
}

// badCredentials is the one answer for every failed password login.
func badCredentials() *Error {
	return errInvalidGrant(ReasonBadCredentials, "invalid username or password")
}

// passwordGrant authenticates the user (throttled, hash-bounded) and issues
// tokens.
func (s *Service) passwordGrant(ctx context.Context, client storage.Client, username, pw string, scopes []string, ip netip.Addr) (*TokenResponse, error) {
	user, err := s.login(ctx, username, pw, ip)
	if err != nil {
		return nil, err
	}
	return s.issueForLogin(ctx, client, user, scopes, allowsGrant(client, GrantRefreshToken))
}

// login checks username and password. It returns badCredentials for every
// kind of refusal, 429 when the address bucket is empty, 503 when no hash
// slot frees in time or storage fails.
func (s *Service) login(ctx context.Context, username, pw string, ip netip.Addr) (*storage.User, error) {
	now := s.now()
	if s.buckets != nil {
		if ok, wait := s.buckets.take(ip, now); !ok {
			s.obs.Login(LoginThrottled)
			return nil, &Error{
				Code:        CodeTemporarilyUnavailable,
				Status:      http.StatusTooManyRequests,
				Description: "too many login attempts from this address, retry later",
				RetryAfter:  max(wait.Round(time.Second), time.Second),
				Reason:      ReasonRateLimited,
			}
		}
	}
	if len(username) > maxUsernameLen {
		// Too long to be anyone; the length is no secret, so no dummy hash.
		s.obs.Login(LoginBadCredentials)
		return nil, badCredentials()
	}
	// The attempt is counted as a failure before the password is checked,
	// in one conditional update, so parallel guesses cannot all pass a
	// stale check; a success resets the counter. The hash slot is taken
	// first: a login refused as busy is not counted, and the attempts
	// counted but not yet decided stay within PasswordHashConcurrency, so
	// correct logins in parallel do not lock their own account.
	s.refreshHashPad(ctx, now)
	if err := s.acquireHashSlot(ctx); err != nil {
		return nil, err
	}
	u, locked, ok, rehash, err := s.checkPassword(ctx, username, pw, now)
	s.releaseHashSlot()
	if err != nil {
		return nil, err
	}

	if locked {
		s.obs.Login(LoginLocked)
		return nil, badCredentials()
	}
	if !ok || u.Disabled {
		s.obs.Login(LoginBadCredentials)
		return nil, badCredentials() // already counted
	}

	s.obs.Login(LoginSuccess)
	if s.buckets != nil {
		s.buckets.give(ip, now)
	}
	if err := s.store.ResetLogin(s.loginWrite(ctx), username, u.ID); err != nil {
		s.log.Warn("reset login failures", "user_id", u.ID, "err", err)
	}
	if rehash {
		s.rehash(ctx, &u, pw)
	}
	return &u, nil
}

// loginWrite returns the context for a write that ends a login: while
// other logins hold or wait for a hash slot, their own writes will follow
// within about one hash, so the write may wait to share their commit (see
// storage.WithSharedCommit). A lone login's writes commit at once.
func (s *Service) loginWrite(ctx context.Context) context.Context {
	if len(s.hashSlots) > 0 || s.hashWaiting.Load() > 0 {
		return storage.WithSharedCommit(ctx)
	}
	return ctx
}

// checkPassword is the part of login that holds a hash slot: it counts the
// attempt, and checks the password when the attempt is admitted. Every
// refusal (unknown user, locked or disabled account, wrong password) is
// padded to the same work: one argon2id verification and one per legacy
// hash class in the store at its highest cost (see hashPad). locked reports
// that the attempt was not admitted; ok that the password matched the
// user's hash.
func (s *Service) checkPassword(ctx context.Context, username, pw string, now time.Time) (u storage.User, locked, ok, rehash bool, err error) {
	// One storage call counts the attempt and loads the user.
	a, err := s.store.AdmitLogin(ctx, username, now, s.cfg.Lockout.Window, s.lockFor)
	if err != nil {
		return u, false, false, false, storeErr("admit login", err)
	}
	locked = !a.Admitted
	if locked || !a.Found {
		s.padFailedCheck(pw, "", s.pad.snapshot())
		return u, locked, false, false, nil
	}
	u = a.User
	s.pad.learn(u.PasswordHash)
	ok, rehash, verr := s.hasher.Verify(u.PasswordHash, pw)
	own := u.PasswordHash
	if verr != nil {
		s.log.Warn("stored password hash unusable", "user_id", u.ID, "err", verr)
		ok, own = false, ""
	}
	if !ok || u.Disabled {
		s.padFailedCheck(pw, own, s.pad.snapshot())
	}
	return u, locked, ok, rehash, nil
}

// rehash replaces the user's hash with one under the current parameters. A
// failure only costs the upgrade, never the login.
func (s *Service) rehash(ctx context.Context, u *storage.User, pw string) {
	if err := s.acquireHashSlot(ctx); err != nil {
		return // busy: upgrade on a later login
	}
	h, err := s.hasher.Hash(pw)
	s.releaseHashSlot()
	if err != nil {
		s.log.Warn("rehash password", "user_id", u.ID, "err", err)
		return
	}
	switch err := s.store.RehashUserPassword(ctx, u.ID, u.PasswordHash, h); {
	case err == nil:
		u.PasswordHash = h
		s.log.Info("password rehashed to current parameters", "user_id", u.ID)
	case errors.Is(err, storage.ErrConflict), isNotFound(err):
		// The password changed meanwhile; keep the new one.
	default:
		s.log.Warn("store rehashed password", "user_id", u.ID, "err", err)
	}
}

// issueForLogin signs the tokens of a fresh login and, withRefresh, starts a
// refresh family with its first token.
func (s *Service) issueForLogin(ctx context.Context, client storage.Client, user *storage.User, scopes []string, withRefresh bool) (*TokenResponse, error) {
	now, lt := s.now(), s.lifetimes()
	is := issued{client: client, user: user, scopes: scopes, authTime: now, life: lt}
	resp, err := s.signResponse(now, is)
	if err != nil {
		return nil, err
	}
	if !withRefresh {
		return resp, nil
	}
	fam := storage.RefreshFamily{
		ID:        newFamilyID(),
		ClientID:  client.ID,
		UserID:    user.ID,
		Scopes:    scopes,
		AuthTime:  now,
		ExpiresAt: now.Add(lt.RefreshTTL),
	}
	tok := firstRefreshToken(lt, &fam, now)
	if err := s.store.CreateFamily(s.loginWrite(ctx), fam); err != nil {
		return nil, storeErr("create refresh family", err)
	}
	resp.RefreshToken = tok
	return resp, nil
}

// firstRefreshToken makes a new token the current one of fam (not yet
// stored) and returns it.
func firstRefreshToken(lt *Lifetimes, fam *storage.RefreshFamily, now time.Time) string {
	tok, hash := newRefreshToken(fam.ID)
	fam.RefreshState = storage.RefreshState{CurrentHash: hash, CurrentIssuedAt: now, CurrentExpiresAt: lt.idleExpiry(now)}
	return tok
}
