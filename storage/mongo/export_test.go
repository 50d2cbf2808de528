package mongo

import "go.mongodb.org/mongo-driver/v2/mongo"

// Collection exposes a raw collection of s to the external tests, which
// simulate crashes and inspect the stored documents.
func Collection(s *Store, name string) *mongo.Collection { return s.db.Collection(name) }

// URIHosts and URIPassword expose the connection-string helpers.
var (
	URIHosts    = uriHosts
	URIPassword = uriPassword
)
