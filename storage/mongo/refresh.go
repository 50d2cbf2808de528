package mongo

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

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

// CreateRefreshToken stores t. storage.ErrDuplicate if t.ID exists.
func (s *Store) CreateRefreshToken(ctx context.Context, t storage.RefreshToken) error {
	if _, err := s.refresh.InsertOne(ctx, toRefreshDoc(t)); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return duplicate("refresh token", t.ID)
		}
		return s.wrap("insert refresh token", err)
	}
	return nil
}

// GetRefreshToken returns the token, or storage.ErrNotFound if absent or
// expired at now.
func (s *Store) GetRefreshToken(ctx context.Context, id string, now time.Time) (storage.RefreshToken, error) {
	var d refreshDoc
	err := s.refresh.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && !live(d.ExpiresAt, now)) {
		return storage.RefreshToken{}, notFound("refresh token", id)
	}
	if err != nil {
		return storage.RefreshToken{}, s.wrap("get refresh token", err)
	}
	return d.record(), nil
}

// MarkRefreshTokenUsed sets Used, UsedAt=at and ChildID with one update
// filtered on {_id, used: false, expires_at > at}, so of concurrent callers
// exactly one matches; the others get storage.ErrConflict. If nothing
// matched because the token is absent or expired at at, the error is
// storage.ErrNotFound.
func (s *Store) MarkRefreshTokenUsed(ctx context.Context, id string, at time.Time, childID string) error {
	res, err := s.refresh.UpdateOne(ctx,
		bson.D{
			{Key: "_id", Value: id},
			{Key: "used", Value: false},
			{Key: "expires_at", Value: bson.D{{Key: "$gt", Value: at.UTC()}}},
		},
		bson.D{{Key: "$set", Value: bson.D{
			{Key: "used", Value: true},
			{Key: "used_at", Value: at.UTC()},
			{Key: "child_id", Value: childID},
		}}})
	if err != nil {
		return s.wrap("mark refresh token used", err)
	}
	if res.MatchedCount == 1 {
		return nil
	}
	if _, err := s.GetRefreshToken(ctx, id, at); err != nil {
		return err
	}
	return conflict("refresh token already used", id)
}
