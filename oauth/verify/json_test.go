package verify

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

var claimSeeds = []string{
	`{"iss":"https://sigil.example.com","sub":"u1","aud":"api","exp":1900000300,"iat":1900000000,"nbf":1900000000,"jti":"j","client_id":"c","scope":"read write"}`,
	`{"aud":["a","b","c"],"exp":1.5e9,"user_id":42,"token_type":"access","x":{"y":[1,true,null,"z",{"w":-0.5e-3}]}}`,
	`{"iss":"caf\u00e9 \ud83d\ude00 \ud800 \n\"\\\/","exp":-12,"sub":"é"}`,
	`{"exp":1e400}`, `{"exp":-1e400}`, `{"exp":99999999999999999999999}`,
	`{"exp":1,"exp":2}`, `{"\u0065xp":1}`, `{"ISS":"x","exp":1}`, `{"exp":null}`, `{"aud":[],"exp":1}`,
	`{"aud":[1],"exp":1}`, `{"exp":1,}`, `{"exp":01}`, `{"exp":1} `, `{"exp":1}x`, ` {"exp" : 1 } `,
	`{"iss":"a` + "\x01" + `","exp":1}`, `{"iss":"\xff","exp":1}`, `[]`, `{"exp":1,"k":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
}

// FuzzParseClaims checks the hand-written claims scanner against
// encoding/json: whatever it accepts, encoding/json reads the same way, and
// it accepts every well-typed claims set without duplicate claims.
func FuzzParseClaims(f *testing.F) {
	for _, s := range claimSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, payload string) {
		var c Claims
		err := parseClaims(payload, &c)
		if err != nil && !errors.Is(err, ErrMalformed) {
			t.Fatalf("error %v is not ErrMalformed", err)
		}
		members, ok := referenceMembers(payload)
		if err == nil {
			if !ok {
				t.Fatalf("accepted %q, which encoding/json rejects or has duplicates", payload)
			}
			compareClaims(t, &c, members)
			return
		}
		if ok && utf8.ValidString(payload) && wellTyped(members) {
			t.Fatalf("rejected well-typed %q: %v", payload, err)
		}
	})
}

// referenceMembers decodes payload with encoding/json into its top-level
// members, reporting false if it is not a JSON object, or repeats a known
// claim name.
func referenceMembers(payload string) (map[string]json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if !json.Valid([]byte(payload)) || json.Unmarshal([]byte(payload), &m) != nil || m == nil {
		return nil, false
	}
	dec := json.NewDecoder(strings.NewReader(payload))
	if _, err := dec.Token(); err != nil {
		return nil, false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, false
		}
		name := tok.(string)
		if knownClaim(name) && seen[name] {
			return nil, false
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil, false
		}
	}
	return m, true
}

func knownClaim(name string) bool {
	switch name {
	case "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "scope", "token_type", "user_id":
		return true
	}
	return false
}

func kind(raw json.RawMessage) byte {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0
	}
	switch c := raw[0]; {
	case c == '-' || ('0' <= c && c <= '9'):
		return '0'
	default:
		return c
	}
}

func wellTyped(m map[string]json.RawMessage) bool {
	if _, ok := m["exp"]; !ok {
		return false
	}
	for name, raw := range m {
		k := kind(raw)
		switch name {
		case "iss", "sub", "jti", "client_id", "scope", "token_type":
			if k != '"' {
				return false
			}
		case "exp", "nbf", "iat":
			if k != '0' {
				return false
			}
		case "user_id":
			if k != '"' && k != '0' {
				return false
			}
		case "aud":
			var a []string
			if k == '"' {
				continue
			}
			if k != '[' || json.Unmarshal(raw, &a) != nil || bytes.Contains(raw, []byte("null")) {
				return false
			}
		}
	}
	return true
}

func compareClaims(t *testing.T, c *Claims, m map[string]json.RawMessage) {
	t.Helper()
	str := func(name, got string) {
		raw, ok := m[name]
		if !ok {
			if got != "" {
				t.Errorf("%s = %q, absent in JSON", name, got)
			}
			return
		}
		var want string
		if kind(raw) == '0' {
			want = string(bytes.TrimSpace(raw))
		} else if err := json.Unmarshal(raw, &want); err != nil {
			t.Errorf("%s accepted but encoding/json: %v", name, err)
		}
		if got != want {
			t.Errorf("%s = %q, encoding/json reads %q", name, got, want)
		}
	}
	str("iss", c.Issuer)
	str("sub", c.Subject)
	str("jti", c.ID)
	str("client_id", c.ClientID)
	str("scope", c.Scope)
	str("token_type", c.TokenType)
	str("user_id", c.UserID)
	if raw, ok := m["aud"]; ok {
		var one string
		var many []string
		if json.Unmarshal(raw, &one) == nil {
			many = []string{one}
		} else if err := json.Unmarshal(raw, &many); err != nil {
			t.Errorf("aud accepted but encoding/json: %v", err)
		}
		if strings.Join(many, "\x00") != strings.Join(c.Audience, "\x00") || len(many) != len(c.Audience) {
			t.Errorf("aud = %q, encoding/json reads %q", c.Audience, many)
		}
	}
	date := func(name string, got int64) {
		raw, ok := m[name]
		if !ok {
			return
		}
		f, _ := strconv.ParseFloat(string(bytes.TrimSpace(raw)), 64)
		if math.Abs(f) > 1e15 {
			return
		}
		if want := min(max(int64(math.Floor(f)), minNumericDate), maxNumericDate); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
	date("exp", c.exp)
	date("nbf", c.nbf)
	date("iat", c.iat)
}

func TestClaimsScannerSeeds(t *testing.T) {
	// The seeds of FuzzParseClaims with their expected outcome, so the
	// cases stay readable in the test output.
	tests := []struct {
		name    string
		payload string
		ok      bool
	}{
		{"sigil", claimSeeds[0], true},
		{"nested unknown claims", claimSeeds[1], true},
		{"escapes and lone surrogate", claimSeeds[2], true},
		{"huge exp clamps", claimSeeds[3], true},
		{"duplicate exp", claimSeeds[6], false},
		{"escaped exp name", claimSeeds[7], true},
		{"upper-case ISS is not iss", claimSeeds[8], true},
		{"exp null", claimSeeds[9], false},
		{"aud number", claimSeeds[11], false},
		{"trailing comma", claimSeeds[12], false},
		{"leading zero", claimSeeds[13], false},
		{"trailing garbage", claimSeeds[15], false},
		{"white space", claimSeeds[16], true},
		{"control character", claimSeeds[17], false},
		{"invalid UTF-8", claimSeeds[18], false},
		{"array", claimSeeds[19], false},
		{"too deep", claimSeeds[20], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var c Claims
			err := parseClaims(tc.payload, &c)
			if (err == nil) != tc.ok {
				t.Fatalf("parseClaims(%q) = %v, want ok=%v", tc.payload, err, tc.ok)
			}
		})
	}
}

// FuzzVerify feeds arbitrary tokens to Verify: it must not panic, and every
// error must be one of the token errors.
func FuzzVerify(f *testing.F) {
	fixtureKeys()
	ek, rk := newTestKey(ES256, ecA), newTestKey(RS256, rsaA)
	clock := newFakeClock()
	f.Add(mint(ek, testIss, clock.Now(), tokenSpec{}))
	f.Add(mint(rk, testIss, clock.Now(), tokenSpec{}))
	f.Add("e30.e30.")
	f.Add("..")
	var ks []*Key
	for _, k := range []*testKey{ek, rk} {
		key, _ := NewKey(k.kid, k.alg, k.priv.Public())
		ks = append(ks, key)
	}
	set, _ := NewStaticKeySet(ks...)
	v, err := New(f.Context(), testIss, WithKeySet(set), WithAudience("api"), WithClock(clock.Now), WithCacheSize(0))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, tok string) {
		_, err := v.Verify(t.Context(), tok)
		if err != nil && !tokenFault(err) {
			t.Fatalf("Verify(%q) = %v, not a token error", tok, err)
		}
	})
}
