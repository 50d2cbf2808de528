package verify

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
)

// jwksSeeds are JWK Sets of every shape ParseJWKS distinguishes.
var jwksSeeds = []string{
	`{"keys":[{"kty":"EC","crv":"P-256","kid":"e1","alg":"ES256","use":"sig","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`,
	`{"keys":[{"kty":"EC","crv":"P-256","kid":"e1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},{"kty":"EC","crv":"P-256","kid":"e1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`,
	`{"keys":[{"kty":"EC","crv":"P-256","kid":"off","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}]}`,
	`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"},{"kty":"EC","crv":"P-384","kid":"p3"},{"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"},{"kty":"RSA","kid":"ops","key_ops":["encrypt"]}]}`,
	`{"keys":[{"kty":"RSA","kid":"small","n":"AQAB","e":"AQAB"}]}`,
	`{"keys":[{"kty":"RSA","kid":"r","alg":"RS256","n":"` + strings.Repeat("_w", 128) + `","e":"AQAB","d":"AQAB"}]}`,
	`{"keys":[{"kty":"RSA","kid":"bige","n":"` + strings.Repeat("_w", 128) + `","e":"` + strings.Repeat("_w", 8) + `"}]}`,
	`{"keys":[]}`, `{}`, `{"keys":null}`, `{"keys":{}}`, `[]`, `{"keys":[1,"x",null]}`,
	`{"keys":[{"kty":"EC","crv":"P-256","kid":"","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`,
}

// FuzzParseJWKS: ParseJWKS never panics; the keys it returns have unique
// non-empty kids and the algorithm their key type implies, and are keys
// NewKey accepts; and writing them back as a JWK Set parses to the same
// keys (the round trip a resource server's cache relies on).
func FuzzParseJWKS(f *testing.F) {
	fixtureKeys()
	for _, s := range jwksSeeds {
		f.Add([]byte(s))
	}
	for _, k := range []*testKey{newTestKey(ES256, ecA), newTestKey(RS256, rsaA)} {
		key, err := NewKey(k.kid, k.alg, k.priv.Public())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(encodeJWKS(f, []*Key{key}))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseJWKS(data)
		if err != nil {
			if keys != nil {
				t.Fatal("keys returned with an error")
			}
			return
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if k.ID() == "" || seen[k.ID()] {
				t.Fatalf("empty or repeated kid %q", k.ID())
			}
			seen[k.ID()] = true
			switch k.Public().(type) {
			case *rsa.PublicKey:
				if k.Algorithm() != RS256 {
					t.Fatalf("RSA key with alg %s", k.Algorithm())
				}
			case *ecdsa.PublicKey:
				if k.Algorithm() != ES256 {
					t.Fatalf("EC key with alg %s", k.Algorithm())
				}
			default:
				t.Fatalf("key of type %T", k.Public())
			}
			if _, err := NewKey(k.ID(), k.Algorithm(), k.Public()); err != nil {
				t.Fatalf("ParseJWKS returned a key NewKey refuses: %v", err)
			}
		}
		again, err := ParseJWKS(encodeJWKS(t, keys))
		if err != nil || len(again) != len(keys) {
			t.Fatalf("round trip: %d keys, %v; want %d", len(again), err, len(keys))
		}
		for i := range keys {
			if !keys[i].same(again[i]) {
				t.Fatalf("round trip changed key %q", keys[i].ID())
			}
		}
	})
}

// encodeJWKS writes keys as a JWK Set (RFC 7517, RFC 7518 §6).
func encodeJWKS(tb testing.TB, keys []*Key) []byte {
	tb.Helper()
	b64 := base64.RawURLEncoding.EncodeToString
	set := struct {
		Keys []map[string]string `json:"keys"`
	}{Keys: []map[string]string{}}
	for _, k := range keys {
		m := map[string]string{"kid": k.ID(), "alg": k.Algorithm(), "use": "sig"}
		switch p := k.Public().(type) {
		case *rsa.PublicKey:
			m["kty"], m["n"], m["e"] = "RSA", b64(p.N.Bytes()), b64(big.NewInt(int64(p.E)).Bytes())
		case *ecdsa.PublicKey:
			raw, err := p.Bytes() // 0x04 || X || Y, fixed width
			if err != nil {
				tb.Fatal(err)
			}
			m["kty"], m["crv"], m["x"], m["y"] = "EC", "P-256", b64(raw[1:33]), b64(raw[33:])
		}
		set.Keys = append(set.Keys, m)
	}
	out, err := json.Marshal(set)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}
