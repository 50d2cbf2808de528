package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testKey is a signing key of the test issuer.
type testKey struct {
	kid  string
	alg  string
	priv crypto.Signer
}

var (
	keysOnce sync.Once
	rsaA     *rsa.PrivateKey
	rsaB     *rsa.PrivateKey
	ecA      *ecdsa.PrivateKey
	ecB      *ecdsa.PrivateKey
)

// fixtureKeys generates the test keys once per test binary (RSA key
// generation is slow).
func fixtureKeys() {
	keysOnce.Do(func() {
		var err error
		if rsaA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if rsaB, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if ecA, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if ecB, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
	})
}

func newTestKey(alg string, priv crypto.Signer) *testKey {
	return &testKey{kid: thumbprint(priv.Public()), alg: alg, priv: priv}
}

// jwkOf renders the public JWK of a test key, as Sigil publishes it.
func jwkOf(k *testKey) map[string]string {
	b := func(x []byte) string { return base64.RawURLEncoding.EncodeToString(x) }
	switch p := k.priv.Public().(type) {
	case *rsa.PublicKey:
		return map[string]string{"kty": "RSA", "kid": k.kid, "use": "sig", "alg": k.alg,
			"n": b(p.N.Bytes()), "e": b(big.NewInt(int64(p.E)).Bytes())}
	case *ecdsa.PublicKey:
		pt, _ := p.Bytes()
		return map[string]string{"kty": "EC", "kid": k.kid, "use": "sig", "alg": k.alg, "crv": "P-256",
			"x": b(pt[1:33]), "y": b(pt[33:])}
	}
	panic("unknown key type")
}

// thumbprint is the RFC 7638 JWK thumbprint, Sigil's kid.
func thumbprint(pub crypto.PublicKey) string {
	b := func(x []byte) string { return base64.RawURLEncoding.EncodeToString(x) }
	var canon string
	switch p := pub.(type) {
	case *rsa.PublicKey:
		canon = fmt.Sprintf(`{"e":"%s","kty":"RSA","n":"%s"}`, b(big.NewInt(int64(p.E)).Bytes()), b(p.N.Bytes()))
	case *ecdsa.PublicKey:
		pt, _ := p.Bytes()
		canon = fmt.Sprintf(`{"crv":"P-256","kty":"EC","x":"%s","y":"%s"}`, b(pt[1:33]), b(pt[33:]))
	}
	sum := sha256.Sum256([]byte(canon))
	return b(sum[:])
}

// b64json base64url-encodes the JSON of v (a string is used as raw JSON).
func b64json(v any) string {
	var data []byte
	if s, ok := v.(string); ok {
		data = []byte(s)
	} else {
		var err error
		if data, err = json.Marshal(v); err != nil {
			panic(err)
		}
	}
	return base64.RawURLEncoding.EncodeToString(data)
}

// jsonString returns the JSON of v as a string.
func jsonString(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(data)
}

// sign returns the JWS signature of input with priv for alg, base64url.
func sign(alg string, priv crypto.Signer, input string) string {
	sum := sha256.Sum256([]byte(input))
	switch alg {
	case RS256:
		sig, err := rsa.SignPKCS1v15(nil, priv.(*rsa.PrivateKey), crypto.SHA256, sum[:])
		if err != nil {
			panic(err)
		}
		return base64.RawURLEncoding.EncodeToString(sig)
	case ES256:
		r, s, err := ecdsa.Sign(rand.Reader, priv.(*ecdsa.PrivateKey), sum[:])
		if err != nil {
			panic(err)
		}
		sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		return base64.RawURLEncoding.EncodeToString(sig)
	}
	panic("sign: alg " + alg)
}

// mintRaw builds a token from arbitrary header and claims (maps or raw JSON
// strings), signed with k.
func mintRaw(k *testKey, header, claims any) string {
	input := b64json(header) + "." + b64json(claims)
	return input + "." + sign(k.alg, k.priv, input)
}

// tokenSpec describes a token to mint; zero fields take Sigil's defaults.
type tokenSpec struct {
	header map[string]any // merged over {alg, kid, typ}
	claims map[string]any // merged over the defaults; a nil value deletes
}

// mint returns a Sigil-shaped access token signed by k at now.
func mint(k *testKey, issuer string, now time.Time, spec tokenSpec) string {
	h := map[string]any{"alg": k.alg, "kid": k.kid, "typ": "at+jwt"}
	for n, v := range spec.header {
		if v == nil {
			delete(h, n)
		} else {
			h[n] = v
		}
	}
	c := map[string]any{
		"iss": issuer, "sub": "user-1", "aud": "api", "exp": now.Add(5 * time.Minute).Unix(),
		"iat": now.Unix(), "nbf": now.Unix(), "jti": "jti-1", "client_id": "cli", "scope": "read write",
	}
	for n, v := range spec.claims {
		if v == nil {
			delete(c, n)
		} else {
			c[n] = v
		}
	}
	return mintRaw(k, h, c)
}

// fakeClock is an injectable clock that tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_900_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testIssuer serves discovery and a JWKS like Sigil: Cache-Control max-age,
// a strong ETag and 304 on If-None-Match.
type testIssuer struct {
	srv *httptest.Server

	mu     sync.Mutex
	keys   []*testKey
	maxAge int
	down   bool          // JWKS answers 503
	body   string        // if set, served instead of the rendered JWKS
	status int           // if set, the JWKS (a valid body) is served with it
	gate   chan struct{} // if set, JWKS requests wait for it to close

	onRequest func() // if set, called as each JWKS request arrives

	fetches     atomic.Int32 // JWKS requests
	notModified atomic.Int32 // of which answered 304
}

func newTestIssuer(t *testing.T, keys ...*testKey) *testIssuer {
	t.Helper()
	ti := &testIssuer{keys: keys, maxAge: 300}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"issuer": ti.srv.URL, "jwks_uri": ti.srv.URL + "/.well-known/jwks.json"})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", ti.serveJWKS)
	ti.srv = httptest.NewServer(mux)
	t.Cleanup(ti.srv.Close)
	return ti
}

func (ti *testIssuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	ti.fetches.Add(1)
	ti.mu.Lock()
	gate, down, maxAge, body, onRequest, status := ti.gate, ti.down, ti.maxAge, ti.body, ti.onRequest, ti.status
	var set []map[string]string
	for _, k := range ti.keys {
		set = append(set, jwkOf(k))
	}
	ti.mu.Unlock()
	if onRequest != nil {
		onRequest()
	}
	if gate != nil {
		<-gate
	}
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	if body == "" {
		data, _ := json.Marshal(map[string]any{"keys": set})
		body = string(data)
	}
	sum := sha256.Sum256([]byte(body))
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", maxAge))
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		ti.notModified.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	if status != 0 {
		w.WriteHeader(status)
	}
	_, _ = w.Write([]byte(body))
}

func (ti *testIssuer) setKeys(keys ...*testKey) {
	ti.mu.Lock()
	ti.keys = keys
	ti.mu.Unlock()
}

func (ti *testIssuer) setDown(down bool) {
	ti.mu.Lock()
	ti.down = down
	ti.mu.Unlock()
}

func (ti *testIssuer) setBody(body string) {
	ti.mu.Lock()
	ti.body = body
	ti.mu.Unlock()
}

func (ti *testIssuer) setGate(gate chan struct{}) {
	ti.mu.Lock()
	ti.gate = gate
	ti.mu.Unlock()
}

// staticVerifier returns a verifier over a static key set of keys.
func staticVerifier(t *testing.T, clock *fakeClock, issuer string, keys []*testKey, opts ...Option) *Verifier {
	t.Helper()
	var ks []*Key
	for _, k := range keys {
		key, err := NewKey(k.kid, k.alg, k.priv.Public())
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, key)
	}
	set, err := NewStaticKeySet(ks...)
	if err != nil {
		t.Fatal(err)
	}
	opts = append([]Option{WithKeySet(set), WithAudience("api"), WithClock(clock.Now)}, opts...)
	v, err := New(t.Context(), issuer, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
