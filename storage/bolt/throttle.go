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

// countAttempt counts one attempt on the counter key inside tx, as
// storage.LoginThrottleStore.AdmitLogin describes, and reports whether it
// is admitted.
func countAttempt(tx *bbolt.Tx, key string, now time.Time, ttl time.Duration, lockFor func(int) time.Duration) (loginFailuresRecord, bool, error) {
	b := tx.Bucket(bucketLoginFailures)
	var r loginFailuresRecord
	ok, err := get(b, key, &r)
	if err != nil {
		return r, false, err
	}
	if !ok || expired(r.ExpiresAt, now) {
		r = loginFailuresRecord{Key: key}
	}
	if r.LockedUntil.After(now) {
		return r, false, nil
	}
	r.Count++
	r.LastFailure = utc(now)
	r.ExpiresAt = utc(now.Add(ttl))
	r.LockedUntil = time.Time{}
	if d := storage.LockDuration(lockFor, r.Count); d > 0 {
		r.LockedUntil = utc(now.Add(d))
	}
	return r, true, put(b, key, r)
}

// AdmitLogin counts the attempt under storage.LoginKey(username) and reads
// the user holding username, in one transaction; see
// storage.LoginThrottleStore.
func (s *Store) AdmitLogin(ctx context.Context, username string, now time.Time, ttl time.Duration, lockFor func(int) time.Duration) (storage.LoginAdmission, error) {
	var a storage.LoginAdmission
	err := s.update(ctx, fmt.Sprintf("admit login for %q", username), func(tx *bbolt.Tx) error {
		a = storage.LoginAdmission{}
		r, admitted, err := countAttempt(tx, storage.LoginKey(username), now, ttl, lockFor)
		if err != nil {
			return err
		}
		a.Failures, a.Admitted = r.loginFailures(), admitted
		id := tx.Bucket(bucketUsernames).Get([]byte(username))
		if id == nil {
			return nil
		}
		var u userRecord
		if err := getUser(tx, string(id), &u); err != nil {
			return fmt.Errorf("username index points at user %q: %w", id, err)
		}
		a.Found, a.User = true, u.user()
		return nil
	})
	if err != nil {
		return storage.LoginAdmission{}, err
	}
	return a, nil
}

// ResetLogin deletes the counter of username; see
// storage.LoginThrottleStore.
func (s *Store) ResetLogin(ctx context.Context, username, _ string) error {
	key := storage.LoginKey(username)
	return s.update(ctx, fmt.Sprintf("reset login failures for %q", key), func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketLoginFailures).Delete([]byte(key))
	})
}
