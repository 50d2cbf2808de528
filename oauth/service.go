// Package oauth is Sigil's token service: the password, refresh_token and
// client_credentials grants, client authentication, minting of access tokens
// (RFC 9068) and ID tokens, refresh-token families with rotation and reuse
// detection (RFC 9700 §4.14), revocation (RFC 7009), introspection
// (RFC 7662), userinfo, login throttling, and the simplejwt-compatible
// operations.
//
// The package is transport-neutral: the web package decodes HTTP requests
// into the request types here and encodes the results. Every failure a
// client should hear about is returned as *Error carrying the RFC 6749 code,
// a safe description and the HTTP status; storage failures become 503
// temporarily_unavailable with a Retry-After.
//
// Secrets (passwords, tokens, client secrets) never appear in errors or logs
// written by this package.
package oauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/sigilauth/sigil/oauth/password"
	"github.com/sigilauth/sigil/oauth/verify"
	"github.com/sigilauth/sigil/storage"
)

// Signer signs JWTs with the server's active keys. *keys.KeyRing implements
// it.
type Signer interface {
	// SignJWT returns a compact JWS of payload (JSON claims) with protected
	// header {alg, kid, typ}; alg "" means DefaultAlg. It must not retain
	// payload: the caller reuses the buffer.
	SignJWT(alg, typ string, payload []byte) (string, error)
	// DefaultAlg is the algorithm used when a client names none.
	DefaultAlg() string
	// Algorithms lists the algorithms that can sign, default first.
	Algorithms() []string
}

// KeyRing is what the service needs from the key ring: signing, and the
// published verification keys (next, active or retired-but-published, never
// revoked) as the verify.KeySet through which the service checks its own
// tokens. A key that leaves the set must be withdrawn (verify.Key.Withdraw)
// so that no cached verification outlives it. *keys.KeyRing implements it.
type KeyRing interface {
	Signer
	verify.KeySet
}

// Store is the slice of storage the token service uses. Every backend's
// storage.Store satisfies it.
type Store interface {
	GetUser(ctx context.Context, id string) (storage.User, error)
	GetUserByUsername(ctx context.Context, username string) (storage.User, error)
	RehashUserPassword(ctx context.Context, id, oldHash, newHash string) error
	// PasswordHashSamples tells the hash classes failed logins are padded to.
	PasswordHashSamples(ctx context.Context) ([]string, error)
	GetClient(ctx context.Context, id string) (storage.Client, error)
	storage.RefreshStore
	storage.DenyList
	// The login path uses AdmitLogin and ResetLogin.
	storage.LoginThrottleStore
	// Browser single sign-on (authorize.go, codegrant.go, logout.go).
	storage.SessionStore
	storage.AuthCodeStore
	storage.ConsentStore
	storage.FamilyRevoker
}

var _ Store = storage.Store(nil)

// PasswordHasher verifies and hashes user passwords. Argon2id returns the
// implementation backed by oauth/password. Implementations must be safe for
// concurrent use and never put the password or hash in an error.
type PasswordHasher interface {
	// Verify reports whether pw matches encoded, and whether the hash should
	// be replaced by Hash(pw) after a successful login.
	Verify(encoded, pw string) (ok, needsRehash bool, err error)
	// Hash returns the hash to store for pw under the current parameters.
	Hash(pw string) (string, error)
	// DummyVerify costs what Verify of a current hash costs, for users that
	// cannot log in (unknown, disabled, locked).
	DummyVerify(pw string)
}

// Argon2id returns a PasswordHasher that verifies argon2id, bcrypt and Django
// pbkdf2_sha256 hashes and hashes with argon2id under p.
func Argon2id(p password.Params) PasswordHasher { return argon2idHasher{p} }

type argon2idHasher struct{ p password.Params }

func (h argon2idHasher) Verify(encoded, pw string) (bool, bool, error) {
	return password.Verify(encoded, pw, h.p)
}
func (h argon2idHasher) Hash(pw string) (string, error) { return password.Hash(pw, h.p) }
func (h argon2idHasher) DummyVerify(pw string)          { password.DummyVerify(pw, h.p) }

// Config configures the token service. Zero durations and counts take the
// documented defaults; Issuer is required.
type Config struct {
	// Issuer is the iss claim of every token.
	Issuer string
	// AccessTTL is the lifetime of access tokens (default 5m).
	AccessTTL time.Duration
	// IDTokenTTL is the lifetime of ID tokens (default 1h).
	IDTokenTTL time.Duration
	// RefreshTTL is the absolute lifetime of a refresh family, counted from
	// the login (default 24h).
	RefreshTTL time.Duration
	// RefreshIdleTTL, if positive, ends a refresh token not used for this
	// long (never later than the family's end).
	RefreshIdleTTL time.Duration
	// RefreshReuseGrace, if positive, lets the client a refresh token was
	// issued to present it again within this time of its first use and get
	// a fresh pair instead of losing the family; see Service.Token.
	RefreshReuseGrace time.Duration
	// Leeway is the clock skew tolerated on nbf/iat of tokens this server
	// verifies (default 30s, at most 10m). exp is never extended.
	Leeway time.Duration

	// SimpleJWT adds token_type "access" and user_id to access tokens and
	// enables the SimpleJWT* methods.
	SimpleJWT bool
	// CompatClientID is the client the simplejwt operations act as.
	CompatClientID string

	// PasswordHashConcurrency bounds concurrent password hashes (default:
	// number of CPUs).
	PasswordHashConcurrency int
	// PasswordHashQueue bounds the logins waiting for a hash slot (default
	// 64); a login that finds the queue full is answered 503 at once.
	PasswordHashQueue int
	// PasswordHashWait is how long a queued login waits for a hash slot
	// before the answer is 503 (default 5s).
	PasswordHashWait time.Duration

	// SessionTTL is the absolute lifetime of an SSO session, counted from
	// the login (default 24h).
	SessionTTL time.Duration
	// SessionIdleTTL ends an SSO session not used for this long (default
	// 8h; never later than SessionTTL).
	SessionIdleTTL time.Duration

	// Lockout is the per-account exponential backoff.
	Lockout Lockout
	// IPLimit is the per-address token bucket for password logins.
	IPLimit IPLimit
	// ClientAuthLimit is the per-address token bucket for failed client
	// authentication, on every endpoint that authenticates clients; only
	// failures spend a token. Same defaults as IPLimit.
	ClientAuthLimit IPLimit

	// ClientCacheTTL is how long client authentication reuses a client
	// registration read from the store (default DefaultClientCacheTTL;
	// negative: never, every authentication reads the store). A client
	// deleted, or given a new secret, grants or scopes, by another process
	// is seen by this one within it.
	ClientCacheTTL time.Duration
}

// Lockout configures the per-account backoff. After FreeFailures failures
// within Window of each other, each further login for the account is refused
// (without checking the password) until BaseDelay·2^(n−FreeFailures) after
// the last failure, capped at MaxDelay.
type Lockout struct {
	FreeFailures int           // default 5
	BaseDelay    time.Duration // default 1s
	MaxDelay     time.Duration // default 15m
	Window       time.Duration // default 1h; the counter is forgotten after it
}

// IPLimit configures the per-client-address token bucket for password
// logins: Burst attempts at once, one more every Every. A successful login
// gives its token back. IPv6 addresses share a bucket per /64. At most
// MaxAddresses buckets are kept; beyond that, addresses without a bucket are
// not limited (the per-account backoff still applies), so memory stays
// bounded.
type IPLimit struct {
	Burst        int           // default 30
	Every        time.Duration // default 2s
	MaxAddresses int           // default 100000
	// Disabled turns the limit off.
	Disabled bool
}

// Defaults.
const (
	DefaultAccessTTL         = 5 * time.Minute
	DefaultIDTokenTTL        = time.Hour
	DefaultRefreshTTL        = 24 * time.Hour
	DefaultLeeway            = 30 * time.Second
	DefaultPasswordHashWait  = 5 * time.Second
	DefaultPasswordHashQueue = 64
	DefaultSessionTTL        = 24 * time.Hour
	DefaultSessionIdleTTL    = 8 * time.Hour
	// CodeTTL is the lifetime of an authorization code (not configurable).
	CodeTTL = 60 * time.Second
)

func (c *Config) applyDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.AccessTTL, DefaultAccessTTL)
	def(&c.IDTokenTTL, DefaultIDTokenTTL)
	def(&c.RefreshTTL, DefaultRefreshTTL)
	def(&c.Leeway, DefaultLeeway)
	def(&c.PasswordHashWait, DefaultPasswordHashWait)
	def(&c.SessionTTL, DefaultSessionTTL)
	def(&c.SessionIdleTTL, DefaultSessionIdleTTL)
	if c.ClientCacheTTL == 0 {
		c.ClientCacheTTL = DefaultClientCacheTTL
	}
	if c.PasswordHashConcurrency <= 0 {
		c.PasswordHashConcurrency = runtime.NumCPU()
	}
	if c.PasswordHashQueue <= 0 {
		c.PasswordHashQueue = DefaultPasswordHashQueue
	}
	l := &c.Lockout
	if l.FreeFailures <= 0 {
		l.FreeFailures = 5
	}
	def(&l.BaseDelay, time.Second)
	def(&l.MaxDelay, 15*time.Minute)
	def(&l.Window, time.Hour)
	for _, ip := range []*IPLimit{&c.IPLimit, &c.ClientAuthLimit} {
		if ip.Burst <= 0 {
			ip.Burst = 30
		}
		def(&ip.Every, 2*time.Second)
		if ip.MaxAddresses <= 0 {
			ip.MaxAddresses = 100_000
		}
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.Issuer == "" {
		errs = append(errs, errors.New("issuer is empty"))
	}
	errs = append(errs, c.Lifetimes().problems()...)
	if c.Lockout.MaxDelay < c.Lockout.BaseDelay {
		errs = append(errs, errors.New("lockout max delay is below base delay"))
	}
	if c.Lockout.Window < c.Lockout.MaxDelay {
		errs = append(errs, errors.New("lockout window is shorter than max delay"))
	}
	if c.SimpleJWT && c.CompatClientID == "" {
		errs = append(errs, errors.New("simplejwt is on but compat client id is empty"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("oauth config: %w", errors.Join(errs...))
	}
	return nil
}

// Lifetimes are the token and session lifetimes of a Service: the part of
// its configuration that SetLifetimes may change while it serves. Each
// field means what the Config field of the same name means.
type Lifetimes struct {
	AccessTTL         time.Duration
	IDTokenTTL        time.Duration
	RefreshTTL        time.Duration
	RefreshIdleTTL    time.Duration
	RefreshReuseGrace time.Duration
	SessionTTL        time.Duration
	SessionIdleTTL    time.Duration
}

// Lifetimes returns the lifetimes set in c (no defaults applied).
func (c Config) Lifetimes() Lifetimes {
	return Lifetimes{
		AccessTTL: c.AccessTTL, IDTokenTTL: c.IDTokenTTL,
		RefreshTTL: c.RefreshTTL, RefreshIdleTTL: c.RefreshIdleTTL, RefreshReuseGrace: c.RefreshReuseGrace,
		SessionTTL: c.SessionTTL, SessionIdleTTL: c.SessionIdleTTL,
	}
}

// withLifetimes returns c with its lifetimes replaced by l.
func (c Config) withLifetimes(l Lifetimes) Config {
	c.AccessTTL, c.IDTokenTTL = l.AccessTTL, l.IDTokenTTL
	c.RefreshTTL, c.RefreshIdleTTL, c.RefreshReuseGrace = l.RefreshTTL, l.RefreshIdleTTL, l.RefreshReuseGrace
	c.SessionTTL, c.SessionIdleTTL = l.SessionTTL, l.SessionIdleTTL
	return c
}

// Validate reports every problem of l at once, or nil: the access, ID
// token, refresh and session lifetimes must be positive (there are no
// defaults here, unlike in Config), the refresh idle lifetime and the reuse
// grace must not be negative, and neither idle lifetime may exceed its
// absolute lifetime.
func (l Lifetimes) Validate() error {
	if errs := l.problems(); len(errs) > 0 {
		return fmt.Errorf("oauth lifetimes: %w", errors.Join(errs...))
	}
	return nil
}

func (l Lifetimes) problems() []error {
	var errs []error
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"access ttl", l.AccessTTL}, {"id token ttl", l.IDTokenTTL}, {"refresh ttl", l.RefreshTTL}, {"session ttl", l.SessionTTL}, {"session idle ttl", l.SessionIdleTTL}} {
		if f.d <= 0 {
			errs = append(errs, fmt.Errorf("%s %s is not positive", f.name, f.d))
		}
	}
	if l.RefreshIdleTTL < 0 {
		errs = append(errs, errors.New("refresh idle ttl is negative"))
	}
	if l.RefreshIdleTTL > l.RefreshTTL {
		errs = append(errs, fmt.Errorf("refresh idle ttl %s exceeds refresh ttl %s", l.RefreshIdleTTL, l.RefreshTTL))
	}
	if l.SessionIdleTTL > l.SessionTTL {
		errs = append(errs, fmt.Errorf("session idle ttl %s exceeds session ttl %s", l.SessionIdleTTL, l.SessionTTL))
	}
	if l.RefreshReuseGrace < 0 {
		errs = append(errs, errors.New("refresh reuse grace is negative"))
	}
	return errs
}

// idleExpiry is when a refresh token issued at now idles out:
// now+RefreshIdleTTL, or (no idle lifetime) now+RefreshTTL; the family's
// own end still applies.
func (l *Lifetimes) idleExpiry(now time.Time) time.Time {
	if l.RefreshIdleTTL > 0 {
		return now.Add(l.RefreshIdleTTL)
	}
	return now.Add(l.RefreshTTL)
}

// Option changes an optional dependency of the Service.
type Option func(*Service)

// WithClock sets the clock (default time.Now). Every time decision of the
// service reads it.
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// WithObserver sets the metrics seam (default: no-op).
func WithObserver(o Observer) Option { return func(s *Service) { s.obs = o } }

// Service is the token service. Build it with New. It is safe for concurrent
// use; it keeps only the in-memory per-address buckets, the hash semaphore,
// client registrations for at most Config.ClientCacheTTL and the password
// hash classes it pads failed logins to; everything else is in the Store,
// so replicas can share a Store.
type Service struct {
	// cfg is the configuration New was given, defaults applied; its
	// lifetime fields are those of the start and are not read after New:
	// life holds the current ones.
	cfg    Config
	life   atomic.Pointer[Lifetimes]
	store  Store
	keys   KeyRing
	hasher PasswordHasher
	now    func() time.Time
	log    *slog.Logger
	obs    Observer

	notifier BackchannelNotifier // nil: no back-channel logout
	verifier *verify.Verifier    // over keys; see parseAccess
	// hintVerifier checks id_token_hint values: the same verifier set for
	// ID tokens and no expiry check; see parseIDTokenHint.
	hintVerifier *verify.Verifier
	hashSlots    chan struct{}
	pad          hashPad // the work every failed password check does
	// hashWaiting counts logins queued for a hash slot.
	hashWaiting atomic.Int64
	// hashTimer starts the wait of a queued login (a fake in tests).
	hashTimer func(time.Duration) (<-chan time.Time, func())
	buckets   *ipBuckets
	// clientBuckets limits failed client authentication per address.
	clientBuckets *ipBuckets
	// clients caches client registrations for client authentication.
	clients clientCache
}

// New builds a Service. It fails if cfg is inconsistent (every problem is
// reported) or a dependency is nil.
func New(cfg Config, store Store, keys KeyRing, hasher PasswordHasher, opts ...Option) (*Service, error) {
	if store == nil || keys == nil || hasher == nil {
		return nil, errors.New("oauth: store, key ring and password hasher are required")
	}
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Service{
		cfg:       cfg,
		store:     store,
		keys:      keys,
		hasher:    hasher,
		now:       time.Now,
		log:       slog.Default(),
		obs:       NopObserver{},
		hashSlots: make(chan struct{}, cfg.PasswordHashConcurrency),
		hashTimer: realTimer,
		clients:   clientCache{ttl: cfg.ClientCacheTTL},
	}
	lt := cfg.Lifetimes()
	s.life.Store(&lt)
	for _, o := range opts {
		o(s)
	}
	if !cfg.IPLimit.Disabled {
		s.buckets = newIPBuckets(cfg.IPLimit)
	}
	if !cfg.ClientAuthLimit.Disabled {
		s.clientBuckets = newIPBuckets(cfg.ClientAuthLimit)
	}
	v, err := s.newVerifier()
	if err != nil {
		return nil, err
	}
	s.verifier = v
	if s.hintVerifier, err = s.newVerifier(verify.WithTokenType(TypIDToken), verify.SkipExpiryCheck(), verify.WithCacheSize(0)); err != nil {
		return nil, err
	}
	return s, nil
}

// SimpleJWTEnabled reports whether the simplejwt profile is on
// (Config.SimpleJWT), the one switch for it: the HTTP layer serves the
// simplejwt routes only then.
func (s *Service) SimpleJWTEnabled() bool { return s.cfg.SimpleJWT }

// Config returns the effective configuration (defaults applied), with the
// lifetimes in force now (see SetLifetimes).
func (s *Service) Config() Config { return s.cfg.withLifetimes(*s.lifetimes()) }

// Lifetimes returns the token and session lifetimes in force now.
func (s *Service) Lifetimes() Lifetimes { return *s.lifetimes() }

// lifetimes returns the current lifetimes. An operation reads them once and
// uses that snapshot throughout, so a concurrent SetLifetimes never gives
// one response an access token and an expires_in of different lifetimes.
func (s *Service) lifetimes() *Lifetimes { return s.life.Load() }

// SetLifetimes replaces the token and session lifetimes, all at once, for
// every token, code exchange and session started after it returns; tokens
// and sessions already issued keep the expiry they were given. It is safe
// to call while the service serves. An invalid l (see Lifetimes.Validate)
// changes nothing and is returned as the error.
//
// The caller keeps the signing keys published long enough: a key retired
// after the change must stay in the JWKS for the longer of the old and new
// token lifetimes (cmd/sigil raises the key rotator's retention with it).
func (s *Service) SetLifetimes(l Lifetimes) error {
	if err := l.Validate(); err != nil {
		return err
	}
	s.life.Store(&l)
	return nil
}
