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

// maxUpsertAttempts bounds the loops that retry after losing an upsert race;
// each retry means another writer created or renewed the record meanwhile.
const maxUpsertAttempts = 32

// DenyAccessToken records jti as revoked until expiresAt. It is idempotent;
// a later expiresAt extends the entry, an earlier one never shortens it.
func (s *Store) DenyAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	for range maxUpsertAttempts {
		_, err := s.denyList.UpdateOne(ctx,
			bson.D{{Key: "_id", Value: jti}},
			bson.D{{Key: "$max", Value: bson.D{{Key: "expires_at", Value: expiresAt.UTC()}}}},
			options.UpdateOne().SetUpsert(true))
		if err == nil {
			return nil
		}
		// Two upserts of a new _id can race; the loser retries as an update.
		if !mongo.IsDuplicateKeyError(err) {
			return s.wrap("deny access token", err)
		}
	}
	return fmt.Errorf("mongo: deny access token %q: too many concurrent writers", jti)
}

// IsAccessTokenDenied reports whether jti is denied and unexpired at now.
func (s *Store) IsAccessTokenDenied(ctx context.Context, jti string, now time.Time) (bool, error) {
	var d deniedDoc
	err := s.denyList.FindOne(ctx, bson.D{{Key: "_id", Value: jti}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return false, nil
	}
	if err != nil {
		return false, s.wrap("check denied access token", err)
	}
	return live(d.ExpiresAt, now), nil
}

// maxAttemptRounds bounds recordAttempt's compare-and-swap loop. Each
// lost round means another attempt was counted, and once the counter locks
// every caller leaves, so a few dozen concurrent callers never exhaust it.
const maxAttemptRounds = 128

// recordAttempt checks the lock and counts the attempt on the counter key
// in login_failures, as storage.LoginThrottleStore.AdmitLogin describes,
// and reports whether it is admitted.
//
// The common case is one findOneAndUpdate with upsert that increments a
// counter that is absent (the upsert creates it with count 1), or live
// with a count below the last one before lockFor first locks, so that the
// attempt neither locks nor can follow one that did (see
// firstLockingCount). Otherwise (an expired counter, or one close to or
// in a lock: the upsert then fails on the duplicate _id) it reads the
// counter, and if it is live and unlocked, increments it with one
// findOneAndUpdate ($inc count, $set the times and lock) filtered on the
// count and expiry it read: a single-document compare-and-swap, retried
// when another caller changed the counter first. An absent or expired
// counter is replaced by a fresh one through a replace with upsert
// filtered on {_id, expires_at <= now}.
func (s *Store) recordAttempt(ctx context.Context, key string, now time.Time, ttl time.Duration, lockFor func(int) time.Duration) (storage.LoginFailures, bool, error) {
	now = now.UTC().Truncate(time.Millisecond)
	expires := now.Add(ttl)
	if lockAt := firstLockingCount(lockFor); lockAt != 1 {
		filter := bson.D{{Key: "_id", Value: key}, {Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now}}}}
		if lockAt > 1 {
			filter = append(filter, bson.E{Key: "count", Value: bson.D{{Key: "$lt", Value: lockAt - 1}}})
		}
		var d failuresDoc
		err := s.failures.FindOneAndUpdate(ctx, filter, bson.D{
			{Key: "$inc", Value: bson.D{{Key: "count", Value: int64(1)}}},
			{Key: "$set", Value: bson.D{{Key: "last_failure", Value: now}, {Key: "expires_at", Value: expires}}},
		}, options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)).Decode(&d)
		if err == nil {
			return d.record(), true, nil
		}
		if !mongo.IsDuplicateKeyError(err) && !errors.Is(err, mongo.ErrNoDocuments) {
			return storage.LoginFailures{}, false, s.wrap("record login attempt", err)
		}
	}
	for range maxAttemptRounds {
		var d failuresDoc
		err := s.failures.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&d)
		switch {
		case errors.Is(err, mongo.ErrNoDocuments) || (err == nil && !live(d.ExpiresAt, now)):
			fresh := failuresDoc{Key: key, Count: 1, LastFailure: now, ExpiresAt: expires, LockedUntil: lockedUntil(now, lockFor, 1)}
			_, err = s.failures.ReplaceOne(ctx,
				bson.D{{Key: "_id", Value: key}, {Key: "expires_at", Value: bson.D{{Key: "$lte", Value: now}}}},
				fresh, options.Replace().SetUpsert(true))
			if err == nil {
				return fresh.record(), true, nil
			}
			if !mongo.IsDuplicateKeyError(err) {
				return storage.LoginFailures{}, false, s.wrap("record login attempt", err)
			}
			continue
		case err != nil:
			return storage.LoginFailures{}, false, s.wrap("record login attempt", err)
		}
		if d.LockedUntil != nil && d.LockedUntil.After(now) {
			return d.record(), false, nil
		}
		set := bson.D{{Key: "last_failure", Value: now}, {Key: "expires_at", Value: expires}}
		update := bson.D{{Key: "$inc", Value: bson.D{{Key: "count", Value: int64(1)}}}}
		if l := lockedUntil(now, lockFor, d.Count+1); l != nil {
			set = append(set, bson.E{Key: "locked_until", Value: *l})
		} else {
			update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "locked_until", Value: ""}}})
		}
		update = append(update, bson.E{Key: "$set", Value: set})
		var after failuresDoc
		err = s.failures.FindOneAndUpdate(ctx,
			bson.D{{Key: "_id", Value: key}, {Key: "count", Value: d.Count}, {Key: "expires_at", Value: d.ExpiresAt}},
			update, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&after)
		if err == nil {
			return after.record(), true, nil
		}
		if !errors.Is(err, mongo.ErrNoDocuments) {
			return storage.LoginFailures{}, false, s.wrap("record login attempt", err)
		}
	}
	return storage.LoginFailures{}, false, fmt.Errorf("mongo: record login attempt for %q: too many concurrent writers", key)
}

// lockedUntil is the end of the lock that the n-th counted attempt at now
// starts, or nil when lockFor does not lock at n.
func lockedUntil(now time.Time, lockFor func(int) time.Duration, n int64) *time.Time {
	if d := storage.LockDuration(lockFor, int(n)); d > 0 {
		t := now.Add(d)
		return &t
	}
	return nil
}

// maxLockProbe bounds the search for the first count that locks (see
// firstLockingCount).
const maxLockProbe = 64

// firstLockingCount returns the smallest count n >= 1 for which lockFor
// locks, or 0 if none up to maxLockProbe does.
func firstLockingCount(lockFor func(int) time.Duration) int64 {
	for n := 1; n <= maxLockProbe; n++ {
		if storage.LockDuration(lockFor, n) > 0 {
			return int64(n)
		}
	}
	return 0
}

// AdmitLogin counts the attempt and returns the user; see
// storage.LoginThrottleStore.
//
// A user's counter lives in the user document (field login), so the
// common case is one findOneAndUpdate on the users collection, found by
// its unique username index, that increments the counter and returns the
// user: it applies when the counter is absent, or live and the attempt
// cannot lock (its count is below the first count for which lockFor
// locks, so no attempt of this counter locked either). Otherwise (a
// counter expired or close to a lock, or no such user) the slow path
// reads the user and swaps its counter by compare-and-swap as
// recordAttempt does; a name no user holds is counted in
// login_failures under storage.LoginKey(username).
func (s *Store) AdmitLogin(ctx context.Context, username string, now time.Time, ttl time.Duration, lockFor func(int) time.Duration) (storage.LoginAdmission, error) {
	now = now.UTC().Truncate(time.Millisecond)
	key := storage.LoginKey(username)
	expires := now.Add(ttl)
	admit := func(d userDoc) storage.LoginAdmission {
		return storage.LoginAdmission{Failures: d.Login.record(key), Admitted: true, Found: true, User: d.record()}
	}
	if filter := fastLoginFilter(username, now, firstLockingCount(lockFor)); filter != nil {
		var d userDoc
		err := s.users.FindOneAndUpdate(ctx, filter, bson.D{
			{Key: "$inc", Value: bson.D{{Key: "login.count", Value: int64(1)}}},
			{Key: "$set", Value: bson.D{{Key: "login.last_failure", Value: now}, {Key: "login.expires_at", Value: expires}}},
		}, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
		if err == nil && d.Login != nil {
			return admit(d), nil
		}
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return storage.LoginAdmission{}, s.wrap("admit login", err)
		}
	}
	for range maxAttemptRounds {
		var d userDoc
		err := s.users.FindOne(ctx, bson.D{{Key: "username", Value: username}}).Decode(&d)
		if errors.Is(err, mongo.ErrNoDocuments) {
			f, admitted, err := s.recordAttempt(ctx, key, now, ttl, lockFor)
			if err != nil {
				return storage.LoginAdmission{}, err
			}
			return storage.LoginAdmission{Failures: f, Admitted: admitted}, nil
		}
		if err != nil {
			return storage.LoginAdmission{}, s.wrap("admit login", err)
		}
		var filter, update bson.D
		if d.Login == nil || !live(d.Login.ExpiresAt, now) {
			fresh := loginDoc{Count: 1, LastFailure: now, ExpiresAt: expires, LockedUntil: lockedUntil(now, lockFor, 1)}
			filter = bson.D{{Key: "_id", Value: d.ID}, {Key: "username", Value: username}, {Key: "$or", Value: bson.A{
				bson.D{{Key: "login", Value: bson.D{{Key: "$exists", Value: false}}}},
				bson.D{{Key: "login.expires_at", Value: bson.D{{Key: "$lte", Value: now}}}},
			}}}
			update = bson.D{{Key: "$set", Value: bson.D{{Key: "login", Value: fresh}}}}
		} else {
			if d.Login.LockedUntil != nil && d.Login.LockedUntil.After(now) {
				return storage.LoginAdmission{Failures: d.Login.record(key), Found: true, User: d.record()}, nil
			}
			set := bson.D{{Key: "login.last_failure", Value: now}, {Key: "login.expires_at", Value: expires}}
			update = bson.D{{Key: "$inc", Value: bson.D{{Key: "login.count", Value: int64(1)}}}}
			if l := lockedUntil(now, lockFor, d.Login.Count+1); l != nil {
				set = append(set, bson.E{Key: "login.locked_until", Value: *l})
			} else {
				update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "login.locked_until", Value: ""}}})
			}
			update = append(update, bson.E{Key: "$set", Value: set})
			filter = bson.D{{Key: "_id", Value: d.ID}, {Key: "username", Value: username},
				{Key: "login.count", Value: d.Login.Count}, {Key: "login.expires_at", Value: d.Login.ExpiresAt}}
		}
		var after userDoc
		err = s.users.FindOneAndUpdate(ctx, filter, update, options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&after)
		if err == nil && after.Login != nil {
			return admit(after), nil
		}
		if err != nil && !errors.Is(err, mongo.ErrNoDocuments) {
			return storage.LoginAdmission{}, s.wrap("admit login", err)
		}
	}
	return storage.LoginAdmission{}, fmt.Errorf("mongo: admit login for %q: too many concurrent writers", username)
}

// fastLoginFilter selects the user holding username when its counter can
// take the next attempt by a plain increment that does not lock: the
// counter is absent (the attempt gets count 1) or live with count+1 below
// lockAt, the first count that locks (0: none does). It returns nil when
// no counter qualifies (lockFor locks from the first or second attempt).
func fastLoginFilter(username string, now time.Time, lockAt int64) bson.D {
	var or bson.A
	if lockAt == 0 || lockAt > 1 {
		or = append(or, bson.D{{Key: "login", Value: bson.D{{Key: "$exists", Value: false}}}})
	}
	if lockAt == 0 {
		or = append(or, bson.D{{Key: "login.expires_at", Value: bson.D{{Key: "$gt", Value: now}}}})
	} else if lockAt > 2 {
		or = append(or, bson.D{
			{Key: "login.expires_at", Value: bson.D{{Key: "$gt", Value: now}}},
			{Key: "login.count", Value: bson.D{{Key: "$lt", Value: lockAt - 1}}},
		})
	}
	if len(or) == 0 {
		return nil
	}
	return bson.D{{Key: "username", Value: username}, {Key: "$or", Value: or}}
}

// ResetLogin removes the counter from the user document (a name no user
// held keeps its login_failures counter until it expires: only a user's
// login succeeds).
func (s *Store) ResetLogin(ctx context.Context, _, userID string) error {
	if _, err := s.users.UpdateOne(ctx, bson.D{{Key: "_id", Value: userID}},
		bson.D{{Key: "$unset", Value: bson.D{{Key: "login", Value: ""}}}}); err != nil {
		return s.wrap("reset login", err)
	}
	return nil
}

// Purge deletes refresh families, deny-list entries, login-failure
// counters and JWKS consumers whose expires_at is at or before now, sessions
// whose expires_at or idle_expires_at is, and authorization codes whose
// purge_at is, one DeleteMany per collection. Unexpired records are untouched. On an error
// the counts of the collections already purged are returned with it.
func (s *Store) Purge(ctx context.Context, now time.Time) (storage.PurgeStats, error) {
	var stats storage.PurgeStats
	filter := bson.D{{Key: "expires_at", Value: bson.D{{Key: "$lte", Value: now.UTC()}}}}
	for _, p := range []struct {
		coll  *mongo.Collection
		count *int
	}{
		{s.denyList, &stats.DeniedTokens},
		{s.failures, &stats.LoginFailures},
		{s.consumers, &stats.JWKSConsumers},
	} {
		res, err := p.coll.DeleteMany(ctx, filter)
		if err != nil {
			return stats, s.wrap("purge "+p.coll.Name(), err)
		}
		*p.count = int(res.DeletedCount)
	}
	lte := bson.D{{Key: "$lte", Value: now.UTC()}}
	for _, p := range []struct {
		coll   *mongo.Collection
		filter bson.D
		count  *int
	}{
		// A session dies at the earlier of its two expiries.
		{s.sessions, bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: "expires_at", Value: lte}},
			bson.D{{Key: "idle_expires_at", Value: lte}},
		}}}, &stats.Sessions},
		// A family dies at its absolute expiry or when its current token
		// idles out.
		{s.families, bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: "expires_at", Value: lte}},
			bson.D{{Key: "current_expires_at", Value: lte}},
		}}}, &stats.Families},
		// Used codes are kept until purge_at to detect reuse.
		{s.codes, bson.D{{Key: "purge_at", Value: lte}}, &stats.AuthCodes},
	} {
		res, err := p.coll.DeleteMany(ctx, p.filter)
		if err != nil {
			return stats, s.wrap("purge "+p.coll.Name(), err)
		}
		*p.count = int(res.DeletedCount)
	}
	return stats, nil
}
