package tests

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sigilauth/sigil/oauth/verify"
)

// forgedClaimsLeeway is the keys.clock_leeway of TestAdversarialForgedClaims,
// the skew the server allows on nbf and iat of its own tokens.
const forgedClaimsLeeway = 30 * time.Second

// TestAdversarialForgedClaims signs access tokens with the server's own
// active key, unsealed from the store with the KEK as only an insider
// could, with claims the server never issues: from the future (nbf, iat),
// past exp, without jti or sub, of another issuer or type, over the 8 KiB
// cap, or for another audience. The server must refuse them at userinfo,
// introspection ({"active": false}) and the simplejwt verify route, on
// every backend: its signature is right, so only the claim checks stand in
// the way. The same forging code with the genuine claims, or with a time
// just inside the leeway, is accepted everywhere, so a refusal is never
// the forgery's fault.
//
// The audience does not decide acceptance at userinfo and simplejwt verify
// (the server accepts its tokens for every audience, oauth/jwt.go), only
// who may introspect a token: the audience cases are asked of a client
// that is neither the token's client nor, unless named in aud, its
// audience.
func TestAdversarialForgedClaims(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		const rsID, rsSecret = "rs", "rs-secret-0123456789abcdef0123456789"
		e := newOAuthEnv(t, b, map[string]string{"keys.clock_leeway": forgedClaimsLeeway.String()})
		e.MustCLI(rsSecret+"\n", "clients", "add", rsID, "--secret-stdin", "--grants", "client_credentials", "--scopes", "api")
		e.start()
		genuine := e.login(t, "alice", alicePW, "openid profile api").str("access_token")
		if ui, in, sj := e.acceptance(t, genuine); !ui || !in || !sj {
			t.Fatalf("genuine access token: userinfo %v introspect %v simplejwt %v", ui, in, sj)
		}
		hdr, payload, _ := jwtParts(t, genuine)
		var claims map[string]any
		if err := json.Unmarshal(payload, &claims); err != nil {
			t.Fatal(err)
		}
		kid, _ := hdr["kid"].(string)
		priv := activeKey(t, e, kid)

		// forge signs the genuine claims with fresh times and jti, changed
		// by mod, under header h.
		forge := func(t *testing.T, h map[string]any, mod func(c map[string]any)) string {
			t.Helper()
			now := time.Now()
			c := map[string]any{}
			for k, v := range claims {
				c[k] = v
			}
			c["iat"], c["nbf"], c["exp"] = now.Unix(), now.Unix(), now.Add(5*time.Minute).Unix()
			c["jti"] = randomString()
			if mod != nil {
				mod(c)
			}
			p, err := json.Marshal(c)
			if err != nil {
				t.Fatal(err)
			}
			return compact(t, h, p, es256(priv))
		}
		claim := func(kv ...any) func(c map[string]any) {
			return func(c map[string]any) {
				for i := 0; i < len(kv); i += 2 {
					if kv[i+1] == nil {
						delete(c, kv[i].(string))
						continue
					}
					c[kv[i].(string)] = kv[i+1]
				}
			}
		}
		at := func(d time.Duration) int64 { return time.Now().Add(d).Unix() }
		// sized pads the claims so that the token is n bytes, or the
		// longest base64 allows under n.
		sized := func(t *testing.T, n int) string {
			t.Helper()
			base := len(forge(t, hdr, claim("pad", "")))
			for pad := max(0, (n-base)*3/4-8); ; pad++ {
				tok := forge(t, hdr, claim("pad", strings.Repeat("x", pad+1)))
				if len(tok) > n {
					tok = forge(t, hdr, claim("pad", strings.Repeat("x", pad)))
					if len(tok) < n-3 || len(tok) > n {
						t.Fatalf("could not build a token of about %d bytes (got %d)", n, len(tok))
					}
					return tok
				}
			}
		}

		t.Run("times, type, issuer and size", func(t *testing.T) {
			tests := []struct {
				name string
				tok  func(t *testing.T) string
				ok   bool
			}{
				{"control: genuine claims, signed again", func(t *testing.T) string { return forge(t, hdr, nil) }, true},
				{"nbf within the leeway", func(t *testing.T) string {
					return forge(t, hdr, claim("nbf", at(forgedClaimsLeeway-10*time.Second)))
				}, true},
				{"nbf past the leeway", func(t *testing.T) string {
					return forge(t, hdr, claim("nbf", at(forgedClaimsLeeway+10*time.Second)))
				}, false},
				{"nbf an hour ahead", func(t *testing.T) string { return forge(t, hdr, claim("nbf", at(time.Hour))) }, false},
				{"nbf a string", func(t *testing.T) string { return forge(t, hdr, claim("nbf", "0")) }, false},
				{"iat within the leeway", func(t *testing.T) string {
					return forge(t, hdr, claim("iat", at(forgedClaimsLeeway-10*time.Second)))
				}, true},
				{"iat past the leeway", func(t *testing.T) string {
					return forge(t, hdr, claim("iat", at(forgedClaimsLeeway+10*time.Second)))
				}, false},
				{"iat in the year 2100", func(t *testing.T) string { return forge(t, hdr, claim("iat", int64(4102444800))) }, false},
				{"exp a second ago", func(t *testing.T) string { return forge(t, hdr, claim("exp", at(-time.Second))) }, false},
				{"exp missing", func(t *testing.T) string { return forge(t, hdr, claim("exp", nil)) }, false},
				{"jti missing", func(t *testing.T) string { return forge(t, hdr, claim("jti", nil)) }, false},
				{"sub missing", func(t *testing.T) string { return forge(t, hdr, claim("sub", nil)) }, false},
				{"iss of another issuer", func(t *testing.T) string {
					return forge(t, hdr, claim("iss", "https://evil.example"))
				}, false},
				{"iss missing", func(t *testing.T) string { return forge(t, hdr, claim("iss", nil)) }, false},
				{"typ JWT (an ID token's)", func(t *testing.T) string { return forge(t, withHeader(hdr, "typ", "JWT"), nil) }, false},
				{"typ missing", func(t *testing.T) string { return forge(t, withHeader(hdr, "typ", nil), nil) }, false},
				{"at the size cap", func(t *testing.T) string { return sized(t, verify.MaxTokenSize) }, true},
				{"over the size cap", func(t *testing.T) string { return sized(t, verify.MaxTokenSize+4) }, false},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					tok := tc.tok(t)
					if strings.Contains(tc.name, "size cap") && (len(tok) > verify.MaxTokenSize) == tc.ok {
						t.Fatalf("token of %d bytes does not test the cap of %d", len(tok), verify.MaxTokenSize)
					}
					ui, in, sj := e.acceptance(t, tok)
					if ui != tc.ok || in != tc.ok || sj != tc.ok {
						t.Fatalf("userinfo %v, introspect %v, simplejwt verify %v; want %v at each", ui, in, sj, tc.ok)
					}
				})
			}
		})

		t.Run("audience", func(t *testing.T) {
			tests := []struct {
				name string
				aud  any // nil: no aud claim
				ok   bool
			}{
				{"control: aud the introspecting client", []string{rsID}, true},
				{"control: aud a string naming it", rsID, true},
				{"control: aud naming it among others", []string{apiAud, rsID}, true},
				{"aud another resource server", []string{apiAud}, false},
				{"aud in another case", []string{strings.ToUpper(rsID)}, false},
				{"aud with a trailing space", []string{rsID + " "}, false},
				{"aud a prefix of it", []string{rsID[:1]}, false},
				{"aud it with a suffix", []string{rsID + "-evil"}, false},
				{"aud empty", []string{}, false},
				{"aud missing", nil, false},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					tok := forge(t, hdr, claim("aud", tc.aud))
					r := e.post(t, "/oauth2/introspect", url.Values{"token": {tok}}, rsID, rsSecret)
					noStackTrace(t, "introspect", r.raw)
					if r.status != http.StatusOK {
						t.Fatalf("introspect: %d %s", r.status, r.raw)
					}
					if active := r.body["active"] == true; active != tc.ok {
						t.Fatalf("introspect as %s: active %v, want %v: %s", rsID, active, tc.ok, r.raw)
					}
					if !tc.ok && len(r.body) != 1 {
						t.Fatalf("an inactive answer says more than active: %s", r.raw)
					}
				})
			}
		})
	})
}

// activeKey unseals the private key kid from the deployment's store with
// its KEK, as an insider holding both could. The server is stopped meanwhile
// (bolt allows one process).
func activeKey(t *testing.T, e *oauthEnv, kid string) *ecdsa.PrivateKey {
	t.Helper()
	var priv *ecdsa.PrivateKey
	e.offline(t, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		set, sealer := storedKeySet(ctx, t, e.Env)
		for _, k := range set.Keys {
			if k.KID != kid {
				continue
			}
			s, err := sealer.UnsealKey(k)
			if err != nil {
				t.Fatalf("unseal %s: %v", kid, err)
			}
			p, ok := s.(*ecdsa.PrivateKey)
			if !ok {
				t.Fatalf("key %s is a %T, want ES256", kid, s)
			}
			priv = p
		}
	})
	if priv == nil {
		t.Fatalf("key %s not in the store's key set", kid)
	}
	return priv
}
