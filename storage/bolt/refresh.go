package bolt

import (
	"context"
	"errors"
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

// SwapRefreshToken replaces the refresh state in one Update transaction, so
// of concurrent callers swapping from the same oldHash exactly one succeeds;
// the others, and any call whose conditions do not hold, get ErrConflict.
func (s *Store) SwapRefreshToken(ctx context.Context, id, clientID, oldHash string, next storage.RefreshState, now time.Time) (storage.RefreshFamily, error) {
	var before familyRecord
	err := s.update(ctx, fmt.Sprintf("swap refresh token of family %q", id), func(tx *bbolt.Tx) error {
		err := getFamily(tx, id, &before)
		if errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("absent: %w", storage.ErrConflict)
		}
		if err != nil {
			return err
		}
		if before.Revoked || before.ClientID != clientID || before.CurrentHash != oldHash || oldHash == "" ||
			expired(before.ExpiresAt, now) || expired(before.CurrentExpiresAt, now) {
			return fmt.Errorf("not the current token: %w", storage.ErrConflict)
		}
		r := before
		r.setState(next)
		return put(tx.Bucket(bucketFamilies), id, r)
	})
	if err != nil {
		return storage.RefreshFamily{}, err
	}
	return before.family(), nil
}
