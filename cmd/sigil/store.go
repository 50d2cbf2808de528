package main

import (
	"context"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/backend"
)

// openStore opens the storage backend cfg.Storage selects: the bbolt file at
// storage.bolt_path, or MongoDB at storage.mongo_uri / storage.mongo_database.
// The caller closes the returned store. Errors never contain the MongoDB URI.
func openStore(ctx context.Context, cfg configs.Config) (storage.Store, error) {
	return backend.Open(ctx, storageOptions(cfg))
}

// storageOptions maps the storage section of the configuration to
// backend.Options.
func storageOptions(cfg configs.Config) backend.Options {
	return backend.Options{
		Backend:       cfg.Storage.Backend,
		BoltPath:      cfg.Storage.BoltPath,
		MongoURI:      cfg.Storage.MongoURI,
		MongoDatabase: cfg.Storage.MongoDatabase,
		MongoTimeout:  cfg.Storage.Timeout,
	}
}
