package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// leaseRecord is a lease in the leases bucket, keyed by its name.
type leaseRecord struct {
	Owner     string    `json:"owner"`
	ExpiresAt time.Time `json:"expires_at"`
}

// AcquireLease takes or renews a lease in one read-write transaction.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if name == "" || owner == "" || ttl <= 0 {
		return false, fmt.Errorf("bolt: acquire lease: name, owner and a positive ttl are required")
	}
	won := false
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLeases)
		if v := b.Get([]byte(name)); v != nil {
			var cur leaseRecord
			if err := json.Unmarshal(v, &cur); err != nil {
				return fmt.Errorf("decode lease %s: %w", name, err)
			}
			if cur.Owner != owner && cur.ExpiresAt.After(now) {
				return nil
			}
		}
		v, err := json.Marshal(leaseRecord{Owner: owner, ExpiresAt: now.Add(ttl).UTC()})
		if err != nil {
			return err
		}
		won = true
		return b.Put([]byte(name), v)
	})
	if err != nil {
		return false, fmt.Errorf("bolt: acquire lease %s: %w", name, err)
	}
	return won, nil
}
