package bolt

import (
	"bytes"
	"context"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/sigilauth/sigil/storage"
)

var _ storage.Snapshotter = (*Store)(nil)

// Snapshot emits every key of every bucket in one read transaction, so the
// copy is one point in time; writers are not blocked meanwhile.
func (s *Store) Snapshot(ctx context.Context, emit func(storage.SnapshotRecord) error) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				if v == nil {
					return fmt.Errorf("bolt: snapshot: nested bucket %s/%s is not supported", name, k)
				}
				return emit(storage.SnapshotRecord{Collection: string(name), Key: bytes.Clone(k), Value: bytes.Clone(v)})
			})
		})
	})
}

// Restore writes records in one transaction into a store whose buckets
// are all empty (the schema version in meta aside); a record of another
// schema version is refused.
func (s *Store) Restore(ctx context.Context, records []storage.SnapshotRecord) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		err := tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			return b.ForEach(func(k, _ []byte) error {
				if bytes.Equal(name, bucketMeta) && bytes.Equal(k, keySchema) {
					return nil
				}
				return fmt.Errorf("%w: bucket %s has records", storage.ErrNotEmpty, name)
			})
		})
		if err != nil {
			return err
		}
		for _, r := range records {
			if err := ctx.Err(); err != nil {
				return err
			}
			if r.Collection == string(bucketMeta) && bytes.Equal(r.Key, keySchema) && string(r.Value) != schemaVersion {
				return fmt.Errorf("bolt: restore: the snapshot has schema version %q, this build supports %q", r.Value, schemaVersion)
			}
			if len(r.Key) == 0 {
				return fmt.Errorf("bolt: restore: a record of %s has no key", r.Collection)
			}
			b, err := tx.CreateBucketIfNotExists([]byte(r.Collection))
			if err != nil {
				return fmt.Errorf("bolt: restore: bucket %s: %w", r.Collection, err)
			}
			if err := b.Put(r.Key, r.Value); err != nil {
				return fmt.Errorf("bolt: restore: %w", err)
			}
		}
		return nil
	})
}
