package storage

import (
	"context"
	"errors"
	"time"
)

// Records and interfaces of the admin surface (console, admin API, CLI):
// the audit log of admin actions and the JWKS consumers seen by the server.

// ErrFull reports that a bounded collection is at its limit and refuses a
// new record (known records are still updated).
var ErrFull = errors.New("limit reached")

// MaxJWKSConsumers is the most JWKS consumers a store keeps: beyond it new
// consumers are refused (ErrFull) while known ones keep being updated.
const MaxJWKSConsumers = 10000

// MaxUserAgentLen is the longest User-Agent kept in a JWKSConsumer, in
// bytes; longer ones are truncated by the caller.
const MaxUserAgentLen = 200

// AuditEntry is one admin action in the audit log: who did what to which
// record, when, on which replica and why. Key transitions stay in the key
// events log; an admin's key rotation or revocation is recorded in both.
type AuditEntry struct {
	// ID is unique and sorts in time order (set by the caller, in the
	// format of KeyEvent IDs so that the two logs merge by ID).
	ID   string
	Time time.Time
	// Kind is what the action is about: "key", "user" or "client".
	Kind string
	// Action is the verb: "add", "disable", "enable", "set-password",
	// "set-admin", "unset-admin", "delete", "rotate-secret", "rotate",
	// "revoke".
	Action string
	// Target is the kid, username or client id.
	Target string
	// Actor is the admin user, client id or operator.
	Actor   string
	Replica string
	Reason  string
}

// AuditStore holds the admin audit log.
type AuditStore interface {
	// AppendAudit records e. ErrDuplicate if e.ID exists.
	AppendAudit(ctx context.Context, e AuditEntry) error
	// ListAudit returns at most limit entries (limit <= 0: none) with an ID
	// below beforeID ("" for no bound) and, unless kind is "", of that
	// kind, newest (highest ID) first.
	ListAudit(ctx context.Context, kind, beforeID string, limit int) ([]AuditEntry, error)
}

// JWKSConsumer is one client of the JWKS endpoint, identified by address
// and User-Agent, with its latest fetch.
type JWKSConsumer struct {
	// ID identifies the consumer: a hash of Address and UserAgent.
	ID      string
	Address string
	// UserAgent is truncated to MaxUserAgentLen bytes.
	UserAgent string
	FirstSeen time.Time
	LastFetch time.Time
	// ETag is the ETag of the JWKS the consumer got at LastFetch.
	ETag string
	// ExpiresAt is when the record is forgotten (LastFetch + consumer_ttl).
	ExpiresAt time.Time
}

// JWKSConsumerStore records JWKS consumers.
type JWKSConsumerStore interface {
	// RecordJWKSConsumer upserts c by ID at c.LastFetch: a live record
	// (unexpired at c.LastFetch) keeps its FirstSeen and gets c's Address,
	// UserAgent, LastFetch, ETag and ExpiresAt; an absent or expired one is
	// replaced by c. A new consumer is refused with ErrFull when limit live
	// consumers are stored already (the check may be approximate on
	// backends without transactions).
	RecordJWKSConsumer(ctx context.Context, c JWKSConsumer, limit int) error
	// ListJWKSConsumers returns the consumers unexpired at now, ordered by
	// ID.
	ListJWKSConsumers(ctx context.Context, now time.Time) ([]JWKSConsumer, error)
}
