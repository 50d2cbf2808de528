package mongo

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/sigilauth/sigil/storage"
)

var _ storage.Snapshotter = (*Store)(nil)

// restoreBatch is how many documents one insert carries.
const restoreBatch = 500

// collections lists the database's collections (system ones aside), sorted.
func (s *Store) collections(ctx context.Context) ([]string, error) {
	names, err := s.db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return nil, s.wrap("list collections", err)
	}
	names = slices.DeleteFunc(names, func(n string) bool { return strings.HasPrefix(n, "system.") })
	slices.Sort(names)
	return names, nil
}

// Snapshot emits every document of every collection as canonical Extended
// JSON, collection by collection.
func (s *Store) Snapshot(ctx context.Context, emit func(storage.SnapshotRecord) error) error {
	names, err := s.collections(ctx)
	if err != nil {
		return err
	}
	for _, name := range names {
		cur, err := s.db.Collection(name).Find(ctx, bson.D{})
		if err != nil {
			return s.wrap("snapshot "+name, err)
		}
		for cur.Next(ctx) {
			doc, err := bson.MarshalExtJSON(cur.Current, true, false)
			if err != nil {
				_ = cur.Close(ctx)
				return fmt.Errorf("mongo: snapshot %s: %w", name, err)
			}
			if err := emit(storage.SnapshotRecord{Collection: name, Value: doc}); err != nil {
				_ = cur.Close(ctx)
				return err
			}
		}
		err = cur.Err()
		_ = cur.Close(ctx)
		if err != nil {
			return s.wrap("snapshot "+name, err)
		}
	}
	return nil
}

// Restore inserts records into a database whose collections are all
// empty. The documents are parsed before anything is written.
func (s *Store) Restore(ctx context.Context, records []storage.SnapshotRecord) error {
	names, err := s.collections(ctx)
	if err != nil {
		return err
	}
	for _, name := range names {
		n, err := s.db.Collection(name).CountDocuments(ctx, bson.D{})
		if err != nil {
			return s.wrap("count "+name, err)
		}
		if n > 0 {
			return fmt.Errorf("%w: collection %s has %d documents", storage.ErrNotEmpty, name, n)
		}
	}
	byColl := map[string][]any{}
	var order []string
	for _, r := range records {
		if r.Collection == "" || strings.HasPrefix(r.Collection, "system.") {
			return fmt.Errorf("mongo: restore: invalid collection name %q", r.Collection)
		}
		var doc bson.D
		if err := bson.UnmarshalExtJSON(r.Value, true, &doc); err != nil {
			return fmt.Errorf("mongo: restore: a document of %s: %w", r.Collection, err)
		}
		if _, ok := byColl[r.Collection]; !ok {
			order = append(order, r.Collection)
		}
		byColl[r.Collection] = append(byColl[r.Collection], doc)
	}
	for _, name := range order {
		docs := byColl[name]
		for len(docs) > 0 {
			n := min(len(docs), restoreBatch)
			if _, err := s.db.Collection(name).InsertMany(ctx, docs[:n]); err != nil {
				return s.wrap("restore "+name, err)
			}
			docs = docs[n:]
		}
	}
	return nil
}
