package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sigilauth/sigil/oauth/verify"
	"github.com/sigilauth/sigil/storage"
)

// ErrNotLoaded reports that the KeyRing has no key set yet.
var ErrNotLoaded = errors.New("key ring not loaded")

// ErrNoSigningKey reports that no active key exists for the requested
// algorithm.
var ErrNoSigningKey = errors.New("no active signing key")

// KeyRing holds the current key set in memory as an immutable snapshot
// behind an atomic pointer: readers (signing, JWKS, key look-ups) never lock,
// and Load swaps in a new snapshot at once. The zero value is not usable;
// create one with NewKeyRing.
//
// A KeyRing is a verify.KeySet over its published keys, so the server checks
// its own tokens with the same verifier resource servers use. A published
// key keeps one *verify.Key for as long as it stays published; when a Load
// drops it (revoked, or retired past verify_until) that Key is withdrawn, so
// verifiers refuse tokens it signed even from their verified-token caches.
type KeyRing struct {
	sealer     *Sealer
	algorithms []string // configured; first is the default signer
	snap       atomic.Pointer[Snapshot]
	loadMu     sync.Mutex // serializes Load, so withdrawals follow the swaps
}

var _ verify.KeySet = (*KeyRing)(nil)

// NewKeyRing returns an empty ring that unseals private keys with sealer and
// signs by default with algorithms[0].
func NewKeyRing(sealer *Sealer, algorithms []string) *KeyRing {
	return &KeyRing{sealer: sealer, algorithms: append([]string(nil), algorithms...)}
}

// Snapshot is one immutable view of the key set. Never mutate one.
type Snapshot struct {
	// Version is the key-set version it was built from.
	Version int64
	// Keys are the stored records (for listing; private parts sealed).
	Keys []storage.Key
	// JWKS is the JSON document served at the jwks_uri.
	JWKS []byte
	// ETag is the strong entity tag of JWKS, quoted.
	ETag string
	// LoadedAt is when the snapshot was built.
	LoadedAt time.Time

	signers map[string]*signer // by alg: active keys only
	public  map[string]*verify.Key
}

type signer struct {
	kid, alg string
	priv     crypto.Signer
	headers  map[string]string // typ → base64url protected header
}

// Published reports whether a key in state st is in the JWKS at now.
func Published(k storage.Key, now time.Time) bool {
	switch k.State {
	case storage.KeyNext, storage.KeyActive:
		return true
	case storage.KeyRetired:
		return now.Before(k.VerifyUntil)
	default:
		return false
	}
}

// Load builds a snapshot from set and swaps it in. Only active keys are
// unsealed. Keys published before and not after are withdrawn (see
// KeyRing). It fails, leaving the previous snapshot in place, if a public
// key is malformed or an active private key does not unseal. Concurrent
// calls are serialized.
func (r *KeyRing) Load(set storage.KeySet, now time.Time) error {
	r.loadMu.Lock()
	defer r.loadMu.Unlock()
	prev := r.snap.Load()
	s, err := r.build(set, now, prev)
	if err != nil {
		return err
	}
	r.snap.Store(s)
	if prev != nil {
		for kid, k := range prev.public {
			if s.public[kid] != k {
				k.Withdraw()
			}
		}
	}
	return nil
}

// build makes a snapshot of set at now, reusing prev's *verify.Key for keys
// that stay published unchanged.
func (r *KeyRing) build(set storage.KeySet, now time.Time, prev *Snapshot) (*Snapshot, error) {
	s := &Snapshot{
		Version:  set.Version,
		Keys:     append([]storage.Key(nil), set.Keys...),
		LoadedAt: now,
		signers:  make(map[string]*signer),
		public:   make(map[string]*verify.Key),
	}
	var jwks bytes.Buffer
	jwks.WriteString(`{"keys":[`)
	n := 0
	for _, k := range set.Keys {
		if !Published(k, now) {
			continue
		}
		kid, alg, pub, err := ParsePublicJWK(k.PublicJWK)
		if err != nil {
			return nil, fmt.Errorf("load key %s: %w", k.KID, err)
		}
		if kid != k.KID || alg != k.Alg {
			return nil, fmt.Errorf("load key %s: record does not match its public key", k.KID)
		}
		vk, err := verifyKey(prev, kid, alg, pub)
		if err != nil {
			return nil, fmt.Errorf("load key %s: %w", k.KID, err)
		}
		s.public[kid] = vk
		if n > 0 {
			jwks.WriteByte(',')
		}
		jwks.Write(k.PublicJWK)
		n++
		if k.State != storage.KeyActive {
			continue
		}
		if _, dup := s.signers[k.Alg]; dup {
			return nil, fmt.Errorf("load key set: two active %s keys", k.Alg)
		}
		if r.sealer == nil {
			return nil, errors.New("load key set: no key-encryption key")
		}
		priv, err := r.sealer.UnsealKey(k)
		if err != nil {
			return nil, fmt.Errorf("load key: %w", err)
		}
		s.signers[k.Alg] = newSigner(k.KID, k.Alg, priv)
	}
	jwks.WriteString(`]}`)
	s.JWKS = jwks.Bytes()
	sum := sha256.Sum256(s.JWKS)
	s.ETag = `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	return s, nil
}

// verifyKey returns prev's key for kid if it is the same alg and material,
// else a new one.
func verifyKey(prev *Snapshot, kid, alg string, pub crypto.PublicKey) (*verify.Key, error) {
	if prev != nil {
		if old := prev.public[kid]; old != nil && old.Algorithm() == alg && samePublic(old.Public(), pub) {
			return old, nil
		}
	}
	return verify.NewKey(kid, alg, pub)
}

// samePublic reports whether a and b are the same RSA or ECDSA public key.
func samePublic(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

func newSigner(kid, alg string, priv crypto.Signer) *signer {
	sg := &signer{kid: kid, alg: alg, priv: priv, headers: make(map[string]string, 2)}
	for _, typ := range []string{"at+jwt", "JWT", "logout+jwt"} {
		h := `{"alg":"` + alg + `","kid":"` + kid + `","typ":"` + typ + `"}`
		sg.headers[typ] = base64.RawURLEncoding.EncodeToString([]byte(h))
	}
	return sg
}

// Snapshot returns the current snapshot, or nil before the first Load.
func (r *KeyRing) Snapshot() *Snapshot { return r.snap.Load() }

// Loaded reports whether a key set has been loaded.
func (r *KeyRing) Loaded() bool { return r.snap.Load() != nil }

// DefaultAlg is the algorithm used when a client names none.
func (r *KeyRing) DefaultAlg() string { return r.algorithms[0] }

// Algorithms lists the configured algorithms, default first.
func (r *KeyRing) Algorithms() []string { return append([]string(nil), r.algorithms...) }

// JWKS returns the current JWKS document and its ETag. The bytes are shared:
// callers must not modify them.
func (r *KeyRing) JWKS() ([]byte, string, error) {
	s := r.snap.Load()
	if s == nil {
		return nil, "", ErrNotLoaded
	}
	return s.JWKS, s.ETag, nil
}

// PublicKey returns the published key with the given kid (next, active, or
// retired and not yet past verify_until; never revoked) and its algorithm.
func (r *KeyRing) PublicKey(kid string) (alg string, key crypto.PublicKey, ok bool) {
	s := r.snap.Load()
	if s == nil {
		return "", nil, false
	}
	k := s.public[kid]
	if k == nil {
		return "", nil, false
	}
	return k.Algorithm(), k.Public(), true
}

// Key implements verify.KeySet over the published keys (those PublicKey
// finds). It never blocks and ignores ctx; an unknown kid, or any kid before
// the first Load, is an error wrapping verify.ErrUnknownKey.
func (r *KeyRing) Key(_ context.Context, kid string) (*verify.Key, error) {
	if s := r.snap.Load(); s != nil {
		if k := s.public[kid]; k != nil {
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: kid not published", verify.ErrUnknownKey)
}

// SignJWT signs payload (JSON claims) as a compact JWS with the active key
// of alg ("" means DefaultAlg) and protected header {alg, kid, typ}. typ is
// "at+jwt" (access token), "JWT" (ID token) or "logout+jwt"
// (back-channel logout token). payload is not retained. Safe for
// concurrent use.
func (r *KeyRing) SignJWT(alg, typ string, payload []byte) (string, error) {
	s := r.snap.Load()
	if s == nil {
		return "", ErrNotLoaded
	}
	if alg == "" {
		alg = r.algorithms[0]
	}
	sg := s.signers[alg]
	if sg == nil {
		return "", fmt.Errorf("sign %s: %w", alg, ErrNoSigningKey)
	}
	header, ok := sg.headers[typ]
	if !ok {
		return "", fmt.Errorf("sign: unsupported typ %q", typ)
	}
	enc := base64.RawURLEncoding
	bp := jwsBufs.Get().(*[]byte)
	defer jwsBufs.Put(bp)
	buf := (*bp)[:0]
	buf = append(buf, header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	digest := sha256.Sum256(buf)
	buf = append(buf, '.')
	var err error
	switch priv := sg.priv.(type) {
	case *ecdsa.PrivateKey:
		var sig [64]byte
		if err = signES256(priv, digest[:], &sig); err == nil {
			buf = enc.AppendEncode(buf, sig[:])
		}
	case *rsa.PrivateKey:
		var sig []byte
		if sig, err = rsa.SignPKCS1v15(nil, priv, crypto.SHA256, digest[:]); err == nil {
			buf = enc.AppendEncode(buf, sig)
		}
	default:
		err = fmt.Errorf("unsupported private key %T", priv)
	}
	if cap(buf) <= maxPooledJWS {
		*bp = buf
	}
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", alg, err)
	}
	return string(buf), nil
}

// jwsBufs recycles the buffers SignJWT assembles tokens in, so that a token
// costs one allocation (its string) beyond the signature's own.
var jwsBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledJWS bounds the buffers kept in jwsBufs.
const maxPooledJWS = 16 << 10

// signES256 writes the JWS (RFC 7518 §3.4) form of an ECDSA P-256
// signature of digest to out: R || S, each 32 bytes big-endian. It signs
// with ecdsa.SignASN1 and reads the two integers out of the DER, without
// math/big.
func signES256(priv *ecdsa.PrivateKey, digest []byte, out *[64]byte) error {
	der, err := ecdsa.SignASN1(rand.Reader, priv, digest)
	if err != nil {
		return err
	}
	return derToRS(der, out)
}

// errMalformedECDSA is derToRS's answer to DER it cannot read.
var errMalformedECDSA = errors.New("malformed ECDSA signature")

// derToRS copies the INTEGERs r and s of a DER ECDSA-Sig-Value
// (SEQUENCE { r INTEGER, s INTEGER }, RFC 3279 §2.2.3) with values of at
// most 32 bytes into out, right-aligned.
func derToRS(der []byte, out *[64]byte) error {
	bad := errMalformedECDSA
	// A P-256 signature is at most 72 bytes, so every length is one byte.
	if len(der) < 2 || der[0] != 0x30 || int(der[1]) != len(der)-2 || der[1] >= 0x80 {
		return bad
	}
	rest := der[2:]
	for i := range 2 {
		if len(rest) < 2 || rest[0] != 0x02 || rest[1] >= 0x80 || int(rest[1]) > len(rest)-2 || rest[1] == 0 {
			return bad
		}
		v := rest[2 : 2+int(rest[1])]
		rest = rest[2+int(rest[1]):]
		if v[0]&0x80 != 0 {
			return bad // negative
		}
		if len(v) > 1 && v[0] == 0 {
			v = v[1:] // the sign byte of a value with its top bit set
		}
		if len(v) > 32 {
			return bad
		}
		dst := out[i*32 : (i+1)*32]
		clear(dst[:32-len(v)])
		copy(dst[32-len(v):], v)
	}
	if len(rest) != 0 {
		return bad
	}
	return nil
}
