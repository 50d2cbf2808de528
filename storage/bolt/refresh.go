package bolt

import (
	"context"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/sigilauth/sigil/storage"
)

// Refresh token ids are hashes of bearer secrets; they are kept out of error
// messages anyway, so logs never hold anything a scanner could match.

// CreateFamily stores f. ErrDuplicate if f.ID exists (even if expired but not
// yet purged).
func (s *Store) CreateFamily(ctx context.Context, f storage.RefreshFamily) error {
	return s.update(ctx, fmt.Sprintf("create refresh family %q", f.ID), func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketFamilies)
		if b.Get([]byte(f.ID)) != nil {
			return storage.ErrDuplicate
		}
		return put(b, f.ID, familyToRecord(f))
	})
}

// getFamily decodes the family id into r, or returns ErrNotFound.
func getFamily(tx *bbolt.Tx, id string, r *familyRecord) error {
	ok, err := get(tx.Bucket(bucketFamilies), id, r)
	if err != nil {
		return err
	}
	if !ok {
		return storage.ErrNotFound
	}
	return nil
}

// GetFamily returns the family, or ErrNotFound if absent or expired at now.
func (s *Store) GetFamily(ctx context.Context, id string, now time.Time) (storage.RefreshFamily, error) {
	var r familyRecord
	err := s.view(ctx, fmt.Sprintf("get refresh family %q", id), func(tx *bbolt.Tx) error {
		if err := getFamily(tx, id, &r); err != nil {
			return err
		}
		if expired(r.ExpiresAt, now) {
			return fmt.Errorf("expired: %w", storage.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return storage.RefreshFamily{}, err
	}
	return r.family(), nil
}

// RevokeFamily marks the family revoked at at for reason, unless it already
// is (then the first RevokedAt and reason stay). ErrNotFound if absent.
func (s *Store) RevokeFamily(ctx context.Context, id string, at time.Time, reason string) error {
	return s.update(ctx, fmt.Sprintf("revoke refresh family %q", id), func(tx *bbolt.Tx) error {
		var r familyRecord
		if err := getFamily(tx, id, &r); err != nil {
			return err
		}
		if r.Revoked {
			return nil
		}
		r.Revoked, r.RevokedAt, r.RevokeReason = true, utc(at), reason
		return put(tx.Bucket(bucketFamilies), id, r)
	})
}

// CreateRefreshToken stores t. ErrDuplicate if t.ID exists (even if expired
// but not yet purged).
func (s *Store) CreateRefreshToken(ctx context.Context, t storage.RefreshToken) error {
	return s.update(ctx, "create refresh token", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketRefreshTokens)
		if b.Get([]byte(t.ID)) != nil {
			return storage.ErrDuplicate
		}
		return put(b, t.ID, refreshTokenToRecord(t))
	})
}

// getRefreshToken decodes the token id into r, or returns ErrNotFound if it
// is absent or expired at now.
func getRefreshToken(tx *bbolt.Tx, id string, now time.Time, r *refreshTokenRecord) error {
	ok, err := get(tx.Bucket(bucketRefreshTokens), id, r)
	if err != nil {
		return err
	}
	if !ok {
		return storage.ErrNotFound
	}
	if expired(r.ExpiresAt, now) {
		return fmt.Errorf("expired: %w", storage.ErrNotFound)
	}
	return nil
}

// GetRefreshToken returns the token, or ErrNotFound if absent or expired at
// now.
func (s *Store) GetRefreshToken(ctx context.Context, id string, now time.Time) (storage.RefreshToken, error) {
	var r refreshTokenRecord
	err := s.view(ctx, "get refresh token", func(tx *bbolt.Tx) error {
		return getRefreshToken(tx, id, now, &r)
	})
	if err != nil {
		return storage.RefreshToken{}, err
	}
	return r.refreshToken(), nil
}

// MarkRefreshTokenUsed sets Used, UsedAt=at and ChildID on an unused token in
// one transaction, so of concurrent callers exactly one succeeds and the
// others get ErrConflict. ErrNotFound if absent or expired at at.
func (s *Store) MarkRefreshTokenUsed(ctx context.Context, id string, at time.Time, childID string) error {
	return s.update(ctx, "mark refresh token used", func(tx *bbolt.Tx) error {
		var r refreshTokenRecord
		if err := getRefreshToken(tx, id, at, &r); err != nil {
			return err
		}
		if r.Used {
			return fmt.Errorf("already used: %w", storage.ErrConflict)
		}
		r.Used, r.UsedAt, r.ChildID = true, utc(at), childID
		return put(tx.Bucket(bucketRefreshTokens), id, r)
	})
}
