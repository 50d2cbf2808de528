package oauth

import (
	"context"
	"errors"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// maxSwapTries bounds the compare-and-swap retries of one refresh (each
// retry follows a concurrent change of the family).
const maxSwapTries = 16

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
// State: a family (one login) keeps the hash of its current token and of
// the previous one; the token carries its family's id. A refresh is one
// compare-and-swap of that record (storage SwapRefreshToken): current →
// a new token, conditioned on the presented token being current, the
// client, not revoked and unexpired. Of concurrent refreshes of one token
// exactly one wins. The checks that need the user and the signature come
// after the swap; if any of them fails (or the store fails) the swap is
// undone by a second compare-and-swap, so a failure never burns the
// client's token.
//
// Reuse: presenting any other token of the family revokes the family (RFC
// 9700 §4.14) and answers invalid_grant; so does losing the swap to a
// concurrent refresh of the same token. Within RefreshReuseGrace of the
// first use of a token, the same client may present it again (it is the
// family's previous token): it gets a fresh pair and the token issued in
// between is revoked (it is neither current nor previous any more), so a
// client that lost a response keeps its session.
//
// Refresh fails with invalid_grant for a token of another client, an
// unknown or expired token (absolute or idle lifetime), a revoked family, or
// a user who was deleted, disabled or changed password after the login (the
// family is then revoked too). Scopes may narrow but not widen the original
// grant (invalid_scope); the new refresh token keeps the original scopes.
func (s *Service) refreshGrant(ctx context.Context, client storage.Client, raw string, requested []string) (*TokenResponse, error) {
	now, lt := s.now(), s.lifetimes()
	famID, ok := refreshFamilyID(raw)
	if !ok {
		return nil, errInvalidGrant(ReasonTokenInvalid, "refresh token is invalid or expired")
	}
	hash := refreshTokenID(raw)
	tok, newHash := newRefreshToken(famID)
	fam, err := s.swapRefresh(ctx, lt, client, famID, hash, newHash, now)
	if err != nil {
		return nil, err
	}
	resp, err := s.refreshResponse(ctx, lt, client, fam, requested, now)
	if err != nil {
		// Give the presented token back: the family's state as it was.
		if _, uerr := s.store.SwapRefreshToken(ctx, fam.ID, client.ID, newHash, fam.RefreshState, now); uerr != nil && !errors.Is(uerr, storage.ErrConflict) {
			s.log.Warn("undo refresh token rotation", "family_id", fam.ID, "err", uerr)
		}
		return nil, err
	}
	resp.RefreshToken = tok
	return resp, nil
}

// refreshResponse checks the user and scopes of a rotated family and signs
// the access (and id) token under the lifetimes lt.
func (s *Service) refreshResponse(ctx context.Context, lt *Lifetimes, client storage.Client, fam storage.RefreshFamily, requested []string, now time.Time) (*TokenResponse, error) {
	user, err := s.refreshUser(ctx, fam, now)
	if err != nil {
		return nil, err
	}
	scopes, err := refreshScopes(requested, fam.Scopes, client.Scopes)
	if err != nil {
		return nil, err
	}
	return s.signResponse(now, issued{client: client, user: &user, scopes: scopes, authTime: fam.AuthTime, life: lt})
}

// nextState is the refresh state after a real refresh of hash to newHash,
// under the lifetimes lt.
func nextState(lt *Lifetimes, hash, newHash string, now time.Time) storage.RefreshState {
	return storage.RefreshState{
		CurrentHash: newHash, CurrentIssuedAt: now, CurrentExpiresAt: lt.idleExpiry(now),
		PreviousHash: hash, PreviousUsedAt: now,
	}
}

// swapRefresh makes newHash the current token of family famID in exchange
// for the presented token hash, and returns the family as it was before.
// The common case is one compare-and-swap; when it does not match, the
// family is read to tell an expired, revoked or foreign token, a grace
// retry, or reuse apart. The new token idles out under the lifetimes lt.
func (s *Service) swapRefresh(ctx context.Context, lt *Lifetimes, client storage.Client, famID, hash, newHash string, now time.Time) (storage.RefreshFamily, error) {
	invalid := errInvalidGrant(ReasonTokenInvalid, "refresh token is invalid or expired")
	for range maxSwapTries {
		fam, err := s.store.SwapRefreshToken(ctx, famID, client.ID, hash, nextState(lt, hash, newHash, now), now)
		if err == nil {
			return fam, nil
		}
		if !errors.Is(err, storage.ErrConflict) {
			return storage.RefreshFamily{}, storeErr("swap refresh token", err)
		}
		fam, err = s.store.GetFamily(ctx, famID, now)
		switch {
		case isNotFound(err):
			return storage.RefreshFamily{}, invalid
		case err != nil:
			return storage.RefreshFamily{}, storeErr("get refresh family", err)
		case fam.Revoked:
			return storage.RefreshFamily{}, errInvalidGrant(ReasonTokenRevoked, "refresh token has been revoked")
		case fam.ClientID != client.ID:
			return storage.RefreshFamily{}, errInvalidGrant(ReasonTokenInvalid, "refresh token was issued to another client")
		case hash == fam.CurrentHash:
			if !now.Before(fam.CurrentExpiresAt) {
				return storage.RefreshFamily{}, invalid // idled out
			}
			continue // the family changed and changed back (an undone refresh): try again
		case hash == fam.PreviousHash && graceApplies(lt, fam, now):
			if !now.Before(fam.CurrentExpiresAt) {
				return storage.RefreshFamily{}, invalid // the session idled out
			}
			next := fam.RefreshState
			next.CurrentHash, next.CurrentIssuedAt, next.CurrentExpiresAt = newHash, now, lt.idleExpiry(now)
			before, err := s.store.SwapRefreshToken(ctx, famID, client.ID, fam.CurrentHash, next, now)
			if errors.Is(err, storage.ErrConflict) {
				continue // someone refreshed meanwhile: look again
			}
			if err != nil {
				return storage.RefreshFamily{}, storeErr("swap refresh token", err)
			}
			s.obs.RefreshGrace()
			s.log.Info("refresh token replayed within reuse grace; earlier child revoked", "family_id", famID, "client_id", client.ID)
			return before, nil
		default:
			return storage.RefreshFamily{}, s.revokeForReuse(ctx, fam, now)
		}
	}
	return storage.RefreshFamily{}, storeErr("swap refresh token", errors.New("too many concurrent changes"))
}

// graceApplies reports whether the family's previous token may still be
// exchanged: the grace (of lt) is on and its first use is recent.
func graceApplies(lt *Lifetimes, fam storage.RefreshFamily, now time.Time) bool {
	g := lt.RefreshReuseGrace
	return g > 0 && fam.PreviousHash != "" && now.Sub(fam.PreviousUsedAt) <= g
}

// lookupRefresh finds the live family of a refresh token without changing
// anything, and tells whether the token is its current one (current is
// false for the previous token and for any other token naming the family).
func (s *Service) lookupRefresh(ctx context.Context, raw string, now time.Time) (fam storage.RefreshFamily, current bool, err error) {
	invalid := errInvalidGrant(ReasonTokenInvalid, "refresh token is invalid or expired")
	famID, ok := refreshFamilyID(raw)
	if !ok {
		return fam, false, invalid
	}
	fam, err = s.store.GetFamily(ctx, famID, now)
	if isNotFound(err) {
		return fam, false, invalid
	}
	if err != nil {
		return fam, false, storeErr("get refresh family", err)
	}
	if fam.Revoked {
		return fam, false, errInvalidGrant(ReasonTokenRevoked, "refresh token has been revoked")
	}
	hash := refreshTokenID(raw)
	if hash == fam.CurrentHash {
		if !now.Before(fam.CurrentExpiresAt) {
			return fam, false, invalid
		}
		return fam, true, nil
	}
	return fam, false, nil
}

// refreshExpiresAt is when the family's current token expires.
func refreshExpiresAt(fam storage.RefreshFamily) time.Time {
	if fam.CurrentExpiresAt.Before(fam.ExpiresAt) {
		return fam.CurrentExpiresAt
	}
	return fam.ExpiresAt
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
