package mongo

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/sigilauth/sigil/storage"
)

// Sessions and codes are keyed by the base64url (no padding) encoding of
// their SHA-256 hash; the hashes stay out of error messages.

// hashID returns the _id of a session or code hash ("" for none).
func hashID(hash []byte) string {
	if len(hash) == 0 {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString(hash)
}

// unhashID reverses hashID; an undecodable or empty id yields nil.
func unhashID(id string) []byte {
	if id == "" {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err != nil {
		return nil
	}
	return b
}

// consentID returns the _id of the consent of userID for clientID; the
// length prefix keeps it unambiguous whatever the ids contain.
func consentID(userID, clientID string) string {
	return strconv.Itoa(len(userID)) + ":" + userID + ":" + clientID
}

// sessionDoc is a document of the sessions collection. Both expiries are
// always stored (TTL indexes and expiry filters use them): a session without
// an idle limit stores its absolute expiry as idle_expires_at, with no_idle
// set so that it reads back as zero.
type sessionDoc struct {
	ID            string     `bson:"_id"`
	UserID        string     `bson:"user_id"`
	AuthTime      *time.Time `bson:"auth_time,omitempty"`
	AMR           []string   `bson:"amr,omitempty"`
	CreatedAt     *time.Time `bson:"created_at,omitempty"`
	LastSeen      *time.Time `bson:"last_seen,omitempty"`
	ExpiresAt     time.Time  `bson:"expires_at"`
	IdleExpiresAt time.Time  `bson:"idle_expires_at"`
	NoIdle        bool       `bson:"no_idle,omitempty"`
	Clients       []string   `bson:"clients"`
}

func toSessionDoc(s storage.Session) sessionDoc {
	d := sessionDoc{
		ID:            hashID(s.IDHash),
		UserID:        s.UserID,
		AuthTime:      tp(s.AuthTime),
		AMR:           clone(s.AMR),
		CreatedAt:     tp(s.CreatedAt),
		LastSeen:      tp(s.LastSeen),
		ExpiresAt:     s.ExpiresAt.UTC(),
		IdleExpiresAt: s.IdleExpiresAt.UTC(),
		Clients:       clone(s.Clients),
	}
	if s.IdleExpiresAt.IsZero() {
		d.IdleExpiresAt, d.NoIdle = d.ExpiresAt, true
	}
	if d.Clients == nil {
		d.Clients = []string{} // $addToSet needs an array
	}
	return d
}

func (d sessionDoc) record() storage.Session {
	s := storage.Session{
		IDHash:        unhashID(d.ID),
		UserID:        d.UserID,
		AuthTime:      ft(d.AuthTime),
		AMR:           clone(d.AMR),
		CreatedAt:     ft(d.CreatedAt),
		LastSeen:      ft(d.LastSeen),
		ExpiresAt:     fv(d.ExpiresAt),
		IdleExpiresAt: fv(d.IdleExpiresAt),
		Clients:       clone(d.Clients),
	}
	if d.NoIdle {
		s.IdleExpiresAt = time.Time{}
	}
	return s
}

// live reports whether the session is alive at now by both expiries.
func (d sessionDoc) live(now time.Time) bool {
	return live(d.ExpiresAt, now) && live(d.IdleExpiresAt, now)
}

// liveSession is the filter matching the session id if it is alive at now.
func liveSession(id string, now time.Time) bson.D {
	return bson.D{
		{Key: "_id", Value: id},
		{Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now.UTC()}}},
		{Key: "idle_expires_at", Value: bson.D{{Key: "$gt", Value: now.UTC()}}},
	}
}

// authCodeDoc is a document of the auth_codes collection. purge_at (TTL and
// Purge) is expires_at while the code is unused and used_at+retention once
// used.
type authCodeDoc struct {
	ID              string     `bson:"_id"`
	ClientID        string     `bson:"client_id"`
	RedirectURI     string     `bson:"redirect_uri"`
	CodeChallenge   string     `bson:"code_challenge"`
	Scopes          []string   `bson:"scopes,omitempty"`
	Nonce           string     `bson:"nonce,omitempty"`
	SessionIDHash   []byte     `bson:"session_id_hash,omitempty"`
	UserID          string     `bson:"user_id"`
	AuthTime        *time.Time `bson:"auth_time,omitempty"`
	IssuedAt        *time.Time `bson:"issued_at,omitempty"`
	ExpiresAt       time.Time  `bson:"expires_at"`
	Used            bool       `bson:"used"`
	UsedAt          *time.Time `bson:"used_at,omitempty"`
	PurgeAt         time.Time  `bson:"purge_at"`
	FamilyID        string     `bson:"family_id,omitempty"`
	AccessJTI       string     `bson:"access_jti,omitempty"`
	AccessExpiresAt *time.Time `bson:"access_expires_at,omitempty"`
}

func toAuthCodeDoc(c storage.AuthCode) authCodeDoc {
	return authCodeDoc{
		ID:              hashID(c.Hash),
		ClientID:        c.ClientID,
		RedirectURI:     c.RedirectURI,
		CodeChallenge:   c.CodeChallenge,
		Scopes:          clone(c.Scopes),
		Nonce:           c.Nonce,
		SessionIDHash:   clone(c.SessionIDHash),
		UserID:          c.UserID,
		AuthTime:        tp(c.AuthTime),
		IssuedAt:        tp(c.IssuedAt),
		ExpiresAt:       c.ExpiresAt.UTC(),
		PurgeAt:         c.ExpiresAt.UTC(),
		FamilyID:        c.FamilyID,
		AccessJTI:       c.AccessJTI,
		AccessExpiresAt: tp(c.AccessExpiresAt),
	}
}

func (d authCodeDoc) record() storage.AuthCode {
	return storage.AuthCode{
		Hash:            unhashID(d.ID),
		ClientID:        d.ClientID,
		RedirectURI:     d.RedirectURI,
		CodeChallenge:   d.CodeChallenge,
		Scopes:          clone(d.Scopes),
		Nonce:           d.Nonce,
		SessionIDHash:   clone(d.SessionIDHash),
		UserID:          d.UserID,
		AuthTime:        ft(d.AuthTime),
		IssuedAt:        ft(d.IssuedAt),
		ExpiresAt:       fv(d.ExpiresAt),
		UsedAt:          ft(d.UsedAt),
		FamilyID:        d.FamilyID,
		AccessJTI:       d.AccessJTI,
		AccessExpiresAt: ft(d.AccessExpiresAt),
	}
}

// consentDoc is a document of the consents collection.
type consentDoc struct {
	ID        string     `bson:"_id"`
	UserID    string     `bson:"user_id"`
	ClientID  string     `bson:"client_id"`
	Scopes    []string   `bson:"scopes,omitempty"`
	GrantedAt *time.Time `bson:"granted_at,omitempty"`
}

func (d consentDoc) record() storage.Consent {
	return storage.Consent{UserID: d.UserID, ClientID: d.ClientID, Scopes: clone(d.Scopes), GrantedAt: ft(d.GrantedAt)}
}

// errEmptyHash is returned for an empty session or code hash.
var errEmptyHash = errors.New("mongo: empty hash")

// CreateSession stores sess. storage.ErrDuplicate if its IDHash exists.
func (s *Store) CreateSession(ctx context.Context, sess storage.Session) error {
	if len(sess.IDHash) == 0 {
		return errEmptyHash
	}
	if _, err := s.sessions.InsertOne(ctx, toSessionDoc(sess)); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("mongo: session: %w", storage.ErrDuplicate)
		}
		return s.wrap("insert session", err)
	}
	return nil
}

// sessionNotFound is storage.ErrNotFound for a session, without its hash.
func sessionNotFound() error { return fmt.Errorf("mongo: session: %w", storage.ErrNotFound) }

// GetSession returns the session, or storage.ErrNotFound if absent or
// expired (by either lifetime) at now.
func (s *Store) GetSession(ctx context.Context, idHash []byte, now time.Time) (storage.Session, error) {
	var d sessionDoc
	err := s.sessions.FindOne(ctx, bson.D{{Key: "_id", Value: hashID(idHash)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && !d.live(now)) {
		return storage.Session{}, sessionNotFound()
	}
	if err != nil {
		return storage.Session{}, s.wrap("get session", err)
	}
	return d.record(), nil
}

// TouchSession sets last_seen and idle_expires_at with one findOneAndUpdate
// filtered on the session being alive at now, and returns the result.
// storage.ErrNotFound if absent or expired at now.
func (s *Store) TouchSession(ctx context.Context, idHash []byte, now time.Time, idleTTL time.Duration) (storage.Session, error) {
	var d sessionDoc
	err := s.sessions.FindOneAndUpdate(ctx, liveSession(hashID(idHash), now),
		bson.D{{Key: "$set", Value: bson.D{
			{Key: "last_seen", Value: now.UTC()},
			{Key: "idle_expires_at", Value: now.Add(idleTTL).UTC()},
			{Key: "no_idle", Value: false},
		}}},
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return storage.Session{}, sessionNotFound()
	}
	if err != nil {
		return storage.Session{}, s.wrap("touch session", err)
	}
	return d.record(), nil
}

// AddSessionClient adds clientID with one $addToSet update filtered on the
// session being alive at now. storage.ErrNotFound if absent or expired at
// now.
func (s *Store) AddSessionClient(ctx context.Context, idHash []byte, clientID string, now time.Time) error {
	res, err := s.sessions.UpdateOne(ctx, liveSession(hashID(idHash), now),
		bson.D{{Key: "$addToSet", Value: bson.D{{Key: "clients", Value: clientID}}}})
	if err != nil {
		return s.wrap("add session client", err)
	}
	if res.MatchedCount == 0 {
		return sessionNotFound()
	}
	return nil
}

// DeleteSession deletes the session with one findOneAndDelete and returns
// it. storage.ErrNotFound if it was absent or expired at now (an expired one
// is deleted all the same).
func (s *Store) DeleteSession(ctx context.Context, idHash []byte, now time.Time) (storage.Session, error) {
	var d sessionDoc
	err := s.sessions.FindOneAndDelete(ctx, bson.D{{Key: "_id", Value: hashID(idHash)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) || (err == nil && !d.live(now)) {
		return storage.Session{}, sessionNotFound()
	}
	if err != nil {
		return storage.Session{}, s.wrap("delete session", err)
	}
	return d.record(), nil
}

// DeleteUserSessions finds the sessions of userID (user_id index) and
// deletes each with its own findOneAndDelete, returning those that were
// alive at now. A session deleted concurrently by someone else is not
// returned.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string, now time.Time) ([]storage.Session, error) {
	cur, err := s.sessions.Find(ctx, bson.D{{Key: "user_id", Value: userID}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, s.wrap("list sessions of user", err)
	}
	var ids []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &ids); err != nil {
		return nil, s.wrap("list sessions of user", err)
	}
	var out []storage.Session
	for _, id := range ids {
		var d sessionDoc
		err := s.sessions.FindOneAndDelete(ctx, bson.D{{Key: "_id", Value: id.ID}, {Key: "user_id", Value: userID}}).Decode(&d)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return out, s.wrap("delete session of user", err)
		}
		if d.live(now) {
			out = append(out, d.record())
		}
	}
	return out, nil
}

// CreateAuthCode stores c unused. storage.ErrDuplicate if c.Hash exists.
func (s *Store) CreateAuthCode(ctx context.Context, c storage.AuthCode) error {
	if len(c.Hash) == 0 {
		return errEmptyHash
	}
	if _, err := s.codes.InsertOne(ctx, toAuthCodeDoc(c)); err != nil {
		if mongo.IsDuplicateKeyError(err) {
			return fmt.Errorf("mongo: authorization code: %w", storage.ErrDuplicate)
		}
		return s.wrap("insert authorization code", err)
	}
	return nil
}

// codeNotFound is storage.ErrNotFound for a code, without its hash.
func codeNotFound() error { return fmt.Errorf("mongo: authorization code: %w", storage.ErrNotFound) }

// ConsumeAuthCode marks the code used, and records iss on it, with one
// findOneAndUpdate filtered on
// {_id, used: false, expires_at > now}, so of concurrent callers exactly one
// matches. If nothing matched it reads the code: a used code still within
// its retention is returned with storage.ErrCodeUsed; otherwise
// storage.ErrNotFound.
func (s *Store) ConsumeAuthCode(ctx context.Context, hash []byte, now time.Time, iss storage.AuthCodeIssue) (storage.AuthCode, error) {
	id := hashID(hash)
	set := bson.D{
		{Key: "used", Value: true},
		{Key: "used_at", Value: now.UTC()},
		{Key: "purge_at", Value: now.Add(storage.AuthCodeRetention).UTC()},
		{Key: "family_id", Value: iss.FamilyID},
		{Key: "access_jti", Value: iss.AccessJTI},
	}
	update := bson.D{{Key: "$set", Value: set}}
	if iss.AccessExpiresAt.IsZero() {
		update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "access_expires_at", Value: ""}}})
	} else {
		update[0].Value = append(set, bson.E{Key: "access_expires_at", Value: iss.AccessExpiresAt.UTC()})
	}
	var d authCodeDoc
	err := s.codes.FindOneAndUpdate(ctx,
		bson.D{
			{Key: "_id", Value: id},
			{Key: "used", Value: false},
			{Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now.UTC()}}},
		},
		update,
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	if err == nil {
		return d.record(), nil
	}
	if !errors.Is(err, mongo.ErrNoDocuments) {
		return storage.AuthCode{}, s.wrap("consume authorization code", err)
	}
	d = authCodeDoc{}
	err = s.codes.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d)
	switch {
	case errors.Is(err, mongo.ErrNoDocuments):
		return storage.AuthCode{}, codeNotFound()
	case err != nil:
		return storage.AuthCode{}, s.wrap("consume authorization code", err)
	case d.Used && live(d.PurgeAt, now):
		return d.record(), fmt.Errorf("mongo: consume authorization code: %w", storage.ErrCodeUsed)
	default: // unused and expired, or used and past retention
		return storage.AuthCode{}, codeNotFound()
	}
}

// GetConsent returns the consent of userID for clientID, or
// storage.ErrNotFound.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (storage.Consent, error) {
	var d consentDoc
	err := s.consents.FindOne(ctx, bson.D{{Key: "_id", Value: consentID(userID, clientID)}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return storage.Consent{}, notFound("consent", userID+"/"+clientID)
	}
	if err != nil {
		return storage.Consent{}, s.wrap("get consent", err)
	}
	return d.record(), nil
}

// SaveConsent stores c with one replace-with-upsert by _id, replacing any
// consent of the same user and client. A duplicate key (two concurrent first
// saves) is retried as a plain replace.
func (s *Store) SaveConsent(ctx context.Context, c storage.Consent) error {
	d := consentDoc{
		ID: consentID(c.UserID, c.ClientID), UserID: c.UserID, ClientID: c.ClientID,
		Scopes: clone(c.Scopes), GrantedAt: tp(c.GrantedAt),
	}
	for range maxUpsertAttempts {
		_, err := s.consents.ReplaceOne(ctx, bson.D{{Key: "_id", Value: d.ID}}, d, options.Replace().SetUpsert(true))
		if err == nil {
			return nil
		}
		if !mongo.IsDuplicateKeyError(err) {
			return s.wrap("save consent", err)
		}
	}
	return fmt.Errorf("mongo: save consent %q: too many concurrent writers", c.UserID+"/"+c.ClientID)
}

// ListConsents returns the consents of userID (user_id index) ordered by
// client id.
func (s *Store) ListConsents(ctx context.Context, userID string) ([]storage.Consent, error) {
	return findAll[consentDoc](ctx, s, s.consents, "list consents", bson.D{{Key: "user_id", Value: userID}},
		options.Find().SetSort(bson.D{{Key: "client_id", Value: 1}}))
}

// DeleteConsent forgets the consent of userID for clientID.
// storage.ErrNotFound if absent.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	res, err := s.consents.DeleteOne(ctx, bson.D{{Key: "_id", Value: consentID(userID, clientID)}})
	if err != nil {
		return s.wrap("delete consent", err)
	}
	if res.DeletedCount == 0 {
		return notFound("consent", userID+"/"+clientID)
	}
	return nil
}

// RevokeSessionFamilies revokes every unrevoked family of the session with
// one updateMany on the session_id index (each document changes atomically;
// the set is not a transaction) and returns how many it revoked.
func (s *Store) RevokeSessionFamilies(ctx context.Context, sessionIDHash []byte, at time.Time, reason string) (int, error) {
	if len(sessionIDHash) == 0 {
		return 0, errEmptyHash
	}
	return s.revokeFamiliesWhere(ctx, "revoke session families", bson.E{Key: "session_id", Value: hashID(sessionIDHash)}, at, reason)
}

// RevokeUserFamilies revokes every unrevoked family of userID with one
// updateMany on the user_id index and returns how many it revoked.
func (s *Store) RevokeUserFamilies(ctx context.Context, userID string, at time.Time, reason string) (int, error) {
	return s.revokeFamiliesWhere(ctx, "revoke families of user", bson.E{Key: "user_id", Value: userID}, at, reason)
}

// revokeFamiliesWhere revokes the unrevoked families matching match.
func (s *Store) revokeFamiliesWhere(ctx context.Context, op string, match bson.E, at time.Time, reason string) (int, error) {
	res, err := s.families.UpdateMany(ctx,
		bson.D{match, {Key: "revoked", Value: false}},
		bson.D{{Key: "$set", Value: bson.D{
			{Key: "revoked", Value: true},
			{Key: "revoked_at", Value: at.UTC()},
			{Key: "revoke_reason", Value: reason},
		}}})
	if err != nil {
		return 0, s.wrap(op, err)
	}
	return int(res.ModifiedCount), nil
}
