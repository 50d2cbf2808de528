package oauth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sigilauth/sigil/storage"
)

// This file holds the account operations of the admin surfaces: the CLI
// (working on storage directly), the admin API and the console. Each applies
// the record rules of records.go, hashes with the configured hasher, and
// writes an admin audit entry before it reports success, so that the rules
// and the audit trail live once.

// MinClientSecretLen is the shortest client secret accepted from an
// operator: secrets are stored as a fast SHA-256, so they must be
// high-entropy. Generated secrets are 43 characters.
const MinClientSecretLen = 32

// Audit kinds.
const (
	AuditKindKey    = "key"
	AuditKindUser   = "user"
	AuditKindClient = "client"
)

// AuditIntrospectAny is the reason of the audit entry of a client
// registered with IntrospectAny, so that the privilege shows in the trail
// (as "admin" does for a user added as an administrator).
const AuditIntrospectAny = "introspect_any"

// AdminStore is the storage Admin needs; every backend's storage.Store
// satisfies it.
type AdminStore interface {
	storage.UserStore
	storage.ClientStore
	storage.AuditStore
	UserSessionEnder
	// ListKeyEvents is read by Audit, which merges key transitions with
	// admin entries.
	ListKeyEvents(ctx context.Context) ([]storage.KeyEvent, error)
}

var _ AdminStore = storage.Store(nil)

// AdminErrorKind classifies an AdminError.
type AdminErrorKind int

// The kinds of AdminError.
const (
	AdminInvalid  AdminErrorKind = iota + 1 // bad input
	AdminNotFound                           // no such user or client
	AdminConflict                           // the name or id is taken
)

// AdminError is a refusal of an admin operation with a message fit to show
// to the operator (never a secret). Any other error from Admin is a server
// or storage failure.
type AdminError struct {
	Kind    AdminErrorKind
	Message string
}

// Error implements error.
func (e *AdminError) Error() string { return e.Message }

func adminErr(kind AdminErrorKind, format string, args ...any) error {
	return &AdminError{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// AdminConfig configures Admin.
type AdminConfig struct {
	// Replica names this process in audit entries.
	Replica string
	// Algorithms are the configured signing algorithms; a client's
	// TokenSigningAlg must be one of them.
	Algorithms []string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ClientChanged, when set, is called with a client's id after Admin
	// added, deleted or gave a new secret to it: a Service of the same
	// process passes its ForgetClient, so the change applies to it at once
	// rather than within its ClientCacheTTL.
	ClientChanged func(id string)
}

// Admin performs account operations with the shared record rules and
// audits them. It is safe for concurrent use.
type Admin struct {
	store  AdminStore
	hasher PasswordHasher
	cfg    AdminConfig

	mu  sync.Mutex
	seq uint64
}

// NewAdmin returns an Admin over store hashing new passwords with hasher.
func NewAdmin(store AdminStore, hasher PasswordHasher, cfg AdminConfig) *Admin {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Admin{store: store, hasher: hasher, cfg: cfg}
}

// NewUser is an AddUser request.
type NewUser struct {
	Username, Password, Email, Name string
	Admin                           bool
}

// AddUser creates a user with a random id after checking the record rules,
// hashing the password with the configured hasher. AdminInvalid for a bad
// field or an empty password, AdminConflict when the username is taken.
func (a *Admin) AddUser(ctx context.Context, actor string, in NewUser) (storage.User, error) {
	id, err := NewUserID()
	if err != nil {
		return storage.User{}, err
	}
	now := a.cfg.Now()
	u := storage.User{
		ID: id, Username: in.Username, Email: in.Email, Name: in.Name, Admin: in.Admin,
		PasswordChangedAt: now, CreatedAt: now, UpdatedAt: now,
	}
	if err := ValidateUser(u); err != nil {
		return storage.User{}, adminErr(AdminInvalid, "%s", err.Error())
	}
	if err := validatePassword(in.Password); err != nil {
		return storage.User{}, err
	}
	if err := a.subjectFree(ctx, SubjectUser, u.ID); err != nil {
		return storage.User{}, err
	}
	if u.PasswordHash, err = a.hasher.Hash(in.Password); err != nil {
		return storage.User{}, fmt.Errorf("hash password: %w", err)
	}
	if err := a.store.CreateUser(ctx, u); err != nil {
		if errors.Is(err, storage.ErrDuplicate) {
			return storage.User{}, adminErr(AdminConflict, "user %q already exists", in.Username)
		}
		return storage.User{}, fmt.Errorf("create user %q: %w", in.Username, err)
	}
	reason := ""
	if in.Admin {
		reason = "admin"
	}
	return u, a.audit(ctx, AuditKindUser, "add", in.Username, actor, reason)
}

// validatePassword refuses an empty password or one that is not UTF-8.
func validatePassword(pw string) error {
	switch {
	case pw == "":
		return adminErr(AdminInvalid, "empty password")
	case !utf8.ValidString(pw):
		return adminErr(AdminInvalid, "password is not valid UTF-8")
	case len(pw) > 1024:
		return adminErr(AdminInvalid, "password longer than 1024 bytes")
	}
	return nil
}

// user looks a user up by name; AdminNotFound if absent.
func (a *Admin) user(ctx context.Context, username string) (storage.User, error) {
	u, err := a.store.GetUserByUsername(ctx, username)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.User{}, adminErr(AdminNotFound, "no user named %q", username)
	}
	if err != nil {
		return storage.User{}, fmt.Errorf("look up user %q: %w", username, err)
	}
	return u, nil
}

// Users lists every user ordered by username.
func (a *Admin) Users(ctx context.Context) ([]storage.User, error) {
	return a.store.ListUsers(ctx)
}

// SetUserDisabled disables or enables a user. Disabling also ends every
// SSO session and refresh family of the user, for good (enabling later
// does not bring them back).
func (a *Admin) SetUserDisabled(ctx context.Context, actor, username string, disabled bool, reason string) error {
	u, err := a.user(ctx, username)
	if err != nil {
		return err
	}
	now := a.cfg.Now()
	if err := a.store.SetUserDisabled(ctx, u.ID, disabled, now); err != nil {
		return fmt.Errorf("set disabled of user %q: %w", username, err)
	}
	action := "enable"
	if disabled {
		action = "disable"
		if _, _, err := EndUserSessions(ctx, a.store, u.ID, now, RevokeUserDisabled); err != nil {
			return fmt.Errorf("end the sessions of user %q: %w", username, err)
		}
	}
	return a.audit(ctx, AuditKindUser, action, username, actor, reason)
}

// SetUserPassword replaces a user's password and ends their sessions and
// refresh families. The password is neither logged nor audited.
func (a *Admin) SetUserPassword(ctx context.Context, actor, username, pw string) error {
	if err := validatePassword(pw); err != nil {
		return err
	}
	u, err := a.user(ctx, username)
	if err != nil {
		return err
	}
	hash, err := a.hasher.Hash(pw)
	if err != nil {
		return fmt.Errorf("hash password: %w", err)
	}
	now := a.cfg.Now()
	if err := a.store.SetUserPassword(ctx, u.ID, hash, now); err != nil {
		return fmt.Errorf("set password of user %q: %w", username, err)
	}
	if _, _, err := EndUserSessions(ctx, a.store, u.ID, now, RevokePasswordChanged); err != nil {
		return fmt.Errorf("end the sessions of user %q: %w", username, err)
	}
	return a.audit(ctx, AuditKindUser, "set-password", username, actor, "")
}

// SetUserAdmin grants (admin) or takes away the admin flag.
func (a *Admin) SetUserAdmin(ctx context.Context, actor, username string, admin bool) error {
	u, err := a.user(ctx, username)
	if err != nil {
		return err
	}
	if err := a.store.SetUserAdmin(ctx, u.ID, admin, a.cfg.Now()); err != nil {
		return fmt.Errorf("set admin of user %q: %w", username, err)
	}
	action := "set-admin"
	if !admin {
		action = "unset-admin"
	}
	return a.audit(ctx, AuditKindUser, action, username, actor, "")
}

// Clients lists every client ordered by id.
func (a *Admin) Clients(ctx context.Context) ([]storage.Client, error) {
	return a.store.ListClients(ctx)
}

// AddClient registers c after checking the record rules (and that its
// signing algorithm is configured). A public client gets no secret; a
// confidential one gets secret, which must have MinClientSecretLen
// characters, or a generated one when secret is "". It returns the stored
// client and the secret ("" for a public client). c.SecretHash and
// c.CreatedAt are set here. The audit entry's reason is AuditIntrospectAny
// when c.IntrospectAny is set. The CLI, the admin API and the console all
// register clients here.
func (a *Admin) AddClient(ctx context.Context, actor string, c storage.Client, secret string) (storage.Client, string, error) {
	if err := ValidateClient(c); err != nil {
		return storage.Client{}, "", adminErr(AdminInvalid, "%s", err.Error())
	}
	if c.TokenSigningAlg != "" && len(a.cfg.Algorithms) > 0 && !slices.Contains(a.cfg.Algorithms, c.TokenSigningAlg) {
		return storage.Client{}, "", adminErr(AdminInvalid, "signing algorithm %s is not in keys.algorithms (%s)", c.TokenSigningAlg, strings.Join(a.cfg.Algorithms, ", "))
	}
	switch {
	case c.Public && secret != "":
		return storage.Client{}, "", adminErr(AdminInvalid, "a public client has no secret")
	case c.Public:
	case secret == "":
		var err error
		if secret, err = NewClientSecret(); err != nil {
			return storage.Client{}, "", err
		}
	case utf8.RuneCountInString(secret) < MinClientSecretLen:
		return storage.Client{}, "", adminErr(AdminInvalid, "client secret has fewer than %d characters", MinClientSecretLen)
	}
	c.SecretHash = nil
	if secret != "" {
		c.SecretHash = HashClientSecret(secret)
	}
	if err := a.subjectFree(ctx, SubjectClient, c.ID); err != nil {
		return storage.Client{}, "", err
	}
	c.CreatedAt = a.cfg.Now()
	if err := a.store.CreateClient(ctx, c); err != nil {
		if errors.Is(err, storage.ErrDuplicate) {
			return storage.Client{}, "", adminErr(AdminConflict, "client %q already exists", c.ID)
		}
		return storage.Client{}, "", fmt.Errorf("create client %q: %w", c.ID, err)
	}
	a.clientChanged(c.ID)
	reason := ""
	if c.IntrospectAny {
		reason = AuditIntrospectAny
	}
	return c, secret, a.audit(ctx, AuditKindClient, "add", c.ID, actor, reason)
}

// DeleteClient removes a client; AdminNotFound if absent.
func (a *Admin) DeleteClient(ctx context.Context, actor, id, reason string) error {
	if err := a.store.DeleteClient(ctx, id); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return adminErr(AdminNotFound, "no client with id %q", id)
		}
		return fmt.Errorf("delete client %q: %w", id, err)
	}
	a.clientChanged(id)
	return a.audit(ctx, AuditKindClient, "delete", id, actor, reason)
}

// RotateClientSecret gives a confidential client a new generated secret
// and returns it. The new one works at once; the old one stops working at
// once in a Service that AdminConfig.ClientChanged tells, and within its
// Config.ClientCacheTTL in the others (other replicas). AdminNotFound if
// absent, AdminInvalid for a public client.
func (a *Admin) RotateClientSecret(ctx context.Context, actor, id string) (string, error) {
	c, err := a.store.GetClient(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return "", adminErr(AdminNotFound, "no client with id %q", id)
	}
	if err != nil {
		return "", fmt.Errorf("get client %q: %w", id, err)
	}
	if c.Public {
		return "", adminErr(AdminInvalid, "client %q is public and has no secret", id)
	}
	secret, err := NewClientSecret()
	if err != nil {
		return "", err
	}
	if err := a.store.SetClientSecret(ctx, id, HashClientSecret(secret)); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return "", adminErr(AdminNotFound, "no client with id %q", id)
		}
		return "", fmt.Errorf("set secret of client %q: %w", id, err)
	}
	a.clientChanged(id)
	return secret, a.audit(ctx, AuditKindClient, "rotate-secret", id, actor, "")
}

// clientChanged runs the ClientChanged hook, if any.
func (a *Admin) clientChanged(id string) {
	if a.cfg.ClientChanged != nil {
		a.cfg.ClientChanged(id)
	}
}

// NewClientSecret returns 32 random bytes, base64url without padding.
func NewClientSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate client secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashClientSecret returns the stored form of a client secret (SHA-256).
func HashClientSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// RecordKeyAction writes the admin audit entry of a key rotation or
// revocation made through an admin surface (the key events log records the
// transitions themselves).
func (a *Admin) RecordKeyAction(ctx context.Context, actor, action, target, reason string) error {
	return a.audit(ctx, AuditKindKey, action, target, actor, reason)
}

// NewAuditID returns a unique audit id that sorts in time order, in the
// format of the key events' ids, so that the two logs merge by id.
func (a *Admin) NewAuditID(now time.Time) string {
	a.mu.Lock()
	a.seq++
	seq := a.seq
	a.mu.Unlock()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return fmt.Sprintf("%019d-%06d-%s", now.UnixNano(), seq%1000000, hex.EncodeToString(rnd[:]))
}

// audit appends an entry at now.
func (a *Admin) audit(ctx context.Context, kind, action, target, actor, reason string) error {
	now := a.cfg.Now()
	e := storage.AuditEntry{
		ID: a.NewAuditID(now), Time: now, Kind: kind, Action: action, Target: target,
		Actor: actor, Replica: a.cfg.Replica, Reason: reason,
	}
	if err := a.store.AppendAudit(ctx, e); err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	return nil
}

// MaxAuditPage is the largest audit page; DefaultAuditPage is used for a
// limit of 0.
const (
	MaxAuditPage     = 200
	DefaultAuditPage = 50
)

// Audit returns one page of the audit trail, newest first: the admin
// entries merged with the key events (as kind "key" entries whose target is
// the kid), those with an id below before ("" for the newest), of kind ("",
// "key", "user" or "client"). next is the cursor of the following page, ""
// at the end. AdminInvalid for an unknown kind or a limit outside 0..200.
func (a *Admin) Audit(ctx context.Context, kind, before string, limit int) (entries []storage.AuditEntry, next string, err error) {
	switch kind {
	case "", AuditKindKey, AuditKindUser, AuditKindClient:
	default:
		return nil, "", adminErr(AdminInvalid, "unknown audit kind %q (want key, user or client)", truncate(kind))
	}
	switch {
	case limit == 0:
		limit = DefaultAuditPage
	case limit < 0 || limit > MaxAuditPage:
		return nil, "", adminErr(AdminInvalid, "limit must be between 1 and %d", MaxAuditPage)
	}
	// One more than asked tells whether there is a next page.
	admin, err := a.store.ListAudit(ctx, kind, before, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list audit entries: %w", err)
	}
	merged := admin
	if kind == "" || kind == AuditKindKey {
		evs, err := a.store.ListKeyEvents(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("list key events: %w", err)
		}
		// Newest first, below the cursor, at most limit+1.
		n := 0
		for i := len(evs) - 1; i >= 0 && n <= limit; i-- {
			e := evs[i]
			if before != "" && e.ID >= before {
				continue
			}
			merged = append(merged, storage.AuditEntry{
				ID: e.ID, Time: e.Time, Kind: AuditKindKey, Action: e.Action, Target: e.KID,
				Actor: e.Actor, Reason: e.Reason,
			})
			n++
		}
		slices.SortFunc(merged, func(x, y storage.AuditEntry) int { return strings.Compare(y.ID, x.ID) })
	}
	if len(merged) > limit {
		merged = merged[:limit]
		next = merged[limit-1].ID
	}
	return merged, next, nil
}

// subjectFree applies CheckSubjectFree for the admin operations: a taken
// id is AdminConflict, a lookup failure a server error.
func (a *Admin) subjectFree(ctx context.Context, kind, id string) error {
	err := CheckSubjectFree(ctx, a.store, kind, id)
	if errors.Is(err, ErrSubjectTaken) {
		return adminErr(AdminConflict, "%s", err.Error())
	}
	return err
}
