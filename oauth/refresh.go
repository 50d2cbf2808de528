package oauth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// replacedPrefix marks a refresh token revoked by the reuse grace: it is
// stored as used, with ChildID = replacedPrefix + the id of the token issued
// in its place. Presenting such a token is reuse; a grace retry of its
// parent follows the mark to the newest replacement.
const replacedPrefix = "grace:"

// maxGraceHops bounds the walk along grace replacements and lost races.
const maxGraceHops = 16

// Family revocation reasons recorded in storage.
const (
	revokeReuse           = "refresh token reuse"
	revokeUserGone        = "user deleted"
	revokeUserDisabled    = "user disabled"
	revokePasswordChanged = "password changed"
	revokeByClient        = "revoked by client"
)

// refreshGrant exchanges a refresh token (RFC 6749 §6).
//
// Rotation: the child token is stored first, then the presented token is
// marked used (pointing at the child) by one atomic compare-and-swap. Only
// the winner of that swap returns the child; a loser holds a child nobody
// knows the token of, which expires with its family. A failure between the
// two writes therefore never burns the client's token without giving it a
// replacement.
//
// Reuse: presenting a used token revokes the family (RFC 9700 §4.14) and
// answers invalid_grant; so does losing the swap to a concurrent refresh of
// the same token. Within RefreshReuseGrace of the first use, the same client
// instead gets a fresh pair and the earlier child is revoked (marked
// replaced), so a client that lost a response keeps its session.
//
// Refresh fails with invalid_grant for a token of another client, an
// unknown or expired token (absolute or idle lifetime), a revoked family, or
// a user who was deleted, disabled or changed password after the login (the
// family is then revoked too). Scopes may narrow but not widen the original
// grant (invalid_scope); the new refresh token keeps the original scopes.
func (s *Service) refreshGrant(ctx context.Context, client storage.Client, raw string, requested []string) (*TokenResponse, error) {
	now := s.now()
	t, fam, err := s.lookupRefresh(ctx, raw, now)
	if err != nil {
		return nil, err
	}
	if t.ClientID != client.ID {
		return nil, errInvalidGrant(ReasonTokenInvalid, "refresh token was issued to another client")
	}
	if t.Used && !s.graceApplies(t, now) {
		return nil, s.revokeForReuse(ctx, fam, now)
	}
	user, err := s.refreshUser(ctx, fam, now)
	if err != nil {
		return nil, err
	}
	scopes, err := refreshScopes(requested, t.Scopes, client.Scopes)
	if err != nil {
		return nil, err
	}
	// Sign before consuming the token: a signing failure must not burn it.
	resp, err := s.signResponse(now, issued{client: client, user: &user, scopes: scopes, authTime: fam.AuthTime})
	if err != nil {
		return nil, err
	}
	var tok string
	if t.Used {
		tok, err = s.graceRotate(ctx, t, fam, now)
	} else {
		tok, err = s.rotate(ctx, t, fam, now)
	}
	if err != nil {
		return nil, err
	}
	resp.RefreshToken = tok
	return resp, nil
}

// lookupRefresh finds the token and its live family.
func (s *Service) lookupRefresh(ctx context.Context, raw string, now time.Time) (storage.RefreshToken, storage.RefreshFamily, error) {
	invalid := errInvalidGrant(ReasonTokenInvalid, "refresh token is invalid or expired")
	if !looksLikeRefreshToken(raw) {
		return storage.RefreshToken{}, storage.RefreshFamily{}, invalid
	}
	t, err := s.store.GetRefreshToken(ctx, refreshTokenID(raw), now)
	if isNotFound(err) {
		return storage.RefreshToken{}, storage.RefreshFamily{}, invalid
	}
	if err != nil {
		return storage.RefreshToken{}, storage.RefreshFamily{}, storeErr("get refresh token", err)
	}
	fam, err := s.store.GetFamily(ctx, t.FamilyID, now)
	if isNotFound(err) {
		return storage.RefreshToken{}, storage.RefreshFamily{}, invalid
	}
	if err != nil {
		return storage.RefreshToken{}, storage.RefreshFamily{}, storeErr("get refresh family", err)
	}
	if fam.Revoked {
		return storage.RefreshToken{}, storage.RefreshFamily{}, errInvalidGrant(ReasonTokenRevoked, "refresh token has been revoked")
	}
	return t, fam, nil
}

// graceApplies reports whether a used token may still be exchanged: the
// grace is on, the token was used (not revoked by an earlier grace) and the
// use is recent.
func (s *Service) graceApplies(t storage.RefreshToken, now time.Time) bool {
	g := s.cfg.RefreshReuseGrace
	return g > 0 && !strings.HasPrefix(t.ChildID, replacedPrefix) && now.Sub(t.UsedAt) <= g
}

// revokeForReuse ends the family and returns the invalid_grant to answer
// (or 503 when the revocation could not be stored: the client may retry and
// will be refused again).
func (s *Service) revokeForReuse(ctx context.Context, fam storage.RefreshFamily, now time.Time) error {
	s.obs.RefreshReuse()
	if err := s.store.RevokeFamily(ctx, fam.ID, now, revokeReuse); err != nil && !isNotFound(err) {
		return storeErr("revoke refresh family", err)
	}
	s.log.Warn("refresh token reuse detected; family revoked", "family_id", fam.ID, "client_id", fam.ClientID, "user_id", fam.UserID)
	return errInvalidGrant(ReasonTokenRevoked, "refresh token was already used; the session is revoked")
}

// refreshUser loads the family's user and checks it may still refresh.
func (s *Service) refreshUser(ctx context.Context, fam storage.RefreshFamily, now time.Time) (storage.User, error) {
	u, err := s.store.GetUser(ctx, fam.UserID)
	var reason, why string
	var r Reason
	switch {
	case isNotFound(err):
		reason, why, r = revokeUserGone, "user no longer exists", ReasonUserInactive
	case err != nil:
		return storage.User{}, storeErr("get user", err)
	case u.Disabled:
		reason, why, r = revokeUserDisabled, "user is disabled", ReasonUserInactive
	case u.PasswordChangedAt.After(fam.AuthTime):
		reason, why, r = revokePasswordChanged, "password changed since login", ReasonPasswordChanged
	default:
		return u, nil
	}
	// The checks above repeat on every attempt, so a failed revocation only
	// costs tidiness.
	if err := s.store.RevokeFamily(ctx, fam.ID, now, reason); err != nil && !isNotFound(err) {
		s.log.Warn("revoke refresh family", "family_id", fam.ID, "err", err)
	}
	return storage.User{}, errInvalidGrant(r, why)
}

// refreshScopes returns the access-token scopes of a refresh: requested
// (each within the original grant and still allowed for the client), or the
// original scopes the client is still allowed.
func refreshScopes(requested, original, clientScopes []string) ([]string, error) {
	if requested == nil {
		return intersect(original, clientScopes), nil
	}
	for _, sc := range requested {
		if !contains(original, sc) {
			return nil, errInvalidScope("scope %q exceeds the original grant", sc)
		}
		if !contains(clientScopes, sc) {
			return nil, errInvalidScope("scope %q is not allowed", sc)
		}
	}
	return requested, nil
}

// rotate stores a child of t and consumes t. Losing the swap is reuse
// (unless the grace covers it).
func (s *Service) rotate(ctx context.Context, t storage.RefreshToken, fam storage.RefreshFamily, now time.Time) (string, error) {
	tok, id := newRefreshToken()
	if err := s.store.CreateRefreshToken(ctx, s.refreshRecord(id, fam, now)); err != nil {
		return "", storeErr("create refresh token", err)
	}
	err := s.store.MarkRefreshTokenUsed(ctx, t.ID, now, id)
	switch {
	case err == nil:
		return tok, nil
	case errors.Is(err, storage.ErrConflict):
		// A concurrent request consumed t first.
		cur, gerr := s.store.GetRefreshToken(ctx, t.ID, now)
		if gerr == nil && cur.Used && s.graceApplies(cur, now) {
			return s.graceRotate(ctx, cur, fam, now)
		}
		return "", s.revokeForReuse(ctx, fam, now)
	case isNotFound(err):
		return "", errInvalidGrant(ReasonTokenInvalid, "refresh token is invalid or expired")
	default:
		return "", storeErr("mark refresh token used", err)
	}
}

// graceRotate serves a grace retry of the used token t: it follows t's child
// through earlier grace replacements to the newest token, revokes that one
// (marking it replaced by a new child) and returns the new child. If the
// newest descendant was used by a real refresh, t is being replayed after
// the client moved on: that is reuse.
func (s *Service) graceRotate(ctx context.Context, t storage.RefreshToken, fam storage.RefreshFamily, now time.Time) (string, error) {
	cur := t.ChildID
	for range maxGraceHops {
		c, err := s.store.GetRefreshToken(ctx, cur, now)
		if isNotFound(err) {
			return "", errInvalidGrant(ReasonTokenInvalid, "refresh token is invalid or expired")
		}
		if err != nil {
			return "", storeErr("get refresh token", err)
		}
		if c.Used {
			next, ok := strings.CutPrefix(c.ChildID, replacedPrefix)
			if !ok {
				return "", s.revokeForReuse(ctx, fam, now)
			}
			cur = next
			continue
		}
		tok, id := newRefreshToken()
		if err := s.store.CreateRefreshToken(ctx, s.refreshRecord(id, fam, now)); err != nil {
			return "", storeErr("create refresh token", err)
		}
		err = s.store.MarkRefreshTokenUsed(ctx, c.ID, now, replacedPrefix+id)
		switch {
		case err == nil:
			s.obs.RefreshGrace()
			s.log.Info("refresh token replayed within reuse grace; earlier child revoked", "family_id", fam.ID, "client_id", fam.ClientID)
			return tok, nil
		case errors.Is(err, storage.ErrConflict):
			continue // re-read cur: someone used or replaced it meanwhile
		case isNotFound(err):
			return "", errInvalidGrant(ReasonTokenInvalid, "refresh token is invalid or expired")
		default:
			return "", storeErr("mark refresh token replaced", err)
		}
	}
	return "", s.revokeForReuse(ctx, fam, now)
}
