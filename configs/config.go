// Package configs defines Sigil's configuration: the Config struct, its
// defaults, loading from a YAML file followed by SIGIL_* environment
// overrides, and complete validation.
//
// Every setting has a dotted key (for example "keys.prepublish") made of the
// yaml tags on its path, and an environment variable made of "SIGIL_" and the
// upper-cased key with dots replaced by underscores (SIGIL_KEYS_PREPUBLISH).
// configs/sigil.example.yaml documents each key and its default.
package configs

import (
	"runtime"
	"time"
)

// Config is the whole server configuration. The zero value is not useful;
// start from Default or Load. Load does not validate: call Validate before
// using a Config.
type Config struct {
	// Issuer is the `iss` of every token and the base of the discovery
	// document: an absolute http(s) URL without query or fragment, https
	// unless the host is loopback.
	Issuer string `yaml:"issuer"`
	// Listen is the host:port the HTTP server binds.
	Listen string `yaml:"listen"`
	// MetricsListen, when set, is the host:port serving /metrics, which
	// keeps it off the public port; empty serves /metrics on Listen.
	MetricsListen string `yaml:"metrics_listen"`
	// ShutdownGrace is how long the server keeps serving after SIGTERM
	// with /readyz answering 503, so load balancers take it out of
	// rotation before it stops accepting connections.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// ShutdownTimeout bounds the drain of in-flight requests after the
	// grace; requests still running then are cut.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// TLS, when both files are set, serves HTTPS on Listen directly.
	TLS      TLS      `yaml:"tls"`
	Storage  Storage  `yaml:"storage"`
	Keys     Keys     `yaml:"keys"`
	JWKS     JWKS     `yaml:"jwks"`
	Tokens   Tokens   `yaml:"tokens"`
	Sessions Sessions `yaml:"sessions"`
	Compat   Compat   `yaml:"compat"`
	Security Security `yaml:"security"`
	Log      Log      `yaml:"log"`
	Web      Web      `yaml:"web"`
	CORS     CORS     `yaml:"cors"`
}

// TLS configures HTTPS on the public listener. Set both files or neither.
// The certificate is reloaded when the files change (checked at most once a
// minute) and on SIGHUP.
type TLS struct {
	// CertFile is the PEM certificate chain, leaf first.
	CertFile string `yaml:"cert_file"`
	// KeyFile is the PEM private key of the leaf certificate.
	KeyFile string `yaml:"key_file"`
}

// Storage selects and configures the storage backend.
type Storage struct {
	// Backend is "bolt" (embedded file, one process) or "mongo".
	Backend string `yaml:"backend"`
	// BoltPath is the bbolt data file, created with its directory if absent.
	BoltPath string `yaml:"bolt_path"`
	// MongoURI is the mongodb:// or mongodb+srv:// connection string. It may
	// hold a password, so it never appears in logs or validation messages.
	MongoURI string `yaml:"mongo_uri"`
	// MongoDatabase is the database holding Sigil's collections.
	MongoDatabase string `yaml:"mongo_database"`
	// Timeout bounds every storage call on a request path, and connecting
	// at start-up, so an unreachable backend fails fast.
	Timeout time.Duration `yaml:"timeout"`
}

// Keys configures signing keys and their rotation.
type Keys struct {
	// Algorithms lists the key families (ES256, RS256); the first signs by
	// default.
	Algorithms []string `yaml:"algorithms"`
	// RSABits is the RSA modulus size for RS256 keys: 2048, 3072 or 4096.
	RSABits int `yaml:"rsa_bits"`
	// Rotation is the robfig/cron spec saying when a rotation is due
	// ("@every 720h", "0 3 * * 1").
	Rotation string `yaml:"rotation"`
	// Prepublish is how long a next key is published before it may sign. It
	// must be at least JWKS.MaxAge.
	Prepublish time.Duration `yaml:"prepublish"`
	// ReconcileInterval is how often each replica re-checks the key set.
	ReconcileInterval time.Duration `yaml:"reconcile_interval"`
	// EncryptionKeyFile names the file holding the key-encryption key that
	// seals private keys at rest. Empty: the bolt backend generates one
	// beside its data file.
	EncryptionKeyFile string `yaml:"encryption_key_file"`
	// EncryptionKeyPreviousFile names the file holding the previous
	// key-encryption key during a KEK rotation: it opens keys not yet
	// re-sealed by `keys rewrap`, and never seals. Empty: none.
	EncryptionKeyPreviousFile string `yaml:"encryption_key_previous_file"`
	// ClockLeeway is added to a retired key's verify_until to allow for
	// clock skew between Sigil and resource servers.
	ClockLeeway time.Duration `yaml:"clock_leeway"`
}

// JWKS configures the published key set.
type JWKS struct {
	// MaxAge is the Cache-Control max-age of the JWKS response.
	MaxAge time.Duration `yaml:"max_age"`
	// ConsumerTTL is how long a JWKS consumer (client address and
	// User-Agent) is remembered after its last fetch, for the console's
	// "has the next key" view.
	ConsumerTTL time.Duration `yaml:"consumer_ttl"`
}

// Tokens configures token lifetimes.
type Tokens struct {
	// AccessTTL is the lifetime of access tokens.
	AccessTTL time.Duration `yaml:"access_ttl"`
	// RefreshTTL is the absolute lifetime of a refresh-token family.
	RefreshTTL time.Duration `yaml:"refresh_ttl"`
	// RefreshIdleTTL ends a refresh token unused for this long; 0 disables
	// the idle limit. At most RefreshTTL.
	RefreshIdleTTL time.Duration `yaml:"refresh_idle_ttl"`
	// IDTokenTTL is the lifetime of id_tokens.
	IDTokenTTL time.Duration `yaml:"id_token_ttl"`
	// RefreshReuseGrace is how long after a refresh token was used the same
	// client may present it again and get a fresh pair instead of having the
	// family revoked; 0 disables the grace.
	RefreshReuseGrace time.Duration `yaml:"refresh_reuse_grace"`
}

// Sessions configures single-sign-on sessions (the browser's login at
// Sigil, shared by every client it signs in to).
type Sessions struct {
	// TTL is the absolute lifetime of a session, from the login.
	TTL time.Duration `yaml:"ttl"`
	// IdleTTL ends a session unused for this long. At most TTL.
	IdleTTL time.Duration `yaml:"idle_ttl"`
}

// Web configures the browser pages.
type Web struct {
	// Title names the deployment on every page.
	Title string `yaml:"title"`
}

// CORS configures cross-origin requests from browser applications (a
// single-page app using the authorization code flow with PKCE) to the
// endpoints such an app calls: token, revocation, userinfo and the
// simplejwt routes. It is reloaded on SIGHUP. Discovery and the JWKS allow
// every origin whatever it says.
type CORS struct {
	// AllowedOrigins lists the exact origins (scheme://host[:port], as a
	// browser sends them in the Origin header) whose scripts may read those
	// endpoints' answers: https, or http for a loopback host. Empty: none.
	AllowedOrigins []string `yaml:"allowed_origins"`
}

// Compat configures compatibility profiles.
type Compat struct {
	// SimpleJWT enables the djangorestframework-simplejwt compatible routes
	// and claims.
	SimpleJWT bool `yaml:"simplejwt"`
	// ClientID is the client the simplejwt routes act as.
	ClientID string `yaml:"client_id"`
}

// Security configures request-level protections.
type Security struct {
	// TrustedProxies lists the IP addresses or CIDR prefixes whose
	// X-Forwarded-For header is believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// PasswordHashConcurrency bounds concurrent password hashes; 0 means the
	// number of CPUs (see EffectivePasswordHashConcurrency).
	PasswordHashConcurrency int `yaml:"password_hash_concurrency"`
	// PasswordHashQueue bounds the logins waiting for a hash slot; a login
	// that finds it full is answered 503 with Retry-After at once.
	PasswordHashQueue int `yaml:"password_hash_queue"`
	// PasswordHashWait is how long a queued login waits for a hash slot
	// before the answer is 503 with Retry-After.
	PasswordHashWait time.Duration `yaml:"password_hash_wait"`
	// ClientCacheTTL is how long a replica reuses a client registration
	// read from storage when authenticating clients; 0 turns the cache
	// off. A client deleted or given new grants, scopes or secret by
	// another replica or the CLI is seen within it.
	ClientCacheTTL time.Duration `yaml:"client_cache_ttl"`
	// IPLimit is the per-address token bucket for password logins.
	IPLimit IPLimit `yaml:"ip_limit"`
	// Lockout is the per-account backoff after failed logins.
	Lockout Lockout `yaml:"lockout"`
	// Argon2id are the parameters of new password hashes.
	Argon2id Argon2id `yaml:"argon2id"`
}

// IPLimit configures the per-address token bucket for password logins:
// Burst attempts at once, one more every Every.
type IPLimit struct {
	// Burst is the bucket size.
	Burst int `yaml:"burst"`
	// Every is how often the bucket gains one attempt.
	Every time.Duration `yaml:"every"`
	// MaxAddresses bounds the tracked buckets (memory); beyond it new
	// addresses are not limited, the per-account lockout still applies.
	MaxAddresses int `yaml:"max_addresses"`
	// Disabled turns the address limit off.
	Disabled bool `yaml:"disabled"`
}

// Lockout configures the per-account backoff: after FreeFailures failures,
// each further login waits BaseDelay·2^(n−FreeFailures), at most MaxDelay;
// the count is forgotten Window after the last failure.
type Lockout struct {
	FreeFailures int           `yaml:"free_failures"`
	BaseDelay    time.Duration `yaml:"base_delay"`
	MaxDelay     time.Duration `yaml:"max_delay"`
	Window       time.Duration `yaml:"window"`
}

// Argon2id are the argon2id cost parameters of new password hashes.
// Existing hashes under other parameters are upgraded at the next login.
type Argon2id struct {
	// MemoryKiB is the memory cost in KiB.
	MemoryKiB int `yaml:"memory_kib"`
	// Time is the number of passes.
	Time int `yaml:"time"`
	// Threads is the parallelism (lanes), 1 to 255.
	Threads int `yaml:"threads"`
}

// EffectivePasswordHashConcurrency returns PasswordHashConcurrency, or the
// number of CPUs when it is 0.
func (s Security) EffectivePasswordHashConcurrency() int {
	if s.PasswordHashConcurrency > 0 {
		return s.PasswordHashConcurrency
	}
	return runtime.NumCPU()
}

// Log configures the server log.
type Log struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// Default returns the configuration used when no file and no environment
// variable says otherwise: listen on 127.0.0.1:8080 with the bolt backend in
// ./sigil-data. Each call returns a fresh value (slices are not shared).
func Default() Config {
	return Config{
		Issuer: "http://127.0.0.1:8080",
		Listen: "127.0.0.1:8080",

		ShutdownGrace:   5 * time.Second,
		ShutdownTimeout: 30 * time.Second,
		Storage: Storage{
			Backend:       "bolt",
			BoltPath:      "./sigil-data/sigil.db",
			MongoDatabase: "sigil",
			Timeout:       2 * time.Second,
		},
		Keys: Keys{
			Algorithms:        []string{"ES256", "RS256"},
			RSABits:           2048,
			Rotation:          "@every 720h",
			Prepublish:        time.Hour,
			ReconcileInterval: 30 * time.Second,
			ClockLeeway:       time.Minute,
		},
		JWKS: JWKS{MaxAge: 15 * time.Minute, ConsumerTTL: 7 * 24 * time.Hour},
		Tokens: Tokens{
			AccessTTL:  5 * time.Minute,
			RefreshTTL: 24 * time.Hour,
			IDTokenTTL: time.Hour,
		},
		Sessions: Sessions{TTL: 24 * time.Hour, IdleTTL: 8 * time.Hour},
		Compat:   Compat{ClientID: "simplejwt"},
		Security: Security{
			PasswordHashQueue: 64,
			PasswordHashWait:  5 * time.Second,
			ClientCacheTTL:    5 * time.Second,
			IPLimit:           IPLimit{Burst: 30, Every: 2 * time.Second, MaxAddresses: 100_000},
			Lockout:           Lockout{FreeFailures: 5, BaseDelay: time.Second, MaxDelay: 15 * time.Minute, Window: time.Hour},
			Argon2id:          Argon2id{MemoryKiB: 19456, Time: 2, Threads: 1},
		},
		Log: Log{Level: "info", Format: "text"},
		Web: Web{Title: "Sigil"},
	}
}
