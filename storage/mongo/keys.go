package mongo

import (
	"context"
	"errors"
	"strconv"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sigilauth/sigil/storage"
)

// GetKeySet returns the stored key set, or storage.ErrNotFound if none was
// ever stored.
func (s *Store) GetKeySet(ctx context.Context) (storage.KeySet, error) {
	var d keySetDoc
	err := s.keySet.FindOne(ctx, bson.D{{Key: "_id", Value: keySetID}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return storage.KeySet{}, notFound("key set", keySetID)
	}
	if err != nil {
		return storage.KeySet{}, s.wrap("get key set", err)
	}
	return d.record(), nil
}

// CompareAndSwapKeySet stores next with Version = oldVersion+1 if the stored
// version is oldVersion and returns the new version. From version 0 it is an
// insert of the single key-set document (a duplicate key means another
// writer stored one first); from any other version a replace filtered on
// {_id, version: oldVersion}. Either way one single-document operation
// decides, so of concurrent callers exactly one wins and the others get
// storage.ErrConflict with nothing changed.
func (s *Store) CompareAndSwapKeySet(ctx context.Context, oldVersion int64, next storage.KeySet) (int64, error) {
	version := oldVersion + 1
	doc := toKeySetDoc(next, version)
	if oldVersion == 0 {
		if _, err := s.keySet.InsertOne(ctx, doc); err != nil {
			if mongo.IsDuplicateKeyError(err) {
				return 0, conflict("key set swap from version", "0")
			}
			return 0, s.wrap("store key set", err)
		}
		return version, nil
	}
	res, err := s.keySet.ReplaceOne(ctx, bson.D{{Key: "_id", Value: keySetID}, {Key: "version", Value: oldVersion}}, doc)
	if err != nil {
		return 0, s.wrap("store key set", err)
	}
	if res.MatchedCount == 0 {
		return 0, conflict("key set swap from version", strconv.FormatInt(oldVersion, 10))
	}
	return version, nil
}

// AppendKeyEvent records an audit event. storage.ErrDuplicate if e.ID exists.
func (s *Store) AppendKeyEvent(ctx context.Context, e storage.KeyEvent) error {
	if _, err := s.keyEvents.InsertOne(ctx, toKeyEventDoc(e)); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return duplicate("key event", e.ID)
		}
		return s.wrap("append key event", err)
	}
	return nil
}

// ListKeyEvents returns audit events in ID (time) order, oldest first.
func (s *Store) ListKeyEvents(ctx context.Context) ([]storage.KeyEvent, error) {
	return findAll[keyEventDoc](ctx, s, s.keyEvents, "list key events", bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
}
