package mongo

import (
	"context"
	"errors"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sigilauth/sigil/storage"
)

// CreateClient stores c. storage.ErrDuplicate if c.ID is taken.
func (s *Store) CreateClient(ctx context.Context, c storage.Client) error {
	if _, err := s.clients.InsertOne(ctx, toClientDoc(c)); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return duplicate("client", c.ID)
		}
		return s.wrap("insert client", err)
	}
	return nil
}

// GetClient returns the client, or storage.ErrNotFound.
func (s *Store) GetClient(ctx context.Context, id string) (storage.Client, error) {
	var d clientDoc
	err := s.clients.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return storage.Client{}, notFound("client", id)
	}
	if err != nil {
		return storage.Client{}, s.wrap("get client", err)
	}
	return d.record(), nil
}

// ListClients returns every client ordered by ID.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	return findAll[clientDoc](ctx, s, s.clients, "list clients", bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
}

// DeleteClient removes the client. storage.ErrNotFound if absent.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	res, err := s.clients.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	if err != nil {
		return s.wrap("delete client", err)
	}
	if res.DeletedCount == 0 {
		return notFound("client", id)
	}
	return nil
}

// SetClientSecret replaces the secret hash of a client in one update.
// storage.ErrNotFound if absent.
func (s *Store) SetClientSecret(ctx context.Context, id string, secretHash []byte) error {
	res, err := s.clients.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "secret_hash", Value: clone(secretHash)}}}})
	if err != nil {
		return s.wrap("set client secret", err)
	}
	if res.MatchedCount == 0 {
		return notFound("client", id)
	}
	return nil
}
