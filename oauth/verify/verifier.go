package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults of the options.
const (
	// DefaultLeeway is the clock skew allowed on exp, nbf and iat.
	DefaultLeeway = 30 * time.Second
	// DefaultCacheSize is the default bound of the verified-token cache, in
	// entries (1 to 1.5 KiB each, mostly the token and its decoded claims:
	// about 15 MiB when full).
	DefaultCacheSize = 10000
	// DefaultMinJWKSTTL and DefaultMaxJWKSTTL clamp the JWKS Cache-Control
	// max-age.
	DefaultMinJWKSTTL = time.Minute
	DefaultMaxJWKSTTL = 24 * time.Hour
	// maxLeeway bounds WithLeeway: more would make exp meaningless.
	maxLeeway = 10 * time.Minute
)

// Verifier verifies Sigil access tokens offline: the JWS signature against
// the issuer's keys, then typ, alg, iss, aud, exp, nbf and iat. Build it with
// New. It is safe for concurrent use by any number of goroutines; the only
// goroutines it starts are short-lived JWKS fetches, so it needs no Close.
type Verifier struct {
	issuer   string
	audience string
	skipAud  bool
	typ      string // accepted typ header; "" is at+jwt
	skipExp  bool
	leeway   int64 // ns
	now      func() time.Time
	algRS256 bool
	algES256 bool

	keys   KeySet
	fast   fastKeySet // keys, when it is one of this package's key sets
	cache  *tokenCache
	remote *remoteKeySet // keys, when built from discovery
}

// Option configures New.
type Option func(*options)

type options struct {
	audience       string
	skipAudience   bool
	typ            string
	skipExpiry     bool
	leeway         time.Duration
	client         *http.Client
	now            func() time.Time
	algs           []string
	keySet         KeySet
	cacheSize      int
	minTTL, maxTTL time.Duration
}

// WithAudience sets the audience a token's aud claim must contain: the
// identifier the issuer uses for this resource server. New requires it
// unless SkipAudienceCheck is given.
func WithAudience(aud string) Option { return func(o *options) { o.audience = aud } }

// SkipAudienceCheck accepts tokens whatever their aud claim. It is an
// opt-out of a security check: a token minted for another API will be
// accepted by this one. Use it only where every API of the issuer is meant to
// accept every token.
func SkipAudienceCheck() Option { return func(o *options) { o.skipAudience = true } }

// WithTokenType makes the verifier accept tokens whose typ header is typ
// (compared without regard to case, with or without an "application/"
// prefix) instead of at+jwt, the access-token type of RFC 9068. It is for an
// issuer checking its own tokens of another kind, such as OpenID ID tokens
// (typ JWT); a resource server has no use for it.
func WithTokenType(typ string) Option { return func(o *options) { o.typ = typ } }

// SkipExpiryCheck accepts tokens past their exp. It is an opt-out of a
// security check, for tokens that only hint at who a user is and never
// authorize anything: OpenID RP-Initiated Logout accepts an expired
// id_token_hint. nbf and iat are still checked.
func SkipExpiryCheck() Option { return func(o *options) { o.skipExpiry = true } }

// WithLeeway sets the clock skew allowed when checking exp, nbf and iat
// (default DefaultLeeway; at most 10 minutes).
func WithLeeway(d time.Duration) Option { return func(o *options) { o.leeway = d } }

// WithHTTPClient sets the client for discovery and JWKS fetches (default: a
// client with a 30 s timeout).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithClock sets the source of the current time (default time.Now), so
// tests can move time instead of sleeping. It is called on every Verify and
// must be safe for concurrent use.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithAlgorithms sets the accepted signature algorithms (default RS256 and
// ES256, the only ones supported). none and HMAC algorithms are never
// accepted; New fails if one is named.
func WithAlgorithms(algs ...string) Option {
	return func(o *options) { o.algs = append([]string(nil), algs...) }
}

// WithKeySet makes the verifier use ks instead of discovery and the remote
// JWKS: New then does no network I/O. Use a *StaticKeySet for tests and
// air-gapped deployments, or a KeySet of your own.
func WithKeySet(ks KeySet) Option { return func(o *options) { o.keySet = ks } }

// WithCacheSize bounds the verified-token cache to about n entries (default
// DefaultCacheSize); n <= 0 turns the cache off.
func WithCacheSize(n int) Option { return func(o *options) { o.cacheSize = n } }

// WithJWKSCacheBounds clamps the JWKS Cache-Control max-age to [min, max]
// (default DefaultMinJWKSTTL, DefaultMaxJWKSTTL). A response without max-age,
// or with no-cache or no-store, is kept for min.
func WithJWKSCacheBounds(min, max time.Duration) Option {
	return func(o *options) { o.minTTL, o.maxTTL = min, max }
}

// New returns a Verifier for tokens issued by issuer, which must be the
// exact iss value (for Sigil, its configured issuer URL).
//
// Unless WithKeySet is given, New reads issuer's discovery document
// (<issuer>/.well-known/openid-configuration), checks that its issuer member
// equals issuer exactly, and fetches the JWKS at its jwks_uri; it fails if
// any of that fails, so a misconfigured resource server stops at start-up.
// ctx bounds those requests only; later background fetches keep ctx's values
// but not its cancellation. New also fails on invalid options, or when no
// audience is given and SkipAudienceCheck is not.
func New(ctx context.Context, issuer string, opts ...Option) (*Verifier, error) {
	o := options{
		leeway:    DefaultLeeway,
		now:       time.Now,
		algs:      []string{RS256, ES256},
		cacheSize: DefaultCacheSize,
		minTTL:    DefaultMinJWKSTTL,
		maxTTL:    DefaultMaxJWKSTTL,
	}
	for _, opt := range opts {
		opt(&o)
	}
	v := &Verifier{
		issuer:   issuer,
		audience: o.audience,
		skipAud:  o.skipAudience,
		typ:      o.typ,
		skipExp:  o.skipExpiry,
		leeway:   int64(o.leeway),
		now:      o.now,
	}
	var errs []error
	if u, err := url.Parse(issuer); issuer == "" || err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		errs = append(errs, fmt.Errorf("issuer %q is not an http(s) URL", issuer))
	}
	if o.audience == "" && !o.skipAudience {
		errs = append(errs, errors.New("no audience: use WithAudience, or SkipAudienceCheck to accept any"))
	}
	if o.leeway < 0 || o.leeway > maxLeeway {
		errs = append(errs, fmt.Errorf("leeway %v outside [0, %v]", o.leeway, maxLeeway))
	}
	if o.now == nil {
		errs = append(errs, errors.New("nil clock"))
	}
	if len(o.algs) == 0 {
		errs = append(errs, errors.New("no algorithms"))
	}
	for _, a := range o.algs {
		switch a {
		case RS256:
			v.algRS256 = true
		case ES256:
			v.algES256 = true
		default:
			errs = append(errs, fmt.Errorf("algorithm %q not supported (RS256, ES256)", a))
		}
	}
	if o.minTTL <= 0 || o.maxTTL < o.minTTL {
		errs = append(errs, fmt.Errorf("jwks cache bounds [%v, %v] invalid", o.minTTL, o.maxTTL))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("new verifier: %w", errors.Join(errs...))
	}
	v.cache = newTokenCache(o.cacheSize)

	if o.keySet != nil {
		v.keys = o.keySet
		v.fast, _ = o.keySet.(fastKeySet)
		return v, nil
	}
	client := o.client
	if client == nil {
		client = &http.Client{Timeout: defaultFetchTimeout}
	}
	jwksURL, err := discover(ctx, client, issuer)
	if err != nil {
		return nil, fmt.Errorf("new verifier: %w", err)
	}
	r := &remoteKeySet{
		url:     jwksURL,
		client:  client,
		now:     o.now,
		minTTL:  o.minTTL,
		maxTTL:  o.maxTTL,
		baseCtx: context.WithoutCancel(ctx),
		timeout: defaultFetchTimeout,
	}
	if client.Timeout > 0 {
		r.timeout = client.Timeout
	}
	if v.cache != nil {
		r.onWithdraw = v.cache.purgeWithdrawn
	}
	if err := r.init(ctx); err != nil {
		return nil, fmt.Errorf("new verifier: %w", err)
	}
	v.keys, v.fast, v.remote = r, r, r
	return v, nil
}

// Issuer returns the issuer the verifier accepts.
func (v *Verifier) Issuer() string { return v.issuer }

// Verify checks the access token raw and returns its claims.
//
// Checks, in order: size (MaxTokenSize) and shape; typ is at+jwt; alg is
// accepted; the kid is in the key set (an unknown kid refetches the JWKS,
// waiting at most until ctx ends); alg matches the key; the signature; then
// iss, aud, exp (required), nbf and iat, with the leeway. The error wraps one
// of the Err* values of this package (or ctx's error) and never contains the
// token.
//
// A verified token is cached until its exp, so presenting it again costs a
// hash and a map lookup and does not allocate; the returned *Claims is then
// shared and must not be modified. Cached tokens whose key leaves the JWKS
// are refused from the refresh that removes it. Safe for concurrent use.
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	now := v.now().UnixNano()
	var h uint64
	if v.cache != nil {
		h = v.cache.hash(raw)
		if e, ok := v.cache.get(h, raw); ok {
			if v.fast != nil {
				v.fast.tick(now)
			}
			switch {
			case e.key.Withdrawn():
				v.cache.remove(h, raw) // and verify again: the key is gone
			case now >= e.deadline:
				v.cache.remove(h, raw)
				return nil, &ExpiredError{Expiry: e.claims.Expiry}
			default:
				return e.claims, nil
			}
		}
	}
	r, err := v.verify(ctx, raw, now)
	if err != nil {
		return nil, err
	}
	if v.cache != nil {
		v.cache.put(h, r.token, r.claims, r.key, r.deadline, now)
	}
	return r.claims, nil
}

// malformed wraps ErrMalformed with a fixed reason.
func malformed(reason string) error { return fmt.Errorf("%w: %s", ErrMalformed, reason) }

var (
	errTooLarge   = malformed(fmt.Sprintf("token larger than %d bytes", MaxTokenSize))
	errShape      = malformed("not a JWS compact serialization")
	errHeaderB64  = malformed("header is not base64url")
	errPayloadB64 = malformed("payload is not base64url")
	errSigB64     = malformed("signature is not base64url")
	errNoKid      = fmt.Errorf("%w: no kid header", ErrUnknownKey)
)

// verified is the outcome of the uncached path.
type verified struct {
	claims   *Claims
	key      *Key   // the key that verified the signature
	deadline int64  // Unix ns from which the token counts as expired
	token    string // a copy of the token for the cache ("" without one)
}

// verify is the uncached path.
func (v *Verifier) verify(ctx context.Context, raw string, now int64) (verified, error) {
	if len(raw) > MaxTokenSize {
		return verified{}, errTooLarge
	}
	d1 := strings.IndexByte(raw, '.')
	if d1 <= 0 {
		return verified{}, errShape
	}
	d2 := strings.IndexByte(raw[d1+1:], '.') + d1 + 1
	// An empty signature passes this point so that alg "none" is reported
	// as ErrAlgorithm; it fails the signature length check anyway.
	if d2 <= d1+1 || strings.IndexByte(raw[d2+1:], '.') >= 0 {
		return verified{}, errShape
	}
	hseg, pseg, sseg := raw[:d1], raw[d1+1:d2], raw[d2+1:]

	// Work buffers come from a pool: no allocation, no zeroing.
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)

	// Header and claims decode into one buffer and become one string, of
	// which every string in the header and the claims is a substring.
	hn, ok := decodeB64(sc.text[:], hseg)
	if !ok {
		return verified{}, errHeaderB64
	}
	pn, ok := decodeB64(sc.text[hn:], pseg)
	if !ok {
		return verified{}, errPayloadB64
	}
	// With a cache, the token's copy for it shares the allocation.
	n := hn + pn
	if v.cache != nil {
		n += copy(sc.text[n:], raw)
	}
	all := string(sc.text[:n])
	text, token := all[:hn+pn], all[hn+pn:]

	hdr, err := parseHeader(text[:hn])
	if err != nil {
		return verified{}, err
	}
	if err := checkTyp(hdr.typ, v.typ); err != nil {
		return verified{}, err
	}
	if !(hdr.alg == RS256 && v.algRS256) && !(hdr.alg == ES256 && v.algES256) {
		return verified{}, fmt.Errorf("%w: %q", ErrAlgorithm, clip(hdr.alg))
	}
	if hdr.kid == "" {
		return verified{}, errNoKid
	}
	var key *Key
	if v.fast != nil {
		key = v.fast.lookup(hdr.kid, now)
	}
	if key == nil {
		if key, err = v.keys.Key(ctx, hdr.kid); err != nil {
			return verified{}, err
		}
	}
	if key.Withdrawn() {
		return verified{}, fmt.Errorf("%w: kid %q withdrawn", ErrUnknownKey, clip(hdr.kid))
	}
	if key.alg != hdr.alg {
		return verified{}, fmt.Errorf("%w: %s token for %s key %q", ErrAlgorithm, hdr.alg, key.alg, clip(key.id))
	}

	if decodedLen(len(sseg)) != key.sigLen {
		return verified{}, fmt.Errorf("%w: signature length", ErrSignature)
	}
	sig := sc.sig[:]
	if _, ok := decodeB64(sig, sseg); !ok {
		return verified{}, errSigB64
	}
	if !key.verify(sc, raw[:d2], sig[:key.sigLen]) {
		return verified{}, ErrSignature
	}

	c := &Claims{KeyID: key.id}
	if err := parseClaims(text[hn:], c); err != nil {
		return verified{}, err
	}
	if c.has&hasIss == 0 || c.Issuer != v.issuer {
		return verified{}, fmt.Errorf("%w: %q", ErrIssuer, clip(c.Issuer))
	}
	if !v.skipAud && !c.hasAudience(v.audience) {
		return verified{}, fmt.Errorf("%w: want %q", ErrAudience, v.audience)
	}
	deadline := c.exp*int64(time.Second) + v.leeway
	if v.skipExp {
		deadline = math.MaxInt64
	}
	if now >= deadline {
		return verified{}, &ExpiredError{Expiry: c.Expiry}
	}
	if c.has&hasNbf != 0 && c.nbf*int64(time.Second) > now+v.leeway {
		return verified{}, &NotYetValidError{ValidFrom: c.NotBefore}
	}
	if c.has&hasIat != 0 && c.iat*int64(time.Second) > now+v.leeway {
		return verified{}, &NotYetValidError{ValidFrom: c.IssuedAt}
	}
	return verified{claims: c, key: key, deadline: deadline, token: token}, nil
}

// scratch holds the work buffers of one uncached Verify.
type scratch struct {
	text  [2*MaxTokenSize + 8]byte // decoded header and claims, then the token
	input [MaxTokenSize]byte       // the signing input, copied for hashing
	sig   [maxRSABits/8 + 8]byte
	der   [72]byte
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// verify checks sig over the JWS signing input with k.
func (k *Key) verify(sc *scratch, input string, sig []byte) bool {
	sum := sha256.Sum256(sc.input[:copy(sc.input[:], input)])
	if k.rsa != nil {
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, sum[:], sig) == nil
	}
	// JWS carries R||S (RFC 7518 §3.4); crypto/ecdsa takes ASN.1 DER.
	n := ecdsaDER(sc.der[:], sig[:32], sig[32:])
	return n > 0 && ecdsa.VerifyASN1(k.ec, sum[:], sc.der[:n])
}

// ecdsaDER writes SEQUENCE { INTEGER r, INTEGER s } for 32-byte big-endian r
// and s into dst (72 bytes) and returns its length, or 0 if r or s is zero.
func ecdsaDER(dst, r, s []byte) int {
	n := 2
	for _, x := range [2][]byte{r, s} {
		for len(x) > 0 && x[0] == 0 {
			x = x[1:]
		}
		if len(x) == 0 {
			return 0
		}
		pad := int(x[0] >> 7)
		dst[n] = 0x02
		dst[n+1] = byte(len(x) + pad)
		dst[n+2] = 0
		n += 2 + pad
		n += copy(dst[n:], x)
	}
	dst[0], dst[1] = 0x30, byte(n-2)
	return n
}
