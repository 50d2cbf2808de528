package bolt

import (
	"context"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/sigilauth/sigil/storage"
)

// DenyAccessToken records jti as revoked until expiresAt. Denying a jti again
// is no error and keeps the later of the two expiries.
func (s *Store) DenyAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	return s.update(ctx, fmt.Sprintf("deny access token %q", jti), func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketDenyList)
		var r denyRecord
		if _, err := get(b, jti, &r); err != nil {
			return err
		}
		if !r.ExpiresAt.IsZero() && !expiresAt.After(r.ExpiresAt) {
			return nil
		}
		return put(b, jti, denyRecord{ExpiresAt: utc(expiresAt)})
	})
}

// IsAccessTokenDenied reports whether jti is denied and unexpired at now.
func (s *Store) IsAccessTokenDenied(ctx context.Context, jti string, now time.Time) (bool, error) {
	var denied bool
	err := s.view(ctx, fmt.Sprintf("check deny list for %q", jti), func(tx *bbolt.Tx) error {
		var r denyRecord
		ok, err := get(tx.Bucket(bucketDenyList), jti, &r)
		denied = ok && !expired(r.ExpiresAt, now)
		return err
	})
	if err != nil {
		return false, err
	}
	return denied, nil
}

// RecordLoginFailure increments the counter for key in one transaction and
// returns it; a counter absent or expired at now restarts at 1. LastFailure
// becomes now and ExpiresAt now+ttl.
func (s *Store) RecordLoginFailure(ctx context.Context, key string, now time.Time, ttl time.Duration) (storage.LoginFailures, error) {
	var r loginFailuresRecord
	err := s.update(ctx, fmt.Sprintf("record login failure for %q", key), func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLoginFailures)
		r = loginFailuresRecord{}
		ok, err := get(b, key, &r)
		if err != nil {
			return err
		}
		if !ok || expired(r.ExpiresAt, now) {
			r = loginFailuresRecord{Key: key}
		}
		r.Count++
		r.LastFailure = utc(now)
		r.ExpiresAt = utc(now.Add(ttl))
		return put(b, key, r)
	})
	if err != nil {
		return storage.LoginFailures{}, err
	}
	return r.loginFailures(), nil
}

// RecordLoginAttempt checks the lock and counts the attempt in one
// transaction; see storage.LoginThrottleStore.
func (s *Store) RecordLoginAttempt(ctx context.Context, key string, now time.Time, ttl time.Duration, lockFor func(int) time.Duration) (storage.LoginFailures, bool, error) {
	var r loginFailuresRecord
	admitted := false
	err := s.update(ctx, fmt.Sprintf("record login attempt for %q", key), func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLoginFailures)
		r = loginFailuresRecord{}
		admitted = false
		ok, err := get(b, key, &r)
		if err != nil {
			return err
		}
		if !ok || expired(r.ExpiresAt, now) {
			r = loginFailuresRecord{Key: key}
		}
		if r.LockedUntil.After(now) {
			return nil
		}
		admitted = true
		r.Count++
		r.LastFailure = utc(now)
		r.ExpiresAt = utc(now.Add(ttl))
		r.LockedUntil = time.Time{}
		if d := storage.LockDuration(lockFor, r.Count); d > 0 {
			r.LockedUntil = utc(now.Add(d))
		}
		return put(b, key, r)
	})
	if err != nil {
		return storage.LoginFailures{}, false, err
	}
	return r.loginFailures(), admitted, nil
}

// GetLoginFailures returns the counter, or ErrNotFound if absent or expired
// at now.
func (s *Store) GetLoginFailures(ctx context.Context, key string, now time.Time) (storage.LoginFailures, error) {
	var r loginFailuresRecord
	err := s.view(ctx, fmt.Sprintf("get login failures for %q", key), func(tx *bbolt.Tx) error {
		ok, err := get(tx.Bucket(bucketLoginFailures), key, &r)
		if err != nil {
			return err
		}
		if !ok || expired(r.ExpiresAt, now) {
			return storage.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return storage.LoginFailures{}, err
	}
	return r.loginFailures(), nil
}

// ResetLoginFailures deletes the counter for key; no error if absent.
func (s *Store) ResetLoginFailures(ctx context.Context, key string) error {
	return s.update(ctx, fmt.Sprintf("reset login failures for %q", key), func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketLoginFailures).Delete([]byte(key))
	})
}
