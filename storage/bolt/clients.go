package bolt

import (
	"context"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/sigilauth/sigil/storage"
)

// CreateClient stores c. ErrDuplicate if c.ID is taken; then nothing is
// written.
func (s *Store) CreateClient(ctx context.Context, c storage.Client) error {
	return s.update(ctx, fmt.Sprintf("create client %q", c.ID), func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketClients)
		if b.Get([]byte(c.ID)) != nil {
			return storage.ErrDuplicate
		}
		return put(b, c.ID, clientToRecord(c))
	})
}

// GetClient returns the client, or ErrNotFound.
func (s *Store) GetClient(ctx context.Context, id string) (storage.Client, error) {
	var r clientRecord
	err := s.view(ctx, fmt.Sprintf("get client %q", id), func(tx *bbolt.Tx) error {
		ok, err := get(tx.Bucket(bucketClients), id, &r)
		if err != nil {
			return err
		}
		if !ok {
			return storage.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return storage.Client{}, err
	}
	return r.client(), nil
}

// ListClients returns every client ordered by ID (byte order).
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	var out []storage.Client
	err := s.view(ctx, "list clients", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketClients).ForEach(func(_, v []byte) error {
			var r clientRecord
			if err := decode(v, &r); err != nil {
				return err
			}
			out = append(out, r.client())
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteClient removes the client. ErrNotFound if absent. Refresh tokens
// issued to the client are not touched; they expire on their own.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.update(ctx, fmt.Sprintf("delete client %q", id), func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketClients)
		if b.Get([]byte(id)) == nil {
			return storage.ErrNotFound
		}
		return b.Delete([]byte(id))
	})
}

// SetClientSecret replaces the secret hash of a client in one transaction.
// ErrNotFound if absent.
func (s *Store) SetClientSecret(ctx context.Context, id string, secretHash []byte) error {
	return s.update(ctx, fmt.Sprintf("set secret of client %q", id), func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketClients)
		var r clientRecord
		ok, err := get(b, id, &r)
		if err != nil {
			return err
		}
		if !ok {
			return storage.ErrNotFound
		}
		r.SecretHash = secretHash
		return put(b, id, r)
	})
}
