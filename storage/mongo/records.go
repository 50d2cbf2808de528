package mongo

import (
	"slices"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// The BSON documents below are the on-disk format. They mirror the storage
// records on purpose: storage types carry no wire tags and are never encoded
// directly, so the stored form changes only here. Optional times are pointers so that a zero time is not stored at all
// and comes back as the zero time.

// userDoc is a document of the users collection.
type userDoc struct {
	ID                string     `bson:"_id"`
	Username          string     `bson:"username"`
	Email             string     `bson:"email,omitempty"`
	EmailVerified     bool       `bson:"email_verified"`
	Name              string     `bson:"name,omitempty"`
	GivenName         string     `bson:"given_name,omitempty"`
	FamilyName        string     `bson:"family_name,omitempty"`
	PasswordHash      string     `bson:"password_hash"`
	PasswordChangedAt *time.Time `bson:"password_changed_at,omitempty"`
	Disabled          bool       `bson:"disabled"`
	CreatedAt         *time.Time `bson:"created_at,omitempty"`
	UpdatedAt         *time.Time `bson:"updated_at,omitempty"`
	// Admin is absent from documents older than the console, which decode
	// as non-admins.
	Admin bool `bson:"admin,omitempty"`
	// Login is the user's login-attempt counter (AdmitLogin); absent when
	// there is none. It is not part of storage.User.
	Login *loginDoc `bson:"login,omitempty"`
	// HashScheme is storage.PasswordHashScheme(PasswordHash), indexed for
	// PasswordHashSamples. Documents written before it existed lack it
	// until Open fills it in (backfillHashSchemes); a nil pointer leaves
	// such a document's field alone on decode and re-encode.
	HashScheme *string `bson:"hash_scheme,omitempty"`
}

// loginDoc is the login-attempt counter kept inside a user document; the
// fields mean what failuresDoc's do.
type loginDoc struct {
	Count       int64      `bson:"count"`
	LastFailure time.Time  `bson:"last_failure"`
	ExpiresAt   time.Time  `bson:"expires_at"`
	LockedUntil *time.Time `bson:"locked_until,omitempty"`
}

// record is the counter as a storage.LoginFailures under key.
func (d *loginDoc) record(key string) storage.LoginFailures {
	return failuresDoc{Key: key, Count: d.Count, LastFailure: d.LastFailure, ExpiresAt: d.ExpiresAt, LockedUntil: d.LockedUntil}.record()
}

// usernameDoc maps a username (its _id) to the id of the user holding it.
type usernameDoc struct {
	Username string `bson:"_id"`
	UserID   string `bson:"user_id"`
}

// clientDoc is a document of the clients collection.
type clientDoc struct {
	ID              string     `bson:"_id"`
	Name            string     `bson:"name,omitempty"`
	Public          bool       `bson:"public"`
	SecretHash      []byte     `bson:"secret_hash,omitempty"`
	Grants          []string   `bson:"grants,omitempty"`
	Scopes          []string   `bson:"scopes,omitempty"`
	Audiences       []string   `bson:"audiences,omitempty"`
	TokenSigningAlg string     `bson:"token_signing_alg,omitempty"`
	CreatedAt       *time.Time `bson:"created_at,omitempty"`

	// Added for single sign-on; absent from older documents, which decode
	// with them empty.
	RedirectURIs           []string `bson:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs []string `bson:"post_logout_redirect_uris,omitempty"`
	BackchannelLogoutURI   string   `bson:"backchannel_logout_uri,omitempty"`
	FirstParty             bool     `bson:"first_party,omitempty"`
	// Added for introspection rights; absent from older documents (false).
	IntrospectAny bool `bson:"introspect_any,omitempty"`
}

// keySetID is the _id of the single key-set document.
const keySetID = "keyset"

// keySetDoc is the single document of the keyset collection.
type keySetDoc struct {
	ID           string     `bson:"_id"`
	Version      int64      `bson:"version"`
	Keys         []keyDoc   `bson:"keys"`
	LastRotation *time.Time `bson:"last_rotation,omitempty"`
	UpdatedAt    *time.Time `bson:"updated_at,omitempty"`
	UpdatedBy    string     `bson:"updated_by,omitempty"`
	// Pending are audit events not yet known to be in key_events.
	Pending []keyEventDoc `bson:"pending_events,omitempty"`
}

// keyDoc is one key inside keySetDoc.
type keyDoc struct {
	KID           string     `bson:"kid"`
	Alg           string     `bson:"alg"`
	State         string     `bson:"state"`
	PublicJWK     []byte     `bson:"public_jwk,omitempty"`
	SealedPrivate []byte     `bson:"sealed_private,omitempty"`
	KEKID         string     `bson:"kek_id,omitempty"`
	CreatedAt     *time.Time `bson:"created_at,omitempty"`
	PublishedAt   *time.Time `bson:"published_at,omitempty"`
	ActivatedAt   *time.Time `bson:"activated_at,omitempty"`
	RetiredAt     *time.Time `bson:"retired_at,omitempty"`
	VerifyUntil   *time.Time `bson:"verify_until,omitempty"`
	RevokedAt     *time.Time `bson:"revoked_at,omitempty"`
	RevokeReason  string     `bson:"revoke_reason,omitempty"`
}

// keyEventDoc is a document of the key_events collection.
type keyEventDoc struct {
	ID     string     `bson:"_id"`
	Time   *time.Time `bson:"time,omitempty"`
	KID    string     `bson:"kid"`
	Alg    string     `bson:"alg"`
	Action string     `bson:"action"`
	From   string     `bson:"from,omitempty"`
	To     string     `bson:"to,omitempty"`
	Actor  string     `bson:"actor"`
	Reason string     `bson:"reason,omitempty"`
}

// familyDoc is a document of the refresh_families collection.
type familyDoc struct {
	ID           string     `bson:"_id"`
	ClientID     string     `bson:"client_id"`
	UserID       string     `bson:"user_id"`
	Scopes       []string   `bson:"scopes,omitempty"`
	AuthTime     *time.Time `bson:"auth_time,omitempty"`
	ExpiresAt    time.Time  `bson:"expires_at"`
	Revoked      bool       `bson:"revoked"`
	RevokedAt    *time.Time `bson:"revoked_at,omitempty"`
	RevokeReason string     `bson:"revoke_reason,omitempty"`

	// SessionID is the base64url SHA-256 of the SSO session id (indexed for
	// RevokeSessionFamilies); absent for other families.
	SessionID string `bson:"session_id,omitempty"`

	// The refresh state (storage.RefreshState); current_expires_at has a
	// TTL index, so a family whose current token idled out goes away.
	CurrentHash      string     `bson:"current_hash"`
	CurrentIssuedAt  *time.Time `bson:"current_issued_at,omitempty"`
	CurrentExpiresAt *time.Time `bson:"current_expires_at,omitempty"`
	PreviousHash     string     `bson:"previous_hash,omitempty"`
	PreviousUsedAt   *time.Time `bson:"previous_used_at,omitempty"`
}

// deniedDoc is a document of the denylist collection.
type deniedDoc struct {
	JTI       string    `bson:"_id"`
	ExpiresAt time.Time `bson:"expires_at"`
}

// failuresDoc is a document of the login_failures collection.
type failuresDoc struct {
	Key         string    `bson:"_id"`
	Count       int64     `bson:"count"`
	LastFailure time.Time `bson:"last_failure"`
	ExpiresAt   time.Time `bson:"expires_at"`
	// LockedUntil is absent while the counter is not locked (and on
	// counters written before locks existed).
	LockedUntil *time.Time `bson:"locked_until,omitempty"`
}

// tp returns a pointer to t in UTC, or nil for the zero time.
func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// ft returns *p in UTC, or the zero time for nil or a stored zero time.
func ft(p *time.Time) time.Time {
	if p == nil {
		return time.Time{}
	}
	return fv(*p)
}

// fv returns t in UTC, or the zero time if t is zero.
func fv(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// clone copies a slice, keeping nil and empty as nil.
func clone[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}

func toUserDoc(u storage.User) userDoc {
	scheme := storage.PasswordHashScheme(u.PasswordHash)
	return userDoc{
		HashScheme:        &scheme,
		ID:                u.ID,
		Username:          u.Username,
		Email:             u.Email,
		EmailVerified:     u.EmailVerified,
		Name:              u.Name,
		GivenName:         u.GivenName,
		FamilyName:        u.FamilyName,
		PasswordHash:      u.PasswordHash,
		PasswordChangedAt: tp(u.PasswordChangedAt),
		Disabled:          u.Disabled,
		CreatedAt:         tp(u.CreatedAt),
		UpdatedAt:         tp(u.UpdatedAt),
		Admin:             u.Admin,
	}
}

func (d userDoc) record() storage.User {
	return storage.User{
		ID:                d.ID,
		Username:          d.Username,
		Email:             d.Email,
		EmailVerified:     d.EmailVerified,
		Name:              d.Name,
		GivenName:         d.GivenName,
		FamilyName:        d.FamilyName,
		PasswordHash:      d.PasswordHash,
		PasswordChangedAt: ft(d.PasswordChangedAt),
		Disabled:          d.Disabled,
		CreatedAt:         ft(d.CreatedAt),
		UpdatedAt:         ft(d.UpdatedAt),
		Admin:             d.Admin,
	}
}

func toClientDoc(c storage.Client) clientDoc {
	return clientDoc{
		ID:              c.ID,
		Name:            c.Name,
		Public:          c.Public,
		SecretHash:      clone(c.SecretHash),
		Grants:          clone(c.Grants),
		Scopes:          clone(c.Scopes),
		Audiences:       clone(c.Audiences),
		TokenSigningAlg: c.TokenSigningAlg,
		CreatedAt:       tp(c.CreatedAt),

		RedirectURIs:           clone(c.RedirectURIs),
		PostLogoutRedirectURIs: clone(c.PostLogoutRedirectURIs),
		BackchannelLogoutURI:   c.BackchannelLogoutURI,
		FirstParty:             c.FirstParty,
		IntrospectAny:          c.IntrospectAny,
	}
}

func (d clientDoc) record() storage.Client {
	return storage.Client{
		ID:              d.ID,
		Name:            d.Name,
		Public:          d.Public,
		SecretHash:      clone(d.SecretHash),
		Grants:          clone(d.Grants),
		Scopes:          clone(d.Scopes),
		Audiences:       clone(d.Audiences),
		TokenSigningAlg: d.TokenSigningAlg,
		CreatedAt:       ft(d.CreatedAt),

		RedirectURIs:           clone(d.RedirectURIs),
		PostLogoutRedirectURIs: clone(d.PostLogoutRedirectURIs),
		BackchannelLogoutURI:   d.BackchannelLogoutURI,
		FirstParty:             d.FirstParty,
		IntrospectAny:          d.IntrospectAny,
	}
}

func toKeySetDoc(ks storage.KeySet, version int64) keySetDoc {
	keys := make([]keyDoc, 0, len(ks.Keys))
	for _, k := range ks.Keys {
		keys = append(keys, keyDoc{
			KID:           k.KID,
			Alg:           k.Alg,
			State:         string(k.State),
			PublicJWK:     clone(k.PublicJWK),
			SealedPrivate: clone(k.SealedPrivate),
			KEKID:         k.KEKID,
			CreatedAt:     tp(k.CreatedAt),
			PublishedAt:   tp(k.PublishedAt),
			ActivatedAt:   tp(k.ActivatedAt),
			RetiredAt:     tp(k.RetiredAt),
			VerifyUntil:   tp(k.VerifyUntil),
			RevokedAt:     tp(k.RevokedAt),
			RevokeReason:  k.RevokeReason,
		})
	}
	var pending []keyEventDoc
	for _, e := range ks.PendingEvents {
		pending = append(pending, toKeyEventDoc(e))
	}
	return keySetDoc{
		ID:           keySetID,
		Version:      version,
		Keys:         keys,
		LastRotation: tp(ks.LastRotation),
		UpdatedAt:    tp(ks.UpdatedAt),
		UpdatedBy:    ks.UpdatedBy,
		Pending:      pending,
	}
}

func (d keySetDoc) record() storage.KeySet {
	var keys []storage.Key
	for _, k := range d.Keys {
		keys = append(keys, storage.Key{
			KID:           k.KID,
			Alg:           k.Alg,
			State:         storage.KeyState(k.State),
			PublicJWK:     clone(k.PublicJWK),
			SealedPrivate: clone(k.SealedPrivate),
			KEKID:         k.KEKID,
			CreatedAt:     ft(k.CreatedAt),
			PublishedAt:   ft(k.PublishedAt),
			ActivatedAt:   ft(k.ActivatedAt),
			RetiredAt:     ft(k.RetiredAt),
			VerifyUntil:   ft(k.VerifyUntil),
			RevokedAt:     ft(k.RevokedAt),
			RevokeReason:  k.RevokeReason,
		})
	}
	var pending []storage.KeyEvent
	for _, e := range d.Pending {
		pending = append(pending, e.record())
	}
	return storage.KeySet{
		Version:       d.Version,
		Keys:          keys,
		LastRotation:  ft(d.LastRotation),
		UpdatedAt:     ft(d.UpdatedAt),
		UpdatedBy:     d.UpdatedBy,
		PendingEvents: pending,
	}
}

func toKeyEventDoc(e storage.KeyEvent) keyEventDoc {
	return keyEventDoc{
		ID:     e.ID,
		Time:   tp(e.Time),
		KID:    e.KID,
		Alg:    e.Alg,
		Action: e.Action,
		From:   string(e.From),
		To:     string(e.To),
		Actor:  e.Actor,
		Reason: e.Reason,
	}
}

func (d keyEventDoc) record() storage.KeyEvent {
	return storage.KeyEvent{
		ID:     d.ID,
		Time:   ft(d.Time),
		KID:    d.KID,
		Alg:    d.Alg,
		Action: d.Action,
		From:   storage.KeyState(d.From),
		To:     storage.KeyState(d.To),
		Actor:  d.Actor,
		Reason: d.Reason,
	}
}

func toFamilyDoc(f storage.RefreshFamily) familyDoc {
	return familyDoc{
		ID:           f.ID,
		ClientID:     f.ClientID,
		UserID:       f.UserID,
		Scopes:       clone(f.Scopes),
		AuthTime:     tp(f.AuthTime),
		ExpiresAt:    f.ExpiresAt.UTC(),
		Revoked:      f.Revoked,
		RevokedAt:    tp(f.RevokedAt),
		RevokeReason: f.RevokeReason,
		SessionID:    hashID(f.SessionIDHash),

		CurrentHash:      f.CurrentHash,
		CurrentIssuedAt:  tp(f.CurrentIssuedAt),
		CurrentExpiresAt: tp(f.CurrentExpiresAt),
		PreviousHash:     f.PreviousHash,
		PreviousUsedAt:   tp(f.PreviousUsedAt),
	}
}

func (d familyDoc) record() storage.RefreshFamily {
	return storage.RefreshFamily{
		ID:            d.ID,
		ClientID:      d.ClientID,
		UserID:        d.UserID,
		Scopes:        clone(d.Scopes),
		AuthTime:      ft(d.AuthTime),
		ExpiresAt:     fv(d.ExpiresAt),
		Revoked:       d.Revoked,
		RevokedAt:     ft(d.RevokedAt),
		RevokeReason:  d.RevokeReason,
		SessionIDHash: unhashID(d.SessionID),
		RefreshState: storage.RefreshState{
			CurrentHash:      d.CurrentHash,
			CurrentIssuedAt:  ft(d.CurrentIssuedAt),
			CurrentExpiresAt: ft(d.CurrentExpiresAt),
			PreviousHash:     d.PreviousHash,
			PreviousUsedAt:   ft(d.PreviousUsedAt),
		},
	}
}

func (d failuresDoc) record() storage.LoginFailures {
	return storage.LoginFailures{
		Key:         d.Key,
		Count:       int(d.Count),
		LastFailure: fv(d.LastFailure),
		ExpiresAt:   fv(d.ExpiresAt),
		LockedUntil: ft(d.LockedUntil),
	}
}

// live reports whether a record expiring at expiresAt is still visible at
// now. Stored times have millisecond precision; for a whole-millisecond e,
// e > now holds exactly when e > now truncated to the millisecond, so this
// agrees with the server-side filter {expires_at: {$gt: now}}.
func live(expiresAt, now time.Time) bool { return expiresAt.After(now) }

// auditDoc is a document of the audit collection.
type auditDoc struct {
	ID      string     `bson:"_id"`
	Time    *time.Time `bson:"time,omitempty"`
	Kind    string     `bson:"kind"`
	Action  string     `bson:"action"`
	Target  string     `bson:"target,omitempty"`
	Actor   string     `bson:"actor,omitempty"`
	Replica string     `bson:"replica,omitempty"`
	Reason  string     `bson:"reason,omitempty"`
}

func toAuditDoc(e storage.AuditEntry) auditDoc {
	return auditDoc{ID: e.ID, Time: tp(e.Time), Kind: e.Kind, Action: e.Action, Target: e.Target,
		Actor: e.Actor, Replica: e.Replica, Reason: e.Reason}
}

func (d auditDoc) record() storage.AuditEntry {
	return storage.AuditEntry{ID: d.ID, Time: ft(d.Time), Kind: d.Kind, Action: d.Action, Target: d.Target,
		Actor: d.Actor, Replica: d.Replica, Reason: d.Reason}
}

// consumerDoc is a document of the jwks_consumers collection.
type consumerDoc struct {
	ID        string     `bson:"_id"`
	Address   string     `bson:"address"`
	UserAgent string     `bson:"user_agent,omitempty"`
	FirstSeen *time.Time `bson:"first_seen,omitempty"`
	LastFetch *time.Time `bson:"last_fetch,omitempty"`
	ETag      string     `bson:"etag,omitempty"`
	ExpiresAt time.Time  `bson:"expires_at"`
}

func toConsumerDoc(c storage.JWKSConsumer) consumerDoc {
	return consumerDoc{ID: c.ID, Address: c.Address, UserAgent: c.UserAgent, FirstSeen: tp(c.FirstSeen),
		LastFetch: tp(c.LastFetch), ETag: c.ETag, ExpiresAt: c.ExpiresAt.UTC()}
}

func (d consumerDoc) record() storage.JWKSConsumer {
	return storage.JWKSConsumer{ID: d.ID, Address: d.Address, UserAgent: d.UserAgent, FirstSeen: ft(d.FirstSeen),
		LastFetch: ft(d.LastFetch), ETag: d.ETag, ExpiresAt: fv(d.ExpiresAt)}
}
