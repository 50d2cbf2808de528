package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// revokeCodeReuse is the family revocation reason of a reused code.
const revokeCodeReuse = "authorization code reuse"

// codeGrant exchanges an authorization code (RFC 6749 §4.1.3, RFC 7636
// §4.6) for the authenticated client.
//
// The refresh family id and the access token's jti are chosen before the
// code is consumed and recorded on it in the same atomic swap that marks it
// used, so a second use always finds what to revoke: the family (revoked)
// and the jti (denied until the access token's expiry); the second use is
// invalid_grant (RFC 6749 §4.1.2). A code is burnt by any exchange attempt,
// also one that fails (wrong client, redirect_uri or verifier).
//
// Failures are invalid_grant: unknown, expired or used code, a code of
// another client, a redirect_uri other than the request's, a verifier that
// does not hash to the challenge, a session that ended, or a user who is
// gone, disabled or changed password since the login. A refresh token is
// issued when the client holds the refresh_token grant; its family belongs
// to the SSO session (logout revokes it).
func (s *Service) codeGrant(ctx context.Context, client storage.Client, req TokenRequest) (*TokenResponse, error) {
	switch {
	case req.Code == "":
		return nil, errInvalidRequest("missing code")
	case req.RedirectURI == "":
		return nil, errInvalidRequest("missing redirect_uri")
	case req.CodeVerifier == "":
		return nil, errInvalidRequest("missing code_verifier")
	case !validPKCEString(req.CodeVerifier):
		return nil, errInvalidRequest("code_verifier must be 43 to 128 unreserved characters")
	}
	now, lt := s.now(), s.lifetimes()
	withRefresh := allowsGrant(client, GrantRefreshToken)
	iss := storage.AuthCodeIssue{AccessJTI: randomID(16), AccessExpiresAt: now.Add(lt.AccessTTL)}
	if withRefresh {
		iss.FamilyID = newFamilyID()
	}
	sum := sha256.Sum256([]byte(req.Code))
	invalid := errInvalidGrant(ReasonTokenInvalid, "authorization code is invalid, expired or was issued to another client")
	code, err := s.store.ConsumeAuthCode(ctx, sum[:], now, iss)
	switch {
	case errors.Is(err, storage.ErrCodeUsed):
		return nil, s.revokeCodeTokens(ctx, code, now)
	case isNotFound(err):
		return nil, invalid
	case err != nil:
		return nil, storeErr("consume authorization code", err)
	}
	if code.ClientID != client.ID || code.RedirectURI != req.RedirectURI {
		return nil, invalid
	}
	vsum := sha256.Sum256([]byte(req.CodeVerifier))
	challenge := base64.RawURLEncoding.EncodeToString(vsum[:])
	if subtle.ConstantTimeCompare([]byte(challenge), []byte(code.CodeChallenge)) != 1 {
		return nil, errInvalidGrant(ReasonTokenInvalid, "code_verifier does not match the code_challenge")
	}
	user, err := s.store.GetUser(ctx, code.UserID)
	switch {
	case isNotFound(err):
		return nil, errInvalidGrant(ReasonUserInactive, "user no longer exists")
	case err != nil:
		return nil, storeErr("get user", err)
	case user.Disabled:
		return nil, errInvalidGrant(ReasonUserInactive, "user is disabled")
	case user.PasswordChangedAt.After(code.AuthTime):
		return nil, errInvalidGrant(ReasonPasswordChanged, "password changed since login")
	}
	// The session must still be live (a logout between the code and its
	// exchange ends it).
	if _, err := s.store.GetSession(ctx, code.SessionIDHash, now); err != nil {
		if isNotFound(err) {
			return nil, errInvalidGrant(ReasonTokenRevoked, "the session of this code has ended")
		}
		return nil, storeErr("get session", err)
	}
	scopes := intersect(code.Scopes, client.Scopes)
	is := issued{client: client, user: &user, scopes: scopes, authTime: code.AuthTime,
		jti: iss.AccessJTI, nonce: code.Nonce, sid: SessionSID(code.SessionIDHash), life: lt}
	resp, err := s.signResponse(now, is)
	if err != nil {
		return nil, err
	}
	if !withRefresh {
		return resp, nil
	}
	fam := storage.RefreshFamily{
		ID:            iss.FamilyID,
		ClientID:      client.ID,
		UserID:        user.ID,
		Scopes:        scopes,
		AuthTime:      code.AuthTime,
		ExpiresAt:     now.Add(lt.RefreshTTL),
		SessionIDHash: code.SessionIDHash,
	}
	tok := firstRefreshToken(lt, &fam, now)
	if err := s.store.CreateFamily(ctx, fam); err != nil {
		return nil, storeErr("create refresh family", err)
	}
	// A logout that ran between the session check and the family's
	// creation missed the family; check again and revoke it then.
	if _, err := s.store.GetSession(ctx, code.SessionIDHash, now); isNotFound(err) {
		if err := s.store.RevokeFamily(ctx, fam.ID, now, revokeLogout); err != nil && !isNotFound(err) {
			return nil, storeErr("revoke refresh family", err)
		}
		return nil, errInvalidGrant(ReasonTokenRevoked, "the session of this code has ended")
	}
	resp.RefreshToken = tok
	return resp, nil
}

// revokeCodeTokens handles a second use of a code: it revokes the refresh
// family and denies the access token issued from the first use, and
// returns the invalid_grant to answer (503 if a revocation could not be
// stored; a retry is refused again and retries the revocation).
func (s *Service) revokeCodeTokens(ctx context.Context, code storage.AuthCode, now time.Time) error {
	if code.FamilyID != "" {
		if err := s.store.RevokeFamily(ctx, code.FamilyID, now, revokeCodeReuse); err != nil && !isNotFound(err) {
			return storeErr("revoke refresh family", err)
		}
	}
	if code.AccessJTI != "" && code.AccessExpiresAt.After(now) {
		if err := s.store.DenyAccessToken(ctx, code.AccessJTI, code.AccessExpiresAt); err != nil {
			return storeErr("deny access token", err)
		}
	}
	s.log.Warn("authorization code reuse detected; issued tokens revoked", "client_id", code.ClientID, "user_id", code.UserID)
	return errInvalidGrant(ReasonTokenRevoked, "authorization code was already used; the tokens issued from it are revoked")
}
