// Package bolt is Sigil's embedded storage backend: every record in one
// bbolt file (go.etcd.io/bbolt) used by one process.
//
// Each record kind has its own bucket keyed by the record's id; usernames
// have an index bucket (username → user id) kept in the same transaction as
// the user. Records are JSON-encoded through private record types, so the
// encoding persists fields (password and secret hashes) that the storage
// types hide from JSON output, and does not change when those tags do.
//
// bbolt runs one writer at a time, so every read-check-write method
// (SwapRefreshToken, RehashUserPassword, CompareAndSwapKeySet,
// AdmitLogin, the Create methods) runs inside one read-write
// transaction and is therefore atomic. Concurrent writes are group-committed:
// those that queue while a commit is being flushed share the next
// transaction and its fsyncs, and none returns before its commit is
// durable. A write whose context carries storage.WithSharedCommit may be
// held back for up to 25 ms to share the commit of writes that follow it.
// The file is held under an exclusive lock while open: a second process
// (or a second Open in the same process) fails after Options.LockTimeout.
package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/sigilauth/sigil/storage"
)

// DefaultLockTimeout is how long Open waits for the file lock when
// Options.LockTimeout is zero.
const DefaultLockTimeout = time.Second

// schemaVersion is written to the meta bucket of a new file; Open refuses a
// file written with another version.
const schemaVersion = "1"

// Bucket names.
var (
	bucketMeta      = []byte("meta")
	bucketUsers     = []byte("users")
	bucketUsernames = []byte("usernames")
	bucketClients   = []byte("clients")
	bucketKeySet    = []byte("keyset")
	bucketKeyEvents = []byte("key_events")
	bucketFamilies  = []byte("refresh_families")
	// bucketRefreshTokens held one record per refresh token before a family
	// kept its own refresh state; Open deletes it.
	bucketRefreshTokens = []byte("refresh_tokens")
	bucketDenyList      = []byte("deny_list")
	bucketLoginFailures = []byte("login_failures")
	bucketSessions      = []byte("sessions")
	bucketAuthCodes     = []byte("auth_codes")
	bucketConsents      = []byte("consents")
	bucketAudit         = []byte("audit")
	bucketConsumers     = []byte("jwks_consumers")
	bucketLeases        = []byte("leases")

	// allBuckets are created by Open if missing, so a file written before a
	// bucket was added gains it without a schema version bump.
	allBuckets = [][]byte{
		bucketMeta, bucketUsers, bucketUsernames, bucketClients, bucketKeySet, bucketKeyEvents,
		bucketFamilies, bucketDenyList, bucketLoginFailures,
		bucketSessions, bucketAuthCodes, bucketConsents, bucketAudit, bucketConsumers, bucketLeases,
	}

	keySchema     = []byte("schema")
	keyCurrentSet = []byte("current")
)

// Options configures Open.
type Options struct {
	// LockTimeout is how long Open waits for the exclusive file lock held by
	// another process before failing. Zero or negative means
	// DefaultLockTimeout.
	LockTimeout time.Duration
}

// Store is a storage.Store backed by one bbolt file. It is safe for
// concurrent use by many goroutines of the process that opened it.
type Store struct {
	db   *bbolt.DB
	path string

	// writes is the group commit every update goes through while the store
	// is open; mu guards closed against Close (updates hold it shared).
	writes *groupCommit
	mu     sync.RWMutex
	closed bool

	clients clientCache
}

var _ storage.Store = (*Store)(nil)

// Open opens the bbolt file at path, creating it (mode 0600) and its parent
// directory (mode 0700) if missing, and creates the buckets. It holds an
// exclusive lock on the file until Close; if another process holds the lock,
// Open fails after opts.LockTimeout with an error that names the path. Open
// also fails if the file is not a bbolt file or was written by an
// incompatible schema version.
func Open(path string, opts Options) (*Store, error) {
	timeout := opts.LockTimeout
	if timeout <= 0 {
		timeout = DefaultLockTimeout
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("bolt: create directory for %s: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: timeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("bolt: open %s: database is locked by another sigil process (waited %s): %w", path, timeout, err)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("create bucket %s: %w", name, err)
			}
		}
		// Tokens of the old per-token format can no longer be presented.
		if tx.Bucket(bucketRefreshTokens) != nil {
			if err := tx.DeleteBucket(bucketRefreshTokens); err != nil {
				return fmt.Errorf("delete bucket %s: %w", bucketRefreshTokens, err)
			}
		}
		meta := tx.Bucket(bucketMeta)
		switch v := meta.Get(keySchema); {
		case v == nil:
			return meta.Put(keySchema, []byte(schemaVersion))
		case string(v) != schemaVersion:
			return fmt.Errorf("schema version %q, this build supports %q", v, schemaVersion)
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bolt: initialise %s: %w", path, err)
	}
	return &Store{db: db, path: path, writes: newGroupCommit(db)}, nil
}

// Path returns the file path given to Open.
func (s *Store) Path() string { return s.path }

// CommitStats returns the running totals of the store's group commits.
func (s *Store) CommitStats() CommitStats { return s.writes.stats() }

// Close releases the file lock and closes the file. Calling it again is a
// no-op; every other method fails once the store is closed.
func (s *Store) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		s.writes.stop()
	}
	s.mu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt: close %s: %w", s.path, err)
	}
	return nil
}

// Ping reports an error if the store is closed or ctx is done.
func (s *Store) Ping(ctx context.Context) error {
	return s.view(ctx, "ping", func(*bbolt.Tx) error { return nil })
}

// view runs fn in a read-only transaction after checking ctx, wrapping any
// error with op.
func (s *Store) view(ctx context.Context, op string, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bolt: %s: %w", op, err)
	}
	if err := s.db.View(fn); err != nil {
		return fmt.Errorf("bolt: %s: %w", op, err)
	}
	return nil
}

// listBucket decodes every record of bucket, in key order and one
// consistent snapshot, and returns conv's result for each record conv
// keeps (its second result); nil when none is kept. op names the operation
// in errors.
func listBucket[Rec, R any](ctx context.Context, s *Store, op string, bucket []byte, conv func(Rec) (R, bool)) ([]R, error) {
	var out []R
	err := s.view(ctx, op, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(_, v []byte) error {
			var r Rec
			if err := decode(v, &r); err != nil {
				return err
			}
			if x, keep := conv(r); keep {
				out = append(out, x)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// update runs fn in a read-write transaction after checking ctx, wrapping any
// error with op. Concurrent updates share one transaction, one commit and
// one fsync (see groupCommit), so fn may run more than once and must reset
// what it returns through its closure; fn's writes are kept only if it
// returns nil, and update returns only once they are durable.
func (s *Store) update(ctx context.Context, op string, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bolt: %s: %w", op, err)
	}
	if err := s.write(fn, storage.SharedCommit(ctx)); err != nil {
		return fmt.Errorf("bolt: %s: %w", op, err)
	}
	return nil
}

// write runs fn through the group commit, or, once the store is closed,
// through bbolt (which fails with ErrDatabaseNotOpen).
func (s *Store) write(fn func(tx *bbolt.Tx) error, linger bool) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return s.db.Update(fn)
	}
	return s.writes.do(fn, linger)
}

// expired reports whether a record expiring at exp is expired at now.
func expired(exp, now time.Time) bool { return !now.Before(exp) }

// Purge deletes refresh families, deny-list entries, login-failure
// counters, sessions and authorization codes that expired at or before now
// (see storage.Purger), in one transaction, and counts
// them. Unexpired records are untouched. On error nothing is deleted.
func (s *Store) Purge(ctx context.Context, now time.Time) (storage.PurgeStats, error) {
	var stats storage.PurgeStats
	err := s.update(ctx, "purge", func(tx *bbolt.Tx) error {
		targets := []struct {
			bucket []byte
			count  *int
		}{
			{bucketFamilies, &stats.Families},
			{bucketDenyList, &stats.DeniedTokens},
			{bucketLoginFailures, &stats.LoginFailures},
			{bucketSessions, &stats.Sessions},
			{bucketAuthCodes, &stats.AuthCodes},
			{bucketConsumers, &stats.JWKSConsumers},
		}
		for _, tg := range targets {
			n, err := purgeBucket(tx.Bucket(tg.bucket), now)
			if err != nil {
				return fmt.Errorf("%s: %w", tg.bucket, err)
			}
			*tg.count = n
		}
		return nil
	})
	if err != nil {
		return storage.PurgeStats{}, err
	}
	return stats, nil
}

// purgeBucket deletes the records of b (each JSON with an expires_at field,
// see expiringRecord) that are expired at now and returns how many it deleted.
func purgeBucket(b *bbolt.Bucket, now time.Time) (int, error) {
	var doomed [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var r expiringRecord
		if err := decode(v, &r); err != nil {
			return err
		}
		if r.expired(now) {
			doomed = append(doomed, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	// Delete after the walk: deleting under a live cursor can skip keys.
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return 0, err
		}
	}
	return len(doomed), nil
}
