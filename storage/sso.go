package storage

import (
	"context"
	"errors"
	"time"
)

// Records and interfaces of browser single sign-on: SSO sessions,
// authorization codes and remembered consents. Like refresh tokens, sessions
// and codes are stored under the SHA-256 of their secret only; the secret
// itself never reaches a backend.

// ErrCodeUsed reports that an authorization code was consumed before. It is
// returned together with the stored code, so that the caller can revoke what
// was issued from it (RFC 6749 §4.1.2).
var ErrCodeUsed = errors.New("authorization code already used")

// AuthCodeRetention is how long a consumed authorization code is kept after
// its use, so that a second use is recognised as reuse (ErrCodeUsed) rather
// than as an unknown code, and the tokens issued from it can be revoked. An
// unused code is purged at its ExpiresAt.
const AuthCodeRetention = 24 * time.Hour

// Session is a browser single sign-on session. The browser holds an opaque
// random id in a cookie; only its SHA-256 is stored.
type Session struct {
	// IDHash is the SHA-256 of the session id; the record's key.
	IDHash []byte
	// UserID is the signed-in user (the `sub`).
	UserID string
	// AuthTime is when the user authenticated (the `auth_time` claim).
	AuthTime time.Time
	// AMR lists the authentication methods used (e.g. "pwd"), for the `amr`
	// claim.
	AMR       []string
	CreatedAt time.Time
	// LastSeen is when the session was last used (TouchSession).
	LastSeen time.Time
	// ExpiresAt is the absolute end of the session (login + sessions.ttl).
	ExpiresAt time.Time
	// IdleExpiresAt is the end of the session if it is not used again
	// (LastSeen + sessions.idle_ttl). The session is dead at the earlier of
	// ExpiresAt and IdleExpiresAt.
	IdleExpiresAt time.Time
	// Clients lists, without duplicates, the ids of the clients the session
	// issued authorization codes to (for back-channel logout).
	Clients []string
}

// AuthCode is an authorization code; only its hash is stored. It is single
// use: ConsumeAuthCode marks it used exactly once.
type AuthCode struct {
	// Hash is the SHA-256 of the code string; the record's key.
	Hash        []byte
	ClientID    string
	RedirectURI string
	// CodeChallenge is the PKCE S256 challenge (base64url of SHA-256 of the
	// verifier).
	CodeChallenge string
	Scopes        []string
	Nonce         string
	// SessionIDHash is the IDHash of the SSO session the code was issued in.
	SessionIDHash []byte
	UserID        string
	AuthTime      time.Time
	IssuedAt      time.Time
	// ExpiresAt ends the code's validity: an unused code cannot be consumed
	// at or after it.
	ExpiresAt time.Time
	// UsedAt is when the code was consumed; zero while unused.
	UsedAt time.Time
	// FamilyID is the refresh family issued from the code ("" if none).
	FamilyID string
	// AccessJTI and AccessExpiresAt identify the access token issued from
	// the code, so a reuse can put it on the deny list.
	AccessJTI       string
	AccessExpiresAt time.Time
}

// Consent is a user's remembered approval of scopes for one client. The key
// is the pair (UserID, ClientID).
type Consent struct {
	UserID   string
	ClientID string
	// Scopes is the whole set of scopes the user approved for the client.
	Scopes    []string
	GrantedAt time.Time
}

// SessionStore holds SSO sessions. Every method that takes now treats a
// session as absent once now reaches ExpiresAt or IdleExpiresAt, even if
// Purge has not deleted it yet.
type SessionStore interface {
	// CreateSession stores s. ErrDuplicate if a session with s.IDHash exists
	// (even an expired one not purged yet).
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the session, or ErrNotFound if absent or expired
	// (by either lifetime) at now.
	GetSession(ctx context.Context, idHash []byte, now time.Time) (Session, error)
	// TouchSession atomically sets LastSeen = now and IdleExpiresAt =
	// now+idleTTL on a session live at now and returns the updated session.
	// ExpiresAt never changes. ErrNotFound if absent or expired at now.
	TouchSession(ctx context.Context, idHash []byte, now time.Time, idleTTL time.Duration) (Session, error)
	// AddSessionClient atomically adds clientID to the session's Clients
	// unless it is there already (idempotent; concurrent adds of different
	// ids all land). ErrNotFound if absent or expired at now.
	AddSessionClient(ctx context.Context, idHash []byte, clientID string, now time.Time) error
	// DeleteSession atomically deletes the session, whatever its expiry, and
	// returns it as it was. ErrNotFound (and nothing returned) if it was
	// absent or already expired at now; an expired record is deleted all the
	// same.
	DeleteSession(ctx context.Context, idHash []byte, now time.Time) (Session, error)
	// DeleteUserSessions deletes every session of userID (each deletion is
	// atomic; a session created concurrently may survive, so disable the
	// user or change the password first) and returns the deleted sessions
	// that were live at now, in no particular order. No sessions is no error.
	DeleteUserSessions(ctx context.Context, userID string, now time.Time) ([]Session, error)
}

// AuthCodeStore holds authorization codes.
type AuthCodeStore interface {
	// CreateAuthCode stores c, unused (c.UsedAt is ignored). ErrDuplicate if
	// c.Hash exists.
	CreateAuthCode(ctx context.Context, c AuthCode) error
	// ConsumeAuthCode marks the code used at now and records on it what the
	// caller is about to issue from it (iss), with one atomic
	// compare-and-swap, and returns it with UsedAt and iss set. Of
	// concurrent callers exactly one succeeds. Because the family id and
	// access-token jti are recorded in the same swap that marks the code
	// used, a reuse can never see a used code without them (RFC 6749
	// §4.1.2: revoke what the code issued). If the code was already used it
	// returns the stored code, with the first consumer's iss, together with
	// ErrCodeUsed (for AuthCodeRetention after the first use, whatever
	// ExpiresAt). ErrNotFound if absent, or unused and expired at now.
	ConsumeAuthCode(ctx context.Context, hash []byte, now time.Time, iss AuthCodeIssue) (AuthCode, error)
}

// AuthCodeIssue identifies the tokens issued from an authorization code:
// the refresh family ("" if none) and the access token's jti and expiry.
// The caller chooses them before it consumes the code.
type AuthCodeIssue struct {
	FamilyID        string
	AccessJTI       string
	AccessExpiresAt time.Time
}

// ConsentStore holds remembered consents. Consents do not expire.
type ConsentStore interface {
	// GetConsent returns the consent of userID for clientID, or ErrNotFound.
	GetConsent(ctx context.Context, userID, clientID string) (Consent, error)
	// SaveConsent stores c, replacing any consent of the same user and
	// client as a whole (Scopes are replaced, not merged: pass the union).
	// It is one atomic upsert.
	SaveConsent(ctx context.Context, c Consent) error
	// ListConsents returns the consents of userID ordered by ClientID; none
	// is no error.
	ListConsents(ctx context.Context, userID string) ([]Consent, error)
	// DeleteConsent forgets the consent of userID for clientID. ErrNotFound
	// if absent.
	DeleteConsent(ctx context.Context, userID, clientID string) error
}

// FamilyRevoker revokes refresh families in bulk. Each family is revoked
// atomically, as RevokeFamily does (a family already revoked keeps its first
// RevokedAt and reason), but the set as a whole is not: a family created
// concurrently may be missed.
type FamilyRevoker interface {
	// RevokeSessionFamilies revokes every unrevoked family whose
	// SessionIDHash is sessionIDHash and returns how many it revoked.
	RevokeSessionFamilies(ctx context.Context, sessionIDHash []byte, at time.Time, reason string) (int, error)
	// RevokeUserFamilies revokes every unrevoked family of userID and returns
	// how many it revoked.
	RevokeUserFamilies(ctx context.Context, userID string, at time.Time, reason string) (int, error)
}
