package bolt

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// The record types below are the versioned on-disk format of the bolt file
// (schemaVersion in bolt.go). They mirror the storage records on purpose:
// storage types carry no wire tags and are never encoded directly, so the
// file format changes only here, never as a side effect of a change to a
// domain record or to CLI output. Field names are part of the file format;
// rename only with a schema version bump.

type userRecord struct {
	ID                string    `json:"id"`
	Username          string    `json:"username"`
	Email             string    `json:"email,omitempty"`
	EmailVerified     bool      `json:"email_verified,omitempty"`
	Name              string    `json:"name,omitempty"`
	GivenName         string    `json:"given_name,omitempty"`
	FamilyName        string    `json:"family_name,omitempty"`
	PasswordHash      string    `json:"password_hash"`
	PasswordChangedAt time.Time `json:"password_changed_at"`
	Disabled          bool      `json:"disabled,omitempty"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`

	// Added for the console and admin API; absent from older records,
	// which decode as non-admins.
	Admin bool `json:"admin,omitempty"`
}

func userToRecord(u storage.User) userRecord {
	return userRecord{
		ID: u.ID, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified,
		Name: u.Name, GivenName: u.GivenName, FamilyName: u.FamilyName,
		PasswordHash: u.PasswordHash, PasswordChangedAt: utc(u.PasswordChangedAt),
		Disabled: u.Disabled, CreatedAt: utc(u.CreatedAt), UpdatedAt: utc(u.UpdatedAt),
		Admin: u.Admin,
	}
}

func (r userRecord) user() storage.User {
	return storage.User{
		ID: r.ID, Username: r.Username, Email: r.Email, EmailVerified: r.EmailVerified,
		Name: r.Name, GivenName: r.GivenName, FamilyName: r.FamilyName,
		PasswordHash: r.PasswordHash, PasswordChangedAt: utc(r.PasswordChangedAt),
		Disabled: r.Disabled, CreatedAt: utc(r.CreatedAt), UpdatedAt: utc(r.UpdatedAt),
		Admin: r.Admin,
	}
}

type clientRecord struct {
	ID              string    `json:"id"`
	Name            string    `json:"name,omitempty"`
	Public          bool      `json:"public,omitempty"`
	SecretHash      []byte    `json:"secret_hash,omitempty"`
	Grants          []string  `json:"grants,omitempty"`
	Scopes          []string  `json:"scopes,omitempty"`
	Audiences       []string  `json:"audiences,omitempty"`
	TokenSigningAlg string    `json:"token_signing_alg,omitempty"`
	CreatedAt       time.Time `json:"created_at"`

	// Added for single sign-on; absent from older records, which decode
	// with them empty.
	RedirectURIs           []string `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	BackchannelLogoutURI   string   `json:"backchannel_logout_uri,omitempty"`
	FirstParty             bool     `json:"first_party,omitempty"`
	// Added for introspection rights; absent from older records (false).
	IntrospectAny bool `json:"introspect_any,omitempty"`
}

func clientToRecord(c storage.Client) clientRecord {
	return clientRecord{
		ID: c.ID, Name: c.Name, Public: c.Public, SecretHash: c.SecretHash,
		Grants: c.Grants, Scopes: c.Scopes, Audiences: c.Audiences,
		TokenSigningAlg: c.TokenSigningAlg, CreatedAt: utc(c.CreatedAt),
		RedirectURIs: c.RedirectURIs, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs,
		BackchannelLogoutURI: c.BackchannelLogoutURI, FirstParty: c.FirstParty,
		IntrospectAny: c.IntrospectAny,
	}
}

// client returns the record as a storage.Client. Slices come fresh from
// decoding, so the caller owns them.
func (r clientRecord) client() storage.Client {
	return storage.Client{
		ID: r.ID, Name: r.Name, Public: r.Public, SecretHash: r.SecretHash,
		Grants: r.Grants, Scopes: r.Scopes, Audiences: r.Audiences,
		TokenSigningAlg: r.TokenSigningAlg, CreatedAt: utc(r.CreatedAt),
		RedirectURIs: r.RedirectURIs, PostLogoutRedirectURIs: r.PostLogoutRedirectURIs,
		BackchannelLogoutURI: r.BackchannelLogoutURI, FirstParty: r.FirstParty,
		IntrospectAny: r.IntrospectAny,
	}
}

type keyRecord struct {
	KID           string    `json:"kid"`
	Alg           string    `json:"alg"`
	State         string    `json:"state"`
	PublicJWK     []byte    `json:"public_jwk,omitempty"`
	SealedPrivate []byte    `json:"sealed_private,omitempty"`
	KEKID         string    `json:"kek_id,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	PublishedAt   time.Time `json:"published_at"`
	ActivatedAt   time.Time `json:"activated_at,omitzero"`
	RetiredAt     time.Time `json:"retired_at,omitzero"`
	VerifyUntil   time.Time `json:"verify_until,omitzero"`
	RevokedAt     time.Time `json:"revoked_at,omitzero"`
	RevokeReason  string    `json:"revoke_reason,omitempty"`
}

type keySetRecord struct {
	Version      int64       `json:"version"`
	Keys         []keyRecord `json:"keys,omitempty"`
	LastRotation time.Time   `json:"last_rotation,omitzero"`
	UpdatedAt    time.Time   `json:"updated_at"`
	UpdatedBy    string      `json:"updated_by,omitempty"`
	// Pending are audit events not yet known to be in the key_events bucket.
	Pending []keyEventRecord `json:"pending_events,omitempty"`
}

func keySetToRecord(ks storage.KeySet) keySetRecord {
	r := keySetRecord{
		Version: ks.Version, LastRotation: utc(ks.LastRotation),
		UpdatedAt: utc(ks.UpdatedAt), UpdatedBy: ks.UpdatedBy,
	}
	for _, k := range ks.Keys {
		r.Keys = append(r.Keys, keyRecord{
			KID: k.KID, Alg: k.Alg, State: string(k.State),
			PublicJWK: k.PublicJWK, SealedPrivate: k.SealedPrivate, KEKID: k.KEKID,
			CreatedAt: utc(k.CreatedAt), PublishedAt: utc(k.PublishedAt),
			ActivatedAt: utc(k.ActivatedAt), RetiredAt: utc(k.RetiredAt),
			VerifyUntil: utc(k.VerifyUntil), RevokedAt: utc(k.RevokedAt),
			RevokeReason: k.RevokeReason,
		})
	}
	for _, e := range ks.PendingEvents {
		r.Pending = append(r.Pending, keyEventToRecord(e))
	}
	return r
}

func (r keySetRecord) keySet() storage.KeySet {
	ks := storage.KeySet{
		Version: r.Version, LastRotation: utc(r.LastRotation),
		UpdatedAt: utc(r.UpdatedAt), UpdatedBy: r.UpdatedBy,
	}
	for _, k := range r.Keys {
		ks.Keys = append(ks.Keys, storage.Key{
			KID: k.KID, Alg: k.Alg, State: storage.KeyState(k.State),
			PublicJWK: k.PublicJWK, SealedPrivate: k.SealedPrivate, KEKID: k.KEKID,
			CreatedAt: utc(k.CreatedAt), PublishedAt: utc(k.PublishedAt),
			ActivatedAt: utc(k.ActivatedAt), RetiredAt: utc(k.RetiredAt),
			VerifyUntil: utc(k.VerifyUntil), RevokedAt: utc(k.RevokedAt),
			RevokeReason: k.RevokeReason,
		})
	}
	for _, e := range r.Pending {
		ks.PendingEvents = append(ks.PendingEvents, e.keyEvent())
	}
	return ks
}

type keyEventRecord struct {
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
	KID    string    `json:"kid"`
	Alg    string    `json:"alg"`
	Action string    `json:"action"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason,omitempty"`
}

func keyEventToRecord(e storage.KeyEvent) keyEventRecord {
	return keyEventRecord{
		ID: e.ID, Time: utc(e.Time), KID: e.KID, Alg: e.Alg, Action: e.Action,
		From: string(e.From), To: string(e.To), Actor: e.Actor, Reason: e.Reason,
	}
}

func (r keyEventRecord) keyEvent() storage.KeyEvent {
	return storage.KeyEvent{
		ID: r.ID, Time: utc(r.Time), KID: r.KID, Alg: r.Alg, Action: r.Action,
		From: storage.KeyState(r.From), To: storage.KeyState(r.To), Actor: r.Actor, Reason: r.Reason,
	}
}

type auditRecord struct {
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Action  string    `json:"action"`
	Target  string    `json:"target,omitempty"`
	Actor   string    `json:"actor,omitempty"`
	Replica string    `json:"replica,omitempty"`
	Reason  string    `json:"reason,omitempty"`
}

func auditToRecord(e storage.AuditEntry) auditRecord {
	return auditRecord{ID: e.ID, Time: utc(e.Time), Kind: e.Kind, Action: e.Action, Target: e.Target,
		Actor: e.Actor, Replica: e.Replica, Reason: e.Reason}
}

func (r auditRecord) entry() storage.AuditEntry {
	return storage.AuditEntry{ID: r.ID, Time: utc(r.Time), Kind: r.Kind, Action: r.Action, Target: r.Target,
		Actor: r.Actor, Replica: r.Replica, Reason: r.Reason}
}

// consumerRecord is a JWKS consumer; its expires_at makes Purge drop it.
type consumerRecord struct {
	ID        string    `json:"id"`
	Address   string    `json:"address"`
	UserAgent string    `json:"user_agent,omitempty"`
	FirstSeen time.Time `json:"first_seen"`
	LastFetch time.Time `json:"last_fetch"`
	ETag      string    `json:"etag,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

func consumerToRecord(c storage.JWKSConsumer) consumerRecord {
	return consumerRecord{ID: c.ID, Address: c.Address, UserAgent: c.UserAgent, FirstSeen: utc(c.FirstSeen),
		LastFetch: utc(c.LastFetch), ETag: c.ETag, ExpiresAt: utc(c.ExpiresAt)}
}

func (r consumerRecord) consumer() storage.JWKSConsumer {
	return storage.JWKSConsumer{ID: r.ID, Address: r.Address, UserAgent: r.UserAgent, FirstSeen: utc(r.FirstSeen),
		LastFetch: utc(r.LastFetch), ETag: r.ETag, ExpiresAt: utc(r.ExpiresAt)}
}

// expiringRecord is the part of every expiring record that Purge reads. A
// record is expired once ExpiresAt, or IdleExpiresAt if set (sessions), has
// passed. PurgeAt, if set (authorization codes), replaces both: the record
// is kept until then.
type expiringRecord struct {
	ExpiresAt     time.Time `json:"expires_at"`
	IdleExpiresAt time.Time `json:"idle_expires_at,omitzero"`
	PurgeAt       time.Time `json:"purge_at,omitzero"`
}

// expired reports whether the record is due for purging at now.
func (r expiringRecord) expired(now time.Time) bool {
	if !r.PurgeAt.IsZero() {
		return expired(r.PurgeAt, now)
	}
	return expired(r.ExpiresAt, now) || (!r.IdleExpiresAt.IsZero() && expired(r.IdleExpiresAt, now))
}

type familyRecord struct {
	ID           string    `json:"id"`
	ClientID     string    `json:"client_id"`
	UserID       string    `json:"user_id"`
	Scopes       []string  `json:"scopes,omitempty"`
	AuthTime     time.Time `json:"auth_time"`
	ExpiresAt    time.Time `json:"expires_at"`
	Revoked      bool      `json:"revoked,omitempty"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	RevokeReason string    `json:"revoke_reason,omitempty"`

	// SessionIDHash is absent from records older than single sign-on.
	SessionIDHash []byte `json:"session_id_hash,omitempty"`

	// The refresh state. CurrentExpiresAt is stored as idle_expires_at, so
	// Purge (expiringRecord) deletes a family whose current token idled out.
	CurrentHash      string    `json:"current_hash,omitempty"`
	CurrentIssuedAt  time.Time `json:"current_issued_at,omitzero"`
	CurrentExpiresAt time.Time `json:"idle_expires_at,omitzero"`
	PreviousHash     string    `json:"previous_hash,omitempty"`
	PreviousUsedAt   time.Time `json:"previous_used_at,omitzero"`
}

func (r *familyRecord) setState(st storage.RefreshState) {
	r.CurrentHash, r.CurrentIssuedAt, r.CurrentExpiresAt = st.CurrentHash, utc(st.CurrentIssuedAt), utc(st.CurrentExpiresAt)
	r.PreviousHash, r.PreviousUsedAt = st.PreviousHash, utc(st.PreviousUsedAt)
}

func (r familyRecord) state() storage.RefreshState {
	return storage.RefreshState{
		CurrentHash: r.CurrentHash, CurrentIssuedAt: utc(r.CurrentIssuedAt), CurrentExpiresAt: utc(r.CurrentExpiresAt),
		PreviousHash: r.PreviousHash, PreviousUsedAt: utc(r.PreviousUsedAt),
	}
}

func familyToRecord(f storage.RefreshFamily) familyRecord {
	r := familyRecord{
		ID: f.ID, ClientID: f.ClientID, UserID: f.UserID, Scopes: f.Scopes,
		AuthTime: utc(f.AuthTime), ExpiresAt: utc(f.ExpiresAt),
		Revoked: f.Revoked, RevokedAt: utc(f.RevokedAt), RevokeReason: f.RevokeReason,
		SessionIDHash: f.SessionIDHash,
	}
	r.setState(f.RefreshState)
	return r
}

func (r familyRecord) family() storage.RefreshFamily {
	return storage.RefreshFamily{
		ID: r.ID, ClientID: r.ClientID, UserID: r.UserID, Scopes: r.Scopes,
		AuthTime: utc(r.AuthTime), ExpiresAt: utc(r.ExpiresAt),
		Revoked: r.Revoked, RevokedAt: utc(r.RevokedAt), RevokeReason: r.RevokeReason,
		SessionIDHash: r.SessionIDHash,
		RefreshState:  r.state(),
	}
}

type denyRecord struct {
	ExpiresAt time.Time `json:"expires_at"`
}

type loginFailuresRecord struct {
	Key         string    `json:"key"`
	Count       int       `json:"count"`
	LastFailure time.Time `json:"last_failure"`
	ExpiresAt   time.Time `json:"expires_at"`
	// LockedUntil is optional: records written before it existed decode
	// with the zero time (not locked).
	LockedUntil time.Time `json:"locked_until,omitzero"`
}

func (r loginFailuresRecord) loginFailures() storage.LoginFailures {
	return storage.LoginFailures{
		Key: r.Key, Count: r.Count, LastFailure: utc(r.LastFailure), ExpiresAt: utc(r.ExpiresAt),
		LockedUntil: utc(r.LockedUntil),
	}
}

// utc returns t in UTC without its monotonic reading; the zero time stays
// zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.Round(0).UTC()
}

// encode marshals a record. Slices are cloned by marshalling, so the stored
// bytes never alias the caller's record.
func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	return b, nil
}

// decode unmarshals a record read from a bucket. The result never aliases
// data, which bbolt invalidates when the transaction ends.
func decode(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode record: %w", err)
	}
	return nil
}
