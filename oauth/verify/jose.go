package verify

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// MaxTokenSize is the largest token Verify accepts, in bytes. Larger input is
// refused with ErrMalformed before any decoding.
const MaxTokenSize = 8 << 10

// Accepted typ header values (RFC 9068 §2.1), compared case-insensitively.
const (
	typATJWT     = "at+jwt"
	typATJWTFull = "application/at+jwt"
)

// Supported signature algorithms.
const (
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3).
	RS256 = "RS256"
	// ES256 is ECDSA with P-256 and SHA-256 (RFC 7518 §3.4).
	ES256 = "ES256"
)

// b64 maps a base64url character to its 6-bit value; 0xFF marks characters
// outside the alphabet.
var b64 = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := 0; i < len(alphabet); i++ {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// decodedLen is the length of the bytes that n unpadded base64url characters
// encode.
func decodedLen(n int) int { return n/4*3 + n%4*3/4 }

// decodeB64 decodes the unpadded base64url string s into dst, which must hold
// decodedLen(len(s)) bytes. Unlike encoding/base64 it reads from a string
// without copying, and it is strict: no padding, no line breaks, no
// characters outside the alphabet and no non-zero trailing bits, so every
// byte string has exactly one accepted encoding.
func decodeB64(dst []byte, s string) (int, bool) {
	if len(s)%4 == 1 || len(dst) < decodedLen(len(s)) {
		return 0, false
	}
	n, i := 0, 0
	// Eight characters to six bytes at a time, with one 8-byte store; it
	// needs two bytes of slack in dst, so the tail takes the loop below.
	for ; i+8 <= len(s) && n+8 <= len(dst); i += 8 {
		t := s[i : i+8]
		c0, c1, c2, c3, c4, c5, c6, c7 := b64[t[0]], b64[t[1]], b64[t[2]], b64[t[3]], b64[t[4]], b64[t[5]], b64[t[6]], b64[t[7]]
		if (c0|c1|c2|c3|c4|c5|c6|c7)&0xC0 != 0 {
			return 0, false
		}
		v := uint64(c0)<<58 | uint64(c1)<<52 | uint64(c2)<<46 | uint64(c3)<<40 |
			uint64(c4)<<34 | uint64(c5)<<28 | uint64(c6)<<22 | uint64(c7)<<16
		binary.BigEndian.PutUint64(dst[n:], v)
		n += 6
	}
	for ; i+4 <= len(s); i += 4 {
		a, b, c, d := b64[s[i]], b64[s[i+1]], b64[s[i+2]], b64[s[i+3]]
		if (a|b|c|d)&0xC0 != 0 {
			return 0, false
		}
		v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
		o := dst[n : n+3]
		o[0], o[1], o[2] = byte(v>>16), byte(v>>8), byte(v)
		n += 3
	}
	switch len(s) - i {
	case 2:
		a, b := b64[s[i]], b64[s[i+1]]
		if (a|b)&0xC0 != 0 || b&0x0F != 0 {
			return 0, false
		}
		dst[n] = a<<2 | b>>4
		n++
	case 3:
		a, b, c := b64[s[i]], b64[s[i+1]], b64[s[i+2]]
		if (a|b|c)&0xC0 != 0 || c&0x03 != 0 {
			return 0, false
		}
		dst[n] = a<<2 | b>>4
		dst[n+1] = b<<4 | c>>2
		n += 2
	}
	return n, true
}

// header is the part of a JOSE header Verify reads.
type header struct {
	alg, kid, typ string
}

var errHeader = fmt.Errorf("%w: bad header", ErrMalformed)

// parseHeader reads a JOSE header. It refuses headers that carry or point to
// a key (jwk, jku, x5u, x5c): the verifier only trusts keys from its own key
// set, and Sigil never sends them. It also refuses crit, since no extension
// is understood (RFC 7515 §4.1.11).
func parseHeader(s string) (header, error) {
	var h header
	p := scanner{s: s}
	if !p.consume('{') {
		return h, errHeader
	}
	var seen uint8
	if !p.consume('}') {
		for {
			name, ok := p.str()
			if !ok || !p.consume(':') {
				return h, errHeader
			}
			var bit uint8
			switch name {
			case "alg":
				bit = 1
				h.alg, ok = p.str()
			case "kid":
				bit = 2
				h.kid, ok = p.str()
			case "typ":
				bit = 4
				h.typ, ok = p.str()
			case "jwk", "jku", "x5u", "x5c", "crit":
				return h, fmt.Errorf("%w: header %q not accepted", ErrMalformed, name)
			default:
				ok = p.skip(0)
			}
			if !ok || seen&bit != 0 {
				return h, errHeader
			}
			seen |= bit
			if p.consume(',') {
				continue
			}
			if p.consume('}') {
				break
			}
			return h, errHeader
		}
	}
	if !p.end() {
		return h, errHeader
	}
	if seen&1 == 0 {
		return h, fmt.Errorf("%w: header has no alg", ErrMalformed)
	}
	return h, nil
}

// checkTyp reports whether typ names an RFC 9068 access token.
// checkTyp accepts typ when it names want (at+jwt when want is ""),
// ignoring case and an "application/" prefix.
func checkTyp(typ, want string) error {
	if want == "" {
		if strings.EqualFold(typ, typATJWT) || strings.EqualFold(typ, typATJWTFull) {
			return nil
		}
		want = typATJWT
	} else if strings.EqualFold(typ, want) || strings.EqualFold(typ, "application/"+want) {
		return nil
	}
	if typ == "" {
		return fmt.Errorf("%w: no typ header, want %s", ErrTokenType, want)
	}
	return fmt.Errorf("%w: typ %q, want %s", ErrTokenType, clip(typ), want)
}

// clip shortens an untrusted string before it goes into an error message.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
