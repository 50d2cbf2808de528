package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sigilauth/sigil/storage"
)

// AppendAudit records an admin audit entry. storage.ErrDuplicate if e.ID
// exists.
func (s *Store) AppendAudit(ctx context.Context, e storage.AuditEntry) error {
	if _, err := s.audit.InsertOne(ctx, toAuditDoc(e)); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return duplicate("audit entry", e.ID)
		}
		return s.wrap("append audit entry", err)
	}
	return nil
}

// ListAudit returns at most limit entries of kind ("" for all) with an _id
// below beforeID ("" for no bound), newest first: one sorted, limited find.
func (s *Store) ListAudit(ctx context.Context, kind, beforeID string, limit int) ([]storage.AuditEntry, error) {
	if limit <= 0 {
		return []storage.AuditEntry{}, nil
	}
	filter := bson.D{}
	if kind != "" {
		filter = append(filter, bson.E{Key: "kind", Value: kind})
	}
	if beforeID != "" {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$lt", Value: beforeID}}})
	}
	return findAll[auditDoc](ctx, s, s.audit, "list audit entries", filter,
		options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(limit)))
}

// RecordJWKSConsumer upserts c (see storage.JWKSConsumerStore). A live
// record is updated by one conditional update that keeps first_seen; an
// absent or expired one is replaced after counting the live records, so
// with concurrent writers the limit may be passed by a few records.
func (s *Store) RecordJWKSConsumer(ctx context.Context, c storage.JWKSConsumer, limit int) error {
	now := c.LastFetch.UTC()
	d := toConsumerDoc(c)
	res, err := s.consumers.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: c.ID}, {Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now}}}},
		bson.D{{Key: "$set", Value: bson.D{
			{Key: "address", Value: d.Address}, {Key: "user_agent", Value: d.UserAgent},
			{Key: "last_fetch", Value: d.LastFetch}, {Key: "etag", Value: d.ETag},
			{Key: "expires_at", Value: d.ExpiresAt},
		}}})
	if err != nil {
		return s.wrap("record jwks consumer", err)
	}
	if res.MatchedCount == 1 {
		return nil
	}
	live, err := s.consumers.CountDocuments(ctx, bson.D{{Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now}}}})
	if err != nil {
		return s.wrap("count jwks consumers", err)
	}
	if live >= int64(limit) {
		return fmt.Errorf("mongo: %d jwks consumers stored: %w", live, storage.ErrFull)
	}
	_, err = s.consumers.ReplaceOne(ctx, bson.D{{Key: "_id", Value: c.ID}}, d, options.Replace().SetUpsert(true))
	if err != nil && !mongo.IsDuplicateKeyError(err) { // a racing upsert of the same consumer won
		return s.wrap("record jwks consumer", err)
	}
	return nil
}

// ListJWKSConsumers returns the consumers unexpired at now, ordered by ID.
func (s *Store) ListJWKSConsumers(ctx context.Context, now time.Time) ([]storage.JWKSConsumer, error) {
	return findAll[consumerDoc](ctx, s, s.consumers, "list jwks consumers", bson.D{{Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now.UTC()}}}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
}
