package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// collLeases holds one document per lease: {_id: name, owner, expires_at}.
const collLeases = "leases"

// AcquireLease takes or renews a lease with one conditional upsert: the
// filter matches the lease only when it is owner's or expired; when it
// matches nothing because another owner holds it, the upsert's insert of
// the same _id fails with a duplicate key, which is a lost race, not an
// error.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (bool, error) {
	if name == "" || owner == "" || ttl <= 0 {
		return false, fmt.Errorf("mongo: acquire lease: name, owner and a positive ttl are required")
	}
	filter := bson.D{
		{Key: "_id", Value: name},
		{Key: "$or", Value: bson.A{
			bson.D{{Key: "owner", Value: owner}},
			bson.D{{Key: "expires_at", Value: bson.D{{Key: "$lte", Value: now.UTC()}}}},
		}},
	}
	update := bson.D{{Key: "$set", Value: bson.D{
		{Key: "owner", Value: owner},
		{Key: "expires_at", Value: now.Add(ttl).UTC()},
	}}}
	_, err := s.db.Collection(collLeases).UpdateOne(ctx, filter, update, options.UpdateOne().SetUpsert(true))
	switch {
	case err == nil:
		return true, nil
	case mongo.IsDuplicateKeyError(err):
		return false, nil
	default:
		return false, s.wrap("acquire lease "+name, err)
	}
}
