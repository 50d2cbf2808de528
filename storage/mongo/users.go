package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sigilauth/sigil/storage"
)

// maxClaimAttempts bounds the compare-and-swap loops that repoint a username
// document; each lost attempt means another writer changed it meanwhile.
const maxClaimAttempts = 16

// CreateUser stores u. It returns storage.ErrDuplicate if u.ID or u.Username
// is taken.
//
// It first claims the username by inserting {_id: username, user_id: u.ID}
// into the usernames collection, then inserts the user document; the unique
// index on users.username guards against two user documents sharing a name
// whatever happens in between. If the user insert fails, the claim is
// withdrawn (conditionally, so a claim someone else has since taken over is
// left alone).
//
// A username document whose user does not exist is either a creation still
// in progress or the trace of a process that died between the two inserts.
// In both cases CreateUser inserts its own user document first and, only if
// the unique index lets it (so an in-progress creation that wins is never
// overridden), takes the username document over with a compare-and-swap
// replace.
func (s *Store) CreateUser(ctx context.Context, u storage.User) error {
	_, err := s.usernames.InsertOne(ctx, usernameDoc{Username: u.Username, UserID: u.ID})
	switch {
	case err == nil:
		return s.insertClaimedUser(ctx, u)
	case !mongo.IsDuplicateKeyError(err):
		return s.wrap("claim username", err)
	}

	// The username is claimed: by a live user (duplicate), or by a creation
	// that is in progress or died half-way.
	claim, err := s.usernameOwner(ctx, u.Username)
	if errors.Is(err, storage.ErrNotFound) {
		// The claim was withdrawn meanwhile: start over once more.
		return s.createUserAfterWithdrawal(ctx, u)
	}
	if err != nil {
		return err
	}
	if err := s.userExists(ctx, claim); err == nil {
		return duplicate("username", u.Username)
	} else if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	// Orphaned or in-progress claim: whoever inserts a user document with
	// this username first wins (unique index); only the winner repoints the
	// username document.
	if _, err := s.users.InsertOne(ctx, toUserDoc(u)); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			// If a user already holds the username (a creation that won, or
			// the trace of a takeover that died before repointing), point the
			// claim at it. Never delete it: it may be an in-progress creation.
			s.repairClaim(ctx, u.Username, claim, false)
			return duplicate("user", u.ID+"/"+u.Username)
		}
		return s.wrap("insert user", err)
	}
	return s.pointUsername(ctx, u.Username, claim, u.ID)
}

// createUserAfterWithdrawal retries the claim once after the username
// document vanished between the failed insert and the read.
func (s *Store) createUserAfterWithdrawal(ctx context.Context, u storage.User) error {
	_, err := s.usernames.InsertOne(ctx, usernameDoc{Username: u.Username, UserID: u.ID})
	switch {
	case err == nil:
		return s.insertClaimedUser(ctx, u)
	case mongo.IsDuplicateKeyError(err):
		// Another creator claimed it again; let it win.
		return duplicate("username", u.Username)
	default:
		return s.wrap("claim username", err)
	}
}

// insertClaimedUser inserts u after its username was claimed for u.ID. On a
// duplicate it withdraws the claim: it repoints the username document at the
// user that really holds the username (if any, which also repairs the trace
// of a crash), or deletes it.
func (s *Store) insertClaimedUser(ctx context.Context, u storage.User) error {
	_, err := s.users.InsertOne(ctx, toUserDoc(u))
	if err == nil {
		return nil
	}
	s.repairClaim(ctx, u.Username, u.ID, true)
	if !mongo.IsDuplicateKeyError(err) {
		return s.wrap("insert user", err)
	}
	return duplicate("user", u.ID+"/"+u.Username)
}

// repairClaim fixes a username document that points at userID although that
// user's insert failed: it repoints it, by compare-and-swap, at the user that
// really holds the username, or, if none does and withdraw is set (the claim
// is the caller's own), deletes it. It is best effort: a leftover claim is
// repaired by the next CreateUser and tolerated by GetUserByUsername.
func (s *Store) repairClaim(ctx context.Context, username, userID string, withdraw bool) {
	// Finish the repair even if the caller gave up, but not forever.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var holder userDoc
	err := s.users.FindOne(ctx, bson.D{{Key: "username", Value: username}},
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Decode(&holder)
	if err == nil && holder.ID != userID {
		_, _ = s.usernames.ReplaceOne(ctx,
			bson.D{{Key: "_id", Value: username}, {Key: "user_id", Value: userID}},
			usernameDoc{Username: username, UserID: holder.ID})
		return
	}
	if withdraw && errors.Is(err, mongo.ErrNoDocuments) {
		_, _ = s.usernames.DeleteOne(ctx, bson.D{{Key: "_id", Value: username}, {Key: "user_id", Value: userID}})
	}
}

// pointUsername makes the username document point at userID, whose user
// document already holds the username (so any other target is stale). from
// is the target last seen.
func (s *Store) pointUsername(ctx context.Context, username, from, userID string) error {
	for range maxClaimAttempts {
		if from == userID {
			return nil
		}
		var res *mongo.UpdateResult
		var err error
		if from == "" {
			_, err = s.usernames.InsertOne(ctx, usernameDoc{Username: username, UserID: userID})
			if err == nil {
				return nil
			}
			if !mongo.IsDuplicateKeyError(err) {
				return s.wrap("claim username", err)
			}
		} else {
			res, err = s.usernames.ReplaceOne(ctx,
				bson.D{{Key: "_id", Value: username}, {Key: "user_id", Value: from}},
				usernameDoc{Username: username, UserID: userID})
			if err != nil {
				return s.wrap("take over username", err)
			}
			if res.MatchedCount == 1 {
				return nil
			}
		}
		from, err = s.usernameOwner(ctx, username)
		if errors.Is(err, storage.ErrNotFound) {
			from = ""
		} else if err != nil {
			return err
		}
	}
	return fmt.Errorf("mongo: take over username %q: too many concurrent changes", username)
}

// usernameOwner returns the user id the username document points at, or
// storage.ErrNotFound.
func (s *Store) usernameOwner(ctx context.Context, username string) (string, error) {
	var d usernameDoc
	err := s.usernames.FindOne(ctx, bson.D{{Key: "_id", Value: username}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return "", notFound("username", username)
	}
	if err != nil {
		return "", s.wrap("get username", err)
	}
	return d.UserID, nil
}

// userExists returns nil if a user with the id exists, storage.ErrNotFound if
// not.
func (s *Store) userExists(ctx context.Context, id string) error {
	err := s.users.FindOne(ctx, bson.D{{Key: "_id", Value: id}},
		options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Err()
	if errors.Is(err, mongo.ErrNoDocuments) {
		return notFound("user", id)
	}
	if err != nil {
		return s.wrap("get user", err)
	}
	return nil
}

// GetUser returns the user with the given ID, or storage.ErrNotFound.
func (s *Store) GetUser(ctx context.Context, id string) (storage.User, error) {
	var d userDoc
	err := s.users.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return storage.User{}, notFound("user", id)
	}
	if err != nil {
		return storage.User{}, s.wrap("get user", err)
	}
	return d.record(), nil
}

// GetUserByUsername returns the user with the given username (exact,
// case-sensitive), or storage.ErrNotFound. It looks the username document up
// by _id, then the user by _id. Only if the username document points at a
// missing user (a creation in progress or interrupted) does it fall back to
// a query on the unique users.username index.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (storage.User, error) {
	id, err := s.usernameOwner(ctx, username)
	if err != nil {
		return storage.User{}, err
	}
	u, err := s.GetUser(ctx, id)
	if err == nil && u.Username == username {
		return u, nil
	}
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return storage.User{}, err
	}
	var d userDoc
	err = s.users.FindOne(ctx, bson.D{{Key: "username", Value: username}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return storage.User{}, notFound("username", username)
	}
	if err != nil {
		return storage.User{}, s.wrap("get user by username", err)
	}
	return d.record(), nil
}

// ListUsers returns every user ordered by username.
func (s *Store) ListUsers(ctx context.Context) ([]storage.User, error) {
	return findAll[userDoc](ctx, s, s.users, "list users", bson.D{}, options.Find().SetSort(bson.D{{Key: "username", Value: 1}}))
}

// SetUserPassword replaces the password hash and sets PasswordChangedAt and
// UpdatedAt to changedAt, in one update. storage.ErrNotFound if absent.
func (s *Store) SetUserPassword(ctx context.Context, id, hash string, changedAt time.Time) error {
	return s.updateUser(ctx, "set password", id, bson.D{
		{Key: "password_hash", Value: hash},
		{Key: "hash_scheme", Value: storage.PasswordHashScheme(hash)},
		{Key: "password_changed_at", Value: changedAt.UTC()},
		{Key: "updated_at", Value: changedAt.UTC()},
	})
}

// SetUserDisabled sets Disabled and UpdatedAt. storage.ErrNotFound if absent.
func (s *Store) SetUserDisabled(ctx context.Context, id string, disabled bool, at time.Time) error {
	return s.updateUser(ctx, "set disabled", id, bson.D{
		{Key: "disabled", Value: disabled},
		{Key: "updated_at", Value: at.UTC()},
	})
}

// updateUser applies $set to the user with the id.
func (s *Store) updateUser(ctx context.Context, op, id string, set bson.D) error {
	res, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: id}}, bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return s.wrap(op, err)
	}
	if res.MatchedCount == 0 {
		return notFound("user", id)
	}
	return nil
}

// RehashUserPassword replaces the hash only if it still equals oldHash, in one
// conditional update; storage.ErrConflict if it does not, storage.ErrNotFound
// if the user is absent. PasswordChangedAt and UpdatedAt are left alone.
func (s *Store) RehashUserPassword(ctx context.Context, id, oldHash, newHash string) error {
	res, err := s.users.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: id}, {Key: "password_hash", Value: oldHash}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "password_hash", Value: newHash}, {Key: "hash_scheme", Value: storage.PasswordHashScheme(newHash)}}}})
	if err != nil {
		return s.wrap("rehash password", err)
	}
	if res.MatchedCount == 1 {
		return nil
	}
	if err := s.userExists(ctx, id); err != nil {
		return err
	}
	return conflict("password hash of user", id)
}

// SetUserAdmin sets Admin and UpdatedAt. storage.ErrNotFound if absent.
func (s *Store) SetUserAdmin(ctx context.Context, id string, admin bool, at time.Time) error {
	return s.updateUser(ctx, "set admin", id, bson.D{
		{Key: "admin", Value: admin},
		{Key: "updated_at", Value: at.UTC()},
	})
}

// PasswordHashSamples returns one hash per storage.PasswordHashScheme: a
// distinct query on the indexed hash_scheme field, one indexed findOne
// per scheme, and the hashes of any user documents still without the
// field (written by an older version after Open's backfill ran).
func (s *Store) PasswordHashSamples(ctx context.Context) ([]string, error) {
	var schemes []string
	if err := s.users.Distinct(ctx, "hash_scheme", bson.D{}).Decode(&schemes); err != nil {
		return nil, s.wrap("distinct password hash schemes", err)
	}
	hashOnly := bson.D{{Key: "password_hash", Value: 1}}
	var out []string
	for _, sc := range schemes {
		var d userDoc
		err := s.users.FindOne(ctx, bson.D{{Key: "hash_scheme", Value: sc}}, options.FindOne().SetProjection(hashOnly)).Decode(&d)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue // its last user changed password meanwhile
		}
		if err != nil {
			return nil, s.wrap("sample password hash", err)
		}
		out = append(out, d.PasswordHash)
	}
	legacy, err := s.usersWithoutScheme(ctx)
	if err != nil {
		return nil, err
	}
	for _, d := range legacy {
		out = append(out, d.PasswordHash)
	}
	return out, nil
}

// usersWithoutScheme returns the id and hash of every user document
// without a hash_scheme field.
func (s *Store) usersWithoutScheme(ctx context.Context) ([]userDoc, error) {
	cur, err := s.users.Find(ctx, bson.D{{Key: "hash_scheme", Value: bson.D{{Key: "$exists", Value: false}}}},
		options.Find().SetProjection(bson.D{{Key: "password_hash", Value: 1}}))
	if err != nil {
		return nil, s.wrap("find users without hash scheme", err)
	}
	var docs []userDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.wrap("find users without hash scheme", err)
	}
	return docs, nil
}

// backfillHashSchemes sets hash_scheme on user documents written before
// the field existed, each by a conditional update on its unchanged hash
// (a document whose hash changed meanwhile got its scheme from that
// change). It is idempotent; Open runs it, so after the first Open of a
// new version it finds nothing.
func (s *Store) backfillHashSchemes(ctx context.Context) error {
	docs, err := s.usersWithoutScheme(ctx)
	if err != nil {
		return err
	}
	for _, d := range docs {
		_, err := s.users.UpdateOne(ctx,
			bson.D{{Key: "_id", Value: d.ID}, {Key: "password_hash", Value: d.PasswordHash}, {Key: "hash_scheme", Value: bson.D{{Key: "$exists", Value: false}}}},
			bson.D{{Key: "$set", Value: bson.D{{Key: "hash_scheme", Value: storage.PasswordHashScheme(d.PasswordHash)}}}})
		if err != nil {
			return s.wrap("set hash scheme of user "+d.ID, err)
		}
	}
	return nil
}
