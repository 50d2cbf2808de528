package password

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// cheap keeps test hashes fast; one case uses DefaultParams.
var cheap = Params{Memory: 64, Time: 1, Threads: 1}

var phcPattern = regexp.MustCompile(`^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]{22})\$([A-Za-z0-9+/]{43})$`)

func TestHashFormat(t *testing.T) {
	tests := []struct {
		name   string
		params Params
		want   string // parameter string
	}{
		{name: "default params", params: DefaultParams, want: "m=19456,t=2,p=1"},
		{name: "cheap params", params: cheap, want: "m=64,t=1,p=1"},
		{name: "two lanes", params: Params{Memory: 32, Time: 3, Threads: 2}, want: "m=32,t=3,p=2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Hash("correct horse", tc.params)
			if err != nil {
				t.Fatal(err)
			}
			if !phcPattern.MatchString(h) {
				t.Fatalf("hash %q is not a PHC argon2id string with 16-byte salt and 32-byte key", h)
			}
			if !strings.Contains(h, "$"+tc.want+"$") {
				t.Errorf("hash %q lacks parameters %s", h, tc.want)
			}
			ok, rehash, err := Verify(h, "correct horse", tc.params)
			if err != nil || !ok || rehash {
				t.Errorf("Verify(own hash) = %v, %v, %v; want true, false, nil", ok, rehash, err)
			}
			ok, _, err = Verify(h, "correct horsE", tc.params)
			if err != nil || ok {
				t.Errorf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

func TestHashSaltsDiffer(t *testing.T) {
	a, err := Hash("same", cheap)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Hash("same", cheap)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Fatal("two hashes of the same password are equal: salt not random")
	}
}

func TestHashRejects(t *testing.T) {
	tests := []struct {
		name     string
		password string
		params   Params
		want     error
	}{
		{name: "empty password", password: "", params: cheap, want: ErrEmptyPassword},
		{name: "zero time", password: "x", params: Params{Memory: 64, Time: 0, Threads: 1}, want: ErrInvalidParams},
		{name: "zero threads", password: "x", params: Params{Memory: 64, Time: 1, Threads: 0}, want: ErrInvalidParams},
		{name: "memory below 8 per thread", password: "x", params: Params{Memory: 15, Time: 1, Threads: 2}, want: ErrInvalidParams},
		{name: "memory too large", password: "x", params: Params{Memory: 1 << 30, Time: 1, Threads: 1}, want: ErrInvalidParams},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Hash(tc.password, tc.params)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Hash = %q, %v; want %v", h, err, tc.want)
			}
		})
	}
}

func TestVerifyVectors(t *testing.T) {
	// bcryptCost4 was generated with x/crypto/bcrypt.GenerateFromPassword.
	const bcryptCost4 = "$2a$04$maOBtXXryfr6Sp5JJ3QUMuxUTFK3TFZjXwU1ad7AofkjSpom/01OK"
	tests := []struct {
		name       string
		encoded    string
		password   string
		current    Params
		wantOK     bool
		wantRehash bool
	}{
		// argon2id vectors from the reference implementation (phc-winner-argon2
		// src/test.c): password "password", salt "somesalt".
		{name: "argon2id reference m=256", encoded: "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
			password: "password", current: Params{Memory: 256, Time: 2, Threads: 1}, wantOK: true,
			// the reference salt is 8 bytes, shorter than ours
			wantRehash: true},
		{name: "argon2id reference m=65536", encoded: "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
			password: "password", current: DefaultParams, wantOK: true, wantRehash: true},
		{name: "argon2id reference wrong password", encoded: "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
			password: "passwore", current: cheap},
		{name: "argon2id empty password", encoded: "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
			password: "", current: cheap},

		// Django vectors computed independently with Python's
		// hashlib.pbkdf2_hmac("sha256", password, salt, iterations).
		{name: "django 1000 iterations", encoded: "pbkdf2_sha256$1000$Qx2nNf8wKz1a$vRBTjevAUnxbnFMap4KtPlYt57LVnZma5p75AC4xcRo=",
			password: "correct horse battery staple", current: cheap, wantOK: true, wantRehash: true},
		{name: "django unicode password", encoded: "pbkdf2_sha256$260000$seasalt$buALfabDTQwkAhnWtuh3d1+Hkf4vij6pr53bWWNjd30=",
			password: "pässwörd €", current: cheap, wantOK: true, wantRehash: true},
		{name: "django one iteration", encoded: "pbkdf2_sha256$1$abc$1yN2gOPaOS1G6xYjbus3YOso1sIKmModvpt9xxtp0iA=",
			password: "hunter2", current: cheap, wantOK: true, wantRehash: true},
		{name: "django wrong password", encoded: "pbkdf2_sha256$1000$Qx2nNf8wKz1a$vRBTjevAUnxbnFMap4KtPlYt57LVnZma5p75AC4xcRo=",
			password: "correct horse battery stapler", current: cheap},
		{name: "django unusable password", encoded: "!Xk2mRz9sd8fGbhVNc7Q1pLwUe3YtA5oK6iJx4HnE",
			password: "anything", current: cheap},

		// bcrypt: the openwall crypt_blowfish test vector, and one generated
		// with x/crypto/bcrypt, also under the $2b$ and $2y$ prefixes.
		{name: "bcrypt openwall vector", encoded: "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
			password: "U*U", current: cheap, wantOK: true, wantRehash: true},
		{name: "bcrypt 2a", encoded: bcryptCost4, password: "Tr0ub4dor&3", current: cheap, wantOK: true, wantRehash: true},
		{name: "bcrypt 2b", encoded: "$2b$" + bcryptCost4[4:], password: "Tr0ub4dor&3", current: cheap, wantOK: true, wantRehash: true},
		{name: "bcrypt 2y", encoded: "$2y$" + bcryptCost4[4:], password: "Tr0ub4dor&3", current: cheap, wantOK: true, wantRehash: true},
		{name: "bcrypt wrong password", encoded: bcryptCost4, password: "Tr0ub4dor&4", current: cheap},
		{name: "bcrypt empty password", encoded: bcryptCost4, password: "", current: cheap},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := Verify(tc.encoded, tc.password, tc.current)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if ok != tc.wantOK || rehash != tc.wantRehash {
				t.Errorf("Verify = ok %v, rehash %v; want ok %v, rehash %v", ok, rehash, tc.wantOK, tc.wantRehash)
			}
		})
	}
}

func TestVerifyNeedsRehashOnParamChange(t *testing.T) {
	h, err := Hash("pw", cheap)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		current Params
		want    bool
	}{
		{name: "same params", current: cheap, want: false},
		{name: "more memory", current: Params{Memory: 128, Time: 1, Threads: 1}, want: true},
		{name: "more time", current: Params{Memory: 64, Time: 2, Threads: 1}, want: true},
		{name: "more threads", current: Params{Memory: 64, Time: 1, Threads: 2}, want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := Verify(h, "pw", tc.current)
			if err != nil || !ok {
				t.Fatalf("Verify = %v, %v", ok, err)
			}
			if rehash != tc.want {
				t.Errorf("needsRehash = %v, want %v", rehash, tc.want)
			}
		})
	}
}

// TestRehashFlow is what a login does with an imported hash.
func TestRehashFlow(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("imported"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	ok, rehash, err := Verify(string(h), "imported", cheap)
	if err != nil || !ok || !rehash {
		t.Fatalf("Verify(bcrypt) = %v, %v, %v", ok, rehash, err)
	}
	nh, err := Hash("imported", cheap)
	if err != nil {
		t.Fatal(err)
	}
	ok, rehash, err = Verify(nh, "imported", cheap)
	if err != nil || !ok || rehash {
		t.Fatalf("Verify(rehashed) = %v, %v, %v", ok, rehash, err)
	}
}

func TestVerifyMalformed(t *testing.T) {
	const secret = "S3cr3tPassw0rd!"
	good := "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	tests := []struct {
		name    string
		encoded string
		want    error
	}{
		{name: "empty", encoded: "", want: ErrUnknownFormat},
		{name: "plain text", encoded: "hunter2hunter2", want: ErrUnknownFormat},
		{name: "argon2i", encoded: "$argon2i$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG", want: ErrUnknownFormat},
		{name: "argon2d", encoded: "$argon2d$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4", want: ErrUnknownFormat},
		{name: "django sha1", encoded: "pbkdf2_sha1$1000$salt$c2VjcmV0c2VjcmV0c2VjcmV0", want: ErrUnknownFormat},
		{name: "md5 crypt", encoded: "$1$saltsalt$2vnaRpHa6Jxjz5n83ok8Z0", want: ErrUnknownFormat},

		{name: "argon2id missing field", encoded: "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ", want: ErrMalformed},
		{name: "argon2id extra field", encoded: good + "$x", want: ErrMalformed},
		{name: "argon2id version 16", encoded: strings.Replace(good, "v=19", "v=16", 1), want: ErrMalformed},
		{name: "argon2id no version", encoded: "$argon2id$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4", want: ErrMalformed},
		{name: "argon2id params out of order", encoded: strings.Replace(good, "m=256,t=2,p=1", "t=2,m=256,p=1", 1), want: ErrMalformed},
		{name: "argon2id params missing", encoded: strings.Replace(good, "m=256,t=2,p=1", "m=256,t=2", 1), want: ErrMalformed},
		{name: "argon2id non-numeric", encoded: strings.Replace(good, "m=256", "m=lots", 1), want: ErrMalformed},
		{name: "argon2id negative", encoded: strings.Replace(good, "t=2", "t=-2", 1), want: ErrMalformed},
		{name: "argon2id leading zero", encoded: strings.Replace(good, "m=256", "m=0256", 1), want: ErrMalformed},
		{name: "argon2id zero time", encoded: strings.Replace(good, "t=2", "t=0", 1), want: ErrMalformed},
		{name: "argon2id zero lanes", encoded: strings.Replace(good, "p=1", "p=0", 1), want: ErrMalformed},
		{name: "argon2id 256 lanes", encoded: strings.Replace(good, "p=1", "p=256", 1), want: ErrMalformed},
		{name: "argon2id huge memory", encoded: strings.Replace(good, "m=256", "m=4294967295", 1), want: ErrMalformed},
		{name: "argon2id huge time", encoded: strings.Replace(good, "t=2", "t=100000", 1), want: ErrMalformed},
		{name: "argon2id bad salt base64", encoded: strings.Replace(good, "c29tZXNhbHQ", "c29t*XNhbHQ", 1), want: ErrMalformed},
		{name: "argon2id short salt", encoded: strings.Replace(good, "c29tZXNhbHQ", "c29tZQ", 1), want: ErrMalformed},
		{name: "argon2id short key", encoded: "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQ", want: ErrMalformed},
		{name: "argon2id empty key", encoded: "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$", want: ErrMalformed},

		{name: "bcrypt too short", encoded: "$2a$04$maOBtXXryfr6Sp5JJ3QUMu", want: ErrMalformed},
		{name: "bcrypt bad cost", encoded: "$2a$99$maOBtXXryfr6Sp5JJ3QUMuxUTFK3TFZjXwU1ad7AofkjSpom/01OK", want: ErrMalformed},
		{name: "bcrypt non-numeric cost", encoded: "$2b$xx$maOBtXXryfr6Sp5JJ3QUMuxUTFK3TFZjXwU1ad7AofkjSpom/01OK", want: ErrMalformed},
		{name: "bcrypt salt not in its alphabet", encoded: "$2a$04$maOBtXXryfr6Sp5JJ3QU+uxUTFK3TFZjXwU1ad7AofkjSpom/01OK", want: ErrMalformed},

		{name: "django too few fields", encoded: "pbkdf2_sha256$1000$vRBTjevAUnxbnFMap4KtPlYt57LVnZma5p75AC4xcRo=", want: ErrMalformed},
		{name: "django too many fields", encoded: "pbkdf2_sha256$1000$a$b$vRBTjevAUnxbnFMap4KtPlYt57LVnZma5p75AC4xcRo=", want: ErrMalformed},
		{name: "django zero iterations", encoded: "pbkdf2_sha256$0$Qx2nNf8wKz1a$vRBTjevAUnxbnFMap4KtPlYt57LVnZma5p75AC4xcRo=", want: ErrMalformed},
		{name: "django huge iterations", encoded: "pbkdf2_sha256$999999999$Qx2nNf8wKz1a$vRBTjevAUnxbnFMap4KtPlYt57LVnZma5p75AC4xcRo=", want: ErrMalformed},
		{name: "django non-numeric iterations", encoded: "pbkdf2_sha256$many$Qx2nNf8wKz1a$vRBTjevAUnxbnFMap4KtPlYt57LVnZma5p75AC4xcRo=", want: ErrMalformed},
		{name: "django empty salt", encoded: "pbkdf2_sha256$1000$$vRBTjevAUnxbnFMap4KtPlYt57LVnZma5p75AC4xcRo=", want: ErrMalformed},
		{name: "django bad base64", encoded: "pbkdf2_sha256$1000$Qx2nNf8wKz1a$not*base64", want: ErrMalformed},
		{name: "django short key", encoded: "pbkdf2_sha256$1000$Qx2nNf8wKz1a$c2hvcnQ=", want: ErrMalformed},
		{name: "django password in place of hash", encoded: "pbkdf2_sha256$1000$Qx2nNf8wKz1a$" + secret, want: ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := Verify(tc.encoded, secret, cheap)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, %v, %v; want error %v", ok, rehash, err, tc.want)
			}
			// The importer's check: the same parser refuses the same hashes.
			if info, perr := ParseHash(tc.encoded); !errors.Is(perr, tc.want) {
				t.Fatalf("ParseHash = %+v, %v; want error %v", info, perr, tc.want)
			}
			if ok || rehash {
				t.Errorf("Verify reported ok=%v rehash=%v alongside an error", ok, rehash)
			}
			msg := err.Error()
			if strings.Contains(msg, secret) {
				t.Errorf("error %q contains the password", msg)
			}
			if tc.encoded != "" && strings.Contains(msg, tc.encoded) {
				t.Errorf("error %q contains the hash", msg)
			}
			for _, part := range strings.Split(tc.encoded, "$") {
				formatName := part == "argon2id" || part == "pbkdf2_sha256"
				if len(part) >= 8 && !formatName && strings.Contains(msg, part) {
					t.Errorf("error %q contains part %q of the hash", msg, part)
				}
			}
		})
	}
}

// TestParseHashReportsCost checks the class and cost ParseHash reports for
// each format Verify accepts, and that Info.Dummy builds a hash with the
// same parameters that ParseHash accepts.
func TestParseHashReportsCost(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte("pw"), 5)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		encoded string
		want    Info
	}{
		{name: "argon2id", encoded: "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
			want: Info{Class: ClassArgon2id, Params: Params{Memory: 256, Time: 2, Threads: 1}}},
		{name: "pbkdf2", encoded: "pbkdf2_sha256$870000$Qx2nNf8wKz1a$vRBTjevAUnxbnFMap4KtPlYt57LVnZma5p75AC4xcRo=",
			want: Info{Class: ClassPBKDF2SHA256, Iterations: 870000}},
		{name: "bcrypt", encoded: string(bc), want: Info{Class: ClassBcrypt, Cost: 5}},
		{name: "unusable", encoded: "!abc", want: Info{Class: ClassUnusable}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseHash(tc.encoded)
			if err != nil || got != tc.want {
				t.Fatalf("ParseHash = %+v, %v; want %+v", got, err, tc.want)
			}
			if tc.want.Class == ClassUnusable {
				return
			}
			d := got.Dummy()
			if again, err := ParseHash(d); err != nil || again != tc.want {
				t.Fatalf("ParseHash(Dummy) = %+v, %v; want %+v", again, err, tc.want)
			}
			if ok, _, err := Verify(d, "pw", cheap); ok || err != nil {
				t.Fatalf("Verify(Dummy) = %v, %v; want no match, no error", ok, err)
			}
		})
	}
}

// TestTopUpSumsToTarget checks that own plus the top-up dummies cost what
// the target costs, in each class's unit of work.
func TestTopUpSumsToTarget(t *testing.T) {
	work := func(i Info) uint64 {
		switch i.Class {
		case ClassPBKDF2SHA256:
			return uint64(i.Iterations)
		case ClassBcrypt:
			return 1 << i.Cost
		default:
			return uint64(i.Params.Memory) * uint64(i.Params.Time)
		}
	}
	tests := []struct {
		name        string
		own, target Info
		want        int // number of dummies
	}{
		{name: "pbkdf2", own: Info{Class: ClassPBKDF2SHA256, Iterations: 600000}, target: Info{Class: ClassPBKDF2SHA256, Iterations: 870000}, want: 1},
		{name: "bcrypt", own: Info{Class: ClassBcrypt, Cost: 10}, target: Info{Class: ClassBcrypt, Cost: 13}, want: 3},
		{name: "argon2id more passes", own: Info{Class: ClassArgon2id, Params: Params{Memory: 64, Time: 1, Threads: 1}},
			target: Info{Class: ClassArgon2id, Params: Params{Memory: 64, Time: 3, Threads: 1}}, want: 1},
		{name: "already the target", own: Info{Class: ClassBcrypt, Cost: 13}, target: Info{Class: ClassBcrypt, Cost: 13}},
		{name: "costlier than the target", own: Info{Class: ClassPBKDF2SHA256, Iterations: 900000}, target: Info{Class: ClassPBKDF2SHA256, Iterations: 870000}},
		{name: "other class", own: Info{Class: ClassBcrypt, Cost: 4}, target: Info{Class: ClassPBKDF2SHA256, Iterations: 870000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dummies := TopUp(tc.own, tc.target)
			if len(dummies) != tc.want {
				t.Fatalf("%d dummies, want %d", len(dummies), tc.want)
			}
			if tc.want == 0 {
				return
			}
			sum := work(tc.own)
			for _, d := range dummies {
				info, err := ParseHash(d)
				if err != nil {
					t.Fatal(err)
				}
				sum += work(info)
			}
			if sum != work(tc.target) {
				t.Fatalf("own plus top-up = %d units, target %d", sum, work(tc.target))
			}
		})
	}
}

// argon2Work returns the argon2id work f does, in KiB of memory times
// passes summed over its derivations. (Memory is reused between
// derivations, so allocation no longer shows it.)
func argon2Work(t *testing.T, f func()) uint64 {
	calls := recordIDKey(t)
	f()
	var work uint64
	for _, c := range *calls {
		work += uint64(c.memory) * uint64(c.time)
	}
	*calls = nil
	return work
}

// TestDummyVerifyCostsLikeVerify checks that DummyVerify does the same
// argon2id work as a real verification, including when it is given
// parameters it must replace with the defaults. Time follows from the same
// m, t and p; see the benchmarks for wall-clock figures.
func TestDummyVerifyCostsLikeVerify(t *testing.T) {
	tests := []struct {
		name   string
		hashed Params // params of the stored hash
		dummy  Params // params given to DummyVerify
	}{
		{name: "default params", hashed: DefaultParams, dummy: DefaultParams},
		{name: "custom params", hashed: Params{Memory: 4096, Time: 1, Threads: 2}, dummy: Params{Memory: 4096, Time: 1, Threads: 2}},
		{name: "invalid params fall back to default", hashed: DefaultParams, dummy: Params{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Hash("pw", tc.hashed)
			if err != nil {
				t.Fatal(err)
			}
			real := argon2Work(t, func() { _, _, _ = Verify(h, "wrong", tc.hashed) })
			dummy := argon2Work(t, func() { DummyVerify("wrong", tc.dummy) })
			if want := uint64(tc.hashed.Memory) * uint64(tc.hashed.Time); real != want {
				t.Fatalf("Verify did %d KiB-passes of argon2id, want m×t = %d", real, want)
			}
			if dummy != real {
				t.Errorf("DummyVerify did %d KiB-passes of argon2id, Verify %d", dummy, real)
			}
		})
	}
}

// idKeyCall is the parameters of one argon2id derivation.
type idKeyCall struct {
	saltLen, pwLen       int
	time, memory, keyLen uint32
	threads              uint8
}

// recordIDKey replaces idKey for the test with one that records each call
// (and still derives, with the real function).
func recordIDKey(t *testing.T) *[]idKeyCall {
	var calls []idKeyCall
	orig := idKey
	idKey = func(pw, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		calls = append(calls, idKeyCall{len(salt), len(pw), time, memory, keyLen, threads})
		return orig(pw, salt, time, memory, threads, keyLen)
	}
	t.Cleanup(func() { idKey = orig })
	return &calls
}

// TestDummyVerifyUsesVerifyParameters checks that DummyVerify derives with
// exactly the time cost, memory, parallelism, key and salt length of a real
// verification of a current hash (allocation alone would not notice a
// different time cost), and that an unusable hash does the same.
func TestDummyVerifyUsesVerifyParameters(t *testing.T) {
	tests := []struct {
		name   string
		params Params
	}{
		{"default", DefaultParams},
		{"custom", Params{Memory: 2048, Time: 3, Threads: 2}},
		{"one pass", Params{Memory: 64, Time: 1, Threads: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Hash("pw", tc.params)
			if err != nil {
				t.Fatal(err)
			}
			calls := recordIDKey(t)
			_, _, _ = Verify(h, "wrong password", tc.params)
			DummyVerify("wrong password", tc.params)
			_, _, _ = Verify("!unusable", "wrong password", tc.params)
			if len(*calls) != 3 {
				t.Fatalf("%d derivations, want 3", len(*calls))
			}
			real := (*calls)[0]
			want := idKeyCall{saltLen: saltLen, pwLen: len("wrong password"), time: tc.params.Time, memory: tc.params.Memory, keyLen: keyLen, threads: tc.params.Threads}
			if real != want {
				t.Fatalf("Verify derived with %+v, want %+v", real, want)
			}
			for i, name := range []string{"DummyVerify", "unusable hash"} {
				if got := (*calls)[i+1]; got != real {
					t.Errorf("%s derived with %+v, Verify with %+v", name, got, real)
				}
			}
		})
	}
}

func TestUnusableHashCostsLikeVerify(t *testing.T) {
	h, err := Hash("pw", DefaultParams)
	if err != nil {
		t.Fatal(err)
	}
	real := argon2Work(t, func() { _, _, _ = Verify(h, "wrong", DefaultParams) })
	unusable := argon2Work(t, func() { _, _, _ = Verify("!unusable", "wrong", DefaultParams) })
	if real == 0 || unusable != real {
		t.Errorf("unusable hash did %d KiB-passes of argon2id, Verify %d", unusable, real)
	}
}

func BenchmarkVerifyDefault(b *testing.B) {
	h, err := Hash("correct horse", DefaultParams)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		_, _, _ = Verify(h, "correct horse", DefaultParams)
	}
}

func BenchmarkDummyVerifyDefault(b *testing.B) {
	for b.Loop() {
		DummyVerify("correct horse", DefaultParams)
	}
}
