package password

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// cheapParams keep the fuzz targets fast: Verify is only run on hashes
// whose cost is at most this.
var cheapParams = Params{Memory: 64, Time: 1, Threads: 1}

const (
	fuzzPW        = "fuzz-password-0123"
	cheapPBKDF2   = 1000
	cheapBcrypt   = 5
	minSecretEcho = 8 // shorter inputs can appear in a message by chance
)

// checkNoEcho fails if err's message contains the password or the hash,
// other than by chance inside the fixed text of the message. redo repeats
// the call that returned err with other inputs: the message is an echo only
// if the same call with another password, or with the hash's first byte
// changed, gives a message without it (the input "argon2id" is in
// "argon2id: want 5 $-separated fields", and "password" in "malformed
// password hash", without being echoed).
func checkNoEcho(t *testing.T, err error, encoded, pw string, redo func(encoded, pw string) error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	if len(pw) >= minSecretEcho && strings.Contains(msg, pw) {
		if other := redo(encoded, "\x00another password"); other == nil || !strings.Contains(other.Error(), pw) {
			t.Fatalf("error %q contains the password", msg)
		}
	}
	if len(encoded) >= minSecretEcho && strings.Contains(msg, encoded) {
		variant := []byte(encoded)
		variant[0] ^= 1
		if other := redo(string(variant), pw); other == nil || !strings.Contains(other.Error(), encoded) {
			t.Fatalf("error %q contains the hash", msg)
		}
	}
}

// parseArgon2idErr is parseArgon2id's error, for checkNoEcho (the
// password is not an input).
func parseArgon2idErr(encoded, _ string) error {
	_, _, _, err := parseArgon2id(encoded)
	return err
}

// parseDjangoErr is parseDjango's error, for checkNoEcho (the password is
// not an input).
func parseDjangoErr(encoded, _ string) error {
	_, _, _, err := parseDjango(encoded)
	return err
}

// verifyErr is Verify's error under cheapParams, for checkNoEcho.
func verifyErr(encoded, pw string) error {
	_, _, err := Verify(encoded, pw, cheapParams)
	return err
}

// FuzzParsePHC checks the argon2id PHC parser: no panic; a parsed hash has
// parameters Validate accepts and salt and key within bounds; it re-encodes
// to a string that parses to the same values; errors are ErrMalformed and
// never quote the hash; and Verify of a cheap parsed hash agrees with the
// parser and finds its own key with the password it was made from.
func FuzzParsePHC(f *testing.F) {
	real, err := Hash(fuzzPW, cheapParams)
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		real,
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2g",
		"$argon2id$v=19$m=0,t=0,p=0$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=4294967295,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$t=1,m=64,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=064,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=64,t=1,p=1$$",
		"$argon2id$",
	} {
		f.Add(s, fuzzPW)
	}
	f.Fuzz(func(t *testing.T, encoded, pw string) {
		p, salt, key, err := parseArgon2id(encoded)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("parse error %v is not ErrMalformed", err)
			}
			checkNoEcho(t, err, encoded, pw, parseArgon2idErr)
			return
		}
		if p.Validate() != nil || len(salt) < minSaltLen || len(salt) > maxSaltLen || len(key) < minKeyLen || len(key) > maxKeyLen {
			t.Fatalf("accepted out-of-range hash: %v salt %d key %d", p, len(salt), len(key))
		}
		again := encodeArgon2id(p, salt, key)
		p2, salt2, key2, err := parseArgon2id(again)
		if err != nil || p2 != p || string(salt2) != string(salt) || string(key2) != string(key) {
			t.Fatalf("re-encoded %q does not parse back: %v", again, err)
		}
		if p.Memory > cheapParams.Memory*4 || p.Time > 2 || len(key) > 64 {
			return
		}
		ok, _, err := Verify(encoded, pw, cheapParams)
		if err != nil {
			t.Fatalf("Verify refused a hash its parser accepts: %v", err)
		}
		_ = ok
		// The key derived from pw under the parsed parameters must verify.
		own := encodeArgon2id(p, salt, idKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, uint32(len(key))))
		if ok, _, err := Verify(own, pw, cheapParams); pw != "" && (!ok || err != nil) {
			t.Fatalf("Verify(own hash) = %v, %v", ok, err)
		}
	})
}

// FuzzParseDjango checks the Django pbkdf2_sha256 parser and the other
// formats Verify dispatches on (bcrypt, the unusable "!" marker, unknown):
// no panic; errors are ErrMalformed or ErrUnknownFormat and never quote the
// hash or the password; a parsed hash has bounded iterations and key, and
// its canonical re-encoding parses to the same values; cheap hashes verify
// their own key.
func FuzzParseDjango(f *testing.F) {
	for _, s := range []string{
		"pbkdf2_sha256$870000$c2FsdHNhbHQ$Rm9vYmFyRm9vYmFyRm9vYmFyRm9vYmFyRm9vYmFyRm8=",
		"pbkdf2_sha256$1000$salt$bXlrZXlteWtleW15a2V5bXlrZXk=",
		"pbkdf2_sha256$0$salt$bXlrZXlteWtleW15a2V5bXlrZXk=",
		"pbkdf2_sha256$99999999999$salt$bXlrZXlteWtleW15a2V5bXlrZXk=",
		"pbkdf2_sha256$1000$$bXlrZXlteWtleW15a2V5bXlrZXk=",
		"pbkdf2_sha256$1000$salt$not base64",
		"pbkdf2_sha256$-5$salt$bXlrZXlteWtleW15a2V5bXlrZXk=",
		"!unusablepasswordmarker0123456789",
		"$2b$04$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
		"$2a$99$abcdefghijklmnopqrstuu5s2v8.iXieOjg/.AySBTTZIIVFJeBui",
		"md5$salt$0123456789abcdef0123456789abcdef",
		"",
	} {
		f.Add(s, fuzzPW)
	}
	f.Fuzz(func(t *testing.T, encoded, pw string) {
		if strings.HasPrefix(encoded, "pbkdf2_sha256$") {
			iter, salt, key, err := parseDjango(encoded)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("parse error %v is not ErrMalformed", err)
				}
				checkNoEcho(t, err, encoded, pw, parseDjangoErr)
				return
			}
			if iter < 1 || iter > maxPBKDF2Iter || salt == "" || len(key) < minKeyLen || len(key) > maxKeyLen {
				t.Fatalf("accepted out-of-range hash: iter %d salt %q key %d", iter, salt, len(key))
			}
			again := "pbkdf2_sha256$" + strconv.Itoa(iter) + "$" + salt + "$" + base64.StdEncoding.EncodeToString(key)
			iter2, salt2, key2, err := parseDjango(again)
			if err != nil || iter2 != iter || salt2 != salt || string(key2) != string(key) {
				t.Fatalf("re-encoded %q does not parse back: %v", again, err)
			}
			if iter > cheapPBKDF2 {
				return
			}
		}
		if strings.HasPrefix(encoded, "$2") {
			if c, err := bcrypt.Cost([]byte(encoded)); err == nil && c > cheapBcrypt {
				return
			}
		}
		ok, _, err := Verify(encoded, pw, cheapParams)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrUnknownFormat) {
				t.Fatalf("Verify error %v is neither ErrMalformed nor ErrUnknownFormat", err)
			}
			if ok {
				t.Fatal("Verify returned ok with an error")
			}
			checkNoEcho(t, err, encoded, pw, verifyErr)
			return
		}
		if ok && (pw == "" || strings.HasPrefix(encoded, "!")) {
			t.Fatalf("Verify matched an empty password or an unusable hash")
		}
	})
}
