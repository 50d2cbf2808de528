package storage

import (
	"context"
	"errors"
)

// ErrNotEmpty is returned by Snapshotter.Restore when the store already
// holds records: a restore never merges into live data.
var ErrNotEmpty = errors.New("storage: the store is not empty")

// SnapshotRecord is one raw record of a backend snapshot: in Collection
// (a bolt bucket or a MongoDB collection), the bytes the backend keeps.
// Bolt records have a Key and a Value; MongoDB records have only a Value,
// the document as canonical MongoDB Extended JSON. Records are opaque
// outside their backend: a snapshot restores into the backend that wrote
// it. Private signing keys are in them as stored, sealed under the
// key-encryption key, which is not part of any snapshot.
type SnapshotRecord struct {
	Collection string
	Key        []byte
	Value      []byte
}

// Snapshotter is implemented by the backends (not by wrappers such as
// storage/instrumented): it copies every record out and back in, for
// `sigil backup` and `sigil restore`.
type Snapshotter interface {
	// Snapshot calls emit with every record, collection by collection. The
	// bolt backend reads in one read transaction (a consistent point in
	// time); the MongoDB backend reads collection by collection (each
	// collection consistent on its own). An error from emit stops it.
	Snapshot(ctx context.Context, emit func(SnapshotRecord) error) error
	// Restore writes records into an empty store and returns ErrNotEmpty
	// (writing nothing) when any collection holds a record. The bolt
	// backend writes in one transaction (all or nothing); the MongoDB
	// backend inserts collection by collection, so a failed restore leaves
	// a partial copy to drop before retrying.
	Restore(ctx context.Context, records []SnapshotRecord) error
}
