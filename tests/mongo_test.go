package tests

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// dropMongoDB removes a test database; errors are ignored (best effort at
// cleanup, the database name is unique per test).
func dropMongoDB(uri, db string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		return
	}
	defer func() { _ = c.Disconnect(ctx) }()
	_ = c.Database(db).Drop(ctx)
}
