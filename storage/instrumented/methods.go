package instrumented

import (
	"context"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// Compile-time check that every method is covered (an added method is
// promoted from the embedded store, uninstrumented, until listed here; the
// test TestEveryMethodInstrumented catches that).
var _ storage.Store = (*Store)(nil)

// CreateUser calls the wrapped store's CreateUser under the per-call deadline.
func (s *Store) CreateUser(ctx context.Context, u storage.User) error {
	ctx, done := s.begin(ctx, "CreateUser", true)
	err := s.next.CreateUser(ctx, u)
	done(err)
	return err
}

// GetUser calls the wrapped store's GetUser under the per-call deadline.
func (s *Store) GetUser(ctx context.Context, id string) (storage.User, error) {
	ctx, done := s.begin(ctx, "GetUser", true)
	v, err := s.next.GetUser(ctx, id)
	done(err)
	return v, err
}

// GetUserByUsername calls the wrapped store's GetUserByUsername under the per-call deadline.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (storage.User, error) {
	ctx, done := s.begin(ctx, "GetUserByUsername", true)
	v, err := s.next.GetUserByUsername(ctx, username)
	done(err)
	return v, err
}

// ListUsers calls the wrapped store's ListUsers under the per-call deadline.
func (s *Store) ListUsers(ctx context.Context) ([]storage.User, error) {
	ctx, done := s.begin(ctx, "ListUsers", true)
	v, err := s.next.ListUsers(ctx)
	done(err)
	return v, err
}

// SetUserPassword calls the wrapped store's SetUserPassword under the per-call deadline.
func (s *Store) SetUserPassword(ctx context.Context, id, hash string, changedAt time.Time) error {
	ctx, done := s.begin(ctx, "SetUserPassword", true)
	err := s.next.SetUserPassword(ctx, id, hash, changedAt)
	done(err)
	return err
}

// RehashUserPassword calls the wrapped store's RehashUserPassword under the per-call deadline.
func (s *Store) RehashUserPassword(ctx context.Context, id, oldHash, newHash string) error {
	ctx, done := s.begin(ctx, "RehashUserPassword", true)
	err := s.next.RehashUserPassword(ctx, id, oldHash, newHash)
	done(err)
	return err
}

// SetUserDisabled calls the wrapped store's SetUserDisabled under the per-call deadline.
func (s *Store) SetUserDisabled(ctx context.Context, id string, disabled bool, at time.Time) error {
	ctx, done := s.begin(ctx, "SetUserDisabled", true)
	err := s.next.SetUserDisabled(ctx, id, disabled, at)
	done(err)
	return err
}

// CreateClient calls the wrapped store's CreateClient under the per-call deadline.
func (s *Store) CreateClient(ctx context.Context, c storage.Client) error {
	ctx, done := s.begin(ctx, "CreateClient", true)
	err := s.next.CreateClient(ctx, c)
	done(err)
	return err
}

// GetClient calls the wrapped store's GetClient under the per-call deadline.
func (s *Store) GetClient(ctx context.Context, id string) (storage.Client, error) {
	ctx, done := s.begin(ctx, "GetClient", true)
	v, err := s.next.GetClient(ctx, id)
	done(err)
	return v, err
}

// ListClients calls the wrapped store's ListClients under the per-call deadline.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	ctx, done := s.begin(ctx, "ListClients", true)
	v, err := s.next.ListClients(ctx)
	done(err)
	return v, err
}

// DeleteClient calls the wrapped store's DeleteClient under the per-call deadline.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	ctx, done := s.begin(ctx, "DeleteClient", true)
	err := s.next.DeleteClient(ctx, id)
	done(err)
	return err
}

// GetKeySet calls the wrapped store's GetKeySet under the per-call deadline.
func (s *Store) GetKeySet(ctx context.Context) (storage.KeySet, error) {
	ctx, done := s.begin(ctx, "GetKeySet", true)
	v, err := s.next.GetKeySet(ctx)
	done(err)
	return v, err
}

// CompareAndSwapKeySet calls the wrapped store's CompareAndSwapKeySet under the per-call deadline.
func (s *Store) CompareAndSwapKeySet(ctx context.Context, oldVersion int64, next storage.KeySet) (int64, error) {
	ctx, done := s.begin(ctx, "CompareAndSwapKeySet", true)
	v, err := s.next.CompareAndSwapKeySet(ctx, oldVersion, next)
	done(err)
	return v, err
}

// AppendKeyEvent calls the wrapped store's AppendKeyEvent under the per-call deadline.
func (s *Store) AppendKeyEvent(ctx context.Context, e storage.KeyEvent) error {
	ctx, done := s.begin(ctx, "AppendKeyEvent", true)
	err := s.next.AppendKeyEvent(ctx, e)
	done(err)
	return err
}

// ListKeyEvents calls the wrapped store's ListKeyEvents under the per-call deadline.
func (s *Store) ListKeyEvents(ctx context.Context) ([]storage.KeyEvent, error) {
	ctx, done := s.begin(ctx, "ListKeyEvents", true)
	v, err := s.next.ListKeyEvents(ctx)
	done(err)
	return v, err
}

// CreateFamily calls the wrapped store's CreateFamily under the per-call deadline.
func (s *Store) CreateFamily(ctx context.Context, f storage.RefreshFamily) error {
	ctx, done := s.begin(ctx, "CreateFamily", true)
	err := s.next.CreateFamily(ctx, f)
	done(err)
	return err
}

// GetFamily calls the wrapped store's GetFamily under the per-call deadline.
func (s *Store) GetFamily(ctx context.Context, id string, now time.Time) (storage.RefreshFamily, error) {
	ctx, done := s.begin(ctx, "GetFamily", true)
	v, err := s.next.GetFamily(ctx, id, now)
	done(err)
	return v, err
}

// RevokeFamily calls the wrapped store's RevokeFamily under the per-call deadline.
func (s *Store) RevokeFamily(ctx context.Context, id string, at time.Time, reason string) error {
	ctx, done := s.begin(ctx, "RevokeFamily", true)
	err := s.next.RevokeFamily(ctx, id, at, reason)
	done(err)
	return err
}

// SwapRefreshToken calls the wrapped store's SwapRefreshToken under the per-call deadline.
func (s *Store) SwapRefreshToken(ctx context.Context, id, clientID, oldHash string, next storage.RefreshState, now time.Time) (storage.RefreshFamily, error) {
	ctx, done := s.begin(ctx, "SwapRefreshToken", true)
	v, err := s.next.SwapRefreshToken(ctx, id, clientID, oldHash, next, now)
	done(err)
	return v, err
}

// DenyAccessToken calls the wrapped store's DenyAccessToken under the per-call deadline.
func (s *Store) DenyAccessToken(ctx context.Context, jti string, expiresAt time.Time) error {
	ctx, done := s.begin(ctx, "DenyAccessToken", true)
	err := s.next.DenyAccessToken(ctx, jti, expiresAt)
	done(err)
	return err
}

// IsAccessTokenDenied calls the wrapped store's IsAccessTokenDenied under the per-call deadline.
func (s *Store) IsAccessTokenDenied(ctx context.Context, jti string, now time.Time) (bool, error) {
	ctx, done := s.begin(ctx, "IsAccessTokenDenied", true)
	v, err := s.next.IsAccessTokenDenied(ctx, jti, now)
	done(err)
	return v, err
}

// PasswordHashSamples calls the wrapped store's PasswordHashSamples under the per-call deadline.
func (s *Store) PasswordHashSamples(ctx context.Context) ([]string, error) {
	ctx, done := s.begin(ctx, "PasswordHashSamples", true)
	v, err := s.next.PasswordHashSamples(ctx)
	done(err)
	return v, err
}

// AdmitLogin calls the wrapped store's AdmitLogin under the per-call deadline.
func (s *Store) AdmitLogin(ctx context.Context, username string, now time.Time, ttl time.Duration, lockFor func(count int) time.Duration) (storage.LoginAdmission, error) {
	ctx, done := s.begin(ctx, "AdmitLogin", true)
	v, err := s.next.AdmitLogin(ctx, username, now, ttl, lockFor)
	done(err)
	return v, err
}

// ResetLogin calls the wrapped store's ResetLogin under the per-call deadline.
func (s *Store) ResetLogin(ctx context.Context, username, userID string) error {
	ctx, done := s.begin(ctx, "ResetLogin", true)
	err := s.next.ResetLogin(ctx, username, userID)
	done(err)
	return err
}

// Purge calls the wrapped store's Purge under the per-call deadline.
func (s *Store) Purge(ctx context.Context, now time.Time) (storage.PurgeStats, error) {
	ctx, done := s.begin(ctx, "Purge", false)
	v, err := s.next.Purge(ctx, now)
	done(err)
	return v, err
}

// AcquireLease calls the wrapped store's AcquireLease under the per-call deadline.
func (s *Store) AcquireLease(ctx context.Context, name, owner string, now time.Time, ttl time.Duration) (bool, error) {
	ctx, done := s.begin(ctx, "AcquireLease", true)
	v, err := s.next.AcquireLease(ctx, name, owner, now, ttl)
	done(err)
	return v, err
}

// Ping calls the wrapped store's Ping under the per-call deadline.
func (s *Store) Ping(ctx context.Context) error {
	ctx, done := s.begin(ctx, "Ping", true)
	err := s.next.Ping(ctx)
	done(err)
	return err
}

// CreateSession calls the wrapped store's CreateSession under the per-call deadline.
func (s *Store) CreateSession(ctx context.Context, sess storage.Session) error {
	ctx, done := s.begin(ctx, "CreateSession", true)
	err := s.next.CreateSession(ctx, sess)
	done(err)
	return err
}

// GetSession calls the wrapped store's GetSession under the per-call deadline.
func (s *Store) GetSession(ctx context.Context, idHash []byte, now time.Time) (storage.Session, error) {
	ctx, done := s.begin(ctx, "GetSession", true)
	v, err := s.next.GetSession(ctx, idHash, now)
	done(err)
	return v, err
}

// TouchSession calls the wrapped store's TouchSession under the per-call deadline.
func (s *Store) TouchSession(ctx context.Context, idHash []byte, now time.Time, idleTTL time.Duration) (storage.Session, error) {
	ctx, done := s.begin(ctx, "TouchSession", true)
	v, err := s.next.TouchSession(ctx, idHash, now, idleTTL)
	done(err)
	return v, err
}

// AddSessionClient calls the wrapped store's AddSessionClient under the per-call deadline.
func (s *Store) AddSessionClient(ctx context.Context, idHash []byte, clientID string, now time.Time) error {
	ctx, done := s.begin(ctx, "AddSessionClient", true)
	err := s.next.AddSessionClient(ctx, idHash, clientID, now)
	done(err)
	return err
}

// DeleteSession calls the wrapped store's DeleteSession under the per-call deadline.
func (s *Store) DeleteSession(ctx context.Context, idHash []byte, now time.Time) (storage.Session, error) {
	ctx, done := s.begin(ctx, "DeleteSession", true)
	v, err := s.next.DeleteSession(ctx, idHash, now)
	done(err)
	return v, err
}

// DeleteUserSessions calls the wrapped store's DeleteUserSessions under the per-call deadline.
func (s *Store) DeleteUserSessions(ctx context.Context, userID string, now time.Time) ([]storage.Session, error) {
	ctx, done := s.begin(ctx, "DeleteUserSessions", true)
	v, err := s.next.DeleteUserSessions(ctx, userID, now)
	done(err)
	return v, err
}

// CreateAuthCode calls the wrapped store's CreateAuthCode under the per-call deadline.
func (s *Store) CreateAuthCode(ctx context.Context, c storage.AuthCode) error {
	ctx, done := s.begin(ctx, "CreateAuthCode", true)
	err := s.next.CreateAuthCode(ctx, c)
	done(err)
	return err
}

// ConsumeAuthCode calls the wrapped store's ConsumeAuthCode under the per-call deadline.
func (s *Store) ConsumeAuthCode(ctx context.Context, hash []byte, now time.Time, issue storage.AuthCodeIssue) (storage.AuthCode, error) {
	ctx, done := s.begin(ctx, "ConsumeAuthCode", true)
	v, err := s.next.ConsumeAuthCode(ctx, hash, now, issue)
	done(err)
	return v, err
}

// GetConsent calls the wrapped store's GetConsent under the per-call deadline.
func (s *Store) GetConsent(ctx context.Context, userID, clientID string) (storage.Consent, error) {
	ctx, done := s.begin(ctx, "GetConsent", true)
	v, err := s.next.GetConsent(ctx, userID, clientID)
	done(err)
	return v, err
}

// SaveConsent calls the wrapped store's SaveConsent under the per-call deadline.
func (s *Store) SaveConsent(ctx context.Context, c storage.Consent) error {
	ctx, done := s.begin(ctx, "SaveConsent", true)
	err := s.next.SaveConsent(ctx, c)
	done(err)
	return err
}

// ListConsents calls the wrapped store's ListConsents under the per-call deadline.
func (s *Store) ListConsents(ctx context.Context, userID string) ([]storage.Consent, error) {
	ctx, done := s.begin(ctx, "ListConsents", true)
	v, err := s.next.ListConsents(ctx, userID)
	done(err)
	return v, err
}

// DeleteConsent calls the wrapped store's DeleteConsent under the per-call deadline.
func (s *Store) DeleteConsent(ctx context.Context, userID, clientID string) error {
	ctx, done := s.begin(ctx, "DeleteConsent", true)
	err := s.next.DeleteConsent(ctx, userID, clientID)
	done(err)
	return err
}

// RevokeSessionFamilies calls the wrapped store's RevokeSessionFamilies under the per-call deadline.
func (s *Store) RevokeSessionFamilies(ctx context.Context, sessionIDHash []byte, at time.Time, reason string) (int, error) {
	ctx, done := s.begin(ctx, "RevokeSessionFamilies", true)
	v, err := s.next.RevokeSessionFamilies(ctx, sessionIDHash, at, reason)
	done(err)
	return v, err
}

// RevokeUserFamilies calls the wrapped store's RevokeUserFamilies under the per-call deadline.
func (s *Store) RevokeUserFamilies(ctx context.Context, userID string, at time.Time, reason string) (int, error) {
	ctx, done := s.begin(ctx, "RevokeUserFamilies", true)
	v, err := s.next.RevokeUserFamilies(ctx, userID, at, reason)
	done(err)
	return v, err
}

// SetUserAdmin calls the wrapped store's SetUserAdmin under the per-call deadline.
func (s *Store) SetUserAdmin(ctx context.Context, id string, admin bool, at time.Time) error {
	ctx, done := s.begin(ctx, "SetUserAdmin", true)
	err := s.next.SetUserAdmin(ctx, id, admin, at)
	done(err)
	return err
}

// AppendAudit calls the wrapped store's AppendAudit under the per-call deadline.
func (s *Store) AppendAudit(ctx context.Context, e storage.AuditEntry) error {
	ctx, done := s.begin(ctx, "AppendAudit", true)
	err := s.next.AppendAudit(ctx, e)
	done(err)
	return err
}

// ListAudit calls the wrapped store's ListAudit under the per-call deadline.
func (s *Store) ListAudit(ctx context.Context, kind, beforeID string, limit int) ([]storage.AuditEntry, error) {
	ctx, done := s.begin(ctx, "ListAudit", true)
	v, err := s.next.ListAudit(ctx, kind, beforeID, limit)
	done(err)
	return v, err
}

// RecordJWKSConsumer calls the wrapped store's RecordJWKSConsumer under the per-call deadline.
func (s *Store) RecordJWKSConsumer(ctx context.Context, c storage.JWKSConsumer, limit int) error {
	ctx, done := s.begin(ctx, "RecordJWKSConsumer", true)
	err := s.next.RecordJWKSConsumer(ctx, c, limit)
	done(err)
	return err
}

// ListJWKSConsumers calls the wrapped store's ListJWKSConsumers under the per-call deadline.
func (s *Store) ListJWKSConsumers(ctx context.Context, now time.Time) ([]storage.JWKSConsumer, error) {
	ctx, done := s.begin(ctx, "ListJWKSConsumers", true)
	v, err := s.next.ListJWKSConsumers(ctx, now)
	done(err)
	return v, err
}

// SetClientSecret calls the wrapped store's SetClientSecret under the per-call deadline.
func (s *Store) SetClientSecret(ctx context.Context, id string, secretHash []byte) error {
	ctx, done := s.begin(ctx, "SetClientSecret", true)
	err := s.next.SetClientSecret(ctx, id, secretHash)
	done(err)
	return err
}
