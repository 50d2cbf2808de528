package verify

import (
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// scanner is a minimal, strict JSON reader over a string, enough to pull the
// few known members out of a JOSE header or a claims set without reflection
// or maps. Strings without escapes are returned as substrings of the input,
// so they cost no allocation. It accepts exactly RFC 8259 JSON (no trailing
// commas, no control characters in strings, valid UTF-8) and bounds nesting.
type scanner struct {
	s string
	i int
}

const maxJSONDepth = 32

// skipWS returns the index of the first non-white-space byte of s at or
// after i. Small enough to inline.
func skipWS(s string, i int) int {
	for i < len(s) && s[i] <= ' ' && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// consume skips white space and then c, reporting whether c was there.
func (p *scanner) consume(c byte) bool {
	i := skipWS(p.s, p.i)
	if i < len(p.s) && p.s[i] == c {
		p.i = i + 1
		return true
	}
	p.i = i
	return false
}

// peek skips white space and returns the next byte, or 0 at the end.
func (p *scanner) peek() byte {
	p.i = skipWS(p.s, p.i)
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

// end reports whether only white space is left.
func (p *scanner) end() bool {
	p.i = skipWS(p.s, p.i)
	return p.i == len(p.s)
}

// strStop marks the bytes that end the fast scan of a string body: the
// quote, the backslash, control characters and non-ASCII bytes.
var strStop = func() (t [256]bool) {
	for c := range t {
		t[c] = c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf
	}
	return t
}()

// rawString reads a JSON string and returns what lies between its quotes and
// whether that contains escapes.
func (p *scanner) rawString() (raw string, escaped, ok bool) {
	s := p.s
	i := skipWS(s, p.i)
	if i >= len(s) || s[i] != '"' {
		p.i = i
		return "", false, false
	}
	i++
	start := i
	nonASCII := false
	for {
		for i < len(s) && !strStop[s[i]] {
			i++
		}
		if i >= len(s) {
			p.i = i
			return "", false, false
		}
		switch c := s[i]; {
		case c == '"':
			raw = s[start:i]
			p.i = i + 1
			if nonASCII && !utf8.ValidString(raw) {
				return "", false, false
			}
			return raw, escaped, true
		case c == '\\':
			escaped = true
			i += 2 // the escape itself is validated by unescape
		case c < 0x20:
			p.i = i
			return "", false, false
		default:
			nonASCII = true
			i++
		}
	}
}

// str reads a JSON string and returns its value.
func (p *scanner) str() (string, bool) {
	raw, escaped, ok := p.rawString()
	if !ok || !escaped {
		return raw, ok
	}
	return unescape(raw)
}

// unescape decodes the backslash escapes of a JSON string body. Lone
// surrogates become U+FFFD, as in encoding/json.
func unescape(raw string) (string, bool) {
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		if c != '\\' {
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(raw) {
			return "", false
		}
		switch raw[i+1] {
		case '"', '\\', '/':
			b.WriteByte(raw[i+1])
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, ok := hex4(raw[i+2:])
			if !ok {
				return "", false
			}
			i += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(raw[min(i+2, len(raw)):]); ok && i+1 < len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						b.WriteRune(d)
						i += 6
						continue
					}
				}
				r = utf8.RuneError
			}
			b.WriteRune(r)
			continue
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}

func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range []byte(s[:4]) {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a JSON number and returns its text.
func (p *scanner) number() (string, bool) {
	s := p.s
	i := skipWS(s, p.i)
	start := i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	default:
		return "", false
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == d {
			return "", false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == d {
			return "", false
		}
	}
	p.i = i
	return s[start:i], true
}

// literal reads the exact text lit (true, false, null).
func (p *scanner) literal(lit string) bool {
	p.i = skipWS(p.s, p.i)
	if strings.HasPrefix(p.s[p.i:], lit) {
		p.i += len(lit)
		return true
	}
	return false
}

// skip reads and discards one JSON value of any type.
func (p *scanner) skip(depth int) bool {
	if depth > maxJSONDepth {
		return false
	}
	switch p.peek() {
	case '"':
		raw, escaped, ok := p.rawString()
		if ok && escaped {
			_, ok = unescape(raw) // rare: validate the escapes
		}
		return ok
	case '{':
		p.i++
		if p.consume('}') {
			return true
		}
		for {
			if p.peek() != '"' || !p.skip(depth+1) || !p.consume(':') || !p.skip(depth+1) {
				return false
			}
			if p.consume(',') {
				continue
			}
			return p.consume('}')
		}
	case '[':
		p.i++
		if p.consume(']') {
			return true
		}
		for {
			if !p.skip(depth + 1) {
				return false
			}
			if p.consume(',') {
				continue
			}
			return p.consume(']')
		}
	case 't':
		return p.literal("true")
	case 'f':
		return p.literal("false")
	case 'n':
		return p.literal("null")
	default:
		_, ok := p.number()
		return ok
	}
}

// Bounds of the NumericDate values kept, in seconds: about ±272 years around
// 1970, so that the value in nanoseconds plus any leeway fits an int64.
const (
	maxNumericDate = 1 << 33
	minNumericDate = -maxNumericDate
)

// numericDate reads a JSON number as an RFC 7519 NumericDate in whole
// seconds (fractions are truncated toward negative infinity), clamped to
// [minNumericDate, maxNumericDate].
func (p *scanner) numericDate() (int64, bool) {
	// Fast path: a plain non-negative integer of up to 10 digits, which is
	// every NumericDate Sigil writes.
	s := p.s
	i := skipWS(s, p.i)
	start := i
	var n int64
	for i < len(s) && i-start <= 10 && '0' <= s[i] && s[i] <= '9' {
		n = n*10 + int64(s[i]-'0')
		i++
	}
	if d := i - start; d > 0 && d <= 10 && (d == 1 || s[start] != '0') &&
		(i == len(s) || s[i] == ',' || s[i] == '}' || s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t') {
		p.i = i
		return min(n, maxNumericDate), true
	}
	return p.numericDateSlow()
}

// numericDateSlow handles negative, long, fractional and exponent forms.
func (p *scanner) numericDateSlow() (int64, bool) {
	s, ok := p.number()
	if !ok {
		return 0, false
	}
	neg := s[0] == '-'
	digits := s
	if neg {
		digits = s[1:]
	}
	var n int64
	integer := true
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			integer = false
			break
		}
		if n < maxNumericDate {
			n = n*10 + int64(c-'0')
		}
	}
	if integer {
		n = min(n, maxNumericDate)
		if neg {
			return -n, true
		}
		return n, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && f == 0 {
		return 0, false
	}
	switch {
	case f >= maxNumericDate:
		return maxNumericDate, true
	case f <= minNumericDate:
		return minNumericDate, true
	}
	n = int64(f)
	if float64(n) > f {
		n--
	}
	return n, true
}
