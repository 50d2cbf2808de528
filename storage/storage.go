// Package storage defines Sigil's persistent records, the sentinel errors every
// backend returns, and the small interfaces each consumer depends on.
//
// Records are plain structs without wire tags: each backend owns its encoding
// (storage/bolt/records.go, storage/mongo/records.go) and every output (CLI
// --json, HTTP) has its own view type, so no field such as a sealed private
// key or a hash reaches an output by accident. See docs/design.md.
//
// Backends live in subpackages named after their dependency (storage/bolt,
// storage/mongo) and must pass storage/conformance. Consumers declare or use
// the narrowest interface they need (KeySetStore for keys, UserStore and
// friends for oauth) rather than the composite Store, which exists for wiring
// in cmd and for the conformance suite.
//
// Conventions shared by every backend:
//   - Times round-trip with at least millisecond precision and come back in UTC.
//   - Records with an expiry (refresh families, deny-list entries,
//     login-failure counters) are invisible to reads once expired at the
//     caller's now: reads take now and return ErrNotFound (or false) for an
//     expired record even if Purge has not removed it yet.
//   - Every method is safe for concurrent use, within one process and, for
//     backends shared by several processes, across processes.
//   - Returned records are copies; mutating them never changes the store.
package storage

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// Sentinel errors. Backends wrap them with context; test with errors.Is.
var (
	// ErrNotFound reports that no (unexpired) record has the requested id.
	ErrNotFound = errors.New("not found")
	// ErrConflict reports that a compare-and-swap lost: the record changed
	// since it was read (key-set version, refresh token already used, password
	// hash already replaced).
	ErrConflict = errors.New("conflict")
	// ErrDuplicate reports that a record with the same unique id or name
	// already exists.
	ErrDuplicate = errors.New("duplicate")
)

// User is an end user who can log in with the password grant.
type User struct {
	// ID is the stable subject identifier (the `sub` claim). Never reused.
	ID string
	// Username is unique (exact, case-sensitive match, like Django).
	Username string
	Email    string
	// EmailVerified reports whether the email address is known to be the
	// user's.
	EmailVerified bool
	// Name is the full display name.
	Name       string
	GivenName  string
	FamilyName string
	// PasswordHash is a PHC string (argon2id), a bcrypt hash, or a Django
	// pbkdf2_sha256 hash. Never logged.
	PasswordHash string
	// PasswordChangedAt is when the password was last set by its owner or an
	// operator (not by a transparent rehash). Refresh families older than it
	// are dead.
	PasswordChangedAt time.Time
	Disabled          bool
	// Admin users may use the console and the admin API.
	Admin     bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Client is an OAuth 2.0 client registration.
type Client struct {
	ID   string
	Name string
	// Public clients have no secret and authenticate with client_id only.
	Public bool
	// SecretHash is the SHA-256 of the client secret (empty for public
	// clients). Secrets are high-entropy, so a fast hash is enough.
	SecretHash []byte
	// Grants lists the grant types the client may use (e.g. "password").
	Grants []string
	// Scopes lists the scopes the client may request.
	Scopes []string
	// Audiences are the `aud` values of access tokens minted for the client.
	Audiences []string
	// TokenSigningAlg selects the signing algorithm; empty means the default.
	TokenSigningAlg string
	CreatedAt       time.Time

	// RedirectURIs are the registered redirect URIs of the authorization
	// code grant, compared exactly.
	RedirectURIs []string
	// PostLogoutRedirectURIs are the registered post_logout_redirect_uri
	// values of RP-initiated logout.
	PostLogoutRedirectURIs []string
	// BackchannelLogoutURI receives logout tokens ("" for none).
	BackchannelLogoutURI string
	// FirstParty clients skip the consent page.
	FirstParty bool
	// IntrospectAny lets the client introspect every token; without it a
	// client sees only tokens issued to it or whose audience it is.
	IntrospectAny bool
}

// KeyState is the life-cycle state of a signing key.
type KeyState string

// Key states; see docs/design.md "Keys and rotation".
const (
	KeyNext    KeyState = "next"
	KeyActive  KeyState = "active"
	KeyRetired KeyState = "retired"
	KeyRevoked KeyState = "revoked"
)

// Key is one signing key inside the key set.
type Key struct {
	KID   string
	Alg   string
	State KeyState
	// PublicJWK is the JSON of the public JWK (never private parts).
	PublicJWK []byte
	// SealedPrivate is the private key sealed under the KEK named by KEKID.
	// Empty once the key is retired or revoked.
	SealedPrivate []byte
	KEKID         string
	CreatedAt     time.Time
	// PublishedAt is when the key first appeared in the key set (and thus in
	// the JWKS of any replica that reloaded since).
	PublishedAt time.Time
	ActivatedAt time.Time
	RetiredAt   time.Time
	// VerifyUntil is when a retired key leaves the JWKS.
	VerifyUntil  time.Time
	RevokedAt    time.Time
	RevokeReason string
}

// KeySet is the single versioned record holding every signing key. It is
// changed only through KeySetStore.CompareAndSwapKeySet.
type KeySet struct {
	// Version is 0 for a key set never stored; each successful swap stores
	// Version+1.
	Version int64
	Keys    []Key
	// LastRotation is when the last scheduled promotion happened (the cron
	// schedule is evaluated from it).
	LastRotation time.Time
	UpdatedAt    time.Time
	// UpdatedBy names the replica or operator that made the last change.
	UpdatedBy string
	// PendingEvents are audit events of committed transitions that may not
	// be in the audit log yet. They are written in the same swap as the
	// transitions they describe, then appended to the log (AppendKeyEvent
	// refuses a second copy of an ID) and dropped from the record by a later
	// swap, so a crash between the swap and the append loses no event.
	PendingEvents []KeyEvent
}

// KeyEvent is one audit-trail entry for a key transition.
type KeyEvent struct {
	// ID is unique and sorts in time order (set by the caller).
	ID     string
	Time   time.Time
	KID    string
	Alg    string
	Action string
	From   KeyState
	To     KeyState
	// Actor is the replica id or operator that made the change.
	Actor  string
	Reason string
}

// RefreshFamily is the refresh state of one login: every refresh token
// descended from it. Its size does not grow with refreshes: it keeps the
// hash of the current token (the only one a refresh may exchange) and of
// the one before it (for the reuse grace); any older token of the family is
// reuse. Only hashes of tokens are stored.
type RefreshFamily struct {
	ID       string
	ClientID string
	UserID   string
	Scopes   []string
	// AuthTime is when the user authenticated (the login).
	AuthTime time.Time
	// ExpiresAt is the absolute end of the family (login + refresh_ttl).
	ExpiresAt    time.Time
	Revoked      bool
	RevokedAt    time.Time
	RevokeReason string

	// SessionIDHash is the IDHash of the SSO session the family was issued
	// in (nil for families from other grants); see FamilyRevoker.
	SessionIDHash []byte

	// RefreshState is the family's current and previous token.
	RefreshState
}

// RefreshState is the part of a family that each refresh replaces, in one
// compare-and-swap (RefreshStore.SwapRefreshToken).
type RefreshState struct {
	// CurrentHash is the base64url (no padding) SHA-256 of the current
	// refresh token.
	CurrentHash string
	// CurrentIssuedAt is when the current token was issued.
	CurrentIssuedAt time.Time
	// CurrentExpiresAt is the idle expiry of the current token (the family's
	// ExpiresAt still bounds it).
	CurrentExpiresAt time.Time
	// PreviousHash is the token the last real refresh exchanged ("" before
	// the first refresh); PreviousUsedAt is when. Within the reuse grace of
	// PreviousUsedAt the same client may exchange it once more.
	PreviousHash   string
	PreviousUsedAt time.Time
}

// LoginFailures counts recent failed logins for one account key.
type LoginFailures struct {
	// Key identifies the account (for example the username).
	Key         string
	Count       int
	LastFailure time.Time
	// ExpiresAt is when the counter is forgotten.
	ExpiresAt time.Time
	// LockedUntil is set by LoginThrottleStore.AdmitLogin: until then no
	// attempt is admitted (zero: not locked).
	LockedUntil time.Time
}

// UserStore manages users.
type UserStore interface {
	// CreateUser stores u. ErrDuplicate if u.ID or u.Username is taken.
	CreateUser(ctx context.Context, u User) error
	// GetUser returns the user with the given ID, or ErrNotFound.
	GetUser(ctx context.Context, id string) (User, error)
	// GetUserByUsername returns the user with the given username, or ErrNotFound.
	GetUserByUsername(ctx context.Context, username string) (User, error)
	// ListUsers returns every user ordered by username.
	ListUsers(ctx context.Context) ([]User, error)
	// SetUserPassword replaces the password hash and sets PasswordChangedAt
	// and UpdatedAt to changedAt. ErrNotFound if absent.
	SetUserPassword(ctx context.Context, id, hash string, changedAt time.Time) error
	// RehashUserPassword replaces the hash only if it still equals oldHash
	// (ErrConflict otherwise); PasswordChangedAt is left alone. Used to
	// upgrade hash parameters on login without racing a password change.
	RehashUserPassword(ctx context.Context, id, oldHash, newHash string) error
	// SetUserDisabled sets Disabled and UpdatedAt. ErrNotFound if absent.
	SetUserDisabled(ctx context.Context, id string, disabled bool, at time.Time) error
	// SetUserAdmin sets Admin and UpdatedAt. ErrNotFound if absent.
	SetUserAdmin(ctx context.Context, id string, admin bool, at time.Time) error
	// PasswordHashSamples returns, for every distinct PasswordHashScheme
	// among the users' password hashes, at least one stored hash of that
	// scheme, in no particular order (nil for no users). It is meant to be
	// cheaper than ListUsers (on MongoDB a distinct query on an indexed
	// field), for learning which hash algorithms and costs the store holds.
	PasswordHashSamples(ctx context.Context) ([]string, error)
}

// PasswordHashScheme returns the scheme of an encoded password hash: its
// algorithm and cost parameters without salt or key, for example
// "$argon2id$v=19$m=19456,t=2,p=1", "$2b$12" or "pbkdf2_sha256$870000".
// Two hashes of one scheme cost the same to verify. A hash of a form it
// does not know is its own scheme, so hashes are never grouped wrongly.
// Backends group by it to answer PasswordHashSamples.
func PasswordHashScheme(encoded string) string {
	f := strings.Split(encoded, "$")
	switch {
	case len(f) == 4 && f[0] == "" && strings.HasPrefix(f[1], "2") && len(f[3]) == 53:
		// bcrypt: $2b$<cost>$<salt and key>
		return "$" + f[1] + "$" + f[2]
	case len(f) >= 5 && f[0] == "":
		// PHC string: $<id>[$v=<version>]$<params>$<salt>$<key>
		return strings.Join(f[:len(f)-2], "$")
	case len(f) == 4 && strings.HasPrefix(f[0], "pbkdf2_"):
		// Django: <algorithm>$<iterations>$<salt>$<key>
		return f[0] + "$" + f[1]
	}
	return encoded
}

// ClientStore manages client registrations.
type ClientStore interface {
	// CreateClient stores c. ErrDuplicate if c.ID is taken.
	CreateClient(ctx context.Context, c Client) error
	// GetClient returns the client, or ErrNotFound.
	GetClient(ctx context.Context, id string) (Client, error)
	// ListClients returns every client ordered by ID.
	ListClients(ctx context.Context) ([]Client, error)
	// DeleteClient removes the client. ErrNotFound if absent.
	DeleteClient(ctx context.Context, id string) error
	// SetClientSecret replaces the secret hash of a client. ErrNotFound if
	// absent.
	SetClientSecret(ctx context.Context, id string, secretHash []byte) error
}

// KeySetStore holds the versioned key set and the key audit trail.
type KeySetStore interface {
	// GetKeySet returns the stored key set, or ErrNotFound if none was ever
	// stored.
	GetKeySet(ctx context.Context) (KeySet, error)
	// CompareAndSwapKeySet stores next with Version = oldVersion+1 if the
	// stored version is oldVersion (0: nothing stored yet) and returns the
	// stored version. Of several callers swapping from the same version
	// exactly one succeeds; the others get ErrConflict and nothing changes.
	CompareAndSwapKeySet(ctx context.Context, oldVersion int64, next KeySet) (int64, error)
	// AppendKeyEvent records an audit event. ErrDuplicate if e.ID exists.
	AppendKeyEvent(ctx context.Context, e KeyEvent) error
	// ListKeyEvents returns audit events in ID (time) order, oldest first.
	ListKeyEvents(ctx context.Context) ([]KeyEvent, error)
}

// RefreshStore holds refresh families: one record per login, whatever the
// number of refreshes.
type RefreshStore interface {
	// CreateFamily stores f (with its first token in f.RefreshState).
	// ErrDuplicate if f.ID exists.
	CreateFamily(ctx context.Context, f RefreshFamily) error
	// GetFamily returns the family, or ErrNotFound if absent or expired at now.
	// A revoked family is returned with Revoked set.
	GetFamily(ctx context.Context, id string, now time.Time) (RefreshFamily, error)
	// RevokeFamily marks the family revoked (idempotent: a second call keeps
	// the first RevokedAt and reason). ErrNotFound if absent.
	RevokeFamily(ctx context.Context, id string, at time.Time, reason string) error
	// SwapRefreshToken replaces the family's RefreshState with next in one
	// atomic compare-and-swap, if the family exists, is not revoked, belongs
	// to clientID, and its CurrentHash is oldHash, with ExpiresAt and
	// CurrentExpiresAt both after now. It returns the family as it was
	// before the swap. Of concurrent callers swapping from the same oldHash
	// exactly one succeeds. When nothing matched (for whatever reason:
	// absent, expired, revoked, another client or another current token)
	// the error is ErrConflict and nothing changed; the caller reads the
	// family to learn why.
	SwapRefreshToken(ctx context.Context, id, clientID, oldHash string, next RefreshState, now time.Time) (RefreshFamily, error)
}

// DenyList holds revoked access-token ids until their expiry.
type DenyList interface {
	// DenyAccessToken records jti as revoked until expiresAt (idempotent).
	DenyAccessToken(ctx context.Context, jti string, expiresAt time.Time) error
	// IsAccessTokenDenied reports whether jti is denied and unexpired at now.
	IsAccessTokenDenied(ctx context.Context, jti string, now time.Time) (bool, error)
}

// LoginThrottleStore keeps per-account failed-login counters shared by every
// replica.
type LoginThrottleStore interface {
	// AdmitLogin counts one login attempt for the account named username,
	// before its password is checked, and returns the user holding that
	// username, in one atomic step (on MongoDB one round trip when the
	// account is not close to a lock), so that a login costs one storage
	// call before its password check.
	//
	// The account's counter is LoginKey(username); for a user a backend
	// may keep it with the user record instead, so it is read back only
	// through AdmitLogin's result. If the counter is live at now and its
	// LockedUntil is after now, nothing changes and the attempt is not
	// admitted: the caller refuses without checking the password.
	// Otherwise Count is incremented (a counter absent or expired at now,
	// that is whose ExpiresAt is at or before now, restarts at 1),
	// LastFailure becomes now, ExpiresAt now+ttl and LockedUntil
	// now+lockFor(Count) (the zero time when lockFor returns 0 or less),
	// and the attempt is admitted. The attempt is thus counted as a
	// failure in advance; a caller whose check succeeds calls ResetLogin.
	//
	// Concurrent callers on one account are serialised, across processes
	// too: each admitted attempt sees a distinct Count, and no attempt is
	// admitted after one whose lockFor locked the counter, until that lock
	// ends. lockFor must be a pure function of its argument; nil never
	// locks. Found and User are set whether or not the attempt was
	// admitted (an attempt that is not admitted changes nothing).
	AdmitLogin(ctx context.Context, username string, now time.Time, ttl time.Duration, lockFor func(count int) time.Duration) (LoginAdmission, error)
	// ResetLogin deletes the counter AdmitLogin keeps for username, whose
	// user is userID (after a successful login). No error if there is none
	// or the user is gone.
	ResetLogin(ctx context.Context, username, userID string) error
}

// LoginAdmission is the result of LoginThrottleStore.AdmitLogin.
type LoginAdmission struct {
	// Failures is the account's counter after the attempt (as it stands,
	// when the attempt was not admitted). Its Key is LoginKey(username).
	Failures LoginFailures
	// Admitted reports that the attempt was counted and the password may
	// be checked.
	Admitted bool
	// Found reports that a user holds the username; User is that user.
	Found bool
	User  User
}

// LoginKey is the login-throttle key of the account named username (the
// key AdmitLogin counts under).
func LoginKey(username string) string { return "login:" + username }

// PurgeStats counts the records one Purge deleted.
type PurgeStats struct {
	// Families counts refresh families expired by either lifetime (the
	// absolute one, or the idle expiry of their current token).
	Families      int
	DeniedTokens  int
	LoginFailures int
	Sessions      int
	AuthCodes     int
	JWKSConsumers int
}

// Purger deletes records that expired at or before now.
type Purger interface {
	// Purge deletes expired refresh families, deny-list entries,
	// login-failure counters, sessions (expired by either lifetime), JWKS
	// consumers and authorization codes (unused ones at ExpiresAt, used ones
	// AuthCodeRetention after their use). Unexpired records are untouched.
	Purge(ctx context.Context, now time.Time) (PurgeStats, error)
}

// Leaser grants named, expiring leases, so one replica at a time runs a job
// (the expired-record purge).
type Leaser interface {
	// AcquireLease takes or renews the lease name for owner until now+ttl
	// and reports whether owner holds it. It succeeds when the lease is
	// free, expired at now (its expiry is at or before now), or already
	// owner's; otherwise it returns false and changes nothing. The check
	// and the write are one atomic step: of owners racing for a free
	// lease, exactly one wins.
	AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (bool, error)
}

// Pinger reports whether the backend answers.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Store is every capability of a backend. Only cmd (wiring) and the
// conformance suite should depend on it; other packages take the narrow
// interfaces above.
type Store interface {
	UserStore
	ClientStore
	KeySetStore
	RefreshStore
	DenyList
	LoginThrottleStore
	SessionStore
	AuthCodeStore
	ConsentStore
	FamilyRevoker
	AuditStore
	JWKSConsumerStore
	Purger
	Leaser
	Pinger
	io.Closer
}

// LockDuration is lockFor(count), or 0 when lockFor is nil: the lock an
// AdmitLogin implementation applies after count attempts.
func LockDuration(lockFor func(count int) time.Duration, count int) time.Duration {
	if lockFor == nil {
		return 0
	}
	return lockFor(count)
}
