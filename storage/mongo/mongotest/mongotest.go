// Package mongotest gives tests a MongoDB-backed store or connection string.
//
// The server comes from the SIGIL_TEST_MONGODB_URI environment variable
// (make test starts one and sets it). Without it, tests that ask for MongoDB
// skip, unless SIGIL_TEST_MONGODB_REQUIRED=1, when they fail instead, so a CI
// run cannot pass by silently skipping them.
//
// Every store is a fresh database with a unique name, dropped when the test
// ends, so tests (and test packages running in parallel) never see each
// other's records.
//
// Mind the wall clock: on a real MongoDB the TTL monitor deletes, about once
// a minute, records whose expires_at is before the server's current time,
// whatever now the test passes to the store. Tests that drive a fake clock
// should keep expiry times in the future of the real one (the conformance
// suite works in the year 2100). FerretDB has no TTL indexes.
package mongotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage/mongo"
)

// Environment variables read by this package.
const (
	// EnvURI names the variable holding the MongoDB connection string.
	EnvURI = "SIGIL_TEST_MONGODB_URI"
	// EnvRequired names the variable that, set to "1", turns a missing URI
	// into a test failure instead of a skip.
	EnvRequired = "SIGIL_TEST_MONGODB_REQUIRED"
)

// SkipMessage is the message of the skip (or, when required, the failure) of
// a test that needs MongoDB when EnvURI is unset. make test searches test
// output for it.
const SkipMessage = "SIGIL_TEST_MONGODB_URI not set: skipping MongoDB-backed test (make test provides one)"

// URI returns the connection string in SIGIL_TEST_MONGODB_URI. If it is unset
// or empty, URI skips the test with SkipMessage, or fails it with the same
// message when SIGIL_TEST_MONGODB_REQUIRED=1. Safe for concurrent use.
func URI(t testing.TB) string {
	t.Helper()
	uri := os.Getenv(EnvURI)
	if uri != "" {
		return uri
	}
	if os.Getenv(EnvRequired) == "1" {
		t.Fatal(SkipMessage)
	}
	t.Skip(SkipMessage)
	return ""
}

// DatabaseName returns a fresh, unique database name of the form
// sigil_test_<16 hex digits>.
func DatabaseName(t testing.TB) string {
	t.Helper()
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("mongotest: random database name: %v", err)
	}
	return "sigil_test_" + hex.EncodeToString(b[:])
}

// NewStore opens a Store on a new, uniquely named database (see
// DatabaseName) of the server at URI(t), so it skips or fails as URI does.
// When the test ends, t.Cleanup drops the database and closes the Store; the
// test must not close it itself. A server that does not answer within 30 s
// fails the test.
func NewStore(t testing.TB) *mongo.Store {
	t.Helper()
	uri := URI(t)
	name := DatabaseName(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := mongo.Open(ctx, uri, name)
	if err != nil {
		t.Fatalf("mongotest: open database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Drop(ctx); err != nil {
			t.Errorf("mongotest: drop database %s: %v", name, err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("mongotest: close store: %v", err)
		}
	})
	return s
}

// NewDatabase returns the connection string of URI(t) (so it skips or fails
// as URI does) and a fresh database name (see DatabaseName) for tests that
// hand both to the code under test, such as a sigil process configured with
// storage.mongo_uri and storage.mongo_database. When the test ends,
// t.Cleanup drops the database; a failure to drop is reported with t.Errorf.
func NewDatabase(t testing.TB) (uri, database string) {
	t.Helper()
	uri = URI(t)
	database = DatabaseName(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := mongo.Open(ctx, uri, database)
		if err != nil {
			t.Errorf("mongotest: open database %s to drop it: %v", database, err)
			return
		}
		defer s.Close()
		if err := s.Drop(ctx); err != nil {
			t.Errorf("mongotest: drop database %s: %v", database, err)
		}
	})
	return uri, database
}
