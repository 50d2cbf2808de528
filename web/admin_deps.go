package web

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/sigilauth/sigil/oauth"
)

// AdminService is what the admin API (/admin/api/v1/) and the console
// (/console/) need from the server: the key timeline and its operations,
// users, clients, the audit trail and the JWKS consumers. Both front ends
// call the same methods, so a rule (who may do what, what is audited) lives
// once, behind this interface. cmd wires the implementation; handler tests
// use a fake.
//
// Every destructive method (RotateKeys, RevokeKey, SetUserDisabled with
// disabled=true, DeleteClient, and every other change) records an audit
// entry with the actor, time, replica, what and why before it returns
// success. Failures the caller should show are *AdminError values; any
// other error is a server error (logged, never shown).
type AdminService interface {
	// Keys returns the key set as the timeline and the tables show it, at
	// now: every key with its times and state, per algorithm the next due
	// rotation, the prepublish window and max_age.
	Keys(ctx context.Context, now time.Time) (*KeyOverview, error)
	// RotateKeys promotes each algorithm's next key now. Without force it
	// fails with AdminConflict (and the reason in words) when a next key has
	// been published for less than jwks.max_age, since caches that honour
	// the JWKS headers may not have it yet.
	RotateKeys(ctx context.Context, actor Actor, force bool, reason string) (*RotateOutcome, error)
	// RevokeKey revokes kid at once (it leaves the JWKS; an active key is
	// replaced). reason is required (AdminInvalid when blank); an unknown
	// kid is AdminNotFound.
	RevokeKey(ctx context.Context, actor Actor, kid, reason string) error

	// Users lists every user, ordered by username.
	Users(ctx context.Context) ([]UserView, error)
	// AddUser creates a user with the shared record rules (AdminInvalid,
	// AdminConflict when the name or id is taken).
	AddUser(ctx context.Context, actor Actor, in NewUser) (UserView, error)
	// SetUserDisabled disables (ending the user's sessions and refresh
	// families) or enables a user.
	SetUserDisabled(ctx context.Context, actor Actor, username string, disabled bool, reason string) error
	// SetUserPassword replaces a user's password (ending their sessions and
	// families). The password is never logged or audited.
	SetUserPassword(ctx context.Context, actor Actor, username, password string) error
	// SetUserAdmin grants or takes away the admin flag.
	SetUserAdmin(ctx context.Context, actor Actor, username string, admin bool) error

	// Clients lists every client, ordered by id.
	Clients(ctx context.Context) ([]ClientView, error)
	// AddClient registers a client with the shared record rules; for a
	// confidential client it returns the generated secret, shown once.
	AddClient(ctx context.Context, actor Actor, in NewClient) (ClientView, string, error)
	// DeleteClient removes a client.
	DeleteClient(ctx context.Context, actor Actor, id, reason string) error
	// RotateClientSecret replaces a confidential client's secret and returns
	// the new one, shown once.
	RotateClientSecret(ctx context.Context, actor Actor, id string) (string, error)

	// Audit returns one page of the audit trail (key transitions and admin
	// actions), newest first.
	Audit(ctx context.Context, q AuditQuery) (*AuditPage, error)
	// Consumers lists the JWKS consumers seen within jwks.consumer_ttl, with
	// whether each has fetched since the current next key was published.
	Consumers(ctx context.Context, now time.Time) ([]ConsumerView, error)
}

// ConsumerRecorder counts JWKS fetches by consumer for the console's
// rotation-safety view. RecordFetch must return at once (the JWKS handler
// calls it on every response); implementations throttle their writes (at
// most one per consumer per minute per replica) and drop records they
// cannot store.
type ConsumerRecorder interface {
	RecordFetch(addr netip.Addr, userAgent, etag string, now time.Time)
}

// Actor is who performs an admin action.
type Actor struct {
	// Username is the admin user (console) or the client id (API token).
	Username string
	// Via is "console", "api" or "cli".
	Via string
}

// AdminErrorKind classifies an AdminError.
type AdminErrorKind int

// The kinds of AdminError, with the HTTP status the API answers.
const (
	AdminInvalid     AdminErrorKind = iota + 1 // 400
	AdminNotFound                              // 404
	AdminConflict                              // 409
	AdminUnavailable                           // 503
)

// AdminError is a failure to show to the admin: its kind and a message safe
// to display (never a secret).
type AdminError struct {
	Kind    AdminErrorKind
	Message string
}

// Error implements error.
func (e *AdminError) Error() string { return e.Message }

// KeyOverview is the key set as the console and the API show it.
type KeyOverview struct {
	Now        time.Time
	Prepublish time.Duration
	MaxAge     time.Duration
	Algorithms []AlgorithmKeys
}

// AlgorithmKeys is one algorithm's keys, oldest first.
type AlgorithmKeys struct {
	Alg string
	// NextRotation is when the next rotation is due (zero if unknown).
	NextRotation time.Time
	// NextPublishedAt is when the current next key was published (zero if
	// there is none).
	NextPublishedAt time.Time
	Keys            []KeyView
}

// KeyView is one key's life: state and the times of each transition (zero
// when it has not happened).
type KeyView struct {
	KID          string
	Alg          string
	State        string // next, active, retired, revoked
	CreatedAt    time.Time
	PublishedAt  time.Time
	ActivatedAt  time.Time
	RetiredAt    time.Time
	VerifyUntil  time.Time
	RevokedAt    time.Time
	RevokeReason string
	// Actor made the key's last transition, from the audit trail.
	Actor string
}

// RotateOutcome says what a rotation did.
type RotateOutcome struct {
	// Promoted lists the kids that became active.
	Promoted []string
	// Waiting maps an algorithm to when its next key may be promoted, for
	// algorithms that did not rotate.
	Waiting map[string]time.Time
}

// UserView is a user without the password hash.
type UserView struct {
	ID, Username, Email, Name string
	Admin, Disabled           bool
	CreatedAt                 time.Time
}

// NewUser is an AddUser request.
type NewUser struct {
	Username, Password, Email, Name string
	Admin                           bool
}

// ClientView is a client registration without the secret hash.
// IntrospectAny: the client may introspect any token, not only those issued
// to it or for its audience.
type ClientView struct {
	ID, Name                     string
	Public, FirstParty           bool
	IntrospectAny                bool
	Grants, Scopes, Audiences    []string
	RedirectURIs, PostLogoutURIs []string
	BackchannelLogoutURI         string
	TokenSigningAlg              string
	CreatedAt                    time.Time
}

// NewClient is an AddClient request; the secret is generated.
// IntrospectAny registers a client that may introspect any token.
type NewClient struct {
	ID, Name                     string
	Public, FirstParty           bool
	IntrospectAny                bool
	Grants, Scopes, Audiences    []string
	RedirectURIs, PostLogoutURIs []string
	BackchannelLogoutURI         string
	TokenSigningAlg              string
}

// AuditQuery selects a page of the audit trail.
type AuditQuery struct {
	// Kind filters by kind ("key", "user", "client"); "" is all.
	Kind string
	// Before is the cursor of the previous page ("" for the newest).
	Before string
	// Limit is the page size (1 to 200; 0 means 50).
	Limit int
}

// AuditPage is one page of the audit trail, newest first.
type AuditPage struct {
	Entries []AuditEntryView
	// Next is the cursor of the following (older) page; "" at the end.
	Next string
}

// AuditEntryView is one audit entry.
type AuditEntryView struct {
	ID      string
	Time    time.Time
	Kind    string // key, user, client
	Action  string // rotate, revoke, generate, promote, retire, add, disable, ...
	Target  string // kid, username or client id
	Actor   string
	Replica string
	Reason  string
}

// ConsumerView is one JWKS consumer.
type ConsumerView struct {
	Address   string
	UserAgent string
	FirstSeen time.Time
	LastFetch time.Time
	ETag      string
	// HasNextKey reports whether the consumer fetched the JWKS after the
	// current next key (of every algorithm) was published.
	HasNextKey bool
}

// ConsoleAuth is what the console needs from the SSO service: who is signed
// in, and a sign-in that is not part of an authorization request (the
// console's own /login page, with the same form, CSRF token and throttles
// as the authorization flow's). *oauth.Service implements it.
type ConsoleAuth interface {
	// SessionUser returns the signed-in user of the session cookie and the
	// session's auth_time, or ok=false when there is no live session (no
	// cookie, unknown, expired, or a disabled user).
	SessionUser(ctx context.Context, sessionCookie string) (user SessionUser, ok bool, err error)
	// SignIn checks the password like the authorization flow's login (same
	// throttles, same single failure message) and starts a session,
	// replacing sessionCookie's. Failures are *oauth.Error values.
	SignIn(ctx context.Context, in SignInInput) (cookie string, expires time.Time, err error)
}

// SessionUser is the user of a live SSO session (UserID, Username, Admin,
// AuthTime). It is oauth's type, so that *oauth.Service implements
// ConsoleAuth (oauth cannot import web).
type SessionUser = oauth.SessionUser

// SignInInput is a submitted console sign-in form (Username, Password,
// RemoteAddr, and SessionCookie: the session the browser presented, "" if
// none, which is replaced). It is oauth's type, like SessionUser.
type SignInInput = oauth.SignInInput

// AdminTokenVerifier checks the Bearer token of an admin API request: an
// access token of this server, verified with oauth/verify, not on the deny
// list, with the scope sigil:admin; a token of a user (not a client's
// client_credentials token) also needs that user to be an enabled admin.
// It returns the actor's name (the client id, or the username). A missing,
// malformed, expired or revoked token wraps ErrAdminUnauthenticated (the API
// answers 401); a valid token without the scope, or of a non-admin user,
// wraps ErrAdminForbidden (403); anything else is a server error.
type AdminTokenVerifier interface {
	VerifyAdminToken(ctx context.Context, bearer string) (actor string, err error)
}

// Errors of AdminTokenVerifier.
var (
	ErrAdminUnauthenticated = errors.New("admin api: missing or invalid access token")
	ErrAdminForbidden       = errors.New("admin api: token lacks the sigil:admin scope or its user is not an admin")
)
