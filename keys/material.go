// Package keys owns Sigil's signing keys: generation (ES256, RS256), the
// rotation state machine (next → active → retired, revoked from any state)
// driven by an idempotent Reconcile, the in-memory KeyRing that signs tokens
// and serves the JWKS, and the Sealer that encrypts private keys at rest.
//
// All key-set changes go through storage.KeySetStore.CompareAndSwapKeySet, so
// several replicas sharing one store converge on one key set: when they race,
// exactly one transition happens and the others reload.
package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// Supported signing algorithms.
const (
	ES256 = "ES256"
	RS256 = "RS256"
)

// ErrUnsupportedAlg reports an algorithm other than ES256 or RS256.
var ErrUnsupportedAlg = errors.New("unsupported signing algorithm")

// SupportedAlg reports whether alg is one Sigil can sign with.
func SupportedAlg(alg string) bool { return alg == ES256 || alg == RS256 }

// Material is a freshly generated or unsealed key pair.
type Material struct {
	KID     string
	Alg     string
	Private crypto.Signer
	// PublicJWK is the JSON of the public JWK: kty, use, alg, kid and the
	// public parameters only.
	PublicJWK []byte
}

// Generate creates a new key pair for alg (RSA keys have rsaBits bits; 2048,
// 3072 or 4096). The kid is the RFC 7638 thumbprint of the public key.
func Generate(alg string, rsaBits int) (*Material, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RS256:
		if rsaBits != 2048 && rsaBits != 3072 && rsaBits != 4096 {
			return nil, fmt.Errorf("generate %s key: rsa_bits %d not one of 2048, 3072, 4096", alg, rsaBits)
		}
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	default:
		return nil, fmt.Errorf("generate key: %w: %q", ErrUnsupportedAlg, alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generate %s key: %w", alg, err)
	}
	return newMaterial(alg, priv)
}

func newMaterial(alg string, priv crypto.Signer) (*Material, error) {
	kid, jwk, err := publicJWK(alg, priv.Public())
	if err != nil {
		return nil, err
	}
	return &Material{KID: kid, Alg: alg, Private: priv, PublicJWK: jwk}, nil
}

// jwkJSON is the public JWK as published. Field order is fixed so the JWKS
// bytes are deterministic for a given key set.
type jwkJSON struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

var b64 = base64.RawURLEncoding

// publicJWK returns the RFC 7638 thumbprint kid and the public JWK JSON.
func publicJWK(alg string, pub crypto.PublicKey) (string, []byte, error) {
	var j jwkJSON
	var thumbInput string
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if alg != ES256 || k.Curve != elliptic.P256() {
			return "", nil, fmt.Errorf("public jwk: %w: EC key for %q", ErrUnsupportedAlg, alg)
		}
		raw, err := k.Bytes() // 0x04 || X || Y, fixed width
		if err != nil {
			return "", nil, fmt.Errorf("public jwk: %w", err)
		}
		j = jwkJSON{Kty: "EC", Crv: "P-256", X: b64.EncodeToString(raw[1:33]), Y: b64.EncodeToString(raw[33:65])}
		// RFC 7638 §3.2: required members in lexicographic order, no spaces.
		thumbInput = `{"crv":"P-256","kty":"EC","x":"` + j.X + `","y":"` + j.Y + `"}`
	case *rsa.PublicKey:
		if alg != RS256 {
			return "", nil, fmt.Errorf("public jwk: %w: RSA key for %q", ErrUnsupportedAlg, alg)
		}
		j = jwkJSON{Kty: "RSA", N: b64.EncodeToString(k.N.Bytes()), E: b64.EncodeToString(big.NewInt(int64(k.E)).Bytes())}
		thumbInput = `{"e":"` + j.E + `","kty":"RSA","n":"` + j.N + `"}`
	default:
		return "", nil, fmt.Errorf("public jwk: %w: key type %T", ErrUnsupportedAlg, pub)
	}
	sum := sha256.Sum256([]byte(thumbInput))
	j.Kid = b64.EncodeToString(sum[:])
	j.Use = "sig"
	j.Alg = alg
	out, err := json.Marshal(j)
	if err != nil {
		return "", nil, fmt.Errorf("public jwk: %w", err)
	}
	return j.Kid, out, nil
}

// ParsePublicJWK decodes a public JWK produced by this package and checks
// that its kid is the thumbprint of its key and that its alg matches its
// key type.
func ParsePublicJWK(data []byte) (kid, alg string, pub crypto.PublicKey, err error) {
	var j jwkJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return "", "", nil, fmt.Errorf("parse public jwk: %w", err)
	}
	switch j.Kty {
	case "EC":
		x, errX := b64.DecodeString(j.X)
		y, errY := b64.DecodeString(j.Y)
		if errX != nil || errY != nil || j.Crv != "P-256" || len(x) != 32 || len(y) != 32 {
			return "", "", nil, errors.New("parse public jwk: bad EC parameters")
		}
		raw := append(append([]byte{4}, x...), y...)
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
		if err != nil {
			return "", "", nil, fmt.Errorf("parse public jwk: %w", err)
		}
		pub = k
	case "RSA":
		n, errN := b64.DecodeString(j.N)
		e, errE := b64.DecodeString(j.E)
		if errN != nil || errE != nil || len(e) == 0 || len(e) > 4 {
			return "", "", nil, errors.New("parse public jwk: bad RSA parameters")
		}
		pub = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	default:
		return "", "", nil, fmt.Errorf("parse public jwk: %w: kty %q", ErrUnsupportedAlg, j.Kty)
	}
	wantKID, _, err := publicJWK(j.Alg, pub)
	if err != nil {
		return "", "", nil, err
	}
	if wantKID != j.Kid {
		return "", "", nil, errors.New("parse public jwk: kid is not the key's thumbprint")
	}
	return j.Kid, j.Alg, pub, nil
}

// marshalPrivate encodes a private key as PKCS #8 DER.
func marshalPrivate(priv crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return der, nil
}

// parsePrivate decodes PKCS #8 DER into a signer.
func parsePrivate(der []byte) (crypto.Signer, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		// Never include der: it is key material.
		return nil, errors.New("decode private key: malformed PKCS #8")
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("decode private key: %T is not a signer", k)
	}
	return s, nil
}
