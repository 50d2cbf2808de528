// Package backend opens a storage backend by name. It is the one place
// that knows every backend: the CLI opens the configured one through it, and
// the black-box tests open the store of a deployment they started.
package backend

import (
	"context"
	"fmt"
	"time"

	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/bolt"
	"github.com/sigilauth/sigil/storage/mongo"
)

// Backend names, as storage.backend spells them.
const (
	Bolt  = "bolt"
	Mongo = "mongo"
)

// Options says which backend to open and where.
type Options struct {
	// Backend is Bolt or Mongo.
	Backend string
	// BoltPath is the bbolt data file (Bolt).
	BoltPath string
	// BoltLockTimeout bounds the wait for the file lock held by another
	// process (Bolt); 0 is the bolt package's default.
	BoltLockTimeout time.Duration
	// MongoURI and MongoDatabase locate the MongoDB database (Mongo).
	MongoURI, MongoDatabase string
	// MongoTimeout is the server selection timeout when MongoURI sets none
	// (Mongo): opening fails within it when no server answers. 0 is the
	// mongo package's default.
	MongoTimeout time.Duration
}

// Open opens the backend o names. The caller closes the returned store.
// Errors name the backend and never contain the MongoDB URI.
func Open(ctx context.Context, o Options) (storage.Store, error) {
	switch o.Backend {
	case Bolt:
		s, err := bolt.Open(o.BoltPath, bolt.Options{LockTimeout: o.BoltLockTimeout})
		if err != nil {
			return nil, fmt.Errorf("open bolt storage: %w", err)
		}
		return s, nil
	case Mongo:
		s, err := mongo.OpenTimeout(ctx, o.MongoURI, o.MongoDatabase, o.MongoTimeout)
		if err != nil {
			return nil, fmt.Errorf("open mongo storage: %w", err)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("unknown storage backend %q", o.Backend)
	}
}
