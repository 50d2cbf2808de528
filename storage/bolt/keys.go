package bolt

import (
	"context"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/sigilauth/sigil/storage"
)

// GetKeySet returns the stored key set, or ErrNotFound if none was ever
// stored.
func (s *Store) GetKeySet(ctx context.Context) (storage.KeySet, error) {
	var r keySetRecord
	err := s.view(ctx, "get key set", func(tx *bbolt.Tx) error {
		ok, err := get(tx.Bucket(bucketKeySet), string(keyCurrentSet), &r)
		if err != nil {
			return err
		}
		if !ok {
			return storage.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return storage.KeySet{}, err
	}
	return r.keySet(), nil
}

// CompareAndSwapKeySet stores next with Version = oldVersion+1 if the stored
// version is oldVersion (0: nothing stored yet), in one transaction, and
// returns the new version. Otherwise it returns ErrConflict and changes
// nothing. next.Version is ignored.
func (s *Store) CompareAndSwapKeySet(ctx context.Context, oldVersion int64, next storage.KeySet) (int64, error) {
	newVersion := oldVersion + 1
	err := s.update(ctx, fmt.Sprintf("swap key set from version %d", oldVersion), func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketKeySet)
		var cur keySetRecord
		if _, err := get(b, string(keyCurrentSet), &cur); err != nil {
			return err
		}
		if cur.Version != oldVersion {
			return fmt.Errorf("stored version is %d: %w", cur.Version, storage.ErrConflict)
		}
		r := keySetToRecord(next)
		r.Version = newVersion
		return put(b, string(keyCurrentSet), r)
	})
	if err != nil {
		return 0, err
	}
	return newVersion, nil
}

// AppendKeyEvent records an audit event. ErrDuplicate if e.ID exists.
func (s *Store) AppendKeyEvent(ctx context.Context, e storage.KeyEvent) error {
	return s.update(ctx, fmt.Sprintf("append key event %q", e.ID), func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketKeyEvents)
		if b.Get([]byte(e.ID)) != nil {
			return storage.ErrDuplicate
		}
		return put(b, e.ID, keyEventToRecord(e))
	})
}

// ListKeyEvents returns every audit event in ID (byte) order, oldest first.
func (s *Store) ListKeyEvents(ctx context.Context) ([]storage.KeyEvent, error) {
	return listBucket(ctx, s, "list key events", bucketKeyEvents, func(r keyEventRecord) (storage.KeyEvent, bool) { return r.keyEvent(), true })
}
