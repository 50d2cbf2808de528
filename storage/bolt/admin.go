package bolt

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/sigilauth/sigil/storage"
)

// AppendAudit records an admin audit entry. ErrDuplicate if e.ID exists.
func (s *Store) AppendAudit(ctx context.Context, e storage.AuditEntry) error {
	return s.update(ctx, fmt.Sprintf("append audit entry %q", e.ID), func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		if b.Get([]byte(e.ID)) != nil {
			return storage.ErrDuplicate
		}
		return put(b, e.ID, auditToRecord(e))
	})
}

// ListAudit walks the audit bucket backwards from beforeID and returns at
// most limit entries of kind ("" for all), newest first.
func (s *Store) ListAudit(ctx context.Context, kind, beforeID string, limit int) ([]storage.AuditEntry, error) {
	var out []storage.AuditEntry
	if limit <= 0 {
		return out, nil
	}
	err := s.view(ctx, "list audit entries", func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		var k, v []byte
		if beforeID == "" {
			k, v = c.Last()
		} else {
			k, v = c.Seek([]byte(beforeID))
			if k == nil {
				k, v = c.Last()
			}
			for k != nil && bytes.Compare(k, []byte(beforeID)) >= 0 {
				k, v = c.Prev()
			}
		}
		for ; k != nil && len(out) < limit; k, v = c.Prev() {
			var r auditRecord
			if err := decode(v, &r); err != nil {
				return err
			}
			if kind == "" || r.Kind == kind {
				out = append(out, r.entry())
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RecordJWKSConsumer upserts c in one transaction (see
// storage.JWKSConsumerStore); the limit counts live records exactly.
func (s *Store) RecordJWKSConsumer(ctx context.Context, c storage.JWKSConsumer, limit int) error {
	return s.update(ctx, "record jwks consumer", func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketConsumers)
		var cur consumerRecord
		ok, err := get(b, c.ID, &cur)
		if err != nil {
			return err
		}
		now := c.LastFetch
		if ok && !expired(cur.ExpiresAt, now) {
			c.FirstSeen = cur.FirstSeen
			return put(b, c.ID, consumerToRecord(c))
		}
		live := 0
		err = b.ForEach(func(_, v []byte) error {
			var r consumerRecord
			if err := decode(v, &r); err != nil {
				return err
			}
			if !expired(r.ExpiresAt, now) {
				live++
			}
			return nil
		})
		if err != nil {
			return err
		}
		if live >= limit {
			return fmt.Errorf("%d jwks consumers stored: %w", live, storage.ErrFull)
		}
		return put(b, c.ID, consumerToRecord(c))
	})
}

// ListJWKSConsumers returns the consumers unexpired at now, ordered by ID.
func (s *Store) ListJWKSConsumers(ctx context.Context, now time.Time) ([]storage.JWKSConsumer, error) {
	return listBucket(ctx, s, "list jwks consumers", bucketConsumers, func(r consumerRecord) (storage.JWKSConsumer, bool) {
		return r.consumer(), !expired(r.ExpiresAt, now)
	})
}
