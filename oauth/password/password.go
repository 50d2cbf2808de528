// Package password hashes user passwords with argon2id and verifies them
// against argon2id, bcrypt and Django pbkdf2_sha256 hashes.
//
// New hashes are PHC strings:
//
//	$argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>
//
// with a 16-byte random salt and a 32-byte key, both in unpadded standard
// base64. Imported bcrypt and Django hashes verify and report needsRehash, so
// the caller can replace them with an argon2id hash after a successful login.
//
// Errors from this package never contain a password or a hash. All functions
// are safe for concurrent use. Each argon2id hash or verification works in
// Params.Memory KiB of memory, which is reused from one derivation to the
// next (see deriveIDKey); callers bound concurrency
// (security.password_hash_concurrency).
package password

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Params are argon2id cost parameters.
type Params struct {
	// Memory is the memory cost in KiB.
	Memory uint32
	// Time is the number of passes over the memory.
	Time uint32
	// Threads is the degree of parallelism (lanes).
	Threads uint8
}

// DefaultParams are the OWASP-recommended argon2id parameters: 19 MiB, two
// passes, one lane.
var DefaultParams = Params{Memory: 19456, Time: 2, Threads: 1}

// String returns the PHC parameter string, e.g. "m=19456,t=2,p=1".
func (p Params) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)
}

// Limits on parameters accepted from stored hashes, so that a corrupt or
// hostile record cannot make one verification exhaust memory or CPU.
const (
	maxMemory     = 1 << 21 // KiB (2 GiB)
	maxTime       = 1000
	maxPBKDF2Iter = 10_000_000
	// maxBcryptCost keeps one bcrypt check to seconds (cost 16 is about
	// 4 s here); bcrypt itself accepts up to 31, hours of CPU per login.
	maxBcryptCost = 16
	minSaltLen    = 8
	maxSaltLen    = 1024
	minKeyLen     = 16
	maxKeyLen     = 1024
)

const (
	saltLen = 16
	keyLen  = 32
)

// Sentinel errors; test with errors.Is. Their messages, and those of errors
// wrapping them, never contain the hash or the password.
var (
	// ErrEmptyPassword reports an attempt to hash an empty password.
	ErrEmptyPassword = errors.New("password is empty")
	// ErrInvalidParams reports argon2id parameters out of range.
	ErrInvalidParams = errors.New("invalid argon2id parameters")
	// ErrUnknownFormat reports a stored hash in no supported format.
	ErrUnknownFormat = errors.New("unknown password hash format")
	// ErrMalformed reports a stored hash in a supported format that cannot
	// be parsed.
	ErrMalformed = errors.New("malformed password hash")
)

// Validate reports whether p can be used to hash: Time and Threads at least
// 1, Memory at least 8 KiB per thread, and within the verification limits.
func (p Params) Validate() error {
	switch {
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("%w: time %d out of range 1..%d", ErrInvalidParams, p.Time, maxTime)
	case p.Threads < 1:
		return fmt.Errorf("%w: threads must be at least 1", ErrInvalidParams)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Errorf("%w: memory %d KiB out of range %d..%d", ErrInvalidParams, p.Memory, 8*uint32(p.Threads), maxMemory)
	}
	return nil
}

var b64 = base64.RawStdEncoding

// Hash returns the argon2id PHC string of password under p with a fresh
// random salt. It fails on an empty password or invalid parameters.
func Hash(password string, p Params) (string, error) {
	if password == "" {
		return "", ErrEmptyPassword
	}
	if err := p.Validate(); err != nil {
		return "", err
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("read random salt: %w", err)
	}
	key := idKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	return encodeArgon2id(p, salt, key), nil
}

func encodeArgon2id(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$%s$%s$%s", argon2.Version, p, b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Hash classes reported by ParseHash.
const (
	ClassArgon2id     = "argon2id"
	ClassBcrypt       = "bcrypt"
	ClassPBKDF2SHA256 = "pbkdf2_sha256"
	// ClassUnusable is Django's unusable-password marker ("!..."): it
	// never matches, and Verify spends a DummyVerify on it.
	ClassUnusable = "unusable"
)

// Info describes a stored hash: its class and cost parameters, never its
// salt or key.
type Info struct {
	// Class is one of the Class* constants.
	Class string
	// Params are the argon2id parameters (ClassArgon2id only).
	Params Params
	// Iterations is the PBKDF2 iteration count (ClassPBKDF2SHA256 only).
	Iterations int
	// Cost is the bcrypt cost, log2 of the rounds (ClassBcrypt only).
	Cost int
}

// parsedHash is a stored hash taken apart by parseHash.
type parsedHash struct {
	Info
	salt, key []byte
	bcrypt    []byte // the whole bcrypt hash
}

// ParseHash parses encoded with the parser Verify uses and reports its class
// and cost. It fails (ErrUnknownFormat, ErrMalformed) exactly when Verify
// would fail for every password, so an importer can refuse a hash that could
// never log in: argon2id parameters out of range, a PBKDF2 iteration count
// over the cap, a bcrypt hash that does not decode. Errors contain no part
// of the hash.
func ParseHash(encoded string) (Info, error) {
	h, err := parseHash(encoded)
	return h.Info, err
}

func parseHash(encoded string) (parsedHash, error) {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"):
		p, salt, key, err := parseArgon2id(encoded)
		return parsedHash{Info: Info{Class: ClassArgon2id, Params: p}, salt: salt, key: key}, err
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		cost, err := parseBcrypt(encoded)
		return parsedHash{Info: Info{Class: ClassBcrypt, Cost: cost}, bcrypt: []byte(encoded)}, err
	case strings.HasPrefix(encoded, "pbkdf2_sha256$"):
		iter, salt, key, err := parseDjango(encoded)
		return parsedHash{Info: Info{Class: ClassPBKDF2SHA256, Iterations: iter}, salt: []byte(salt), key: key}, err
	case strings.HasPrefix(encoded, "!"):
		return parsedHash{Info: Info{Class: ClassUnusable}}, nil
	default:
		return parsedHash{}, ErrUnknownFormat
	}
}

// Verify reports whether password matches the stored hash encoded, which may
// be an argon2id PHC string, a bcrypt hash ($2a$, $2b$, $2y$) or a Django
// pbkdf2_sha256 hash. needsRehash is true when the password matched but the
// hash is not argon2id with exactly the current parameters (and key length):
// the caller should then store Hash(password, current). A Django unusable
// password (starting with "!") never matches and is not an error; an empty
// password never matches. An unknown or malformed hash (see ParseHash) is an
// error (ErrUnknownFormat, ErrMalformed) that contains neither hash nor
// password. Comparisons are constant-time.
func Verify(encoded, password string, current Params) (ok, needsRehash bool, err error) {
	h, err := parseHash(encoded)
	if err != nil {
		return false, false, err
	}
	switch h.Class {
	case ClassArgon2id:
		if password == "" {
			return false, false, nil
		}
		p := h.Params
		got := idKey([]byte(password), h.salt, p.Time, p.Memory, p.Threads, uint32(len(h.key)))
		if subtle.ConstantTimeCompare(got, h.key) != 1 {
			return false, false, nil
		}
		return true, p != current || len(h.key) != keyLen || len(h.salt) < saltLen, nil

	case ClassBcrypt:
		if password == "" {
			return false, false, nil
		}
		switch err := bcrypt.CompareHashAndPassword(h.bcrypt, []byte(password)); {
		case err == nil:
			return true, true, nil
		case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
			return false, false, nil
		default:
			return false, false, fmt.Errorf("%w: bcrypt: %s", ErrMalformed, bcryptReason(err))
		}

	case ClassPBKDF2SHA256:
		if password == "" {
			return false, false, nil
		}
		got, err := pbkdf2.Key(sha256.New, password, h.salt, h.Iterations, len(h.key))
		if err != nil {
			return false, false, fmt.Errorf("pbkdf2: %w", err)
		}
		if subtle.ConstantTimeCompare(got, h.key) != 1 {
			return false, false, nil
		}
		return true, true, nil

	default: // ClassUnusable
		// Django's set_unusable_password marker: never matches. Spend the
		// usual time so the account state does not show in the timing.
		DummyVerify(password, current)
		return false, false, nil
	}
}

// bcryptB64 is bcrypt's base64 alphabet, for checking salt and key.
var bcryptB64 = base64.NewEncoding("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789").WithPadding(base64.NoPadding)

// parseBcrypt checks "$2b$CC$<22 salt chars><31 hash chars>" and returns
// the cost.
func parseBcrypt(encoded string) (int, error) {
	cost, err := bcrypt.Cost([]byte(encoded))
	if err != nil {
		return 0, fmt.Errorf("%w: bcrypt: %s", ErrMalformed, bcryptReason(err))
	}
	if len(encoded) != 60 {
		return 0, fmt.Errorf("%w: bcrypt: wrong length", ErrMalformed)
	}
	if cost > maxBcryptCost {
		return 0, fmt.Errorf("%w: bcrypt: cost %d over the limit of %d", ErrMalformed, cost, maxBcryptCost)
	}
	_, errSalt := bcryptB64.DecodeString(encoded[7:29])
	if _, err := bcryptB64.DecodeString(encoded[29:]); err != nil || errSalt != nil {
		return 0, fmt.Errorf("%w: bcrypt: bad salt or key", ErrMalformed)
	}
	return cost, nil
}

// parseArgon2id parses "$argon2id$v=19$m=M,t=T,p=P$salt$key".
func parseArgon2id(encoded string) (Params, []byte, []byte, error) {
	malformed := func(reason string) (Params, []byte, []byte, error) {
		return Params{}, nil, nil, fmt.Errorf("%w: argon2id: %s", ErrMalformed, reason)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return malformed("want 5 $-separated fields")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return malformed("unsupported version")
	}
	var p Params
	kv := strings.Split(parts[3], ",")
	if len(kv) != 3 {
		return malformed("want parameters m, t and p")
	}
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(kv[i], name+"=")
		if !ok {
			return malformed("want parameters m, t and p in that order")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || (v != "0" && strings.HasPrefix(v, "0")) {
			return malformed("parameter " + name + " is not a number")
		}
		switch name {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n > 255 {
				return malformed("parameter p out of range")
			}
			p.Threads = uint8(n)
		}
	}
	if err := p.Validate(); err != nil {
		return malformed("parameters out of range")
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen {
		return malformed("bad salt")
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return malformed("bad key")
	}
	return p, salt, key, nil
}

// parseDjango parses "pbkdf2_sha256$<iterations>$<salt>$<base64 key>".
func parseDjango(encoded string) (int, string, []byte, error) {
	malformed := func(reason string) (int, string, []byte, error) {
		return 0, "", nil, fmt.Errorf("%w: pbkdf2_sha256: %s", ErrMalformed, reason)
	}
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 {
		return malformed("want 4 $-separated fields")
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > maxPBKDF2Iter {
		return malformed("bad iteration count")
	}
	if parts[2] == "" {
		return malformed("empty salt")
	}
	key, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil || len(key) < minKeyLen || len(key) > maxKeyLen {
		return malformed("bad key")
	}
	return iter, parts[2], key, nil
}

// bcryptReason names what is wrong with a bcrypt hash without quoting it
// (some x/crypto/bcrypt errors include bytes of the hash).
func bcryptReason(err error) string {
	var costErr bcrypt.InvalidCostError
	var prefixErr bcrypt.InvalidHashPrefixError
	switch {
	case errors.Is(err, bcrypt.ErrHashTooShort):
		return "too short"
	case errors.As(err, &costErr):
		return "cost out of range"
	case errors.As(err, &prefixErr):
		return "bad prefix"
	default:
		return "unparsable"
	}
}

// idKey is deriveIDKey (argon2.IDKey over reused memory); every argon2id
// derivation goes through it so that tests can check that DummyVerify
// derives with exactly the parameters of a real verification.
var idKey = deriveIDKey

// dummySalt and dummyKey give DummyVerify something to compare against.
var (
	dummySalt = []byte("sigil-dummy-salt")
	dummyKey  = make([]byte, keyLen)
)

// DummyVerify spends the time and memory of verifying password against an
// argon2id hash with parameters p, and discards the result. Call it when the
// user is unknown (or otherwise cannot log in) so that the response takes as
// long as a real verification. Invalid p falls back to DefaultParams.
func DummyVerify(password string, p Params) {
	if p.Validate() != nil {
		p = DefaultParams
	}
	got := idKey([]byte(password), dummySalt, p.Time, p.Memory, p.Threads, keyLen)
	subtle.ConstantTimeCompare(got, dummyKey)
}

// Dummy returns a hash with the class and cost parameters of i, a fixed
// salt and a zero key: verifying any password against it costs what
// verifying against a real hash described by i costs, and (barring a
// preimage of zero) never matches. It returns "" for ClassUnusable and
// unknown classes.
func (i Info) Dummy() string {
	switch i.Class {
	case ClassArgon2id:
		p := i.Params
		if p.Validate() != nil {
			p = DefaultParams
		}
		return encodeArgon2id(p, dummySalt, dummyKey)
	case ClassPBKDF2SHA256:
		return fmt.Sprintf("pbkdf2_sha256$%d$%s$%s", min(max(i.Iterations, 1), maxPBKDF2Iter), dummySalt, base64.StdEncoding.EncodeToString(dummyKey))
	case ClassBcrypt:
		return fmt.Sprintf("$2b$%02d$%s", min(max(i.Cost, bcrypt.MinCost), bcrypt.MaxCost), strings.Repeat(".", 53))
	}
	return ""
}

// Costlier reports whether i and j are of the same class and verifying
// against i costs more than against j (argon2id: memory × passes; PBKDF2:
// iterations; bcrypt: cost).
func (i Info) Costlier(j Info) bool {
	if i.Class != j.Class {
		return false
	}
	switch i.Class {
	case ClassArgon2id:
		return uint64(i.Params.Memory)*uint64(i.Params.Time) > uint64(j.Params.Memory)*uint64(j.Params.Time)
	case ClassPBKDF2SHA256:
		return i.Iterations > j.Iterations
	case ClassBcrypt:
		return i.Cost > j.Cost
	}
	return false
}

// TopUp returns the dummy hashes (see Info.Dummy) whose verification, added
// to one verification against own, costs what one verification against
// target costs: PBKDF2 is linear in the iterations, bcrypt's 2^c rounds sum
// as 2^own + 2^own + ... + 2^(target-1) = 2^target, argon2id with equal
// memory is linear in the passes. It returns nil when own is not cheaper
// than target, the classes differ, or (argon2id with unequal memory) no
// exact top-up exists.
func TopUp(own, target Info) []string {
	if !target.Costlier(own) {
		return nil
	}
	switch own.Class {
	case ClassPBKDF2SHA256:
		return []string{Info{Class: ClassPBKDF2SHA256, Iterations: target.Iterations - own.Iterations}.Dummy()}
	case ClassBcrypt:
		var out []string
		for c := own.Cost; c < target.Cost; c++ {
			out = append(out, Info{Class: ClassBcrypt, Cost: c}.Dummy())
		}
		return out
	case ClassArgon2id:
		if own.Params.Memory != target.Params.Memory || own.Params.Threads != target.Params.Threads {
			return nil
		}
		p := target.Params
		p.Time -= own.Params.Time
		return []string{Info{Class: ClassArgon2id, Params: p}.Dummy()}
	}
	return nil
}
