package keys

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sigilauth/sigil/storage"
)

// KEKSize is the size of a key-encryption key: AES-256.
const KEKSize = 32

// sealVersion prefixes every sealed blob so the format can evolve.
const sealVersion = 1

// ErrUnseal reports that a sealed private key could not be opened: wrong KEK,
// wrong associated data, or tampered ciphertext.
var ErrUnseal = errors.New("cannot unseal private key")

// Sealer encrypts private keys at rest with AES-256-GCM under a
// key-encryption key (KEK). It may also hold the previous KEK, for opening
// only, so replicas can be restarted one by one during a KEK rotation. It is
// safe for concurrent use.
type Sealer struct {
	aead     cipher.AEAD
	id       string
	previous *Sealer
}

// NewSealer returns a Sealer for a 32-byte KEK. Its ID is derived from the
// KEK (a truncated SHA-256), so it names the KEK without revealing it.
func NewSealer(kek []byte) (*Sealer, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("key-encryption key must be %d bytes, got %d", KEKSize, len(kek))
	}
	block, err := aes.NewCipher(kek)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	sum := sha256.Sum256(append([]byte("sigil-kek-id:"), kek...))
	return &Sealer{aead: aead, id: "kek-" + base64.RawURLEncoding.EncodeToString(sum[:9])}, nil
}

// ID names the KEK; it is stored beside each sealed key.
func (s *Sealer) ID() string { return s.id }

// WithPrevious returns a sealer that seals under s's KEK and opens keys
// sealed under s's KEK or under prev's (its own KEK only: prev's previous is
// not kept). It is for a KEK rotation: deploy the new KEK as current and the
// old one as previous on every replica, then run `keys rewrap`. It fails if
// prev is the same KEK as s.
func (s *Sealer) WithPrevious(prev *Sealer) (*Sealer, error) {
	if prev == nil {
		return s, nil
	}
	if prev.id == s.id {
		return nil, fmt.Errorf("previous key-encryption key %s is the current one", prev.id)
	}
	return &Sealer{aead: s.aead, id: s.id, previous: &Sealer{aead: prev.aead, id: prev.id}}, nil
}

// PreviousID names the previous KEK, or is empty if s holds none.
func (s *Sealer) PreviousID() string {
	if s.previous == nil {
		return ""
	}
	return s.previous.id
}

// sealerFor returns the sealer (s, or its previous KEK) that opens keys
// sealed under the KEK named id, or nil if s holds no such KEK.
func (s *Sealer) sealerFor(id string) *Sealer {
	switch {
	case id == s.id:
		return s
	case s.previous != nil && id == s.previous.id:
		return s.previous
	}
	return nil
}

// Seal encrypts plaintext bound to aad (the key's identity), returning
// version || nonce || ciphertext.
func (s *Sealer) Seal(plaintext, aad []byte) ([]byte, error) {
	nonce := make([]byte, s.aead.NonceSize(), 1+s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	out := append([]byte{sealVersion}, nonce...)
	return s.aead.Seal(out, nonce, plaintext, aad), nil
}

// Open decrypts a blob produced by Seal under the current KEK with the same
// aad. Any mismatch returns ErrUnseal.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != sealVersion {
		return nil, ErrUnseal
	}
	pt, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], aad)
	if err != nil {
		return nil, ErrUnseal
	}
	return pt, nil
}

// UnsealKey opens the sealed private part of a stored key. It fails if the
// key has none (retired, revoked), was sealed under a KEK that is neither the
// current nor the previous one, or does not
// open with its own kid and alg as associated data. Errors never contain key
// material.
func (s *Sealer) UnsealKey(k storage.Key) (crypto.Signer, error) {
	if len(k.SealedPrivate) == 0 {
		return nil, fmt.Errorf("key %s has no private part", k.KID)
	}
	opener := s.sealerFor(k.KEKID)
	if opener == nil {
		return nil, fmt.Errorf("key %s: sealed under %s, not the configured key-encryption key %s: %w", k.KID, k.KEKID, s.id, ErrUnseal)
	}
	der, err := opener.Open(k.SealedPrivate, sealAAD(k.KID, k.Alg))
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", k.KID, err)
	}
	defer clear(der)
	priv, err := parsePrivate(der)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", k.KID, err)
	}
	return priv, nil
}

// sealAAD binds a sealed private key to its kid and algorithm, so a sealed
// blob moved onto another key record does not open.
func sealAAD(kid, alg string) []byte {
	return []byte("sigil-private-key:v1:" + alg + ":" + kid)
}

// DecodeKEK parses a KEK given as base64 (standard or URL alphabet, padded
// or not) of exactly 32 bytes.
func DecodeKEK(text string) ([]byte, error) {
	text = strings.TrimSpace(text)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(text); err == nil {
			if len(b) != KEKSize {
				return nil, fmt.Errorf("key-encryption key must decode to %d bytes, got %d", KEKSize, len(b))
			}
			return b, nil
		}
	}
	return nil, errors.New("key-encryption key is not valid base64")
}

// ReadKEKFile reads a base64 KEK from path. It refuses a file readable or
// writable by group or others.
func ReadKEKFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key-encryption key file %s has mode %#o; want 0600", path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file: %w", err)
	}
	kek, err := DecodeKEK(string(b))
	if err != nil {
		return nil, fmt.Errorf("key-encryption key file %s: %w", path, err)
	}
	return kek, nil
}

// GenerateKEKFile creates path (mode 0600, parent 0700) holding a new random
// base64 KEK and returns the KEK. It fails if path exists.
func GenerateKEKFile(path string) ([]byte, error) {
	kek := make([]byte, KEKSize)
	if _, err := rand.Read(kek); err != nil {
		return nil, fmt.Errorf("generate key-encryption key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("generate key-encryption key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("generate key-encryption key: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(kek) + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("generate key-encryption key: %w", err)
	}
	return kek, nil
}
