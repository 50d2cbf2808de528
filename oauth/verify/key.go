package verify

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"sync/atomic"
)

// minRSABits is the smallest RSA modulus accepted, as in Sigil's own keys.
const minRSABits = 2048

// maxRSABits is the largest RSA modulus crypto/rsa verifies with.
const maxRSABits = 16384

// Key is a public verification key with its kid and algorithm, prepared once
// for fast verification. Create it with NewKey or ParseJWKS; use it only
// through a pointer. A Key is safe for concurrent use.
type Key struct {
	id     string
	alg    string
	rsa    *rsa.PublicKey
	ec     *ecdsa.PublicKey
	sigLen int

	withdrawn atomic.Bool
}

// NewKey returns a Key for pub (*rsa.PublicKey of at least 2048 bits for
// RS256, or *ecdsa.PublicKey on P-256 for ES256) under kid. It fails if kid
// is empty, alg is not RS256 or ES256, or pub does not suit alg.
func NewKey(kid, alg string, pub crypto.PublicKey) (*Key, error) {
	if kid == "" {
		return nil, errors.New("new key: empty kid")
	}
	k := &Key{id: kid, alg: alg}
	switch alg {
	case RS256:
		p, ok := pub.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("new key %q: RS256 needs an *rsa.PublicKey, got %T", kid, pub)
		}
		if p.N == nil || p.N.BitLen() < minRSABits || p.N.BitLen() > maxRSABits {
			return nil, fmt.Errorf("new key %q: RSA modulus must have %d to %d bits", kid, minRSABits, maxRSABits)
		}
		if p.E < 3 || p.E%2 == 0 {
			return nil, fmt.Errorf("new key %q: bad RSA exponent", kid)
		}
		k.rsa, k.sigLen = p, p.Size()
	case ES256:
		p, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("new key %q: ES256 needs an *ecdsa.PublicKey, got %T", kid, pub)
		}
		if p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("new key %q: ES256 needs a P-256 key", kid)
		}
		if _, err := p.Bytes(); err != nil { // checks the point is on the curve
			return nil, fmt.Errorf("new key %q: ES256 needs a valid P-256 point", kid)
		}
		k.ec, k.sigLen = p, 64
	default:
		return nil, fmt.Errorf("new key %q: %w: %q", kid, ErrAlgorithm, clip(alg))
	}
	return k, nil
}

// ID returns the key's kid.
func (k *Key) ID() string { return k.id }

// Algorithm returns RS256 or ES256: the only alg a token signed by k may
// carry.
func (k *Key) Algorithm() string { return k.alg }

// Public returns the *rsa.PublicKey or *ecdsa.PublicKey. Do not modify it.
func (k *Key) Public() crypto.PublicKey {
	if k.rsa != nil {
		return k.rsa
	}
	return k.ec
}

// Withdraw marks k as no longer trusted: from then on Verify refuses tokens
// signed by it, including tokens already in the verified-token cache. It
// cannot be undone. The remote key set withdraws keys that leave the
// issuer's JWKS; a custom KeySet may call it too. Safe for concurrent use.
func (k *Key) Withdraw() { k.withdrawn.Store(true) }

// Withdrawn reports whether Withdraw has been called.
func (k *Key) Withdrawn() bool { return k.withdrawn.Load() }

// same reports whether k and o are the same key material for the same kid
// and alg.
func (k *Key) same(o *Key) bool {
	if k.id != o.id || k.alg != o.alg {
		return false
	}
	if k.rsa != nil {
		return o.rsa != nil && k.rsa.Equal(o.rsa)
	}
	return o.ec != nil && k.ec.Equal(o.ec)
}

// KeySet resolves the kid of a token to a verification key. Verify calls it
// for every token not in its cache, so it must be fast and safe for
// concurrent use. It returns an error wrapping ErrUnknownKey when it has no
// such key (wrapping ErrKeySetUnavailable too if it could not find out), and
// the context's error if ctx ends while it waits for keys.
type KeySet interface {
	Key(ctx context.Context, kid string) (*Key, error)
}

// fastKeySet is implemented by the key sets of this package so Verify can
// look up a kid without I/O and without converting it to a string, and keep
// a remote key set fresh from the cached path.
type fastKeySet interface {
	// lookup returns the key if it is usable without a fetch, else nil (then
	// Verify calls Key). now is in Unix nanoseconds.
	lookup(kid string, now int64) *Key
	// tick lets the key set start a background refresh when one is due. It
	// is called on every Verify, so it costs one atomic load when none is.
	tick(now int64)
}

// StaticKeySet is a fixed KeySet, for tests and for air-gapped resource
// servers that are given the issuer's keys out of band. It is immutable and
// safe for concurrent use.
type StaticKeySet struct {
	keys map[string]*Key
}

var (
	_ KeySet     = (*StaticKeySet)(nil)
	_ fastKeySet = (*StaticKeySet)(nil)
)

// NewStaticKeySet returns a key set of keys. It fails if a key is nil or two
// keys share a kid.
func NewStaticKeySet(keys ...*Key) (*StaticKeySet, error) {
	m := make(map[string]*Key, len(keys))
	for _, k := range keys {
		if k == nil {
			return nil, errors.New("static key set: nil key")
		}
		if _, dup := m[k.id]; dup {
			return nil, fmt.Errorf("static key set: duplicate kid %q", k.id)
		}
		m[k.id] = k
	}
	return &StaticKeySet{keys: m}, nil
}

// Key implements KeySet. It never blocks.
func (s *StaticKeySet) Key(_ context.Context, kid string) (*Key, error) {
	if k := s.keys[kid]; k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, clip(kid))
}

func (s *StaticKeySet) lookup(kid string, _ int64) *Key { return s.keys[kid] }

func (s *StaticKeySet) tick(int64) {}

// jwk is the JSON form of a public key (RFC 7517, RFC 7518 §6).
type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// ParseJWKS parses a JWK Set document (RFC 7517 §5) and returns the keys
// Verify can use: RSA keys of at least 2048 bits for RS256 and P-256 keys for
// ES256, each with a kid, use "sig" or no use, and key_ops including "verify"
// or absent. A key without alg gets the one its type implies. Other keys
// (symmetric, encryption, other curves or algorithms) are skipped. It fails
// on invalid JSON, on a usable key with bad parameters, and on a kid that
// appears twice among the usable keys.
func ParseJWKS(data []byte) ([]*Key, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &set); err != nil {
		return nil, fmt.Errorf("parse jwks: %w", err)
	}
	if set.Keys == nil {
		return nil, errors.New("parse jwks: no keys member")
	}
	var out []*Key
	seen := make(map[string]bool, len(set.Keys))
	for i, raw := range set.Keys {
		var j jwk
		if err := json.Unmarshal(raw, &j); err != nil {
			return nil, fmt.Errorf("parse jwks: key %d: %w", i, err)
		}
		k, err := j.key()
		if err != nil {
			return nil, fmt.Errorf("parse jwks: key %d: %w", i, err)
		}
		if k == nil {
			continue
		}
		if seen[k.id] {
			return nil, fmt.Errorf("parse jwks: duplicate kid %q", clip(k.id))
		}
		seen[k.id] = true
		out = append(out, k)
	}
	return out, nil
}

// key converts j, returning nil, nil for a key Verify cannot use.
func (j *jwk) key() (*Key, error) {
	if j.Kid == "" || (j.Use != "" && j.Use != "sig") ||
		(j.KeyOps != nil && !slices.Contains(j.KeyOps, "verify")) {
		return nil, nil
	}
	switch j.Kty {
	case "RSA":
		if j.Alg != "" && j.Alg != RS256 {
			return nil, nil
		}
		n, err := b64BigInt(j.N)
		if err != nil {
			return nil, fmt.Errorf("rsa n: %w", err)
		}
		e, err := b64BigInt(j.E)
		if err != nil {
			return nil, fmt.Errorf("rsa e: %w", err)
		}
		if !e.IsInt64() || e.Int64() > 1<<31-1 {
			return nil, errors.New("rsa e: too large")
		}
		return NewKey(j.Kid, RS256, &rsa.PublicKey{N: n, E: int(e.Int64())})
	case "EC":
		if j.Crv != "P-256" || (j.Alg != "" && j.Alg != ES256) {
			return nil, nil
		}
		x, err := base64.RawURLEncoding.DecodeString(j.X)
		if err != nil || len(x) != 32 {
			return nil, errors.New("ec x: want 32 bytes of base64url")
		}
		y, err := base64.RawURLEncoding.DecodeString(j.Y)
		if err != nil || len(y) != 32 {
			return nil, errors.New("ec y: want 32 bytes of base64url")
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			return nil, fmt.Errorf("ec point: %w", err)
		}
		return NewKey(j.Kid, ES256, pub)
	default:
		return nil, nil
	}
}

func b64BigInt(s string) (*big.Int, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 {
		return nil, errors.New("empty")
	}
	return new(big.Int).SetBytes(b), nil
}
