package mongo

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sigilauth/sigil/storage"
)

// CreateFamily stores f. storage.ErrDuplicate if f.ID exists.
func (s *Store) CreateFamily(ctx context.Context, f storage.RefreshFamily) error {
	if _, err := s.families.InsertOne(ctx, toFamilyDoc(f)); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return duplicate("refresh family", f.ID)
		}
		return s.wrap("insert refresh family", err)
	}
	return nil
}

// GetFamily returns the family, or storage.ErrNotFound if absent or expired
// at now. A revoked family is returned with Revoked set.
func (s *Store) GetFamily(ctx context.Context, id string, now time.Time) (storage.RefreshFamily, error) {
	var d familyDoc
	err := s.families.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && !live(d.ExpiresAt, now)) {
		return storage.RefreshFamily{}, notFound("refresh family", id)
	}
	if err != nil {
		return storage.RefreshFamily{}, s.wrap("get refresh family", err)
	}
	return d.record(), nil
}

// RevokeFamily marks the family revoked with one update conditioned on it
// not being revoked yet, so a second call (or a concurrent one) keeps the
// first RevokedAt and reason. storage.ErrNotFound if absent.
func (s *Store) RevokeFamily(ctx context.Context, id string, at time.Time, reason string) error {
	res, err := s.families.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: "revoked", Value: false}},
		bson.D{{Key: "$set", Value: bson.D{
			{Key: "revoked", Value: true},
			{Key: "revoked_at", Value: at.UTC()},
			{Key: "revoke_reason", Value: reason},
		}}})
	if err != nil {
		return s.wrap("revoke refresh family", err)
	}
	if res.MatchedCount == 1 {
		return nil
	}
	err = s.families.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return notFound("refresh family", id)
	}
	if err != nil {
		return s.wrap("revoke refresh family", err)
	}
	return nil // already revoked
}

// SwapRefreshToken replaces the refresh state with one findOneAndUpdate by
// _id, filtered on the current token, the client, not revoked and both
// expiries after now, returning the document as it was before: one round
// trip, and of concurrent callers exactly one matches. When nothing matched
// the error is storage.ErrConflict.
func (s *Store) SwapRefreshToken(ctx context.Context, id, clientID, oldHash string, next storage.RefreshState, now time.Time) (storage.RefreshFamily, error) {
	if oldHash == "" {
		return storage.RefreshFamily{}, conflict("refresh family has no current token", id)
	}
	n := now.UTC()
	set := bson.D{
		{Key: "current_hash", Value: next.CurrentHash},
		{Key: "current_issued_at", Value: tp(next.CurrentIssuedAt)},
		{Key: "current_expires_at", Value: tp(next.CurrentExpiresAt)},
		{Key: "previous_hash", Value: next.PreviousHash},
		{Key: "previous_used_at", Value: tp(next.PreviousUsedAt)},
	}
	var d familyDoc
	err := s.families.FindOneAndUpdate(ctx,
		bson.D{
			{Key: "_id", Value: id},
			{Key: "current_hash", Value: oldHash},
			{Key: "client_id", Value: clientID},
			{Key: "revoked", Value: false},
			{Key: "expires_at", Value: bson.D{{Key: "$gt", Value: n}}},
			{Key: "current_expires_at", Value: bson.D{{Key: "$gt", Value: n}}},
		},
		bson.D{{Key: "$set", Value: set}},
		options.FindOneAndUpdate().SetReturnDocument(options.Before),
	).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return storage.RefreshFamily{}, conflict("refresh token is not the current one", id)
	}
	if err != nil {
		return storage.RefreshFamily{}, s.wrap("swap refresh token", err)
	}
	return d.record(), nil
}
