package bolt

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/sigilauth/sigil/storage"
)

// Session and code keys are the base64url (no padding) encoding of their
// SHA-256 hashes; like refresh-token ids they stay out of error messages.

// hashKey returns the bucket key of a session or code hash.
func hashKey(hash []byte) string { return base64.RawURLEncoding.EncodeToString(hash) }

type sessionRecord struct {
	IDHash        []byte    `json:"id_hash"`
	UserID        string    `json:"user_id"`
	AuthTime      time.Time `json:"auth_time"`
	AMR           []string  `json:"amr,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
	LastSeen      time.Time `json:"last_seen"`
	ExpiresAt     time.Time `json:"expires_at"`
	IdleExpiresAt time.Time `json:"idle_expires_at,omitzero"`
	Clients       []string  `json:"clients,omitempty"`
}

func sessionToRecord(s storage.Session) sessionRecord {
	return sessionRecord{
		IDHash: s.IDHash, UserID: s.UserID, AuthTime: utc(s.AuthTime), AMR: s.AMR,
		CreatedAt: utc(s.CreatedAt), LastSeen: utc(s.LastSeen),
		ExpiresAt: utc(s.ExpiresAt), IdleExpiresAt: utc(s.IdleExpiresAt), Clients: s.Clients,
	}
}

func (r sessionRecord) session() storage.Session {
	return storage.Session{
		IDHash: r.IDHash, UserID: r.UserID, AuthTime: utc(r.AuthTime), AMR: r.AMR,
		CreatedAt: utc(r.CreatedAt), LastSeen: utc(r.LastSeen),
		ExpiresAt: utc(r.ExpiresAt), IdleExpiresAt: utc(r.IdleExpiresAt), Clients: r.Clients,
	}
}

// live reports whether the session is alive at now (by both lifetimes).
func (r sessionRecord) live(now time.Time) bool {
	return !expiringRecord{ExpiresAt: r.ExpiresAt, IdleExpiresAt: r.IdleExpiresAt}.expired(now)
}

type authCodeRecord struct {
	Hash            []byte    `json:"hash"`
	ClientID        string    `json:"client_id"`
	RedirectURI     string    `json:"redirect_uri"`
	CodeChallenge   string    `json:"code_challenge"`
	Scopes          []string  `json:"scopes,omitempty"`
	Nonce           string    `json:"nonce,omitempty"`
	SessionIDHash   []byte    `json:"session_id_hash,omitempty"`
	UserID          string    `json:"user_id"`
	AuthTime        time.Time `json:"auth_time"`
	IssuedAt        time.Time `json:"issued_at"`
	ExpiresAt       time.Time `json:"expires_at"`
	UsedAt          time.Time `json:"used_at,omitzero"`
	FamilyID        string    `json:"family_id,omitempty"`
	AccessJTI       string    `json:"access_jti,omitempty"`
	AccessExpiresAt time.Time `json:"access_expires_at,omitzero"`
	// PurgeAt is set when the code is used: it is then kept until
	// UsedAt+storage.AuthCodeRetention.
	PurgeAt time.Time `json:"purge_at,omitzero"`
}

func authCodeToRecord(c storage.AuthCode) authCodeRecord {
	return authCodeRecord{
		Hash: c.Hash, ClientID: c.ClientID, RedirectURI: c.RedirectURI, CodeChallenge: c.CodeChallenge,
		Scopes: c.Scopes, Nonce: c.Nonce, SessionIDHash: c.SessionIDHash, UserID: c.UserID,
		AuthTime: utc(c.AuthTime), IssuedAt: utc(c.IssuedAt), ExpiresAt: utc(c.ExpiresAt),
		FamilyID: c.FamilyID, AccessJTI: c.AccessJTI, AccessExpiresAt: utc(c.AccessExpiresAt),
	}
}

func (r authCodeRecord) authCode() storage.AuthCode {
	return storage.AuthCode{
		Hash: r.Hash, ClientID: r.ClientID, RedirectURI: r.RedirectURI, CodeChallenge: r.CodeChallenge,
		Scopes: r.Scopes, Nonce: r.Nonce, SessionIDHash: r.SessionIDHash, UserID: r.UserID,
		AuthTime: utc(r.AuthTime), IssuedAt: utc(r.IssuedAt), ExpiresAt: utc(r.ExpiresAt),
		UsedAt: utc(r.UsedAt), FamilyID: r.FamilyID, AccessJTI: r.AccessJTI,
		AccessExpiresAt: utc(r.AccessExpiresAt),
	}
}

type consentRecord struct {
	UserID    string    `json:"user_id"`
	ClientID  string    `json:"client_id"`
	Scopes    []string  `json:"scopes,omitempty"`
	GrantedAt time.Time `json:"granted_at"`
}

func (r consentRecord) consent() storage.Consent {
	return storage.Consent{UserID: r.UserID, ClientID: r.ClientID, Scopes: r.Scopes, GrantedAt: utc(r.GrantedAt)}
}

// consentPrefix returns the key prefix of every consent of userID. The
// length prefix makes it unambiguous whatever bytes the ids contain, and
// keeps one user's consents contiguous and ordered by client id.
func consentPrefix(userID string) string { return strconv.Itoa(len(userID)) + ":" + userID + ":" }

// consentKey returns the key of the consent of userID for clientID.
func consentKey(userID, clientID string) string { return consentPrefix(userID) + clientID }

// CreateSession stores s. ErrDuplicate if s.IDHash exists (even if expired
// but not yet purged).
func (s *Store) CreateSession(ctx context.Context, sess storage.Session) error {
	return s.update(ctx, "create session", func(tx *bbolt.Tx) error {
		if len(sess.IDHash) == 0 {
			return errEmptyID
		}
		b, key := tx.Bucket(bucketSessions), hashKey(sess.IDHash)
		if b.Get([]byte(key)) != nil {
			return storage.ErrDuplicate
		}
		return put(b, key, sessionToRecord(sess))
	})
}

// getSession decodes the session into r, or returns ErrNotFound if absent
// or expired at now.
func getSession(tx *bbolt.Tx, idHash []byte, now time.Time, r *sessionRecord) error {
	ok, err := get(tx.Bucket(bucketSessions), hashKey(idHash), r)
	if err != nil {
		return err
	}
	if !ok {
		return storage.ErrNotFound
	}
	if !r.live(now) {
		return fmt.Errorf("expired: %w", storage.ErrNotFound)
	}
	return nil
}

// GetSession returns the session, or ErrNotFound if absent or expired (by
// either lifetime) at now.
func (s *Store) GetSession(ctx context.Context, idHash []byte, now time.Time) (storage.Session, error) {
	var r sessionRecord
	err := s.view(ctx, "get session", func(tx *bbolt.Tx) error {
		return getSession(tx, idHash, now, &r)
	})
	if err != nil {
		return storage.Session{}, err
	}
	return r.session(), nil
}

// modifySession applies fn to the session live at now in one transaction and
// stores the result. ErrNotFound if absent or expired at now.
func (s *Store) modifySession(ctx context.Context, op string, idHash []byte, now time.Time, fn func(r *sessionRecord)) (storage.Session, error) {
	var r sessionRecord
	err := s.update(ctx, op, func(tx *bbolt.Tx) error {
		if err := getSession(tx, idHash, now, &r); err != nil {
			return err
		}
		fn(&r)
		return put(tx.Bucket(bucketSessions), hashKey(idHash), r)
	})
	if err != nil {
		return storage.Session{}, err
	}
	return r.session(), nil
}

// TouchSession sets LastSeen = now and IdleExpiresAt = now+idleTTL in one
// transaction and returns the session. ErrNotFound if absent or expired at
// now.
func (s *Store) TouchSession(ctx context.Context, idHash []byte, now time.Time, idleTTL time.Duration) (storage.Session, error) {
	return s.modifySession(ctx, "touch session", idHash, now, func(r *sessionRecord) {
		r.LastSeen, r.IdleExpiresAt = utc(now), utc(now.Add(idleTTL))
	})
}

// AddSessionClient adds clientID to the session's clients unless present, in
// one transaction. ErrNotFound if absent or expired at now.
func (s *Store) AddSessionClient(ctx context.Context, idHash []byte, clientID string, now time.Time) error {
	_, err := s.modifySession(ctx, "add session client", idHash, now, func(r *sessionRecord) {
		if !slices.Contains(r.Clients, clientID) {
			r.Clients = append(r.Clients, clientID)
		}
	})
	return err
}

// DeleteSession deletes the session in one transaction and returns it.
// ErrNotFound if it was absent or expired at now (an expired one is deleted
// all the same).
func (s *Store) DeleteSession(ctx context.Context, idHash []byte, now time.Time) (storage.Session, error) {
	var r sessionRecord
	var dead bool
	err := s.update(ctx, "delete session", func(tx *bbolt.Tx) error {
		b, key := tx.Bucket(bucketSessions), hashKey(idHash)
		r = sessionRecord{}
		ok, err := get(b, key, &r)
		if err != nil {
			return err
		}
		if !ok {
			return storage.ErrNotFound
		}
		if err := b.Delete([]byte(key)); err != nil {
			return err
		}
		// An expired session is deleted all the same, but reported as gone.
		dead = !r.live(now)
		return nil
	})
	if err != nil {
		return storage.Session{}, err
	}
	if dead {
		return storage.Session{}, fmt.Errorf("bolt: delete session: expired: %w", storage.ErrNotFound)
	}
	return r.session(), nil
}

// DeleteUserSessions deletes every session of userID in one transaction (a
// scan of all sessions) and returns those live at now.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string, now time.Time) ([]storage.Session, error) {
	var out []storage.Session
	err := s.update(ctx, fmt.Sprintf("delete sessions of user %q", userID), func(tx *bbolt.Tx) error {
		out = nil
		b := tx.Bucket(bucketSessions)
		var doomed [][]byte
		err := b.ForEach(func(k, v []byte) error {
			var r sessionRecord
			if err := decode(v, &r); err != nil {
				return err
			}
			if r.UserID != userID {
				return nil
			}
			doomed = append(doomed, append([]byte(nil), k...))
			if r.live(now) {
				out = append(out, r.session())
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range doomed {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// CreateAuthCode stores c unused. ErrDuplicate if c.Hash exists.
func (s *Store) CreateAuthCode(ctx context.Context, c storage.AuthCode) error {
	return s.update(ctx, "create authorization code", func(tx *bbolt.Tx) error {
		if len(c.Hash) == 0 {
			return errEmptyID
		}
		b, key := tx.Bucket(bucketAuthCodes), hashKey(c.Hash)
		if b.Get([]byte(key)) != nil {
			return storage.ErrDuplicate
		}
		return put(b, key, authCodeToRecord(c))
	})
}

// ConsumeAuthCode marks the code used at now in one transaction, so of
// concurrent callers exactly one succeeds. A used code (until purged) is
// returned with storage.ErrCodeUsed; ErrNotFound if absent, or unused and
// expired at now.
func (s *Store) ConsumeAuthCode(ctx context.Context, hash []byte, now time.Time, iss storage.AuthCodeIssue) (storage.AuthCode, error) {
	var r authCodeRecord
	var used bool
	err := s.update(ctx, "consume authorization code", func(tx *bbolt.Tx) error {
		b, key := tx.Bucket(bucketAuthCodes), hashKey(hash)
		r, used = authCodeRecord{}, false
		ok, err := get(b, key, &r)
		if err != nil {
			return err
		}
		switch {
		case !ok:
			return storage.ErrNotFound
		case !r.UsedAt.IsZero() && expired(r.PurgeAt, now):
			return fmt.Errorf("used and past retention: %w", storage.ErrNotFound)
		case !r.UsedAt.IsZero():
			used = true
			return nil
		case expired(r.ExpiresAt, now):
			return fmt.Errorf("expired: %w", storage.ErrNotFound)
		}
		r.UsedAt, r.PurgeAt = utc(now), utc(now.Add(storage.AuthCodeRetention))
		r.FamilyID, r.AccessJTI, r.AccessExpiresAt = iss.FamilyID, iss.AccessJTI, utc(iss.AccessExpiresAt)
		return put(b, key, r)
	})
	if err != nil {
		return storage.AuthCode{}, err
	}
	if used {
		return r.authCode(), fmt.Errorf("bolt: consume authorization code: %w", storage.ErrCodeUsed)
	}
	return r.authCode(), nil
}

// GetConsent returns the consent of userID for clientID, or ErrNotFound.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (storage.Consent, error) {
	var r consentRecord
	err := s.view(ctx, fmt.Sprintf("get consent of user %q for client %q", userID, clientID), func(tx *bbolt.Tx) error {
		ok, err := get(tx.Bucket(bucketConsents), consentKey(userID, clientID), &r)
		if err != nil {
			return err
		}
		if !ok {
			return storage.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return storage.Consent{}, err
	}
	return r.consent(), nil
}

// SaveConsent stores c, replacing any consent of the same user and client.
func (s *Store) SaveConsent(ctx context.Context, c storage.Consent) error {
	return s.update(ctx, fmt.Sprintf("save consent of user %q for client %q", c.UserID, c.ClientID), func(tx *bbolt.Tx) error {
		if c.UserID == "" || c.ClientID == "" {
			return errEmptyID
		}
		return put(tx.Bucket(bucketConsents), consentKey(c.UserID, c.ClientID), consentRecord{
			UserID: c.UserID, ClientID: c.ClientID, Scopes: c.Scopes, GrantedAt: utc(c.GrantedAt),
		})
	})
}

// ListConsents returns the consents of userID ordered by client id (byte
// order).
func (s *Store) ListConsents(ctx context.Context, userID string) ([]storage.Consent, error) {
	var out []storage.Consent
	err := s.view(ctx, fmt.Sprintf("list consents of user %q", userID), func(tx *bbolt.Tx) error {
		prefix := []byte(consentPrefix(userID))
		c := tx.Bucket(bucketConsents).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var r consentRecord
			if err := decode(v, &r); err != nil {
				return err
			}
			out = append(out, r.consent())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DeleteConsent forgets the consent of userID for clientID. ErrNotFound if
// absent.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	return s.update(ctx, fmt.Sprintf("delete consent of user %q for client %q", userID, clientID), func(tx *bbolt.Tx) error {
		b, key := tx.Bucket(bucketConsents), []byte(consentKey(userID, clientID))
		if b.Get(key) == nil {
			return storage.ErrNotFound
		}
		return b.Delete(key)
	})
}

// RevokeSessionFamilies revokes, in one transaction, every unrevoked family
// issued in the session (a scan of all families) and returns how many.
func (s *Store) RevokeSessionFamilies(ctx context.Context, sessionIDHash []byte, at time.Time, reason string) (int, error) {
	if len(sessionIDHash) == 0 {
		return 0, fmt.Errorf("bolt: revoke session families: %w", errEmptyID)
	}
	return s.revokeFamiliesWhere(ctx, "revoke session families", at, reason, func(r familyRecord) bool {
		return bytes.Equal(r.SessionIDHash, sessionIDHash)
	})
}

// RevokeUserFamilies revokes, in one transaction, every unrevoked family of
// userID (a scan of all families) and returns how many.
func (s *Store) RevokeUserFamilies(ctx context.Context, userID string, at time.Time, reason string) (int, error) {
	return s.revokeFamiliesWhere(ctx, fmt.Sprintf("revoke families of user %q", userID), at, reason, func(r familyRecord) bool {
		return r.UserID == userID
	})
}

// revokeFamiliesWhere revokes every unrevoked family matching match.
func (s *Store) revokeFamiliesWhere(ctx context.Context, op string, at time.Time, reason string, match func(familyRecord) bool) (int, error) {
	var n int
	err := s.update(ctx, op, func(tx *bbolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketFamilies)
		var hits []familyRecord
		err := b.ForEach(func(_, v []byte) error {
			var r familyRecord
			if err := decode(v, &r); err != nil {
				return err
			}
			if !r.Revoked && match(r) {
				hits = append(hits, r)
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Write after the walk: modifying under a live cursor is unsafe.
		for _, r := range hits {
			r.Revoked, r.RevokedAt, r.RevokeReason = true, utc(at), reason
			if err := put(b, r.ID, r); err != nil {
				return err
			}
		}
		n = len(hits)
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}
