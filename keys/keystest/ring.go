package keystest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/sigilauth/sigil/oauth/verify"
)

// The kids under which a Ring publishes its two keys.
const (
	KidEC  = "kid-ec"
	KidRSA = "kid-rsa"
)

// ErrSigning is what SignJWT returns while a Ring is failing, or for an
// algorithm it has no key for. Its text carries a marker, "0xdeadbeef",
// that stands for secret material: a test can check that the cause of a
// signing failure never reaches a response.
var ErrSigning = errors.New("no signing key (secret material 0xdeadbeef)")

var (
	sharedOnce sync.Once
	sharedEC   *ecdsa.PrivateKey
	sharedRSA  *rsa.PrivateKey
)

// shared returns the process's one ES256 and one RS256 private key,
// generated on first use.
func shared() (*ecdsa.PrivateKey, *rsa.PrivateKey) {
	sharedOnce.Do(func() {
		var err error
		if sharedEC, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(fmt.Sprintf("keystest: generate EC key: %v", err))
		}
		if sharedRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(fmt.Sprintf("keystest: generate RSA key: %v", err))
		}
	})
	return sharedEC, sharedRSA
}

// ECKey is the private key behind KidEC, the same in every Ring of the
// process; tests use it to forge tokens or check signatures by hand.
func ECKey() *ecdsa.PrivateKey { ec, _ := shared(); return ec }

// RSAKey is the private key behind KidRSA, as ECKey.
func RSAKey() *rsa.PrivateKey { _, r := shared(); return r }

// Ring is the one fake key ring of the tests. It is oauth's KeyRing
// (SignJWT, DefaultAlg, Algorithms and, as a verify.KeySet, Key) and web's
// KeySource (JWKS, Algorithms). It signs ES256 with ECKey under KidEC and
// RS256 with RSAKey under KidRSA; the zero value is ready to use.
type Ring struct {
	// JWKSBody, JWKSETag and JWKSErr are what JWKS returns. With all three
	// unset it serves an empty key set, {"keys":[]}, with ETag "empty".
	JWKSBody []byte
	JWKSETag string
	JWKSErr  error

	failing atomic.Bool

	mu      sync.Mutex
	revoked map[string]bool
	vkeys   map[string]*verify.Key // as handed to the verifier
}

// JWKS returns the configured JWKS bytes, ETag and error.
func (r *Ring) JWKS() ([]byte, string, error) {
	if r.JWKSBody == nil && r.JWKSETag == "" && r.JWKSErr == nil {
		return []byte(`{"keys":[]}`), `"empty"`, nil
	}
	return r.JWKSBody, r.JWKSETag, r.JWKSErr
}

// DefaultAlg is ES256.
func (r *Ring) DefaultAlg() string { return "ES256" }

// Algorithms is ES256 then RS256.
func (r *Ring) Algorithms() []string { return []string{"ES256", "RS256"} }

// Revoke withdraws kid: a *verify.Key already handed out for it reports
// Withdrawn, and Key answers verify.ErrUnknownKey for it until Restore.
func (r *Ring) Revoke(kid string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.revoked == nil {
		r.revoked = make(map[string]bool)
	}
	r.revoked[kid] = true
	if vk := r.vkeys[kid]; vk != nil {
		vk.Withdraw()
		delete(r.vkeys, kid)
	}
}

// Restore undoes Revoke; kid comes back as a new *verify.Key.
func (r *Ring) Restore(kid string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.revoked, kid)
}

// SetFailing makes SignJWT fail with ErrSigning (as a ring with no
// signing key does) while on is true.
func (r *Ring) SetFailing(on bool) { r.failing.Store(on) }

// Key implements verify.KeySet over KidEC and KidRSA. It returns the same
// *verify.Key for a kid until the kid is revoked; any other kid, or a
// revoked one, is verify.ErrUnknownKey.
func (r *Ring) Key(_ context.Context, kid string) (*verify.Key, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.revoked[kid] {
		return nil, verify.ErrUnknownKey
	}
	if vk := r.vkeys[kid]; vk != nil {
		return vk, nil
	}
	var alg string
	var pub crypto.PublicKey
	switch kid {
	case KidEC:
		alg, pub = "ES256", &ECKey().PublicKey
	case KidRSA:
		alg, pub = "RS256", &RSAKey().PublicKey
	default:
		return nil, verify.ErrUnknownKey
	}
	vk, err := verify.NewKey(kid, alg, pub)
	if err != nil {
		return nil, err
	}
	if r.vkeys == nil {
		r.vkeys = make(map[string]*verify.Key)
	}
	r.vkeys[kid] = vk
	return vk, nil
}

// SignJWT signs payload with header {alg, kid, typ}: ES256 (also for alg
// "") under KidEC, RS256 under KidRSA. Other algorithms, and any call
// while failing, give ErrSigning.
func (r *Ring) SignJWT(alg, typ string, payload []byte) (string, error) {
	if r.failing.Load() {
		return "", ErrSigning
	}
	if alg == "" {
		alg = "ES256"
	}
	var kid string
	switch alg {
	case "ES256":
		kid = KidEC
	case "RS256":
		kid = KidRSA
	default:
		return "", ErrSigning
	}
	hdr, err := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": typ})
	if err != nil {
		return "", err
	}
	return Sign(hdr, payload, alg)
}

// Sign returns the compact JWS of any header and payload, signed for alg
// whatever the header says: ES256 with ECKey, RS256 with RSAKey, HS256 keyed
// with ECKey's public key bytes (the alg-confusion forgery), and "none"
// with an empty signature. Tests use it to forge tokens.
func Sign(hdr, payload []byte, alg string) (string, error) {
	enc := base64.RawURLEncoding
	input := enc.EncodeToString(hdr) + "." + enc.EncodeToString(payload)
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	switch alg {
	case "ES256":
		r, s, err := ecdsa.Sign(rand.Reader, ECKey(), digest[:])
		if err != nil {
			return "", err
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	case "RS256":
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, RSAKey(), crypto.SHA256, digest[:]); err != nil {
			return "", err
		}
	case "HS256":
		pub, err := ECKey().PublicKey.Bytes()
		if err != nil {
			return "", err
		}
		m := hmac.New(sha256.New, pub)
		m.Write([]byte(input))
		sig = m.Sum(nil)
	case "none":
	default:
		return "", fmt.Errorf("keystest: cannot sign %q", alg)
	}
	return input + "." + enc.EncodeToString(sig), nil
}
