package configs

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/robfig/cron/v3"
)

// Problem is one invalid setting.
type Problem struct {
	// Key is the dotted key of the setting, e.g. "keys.prepublish".
	Key string
	// Message says what is wrong, without the key.
	Message string
}

// MaxClockLeeway is the largest keys.clock_leeway: the server verifies its
// own tokens through oauth/verify, whose WithLeeway refuses more (its
// maxLeeway).
const MaxClockLeeway = 10 * time.Minute

// MinPrepublish is the least keys.prepublish, whatever jwks.max_age: it is
// oauth/verify's MinRefetchInterval, the least time between two JWKS
// fetches of a resource server using it, unknown kid or not, so a key
// published for less could be missed by a resource server that fetched
// just before it appeared. (configs is a leaf and does not import
// oauth/verify; a test in cmd/sigil keeps the two equal.)
const MinPrepublish = 10 * time.Second

// String returns "key: message".
func (p Problem) String() string { return p.Key + ": " + p.Message }

// ValidationError lists every problem found in a configuration. Load and
// Validate return it (wrapped, for Load); use errors.As to inspect Problems.
type ValidationError struct {
	Problems []Problem
}

// Error joins every problem on one line.
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	noun := "problems"
	if len(parts) == 1 {
		noun = "problem"
	}
	return fmt.Sprintf("invalid configuration (%d %s): %s", len(parts), noun, strings.Join(parts, "; "))
}

// Keys returns the key of every problem, in order.
func (e *ValidationError) Keys() []string {
	keys := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		keys[i] = p.Key
	}
	return keys
}

// Supported values.
var (
	backends   = []string{"bolt", "mongo"}
	algorithms = []string{"ES256", "RS256"}
	rsaBits    = []int{2048, 3072, 4096}
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
)

// Validate checks every setting and returns a *ValidationError listing all
// problems at once, or nil. Messages never contain storage.mongo_uri, which
// may hold a password.
func (c Config) Validate() error {
	var v validator

	c.validateIssuer(&v)
	if err := validListen(c.Listen); err != nil {
		v.add("listen", "%v", err)
	}

	if c.MetricsListen != "" {
		if err := validListen(c.MetricsListen); err != nil {
			v.add("metrics_listen", "%v", err)
		} else if c.MetricsListen == c.Listen {
			v.add("metrics_listen", "must differ from listen (leave it empty to serve /metrics on listen)")
		}
	}

	// lifecycle and TLS
	v.nonNegative("shutdown_grace", c.ShutdownGrace)
	v.positive("shutdown_timeout", c.ShutdownTimeout)
	c.validateTLS(&v)

	// storage
	v.positive("storage.timeout", c.Storage.Timeout)
	switch c.Storage.Backend {
	case "bolt":
		v.check(strings.TrimSpace(c.Storage.BoltPath) == "", "storage.bolt_path", "must not be empty with the bolt backend")
	case "mongo":
		uri := strings.TrimSpace(c.Storage.MongoURI)
		switch {
		case uri == "":
			v.add("storage.mongo_uri", "must be set with the mongo backend")
		case !strings.HasPrefix(uri, "mongodb://") && !strings.HasPrefix(uri, "mongodb+srv://"):
			v.add("storage.mongo_uri", "must start with mongodb:// or mongodb+srv://")
		}
		if err := validMongoDatabase(c.Storage.MongoDatabase); err != nil {
			v.add("storage.mongo_database", "%v", err)
		}
	default:
		v.add("storage.backend", "unknown backend %q (want one of %s)", c.Storage.Backend, strings.Join(backends, ", "))
	}

	// keys
	if len(c.Keys.Algorithms) == 0 {
		v.add("keys.algorithms", "must list at least one algorithm (%s)", strings.Join(algorithms, ", "))
	}
	for i, alg := range c.Keys.Algorithms {
		switch {
		case !slices.Contains(algorithms, alg):
			v.add("keys.algorithms", "unsupported algorithm %q (want %s)", alg, strings.Join(algorithms, " or "))
		case slices.Index(c.Keys.Algorithms, alg) < i:
			v.add("keys.algorithms", "%s is listed twice", alg)
		}
	}
	v.check(!slices.Contains(rsaBits, c.Keys.RSABits), "keys.rsa_bits", "%d is not supported (want 2048, 3072 or 4096)", c.Keys.RSABits)
	if strings.TrimSpace(c.Keys.Rotation) == "" {
		v.add("keys.rotation", "must not be empty")
	} else if _, err := cron.ParseStandard(c.Keys.Rotation); err != nil {
		// The grammar keys.ParseSchedule parses (robfig/cron's standard
		// spec); configs stays a leaf and does not import keys.
		v.add("keys.rotation", "invalid cron spec %q: %v", c.Keys.Rotation, unwrapAll(err))
	}
	v.nonNegative("keys.prepublish", c.Keys.Prepublish)
	v.positive("keys.reconcile_interval", c.Keys.ReconcileInterval)
	v.nonNegative("keys.clock_leeway", c.Keys.ClockLeeway)
	v.check(c.Keys.ClockLeeway > MaxClockLeeway, "keys.clock_leeway",
		"(%s) must be at most %s, the largest leeway token verification (oauth/verify) accepts", c.Keys.ClockLeeway, MaxClockLeeway)

	// jwks
	v.positive("jwks.max_age", c.JWKS.MaxAge)
	v.positive("jwks.consumer_ttl", c.JWKS.ConsumerTTL)
	// The next key must be published long enough for every consumer to
	// see it before it signs: HTTP caches honouring the JWKS max-age, and
	// oauth/verify, which refetches for an unknown kid at most every
	// MinPrepublish.
	switch {
	case c.Keys.Prepublish < 0:
	case c.JWKS.MaxAge > 0 && c.Keys.Prepublish < c.JWKS.MaxAge && c.JWKS.MaxAge >= MinPrepublish:
		v.add("keys.prepublish", "(%s) must be at least jwks.max_age (%s), or caches could miss the next key", c.Keys.Prepublish, c.JWKS.MaxAge)
	case c.Keys.Prepublish < MinPrepublish:
		v.add("keys.prepublish", "(%s) must be at least %s (and at least jwks.max_age, %s): resource servers using oauth/verify refetch the JWKS for an unknown kid at most every %s, so one that fetched just before the next key appeared would refuse tokens signed with it",
			c.Keys.Prepublish, MinPrepublish, c.JWKS.MaxAge, MinPrepublish)
	}

	// tokens
	v.positive("tokens.access_ttl", c.Tokens.AccessTTL)
	v.positive("tokens.refresh_ttl", c.Tokens.RefreshTTL)
	v.nonNegative("tokens.refresh_idle_ttl", c.Tokens.RefreshIdleTTL)
	v.positive("tokens.id_token_ttl", c.Tokens.IDTokenTTL)
	v.nonNegative("tokens.refresh_reuse_grace", c.Tokens.RefreshReuseGrace)
	v.positive("sessions.ttl", c.Sessions.TTL)
	v.positive("sessions.idle_ttl", c.Sessions.IdleTTL)
	if c.Sessions.TTL > 0 && c.Sessions.IdleTTL > c.Sessions.TTL {
		v.add("sessions.idle_ttl", "(%s) must not exceed sessions.ttl (%s)", c.Sessions.IdleTTL, c.Sessions.TTL)
	}
	if strings.TrimSpace(c.Web.Title) == "" || len(c.Web.Title) > 100 || strings.ContainsFunc(c.Web.Title, unicode.IsControl) {
		v.add("web.title", "must be 1 to 100 characters without control characters")
	}
	if c.Tokens.RefreshTTL > 0 && c.Tokens.RefreshIdleTTL > c.Tokens.RefreshTTL {
		v.add("tokens.refresh_idle_ttl", "(%s) must not exceed tokens.refresh_ttl (%s)", c.Tokens.RefreshIdleTTL, c.Tokens.RefreshTTL)
	}

	c.validateCORS(&v)

	// compat
	v.check(c.Compat.SimpleJWT && strings.TrimSpace(c.Compat.ClientID) == "", "compat.client_id", "must be set when compat.simplejwt is on")

	// security
	for _, p := range c.Security.TrustedProxies {
		if !validProxy(p) {
			v.add("security.trusted_proxies", "%q is neither an IP address nor a CIDR prefix", p)
		}
	}
	v.check(c.Security.PasswordHashConcurrency < 0, "security.password_hash_concurrency", "must not be negative (0 means the number of CPUs)")
	v.check(c.Security.PasswordHashQueue < 1, "security.password_hash_queue", "must be at least 1")
	v.positive("security.password_hash_wait", c.Security.PasswordHashWait)
	v.nonNegative("security.client_cache_ttl", c.Security.ClientCacheTTL)
	c.validateLimits(&v)

	// log
	v.check(!slices.Contains(logLevels, c.Log.Level), "log.level", "unknown level %q (want %s)", c.Log.Level, strings.Join(logLevels, ", "))
	v.check(!slices.Contains(logFormats, c.Log.Format), "log.format", "unknown format %q (want %s)", c.Log.Format, strings.Join(logFormats, ", "))

	return v.err()
}

// validateTLS checks that both TLS files are set or neither, and that the
// ones set are readable files (their content is checked when the server
// loads them).
func (c Config) validateTLS(v *validator) {
	cert, key := strings.TrimSpace(c.TLS.CertFile), strings.TrimSpace(c.TLS.KeyFile)
	switch {
	case cert == "" && key == "":
		return
	case cert == "":
		v.add("tls.cert_file", "must be set when tls.key_file is set")
	case key == "":
		v.add("tls.key_file", "must be set when tls.cert_file is set")
	}
	for _, f := range []struct{ key, path string }{{"tls.cert_file", cert}, {"tls.key_file", key}} {
		if f.path == "" {
			continue
		}
		if err := readableFile(f.path); err != nil {
			v.add(f.key, "%v", err)
		}
	}
}

// readableFile returns an error unless path names a regular file this
// process can open for reading.
func readableFile(path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %v", path, errors.Unwrap(err))
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return fmt.Errorf("cannot read %s: %v", path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	return nil
}

// Bounds of the argon2id parameters: at least the OWASP minimum memory
// (the argon2 spec allows 8·threads KiB, which is no protection), and no
// more than oauth/password accepts when verifying a stored hash.
const (
	minArgonMemoryKiB = 8192
	maxArgonMemoryKiB = 1 << 21
	maxArgonTime      = 1000
)

// validateLimits checks the brute-force limits and the hash parameters.
func (c Config) validateLimits(v *validator) {
	ip, lo, a := c.Security.IPLimit, c.Security.Lockout, c.Security.Argon2id
	if !ip.Disabled {
		v.check(ip.Burst < 1, "security.ip_limit.burst", "(%d) must be at least 1 (set security.ip_limit.disabled to turn the limit off)", ip.Burst)
		v.positive("security.ip_limit.every", ip.Every)
		v.check(ip.MaxAddresses < 1, "security.ip_limit.max_addresses", "(%d) must be at least 1", ip.MaxAddresses)
	}
	v.check(lo.FreeFailures < 1, "security.lockout.free_failures", "(%d) must be at least 1", lo.FreeFailures)
	v.positive("security.lockout.base_delay", lo.BaseDelay)
	v.positive("security.lockout.max_delay", lo.MaxDelay)
	v.positive("security.lockout.window", lo.Window)
	if lo.BaseDelay > 0 && lo.MaxDelay > 0 && lo.MaxDelay < lo.BaseDelay {
		v.add("security.lockout.max_delay", "(%s) must be at least security.lockout.base_delay (%s)", lo.MaxDelay, lo.BaseDelay)
	}
	if lo.MaxDelay > 0 && lo.Window > 0 && lo.Window < lo.MaxDelay {
		v.add("security.lockout.window", "(%s) must be at least security.lockout.max_delay (%s), or the count is forgotten while the account is still locked", lo.Window, lo.MaxDelay)
	}
	v.check(a.MemoryKiB < minArgonMemoryKiB || a.MemoryKiB > maxArgonMemoryKiB, "security.argon2id.memory_kib",
		"(%d) must be between %d and %d", a.MemoryKiB, minArgonMemoryKiB, maxArgonMemoryKiB)
	v.check(a.Time < 1 || a.Time > maxArgonTime, "security.argon2id.time", "(%d) must be between 1 and %d", a.Time, maxArgonTime)
	v.check(a.Threads < 1 || a.Threads > 255, "security.argon2id.threads", "(%d) must be between 1 and 255", a.Threads)
}

func (c Config) validateIssuer(v *validator) {
	if c.Issuer == "" {
		v.add("issuer", "must be set")
		return
	}
	u, err := url.Parse(c.Issuer)
	if err != nil {
		v.add("issuer", "is not a valid URL")
		return
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		v.add("issuer", "must be an absolute http or https URL")
		return
	case u.Host == "" || u.Hostname() == "":
		v.add("issuer", "must have a host")
		return
	case u.User != nil:
		v.add("issuer", "must not contain user information")
		return
	case u.RawQuery != "" || u.ForceQuery:
		v.add("issuer", "must not have a query")
	case u.Fragment != "" || strings.Contains(c.Issuer, "#"):
		v.add("issuer", "must not have a fragment")
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		v.add("issuer", "must use https (plain http is allowed only for localhost and loopback addresses, not %q)", u.Hostname())
	}
}

// validateCORS checks cors.allowed_origins: each entry an exact origin,
// listed once.
func (c Config) validateCORS(v *validator) {
	for i, o := range c.CORS.AllowedOrigins {
		if err := validOrigin(o); err != nil {
			v.add("cors.allowed_origins", "%v", err)
		} else if slices.Index(c.CORS.AllowedOrigins, o) < i {
			v.add("cors.allowed_origins", "%s is listed twice", o)
		}
	}
}

// validOrigin returns an error unless o is an origin exactly as a browser
// sends it in the Origin header: lower-case scheme://host[:port], no path,
// no trailing slash, no default port, https unless the host is loopback.
// Wildcards and "null" are refused: every origin allowed can read tokens.
// An entry with user information is not quoted (it could hold a password).
func validOrigin(o string) error {
	const form = "an origin is scheme://host[:port]"
	switch {
	case o == "":
		return errors.New("empty entry")
	case o == "*":
		return errors.New(`"*" is not allowed: list each origin (` + form + `); any site could otherwise read the tokens these endpoints return`)
	case strings.EqualFold(o, "null"):
		return errors.New(`"null" is not allowed: it is the origin of sandboxed frames and local files, which any page can create`)
	case strings.Contains(o, "@"):
		return errors.New("an entry contains user information; " + form)
	case strings.ContainsFunc(o, func(r rune) bool { return r <= ' ' || r > unicode.MaxASCII }):
		return fmt.Errorf("%q contains spaces, control or non-ASCII characters (write an internationalised host in its xn-- form)", o)
	case strings.Contains(o, "*"):
		return fmt.Errorf("%q: wildcards are not supported; list each origin", o)
	}
	u, err := url.Parse(o)
	if err != nil || u.Opaque != "" || !strings.Contains(o, "://") {
		return fmt.Errorf("%q is not an origin (%s)", o, form)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%q must start with https:// (or http:// for a loopback host)", o)
	case u.Hostname() == "":
		return fmt.Errorf("%q has no host", o)
	case u.Path == "/":
		return fmt.Errorf("%q must not end with a slash (%s)", o, form)
	case u.Path != "" || u.RawPath != "":
		return fmt.Errorf("%q must not have a path (%s)", o, form)
	case u.RawQuery != "" || u.ForceQuery || strings.Contains(o, "#"):
		return fmt.Errorf("%q must not have a query or fragment (%s)", o, form)
	case o != strings.ToLower(o):
		return fmt.Errorf("%q must be lower case, as browsers send it (%s)", o, strings.ToLower(o))
	}
	if strings.HasSuffix(u.Host, ":") {
		return fmt.Errorf("%q has an empty port", o)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		switch {
		case err != nil || n < 1 || n > 65535:
			return fmt.Errorf("%q has an invalid port (want 1 to 65535)", o)
		case p != strconv.Itoa(n):
			return fmt.Errorf("%q: write the port without leading zeros, as browsers send it", o)
		case (u.Scheme == "https" && n == 443) || (u.Scheme == "http" && n == 80):
			return fmt.Errorf("%q: drop the default port :%d, browsers omit it", o, n)
		}
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("%q must use https (plain http is allowed only for localhost and loopback addresses)", o)
	}
	return nil
}

// isLoopback reports whether host is localhost or a loopback IP address
// (127.0.0.0/8, ::1).
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

func validListen(listen string) error {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("%q is not a host:port address", listen)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has an invalid port (want 0 to 65535)", listen)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q has an invalid host", listen)
	}
	return nil
}

func validMongoDatabase(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("must be set with the mongo backend")
	case len(name) > 63:
		return fmt.Errorf("must be at most 63 bytes")
	case strings.ContainsAny(name, "/\\. \"$*<>:|?\x00"):
		return fmt.Errorf("%q contains a character MongoDB forbids in database names", name)
	}
	return nil
}

func validProxy(s string) bool {
	if _, err := netip.ParseAddr(s); err == nil {
		return true
	}
	_, err := netip.ParsePrefix(s)
	return err == nil
}

// unwrapAll returns the innermost error, dropping context that repeats the
// value already quoted in the message.
func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

// validator collects problems.
type validator struct{ problems []Problem }

func (v *validator) add(key, format string, args ...any) {
	v.problems = append(v.problems, Problem{Key: key, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) check(bad bool, key, format string, args ...any) {
	if bad {
		v.add(key, format, args...)
	}
}

func (v *validator) positive(key string, d time.Duration) {
	v.check(d <= 0, key, "(%s) must be positive", d)
}

func (v *validator) nonNegative(key string, d time.Duration) {
	v.check(d < 0, key, "(%s) must not be negative", d)
}

func (v *validator) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	return &ValidationError{Problems: v.problems}
}
