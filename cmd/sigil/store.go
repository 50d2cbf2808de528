package main

import (
	"context"
	"fmt"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/bolt"
	"github.com/sigilauth/sigil/storage/mongo"
)

// openStore opens the storage backend cfg.Storage selects: the bbolt file at
// storage.bolt_path, or MongoDB at storage.mongo_uri / storage.mongo_database.
// The caller closes the returned store. Errors never contain the MongoDB URI.
func openStore(ctx context.Context, cfg configs.Config) (storage.Store, error) {
	switch cfg.Storage.Backend {
	case "bolt":
		s, err := bolt.Open(cfg.Storage.BoltPath, bolt.Options{})
		if err != nil {
			return nil, fmt.Errorf("open bolt storage: %w", err)
		}
		return s, nil
	case "mongo":
		s, err := mongo.Open(ctx, cfg.Storage.MongoURI, cfg.Storage.MongoDatabase)
		if err != nil {
			return nil, fmt.Errorf("open mongo storage: %w", err)
		}
		return s, nil
	default:
		return nil, fmt.Errorf("unknown storage backend %q", cfg.Storage.Backend)
	}
}
