package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigilauth/sigil/keys/keystest"
	"github.com/sigilauth/sigil/oauth/password"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/bolt"
)

var testIssuer = "https://sigil.test"

// faultStore wraps a real store; while failing is set every call fails as
// an unreachable database would.
type faultStore struct {
	storage.Store
	failing atomic.Bool
	// failOnly, when non-empty, limits failures to the named methods.
	failOnly sync.Map
	// samplesGate, when set, holds PasswordHashSamples until closed.
	samplesGate chan struct{}
	// samples counts PasswordHashSamples calls.
	samples atomic.Int32
	// shared records, per write method, whether its last call's context
	// carried storage.WithSharedCommit.
	shared sync.Map
}

// sharedCommit reports what shared recorded for method (false if never
// called).
func (f *faultStore) sharedCommit(method string) bool {
	v, _ := f.shared.Load(method)
	b, _ := v.(bool)
	return b
}

func (f *faultStore) ResetLogin(ctx context.Context, username, userID string) error {
	f.shared.Store("ResetLogin", storage.SharedCommit(ctx))
	return f.Store.ResetLogin(ctx, username, userID)
}

func (f *faultStore) PasswordHashSamples(ctx context.Context) ([]string, error) {
	f.samples.Add(1)
	if f.samplesGate != nil {
		<-f.samplesGate
	}
	if err := f.fail("PasswordHashSamples"); err != nil {
		return nil, err
	}
	return f.Store.PasswordHashSamples(ctx)
}

var errDown = errors.New("connection refused")

func (f *faultStore) fail(method string) error {
	if !f.failing.Load() {
		return nil
	}
	n := 0
	f.failOnly.Range(func(any, any) bool { n++; return false })
	if n == 0 {
		return errDown
	}
	if _, ok := f.failOnly.Load(method); ok {
		return errDown
	}
	return nil
}

func (f *faultStore) GetUser(ctx context.Context, id string) (storage.User, error) {
	if err := f.fail("GetUser"); err != nil {
		return storage.User{}, err
	}
	return f.Store.GetUser(ctx, id)
}
func (f *faultStore) GetUserByUsername(ctx context.Context, n string) (storage.User, error) {
	if err := f.fail("GetUserByUsername"); err != nil {
		return storage.User{}, err
	}
	return f.Store.GetUserByUsername(ctx, n)
}
func (f *faultStore) GetClient(ctx context.Context, id string) (storage.Client, error) {
	if err := f.fail("GetClient"); err != nil {
		return storage.Client{}, err
	}
	return f.Store.GetClient(ctx, id)
}
func (f *faultStore) CreateFamily(ctx context.Context, fam storage.RefreshFamily) error {
	f.shared.Store("CreateFamily", storage.SharedCommit(ctx))
	if err := f.fail("CreateFamily"); err != nil {
		return err
	}
	return f.Store.CreateFamily(ctx, fam)
}
func (f *faultStore) GetFamily(ctx context.Context, id string, now time.Time) (storage.RefreshFamily, error) {
	if err := f.fail("GetFamily"); err != nil {
		return storage.RefreshFamily{}, err
	}
	return f.Store.GetFamily(ctx, id, now)
}
func (f *faultStore) RevokeFamily(ctx context.Context, id string, at time.Time, reason string) error {
	if err := f.fail("RevokeFamily"); err != nil {
		return err
	}
	return f.Store.RevokeFamily(ctx, id, at, reason)
}
func (f *faultStore) SwapRefreshToken(ctx context.Context, id, clientID, oldHash string, next storage.RefreshState, now time.Time) (storage.RefreshFamily, error) {
	if err := f.fail("SwapRefreshToken"); err != nil {
		return storage.RefreshFamily{}, err
	}
	return f.Store.SwapRefreshToken(ctx, id, clientID, oldHash, next, now)
}
func (f *faultStore) DenyAccessToken(ctx context.Context, jti string, exp time.Time) error {
	if err := f.fail("DenyAccessToken"); err != nil {
		return err
	}
	return f.Store.DenyAccessToken(ctx, jti, exp)
}
func (f *faultStore) IsAccessTokenDenied(ctx context.Context, jti string, now time.Time) (bool, error) {
	if err := f.fail("IsAccessTokenDenied"); err != nil {
		return false, err
	}
	return f.Store.IsAccessTokenDenied(ctx, jti, now)
}
func (f *faultStore) AdmitLogin(ctx context.Context, username string, now time.Time, ttl time.Duration, lockFor func(int) time.Duration) (storage.LoginAdmission, error) {
	f.shared.Store("AdmitLogin", storage.SharedCommit(ctx))
	if err := f.fail("AdmitLogin"); err != nil {
		return storage.LoginAdmission{}, err
	}
	return f.Store.AdmitLogin(ctx, username, now, ttl, lockFor)
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// countingHasher wraps the real hasher (cheap parameters) and counts calls.
type countingHasher struct {
	PasswordHasher
	verifies, dummies, hashes atomic.Int32
	// gate, when set, blocks every verification until closed.
	gate chan struct{}
}

func (h *countingHasher) Verify(enc, pw string) (bool, bool, error) {
	h.verifies.Add(1)
	if h.gate != nil {
		<-h.gate
	}
	return h.PasswordHasher.Verify(enc, pw)
}
func (h *countingHasher) DummyVerify(pw string) {
	h.dummies.Add(1)
	if h.gate != nil {
		<-h.gate
	}
	h.PasswordHasher.DummyVerify(pw)
}
func (h *countingHasher) Hash(pw string) (string, error) {
	h.hashes.Add(1)
	return h.PasswordHasher.Hash(pw)
}

// testParams keep argon2id cheap in unit tests.
var testParams = password.Params{Memory: 64, Time: 1, Threads: 1}

// env is one service over a fresh bolt store.
type env struct {
	t      *testing.T
	svc    *Service
	store  *faultStore
	keys   *keystest.Ring
	clock  *clock
	hasher *countingHasher
	cfg    Config
	ctx    context.Context
}

const (
	confID     = "web"
	confSecret = "0123456789abcdef0123456789abcdef-web"
	pubID      = "cli"
	ccID       = "svc"
	ccSecret   = "0123456789abcdef0123456789abcdef-svc"
	compatID   = "simplejwt"
	userPW     = "correct horse battery staple"
)

func secretHash(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// newEnv builds a service with clients web (confidential: password,
// refresh_token), cli (public: password, refresh_token), svc
// (confidential: client_credentials) and simplejwt, and user alice.
func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "sigil.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := &env{
		t:      t,
		store:  &faultStore{Store: st},
		keys:   &keystest.Ring{},
		clock:  newClock(),
		hasher: &countingHasher{PasswordHasher: Argon2id(testParams)},
		ctx:    context.Background(),
	}
	e.cfg = Config{Issuer: testIssuer, SimpleJWT: true, CompatClientID: compatID}
	if mod != nil {
		mod(&e.cfg)
	}
	e.svc, err = New(e.cfg, e.store, e.keys, e.hasher, WithClock(e.clock.Now),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	for _, c := range []storage.Client{
		{ID: confID, SecretHash: secretHash(confSecret), Grants: []string{"password", "refresh_token"},
			Scopes: []string{"openid", "profile", "email", "offline_access", "api:read", "api:write"}, Audiences: []string{"https://api.test"}, CreatedAt: now},
		{ID: pubID, Public: true, Grants: []string{"password", "refresh_token"}, Scopes: []string{"openid", "profile"}, CreatedAt: now},
		{ID: ccID, SecretHash: secretHash(ccSecret), Grants: []string{"client_credentials"}, Scopes: []string{"api:read", "api:write", "openid"}, TokenSigningAlg: "RS256", CreatedAt: now},
		{ID: compatID, Public: true, Grants: []string{"password"}, Scopes: []string{"api:read"}, CreatedAt: now},
	} {
		if err := st.CreateClient(e.ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	e.addUser("42", "alice", userPW)
	return e
}

func (e *env) addUser(id, username, pw string) storage.User {
	e.t.Helper()
	h, err := password.Hash(pw, testParams)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.addUserHash(id, username, h)
}

func (e *env) addUserHash(id, username, hash string) storage.User {
	e.t.Helper()
	now := e.clock.Now().Add(-time.Hour)
	u := storage.User{ID: id, Username: username, Email: username + "@example.com", EmailVerified: true,
		Name: "Alice Liddell", GivenName: "Alice", FamilyName: "Liddell", PasswordHash: hash,
		PasswordChangedAt: now, CreatedAt: now, UpdatedAt: now}
	if err := e.store.Store.CreateUser(e.ctx, u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

func basic(id, secret string) ClientCredentials {
	return ClientCredentials{ID: id, Secret: secret, Basic: true}
}

// login runs the password grant for alice as the confidential client.
func (e *env) login(scope string) *TokenResponse {
	e.t.Helper()
	r, err := e.svc.Token(e.ctx, TokenRequest{GrantType: GrantPassword, Client: basic(confID, confSecret),
		Username: "alice", Password: userPW, Scope: scope})
	if err != nil {
		e.t.Fatalf("login: %v", err)
	}
	return r
}

func (e *env) refresh(rt string) (*TokenResponse, error) {
	return e.svc.Token(e.ctx, TokenRequest{GrantType: GrantRefreshToken, Client: basic(confID, confSecret), RefreshToken: rt})
}

// wantErr checks err is an *Error with code and status.
func wantErr(t *testing.T, err error, code string, status int) *Error {
	t.Helper()
	e := AsError(err)
	if e == nil {
		t.Fatalf("error = %v, want *Error %s", err, code)
	}
	if e.Code != code || e.Status != status {
		t.Fatalf("error = %s/%d (%v), want %s/%d", e.Code, e.Status, e, code, status)
	}
	return e
}

// decodeJWT returns the header and claims of a compact JWT without
// verifying it.
func decodeJWT(t *testing.T, tok string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %d parts", len(parts))
	}
	var h, c map[string]any
	for i, dst := range []*map[string]any{&h, &c} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			t.Fatal(err)
		}
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.UseNumber()
		if err := d.Decode(dst); err != nil {
			t.Fatal(err)
		}
	}
	return h, c
}

// storageClient is a client with the given grants and the openid scope.
func storageClient(id string, public bool, grants ...string) storage.Client {
	c := storage.Client{ID: id, Public: public, Grants: grants, Scopes: []string{"openid", "api:read"}}
	if !public {
		c.SecretHash = secretHash(id + "-secret-0123456789abcdef0123456789")
	}
	return c
}
