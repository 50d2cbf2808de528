// Package mongo is Sigil's MongoDB storage backend, built on
// go.mongodb.org/mongo-driver/v2. It implements storage.Store and passes
// storage/conformance.
//
// It sticks to what MongoDB, FerretDB, Amazon DocumentDB and Azure Cosmos DB
// all provide:
//   - every point look-up is by _id (user id, client id, token, session and
//     code hash, family id, jti, login-failure key, user+client of a consent;
//     usernames through a `usernames` collection
//     whose _id is the username), except AdmitLogin, which finds the user
//     through the unique users.username index so that counting a login
//     attempt (kept in the user document's `login` field) and loading the
//     user is one findOneAndUpdate;
//   - every change is one single-document atomic operation (conditional
//     update, insert relying on _id uniqueness, replace with upsert); there
//     are no multi-document transactions and no change streams;
//   - writes use write concern majority and retryable writes;
//   - TTL indexes on expires_at are created where the server supports them
//     (their absence, as on FerretDB, is tolerated), but every read checks
//     expiry against the caller's now and Purge deletes expired records, so
//     correctness never depends on them.
//
// Collections: users, usernames, clients, keyset (one document, _id
// "keyset"), key_events, refresh_families (one document per login, holding
// the hashes of its current and previous refresh token), denylist,
// login_failures, sessions, auth_codes, consents (_id: length-prefixed user
// id and client id), audit, jwks_consumers. A refresh_tokens collection left by earlier versions is
// no longer read; its TTL index empties it.
//
// Times are stored as BSON datetimes (millisecond precision) and returned in
// UTC; zero times are not stored and come back as the zero time.
//
// Error messages never contain the connection string or its password.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/sigilauth/sigil/storage"
)

// Collection names.
const (
	collUsers     = "users"
	collUsernames = "usernames"
	collClients   = "clients"
	collKeySet    = "keyset"
	collKeyEvents = "key_events"
	collFamilies  = "refresh_families"
	collDenyList  = "denylist"
	collFailures  = "login_failures"
	collSessions  = "sessions"
	collCodes     = "auth_codes"
	collConsents  = "consents"
	collAudit     = "audit"
	collConsumers = "jwks_consumers"
)

// defaultServerSelectionTimeout bounds how long Open (and each operation)
// waits for a reachable server when the connection string sets no
// serverSelectionTimeoutMS.
const defaultServerSelectionTimeout = 10 * time.Second

// Store is a storage.Store backed by one MongoDB database. It is safe for
// concurrent use by many goroutines and by many processes sharing the
// database.
type Store struct {
	client *mongo.Client
	db     *mongo.Database

	users, usernames, clients, keySet, keyEvents *mongo.Collection
	families, denyList, failures                 *mongo.Collection
	sessions, codes, consents                    *mongo.Collection
	audit, consumers                             *mongo.Collection

	// secret is the password of the connection string, removed from every
	// error message the driver returns.
	secret string
}

var _ storage.Store = (*Store)(nil)

// Open connects to the MongoDB deployment at uri (a mongodb:// or
// mongodb+srv:// connection string) with write concern majority and
// retryable writes, checks that it answers (Ping), and ensures the indexes of
// database. If uri sets no serverSelectionTimeoutMS, Open and later
// operations wait at most 10 s for a reachable server; ctx bounds Open as a
// whole.
//
// On failure nothing stays open and the error names the hosts only: the
// password in uri never appears in it. The caller must Close the Store.
func Open(ctx context.Context, uri, database string) (*Store, error) {
	return OpenTimeout(ctx, uri, database, defaultServerSelectionTimeout)
}

// OpenTimeout is Open with the server selection timeout used when uri sets
// none: the first ping fails within it when no server answers (so a replica
// that cannot reach MongoDB fails its start quickly), and so does each later
// operation.
func OpenTimeout(ctx context.Context, uri, database string, selection time.Duration) (*Store, error) {
	return OpenWith(ctx, uri, database, Options{ServerSelectionTimeout: selection})
}

// Options tune OpenWith.
type Options struct {
	// ServerSelectionTimeout is used when the URI sets none (default 10s).
	ServerSelectionTimeout time.Duration
	// Monitor, when set, sees every command the driver sends (tests count
	// round trips with it).
	Monitor *event.CommandMonitor
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, uri, database string, o Options) (*Store, error) {
	selection := o.ServerSelectionTimeout
	secret := uriPassword(uri)
	hosts := uriHosts(uri)
	if database == "" {
		return nil, errors.New("mongo: database name is empty")
	}
	opts := options.Client().ApplyURI(uri)
	if opts.ServerSelectionTimeout == nil {
		if selection <= 0 {
			selection = defaultServerSelectionTimeout
		}
		opts.SetServerSelectionTimeout(selection)
	}
	opts.SetWriteConcern(writeconcern.Majority()).SetRetryWrites(true)
	if o.Monitor != nil {
		opts.SetMonitor(o.Monitor)
	}
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, redact(fmt.Errorf("mongo: connect to %s: %w", hosts, err), secret)
	}
	s := newStore(client, database, secret)
	if err := client.Ping(ctx, readpref.Primary()); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, redact(fmt.Errorf("mongo: %s unreachable: %w", hosts, err), secret)
	}
	if err := s.ensureIndexes(ctx); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, redact(fmt.Errorf("mongo: ensure indexes on %s: %w", hosts, err), secret)
	}
	if err := s.backfillHashSchemes(ctx); err != nil {
		_ = client.Disconnect(context.WithoutCancel(ctx))
		return nil, redact(fmt.Errorf("mongo: migrate users on %s: %w", hosts, err), secret)
	}
	return s, nil
}

func newStore(client *mongo.Client, database, secret string) *Store {
	db := client.Database(database)
	return &Store{
		client:    client,
		db:        db,
		users:     db.Collection(collUsers),
		usernames: db.Collection(collUsernames),
		clients:   db.Collection(collClients),
		keySet:    db.Collection(collKeySet),
		keyEvents: db.Collection(collKeyEvents),
		families:  db.Collection(collFamilies),
		denyList:  db.Collection(collDenyList),
		failures:  db.Collection(collFailures),
		sessions:  db.Collection(collSessions),
		codes:     db.Collection(collCodes),
		consents:  db.Collection(collConsents),
		audit:     db.Collection(collAudit),
		consumers: db.Collection(collConsumers),
		secret:    secret,
	}
}

// Close disconnects from the server, waiting at most 10 s for in-flight
// operations. The Store must not be used afterwards.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.client.Disconnect(ctx); err != nil {
		return s.wrap("disconnect", err)
	}
	return nil
}

// Ping reports whether the primary answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, readpref.Primary()); err != nil {
		return s.wrap("ping", err)
	}
	return nil
}

// Drop deletes the whole database with every record in it. Meant for tests
// and for operators resetting a deployment; the Store stays open and usable
// (collections are recreated on the next write, indexes are not).
func (s *Store) Drop(ctx context.Context) error {
	if err := s.db.Drop(ctx); err != nil {
		return s.wrap("drop database", err)
	}
	return nil
}

// Database returns the name of the database the Store uses.
func (s *Store) Database() string { return s.db.Name() }

// ensureIndexes creates the unique, sort and TTL indexes. It is idempotent.
// TTL indexes are skipped on servers that do not implement them.
func (s *Store) ensureIndexes(ctx context.Context) error {
	unique := []struct {
		coll  *mongo.Collection
		field string
	}{
		// A second guard behind the usernames collection: two user documents
		// can never share a username, whatever happens between the two inserts
		// of CreateUser.
		{s.users, "username"},
	}
	// Secondary look-ups: one user's sessions and consents, the families of
	// a session or a user.
	plain := []struct {
		coll  *mongo.Collection
		field string
	}{
		{s.sessions, "user_id"},
		{s.consents, "user_id"},
		{s.families, "user_id"},
		{s.families, "session_id"},
		{s.audit, "kind"},
		// The password hash classes in the store (PasswordHashSamples).
		{s.users, "hash_scheme"},
	}
	for _, p := range plain {
		_, err := p.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
			Keys:    bson.D{{Key: p.field, Value: 1}},
			Options: options.Index().SetName(p.field),
		})
		if err != nil && !indexConflict(err) {
			return fmt.Errorf("index %s.%s: %w", p.coll.Name(), p.field, err)
		}
	}
	for _, u := range unique {
		_, err := u.coll.Indexes().CreateOne(ctx, mongo.IndexModel{
			Keys:    bson.D{{Key: u.field, Value: 1}},
			Options: options.Index().SetUnique(true).SetName(u.field + "_unique"),
		})
		if err != nil {
			return fmt.Errorf("unique index %s.%s: %w", u.coll.Name(), u.field, err)
		}
	}
	ttl := []struct {
		coll  *mongo.Collection
		field string
	}{
		{s.families, "expires_at"}, {s.families, "current_expires_at"}, {s.denyList, "expires_at"},
		{s.failures, "expires_at"}, {s.consumers, "expires_at"},
		// A session dies at the earlier of its two expiries: each TTL index
		// deletes it independently.
		{s.sessions, "expires_at"}, {s.sessions, "idle_expires_at"},
		// A code is kept past its expiry once used, to detect reuse.
		{s.codes, "purge_at"},
	}
	for _, tc := range ttl {
		c, field := tc.coll, tc.field
		_, err := c.Indexes().CreateOne(ctx, mongo.IndexModel{
			Keys:    bson.D{{Key: field, Value: 1}},
			Options: options.Index().SetExpireAfterSeconds(0).SetName(field + "_ttl"),
		})
		if err != nil && indexConflict(err) {
			// Another index on the field already exists, e.g. the plain one
			// made on a server without TTL support before the data moved:
			// Purge still works, and expiry never depended on TTL.
			continue
		}
		if err != nil && !unsupported(err) {
			return fmt.Errorf("ttl index %s.%s: %w", c.Name(), field, err)
		}
		if err != nil {
			// No TTL support (FerretDB): a plain index still speeds up Purge.
			_, err = c.Indexes().CreateOne(ctx, mongo.IndexModel{
				Keys:    bson.D{{Key: field, Value: 1}},
				Options: options.Index().SetName(field),
			})
			if err != nil && !unsupported(err) {
				return fmt.Errorf("index %s.%s: %w", c.Name(), field, err)
			}
		}
	}
	return nil
}

// indexConflict reports whether err says an index with the same name or keys
// but other options exists (IndexOptionsConflict, IndexKeySpecsConflict).
func indexConflict(err error) bool {
	var se mongo.ServerError
	return errors.As(err, &se) && (se.HasErrorCode(85) || se.HasErrorCode(86))
}

// unsupported reports whether err says the server does not implement the
// requested feature (FerretDB answers NotImplemented to TTL indexes).
func unsupported(err error) bool {
	var se mongo.ServerError
	if errors.As(err, &se) && (se.HasErrorCode(238) || se.HasErrorCode(115)) {
		return true // NotImplemented, CommandNotSupported
	}
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "not implemented") || strings.Contains(msg, "not supported") ||
		strings.Contains(msg, "unsupported")
}

// wrap adds context to a driver error and removes the connection string's
// password from its message.
func (s *Store) wrap(op string, err error) error {
	return redact(fmt.Errorf("mongo: %s: %w", op, err), s.secret)
}

// notFound returns storage.ErrNotFound wrapped with context.
func notFound(what, id string) error {
	return fmt.Errorf("mongo: %s %q: %w", what, id, storage.ErrNotFound)
}

// findAll runs one find on coll and returns the records of every matching
// document (D, converted by its record method) in the cursor's order, as a
// non-nil slice; op names the operation in errors.
func findAll[D interface{ record() R }, R any](ctx context.Context, s *Store, coll *mongo.Collection, op string, filter bson.D, opts ...options.Lister[options.FindOptions]) ([]R, error) {
	cur, err := coll.Find(ctx, filter, opts...)
	if err != nil {
		return nil, s.wrap(op, err)
	}
	var docs []D
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.wrap(op, err)
	}
	out := make([]R, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.record())
	}
	return out, nil
}

// duplicate returns storage.ErrDuplicate wrapped with context.
func duplicate(what, id string) error {
	return fmt.Errorf("mongo: %s %q: %w", what, id, storage.ErrDuplicate)
}

// conflict returns storage.ErrConflict wrapped with context.
func conflict(what, id string) error {
	return fmt.Errorf("mongo: %s %q: %w", what, id, storage.ErrConflict)
}

// redactedError hides secret in the message of an error while keeping its
// chain for errors.Is and errors.As.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// redact returns err with every occurrence of secret (raw and URL-escaped)
// replaced by "xxxxx" in its message.
func redact(err error, secret string) error {
	if err == nil || secret == "" {
		return err
	}
	msg := err.Error()
	clean := msg
	for _, v := range []string{secret, url.QueryEscape(secret), url.PathEscape(secret)} {
		if v != "" {
			clean = strings.ReplaceAll(clean, v, "xxxxx")
		}
	}
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}

// uriPassword returns the (unescaped) password of a mongodb:// connection
// string, or "" if it has none. It never fails: an unparsable string yields
// its whole user-info part, so that nothing secret can leak.
func uriPassword(uri string) string {
	userinfo := uriUserinfo(uri)
	i := strings.IndexByte(userinfo, ':')
	if i < 0 {
		return ""
	}
	pw := userinfo[i+1:]
	if un, err := url.PathUnescape(pw); err == nil {
		return un
	}
	return pw
}

// uriUserinfo returns the part of uri between "://" and the last "@", or ""
// if uri has no "@". Cutting at the last "@" keeps a password that contains
// an unescaped "/", "?" or "@" whole.
func uriUserinfo(uri string) string {
	rest := uri
	if i := strings.Index(rest, "://"); i >= 0 {
		rest = rest[i+3:]
	}
	i := strings.LastIndexByte(rest, '@')
	if i < 0 {
		return ""
	}
	return rest[:i]
}

// uriHosts returns the scheme and host list of uri without user info, path
// or options, for error messages: "mongodb://db1:27017,db2:27017".
func uriHosts(uri string) string {
	scheme, rest := "mongodb", uri
	if i := strings.Index(rest, "://"); i >= 0 {
		scheme, rest = rest[:i], rest[i+3:]
	}
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest = rest[i+1:]
	}
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		rest = rest[:i]
	}
	return scheme + "://" + rest
}
