package bolt

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"

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

// GetClient returns the client, or ErrNotFound. Client authentication
// calls it on every token request, so the decoded record is kept beside
// the bytes it came from and reused while the stored bytes are unchanged
// (compared on every call, so the answer is always the stored record).
func (s *Store) GetClient(ctx context.Context, id string) (storage.Client, error) {
	var r clientRecord
	if err := ctx.Err(); err != nil {
		return storage.Client{}, fmt.Errorf("bolt: get client %q: %w", id, err)
	}
	// The op string is formatted only on failure: this is a hot path.
	err := s.db.View(func(tx *bbolt.Tx) error {
		data := tx.Bucket(bucketClients).Get([]byte(id))
		if data == nil {
			return storage.ErrNotFound
		}
		if c, ok := s.clients.get(id, data); ok {
			r = c
			return nil
		}
		if err := decode(data, &r); err != nil {
			return err
		}
		s.clients.put(id, data, r)
		return nil
	})
	if err != nil {
		return storage.Client{}, fmt.Errorf("bolt: get client %q: %w", id, err)
	}
	c := r.client()
	c.SecretHash = slices.Clone(c.SecretHash)
	c.Grants, c.Scopes, c.Audiences = slices.Clone(c.Grants), slices.Clone(c.Scopes), slices.Clone(c.Audiences)
	c.RedirectURIs, c.PostLogoutRedirectURIs = slices.Clone(c.RedirectURIs), slices.Clone(c.PostLogoutRedirectURIs)
	return c, nil
}

// clientCache maps client ids to a decoded record and the stored bytes it
// was decoded from; at most maxCachedClients entries.
type clientCache struct {
	mu sync.Mutex
	m  map[string]cachedClient
}

type cachedClient struct {
	raw []byte
	r   clientRecord
}

const maxCachedClients = 1024

func (c *clientCache) get(id string, raw []byte) (clientRecord, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || !bytes.Equal(e.raw, raw) {
		return clientRecord{}, false
	}
	return e.r, true
}

func (c *clientCache) put(id string, raw []byte, r clientRecord) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedClients {
		c.m = make(map[string]cachedClient)
	}
	// raw lives in the mmap only while the transaction is open: copy it.
	c.m[id] = cachedClient{raw: bytes.Clone(raw), r: r}
}

// ListClients returns every client ordered by ID (byte order).
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	return listBucket(ctx, s, "list clients", bucketClients, func(r clientRecord) (storage.Client, bool) { return r.client(), true })
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
