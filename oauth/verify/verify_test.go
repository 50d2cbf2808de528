package verify

import (
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

const testIss = "https://sigil.example.com"

func TestVerifyRules(t *testing.T) {
	fixtureKeys()
	rk, ek := newTestKey(RS256, rsaA), newTestKey(ES256, ecA)
	clock := newFakeClock()
	now := clock.Now()
	v := staticVerifier(t, clock, testIss, []*testKey{rk, ek}, WithCacheSize(0))

	// An attacker's keys: ecB posing under ek's kid, rsaB under rk's kid.
	forgedEC := &testKey{kid: ek.kid, alg: ES256, priv: ecB}
	forgedRSA := &testKey{kid: rk.kid, alg: RS256, priv: rsaB}
	// ES256 signature made with an EC key, but the header names the RSA kid.
	esOnRSAKid := &testKey{kid: rk.kid, alg: ES256, priv: ecA}
	rsOnECKid := &testKey{kid: ek.kid, alg: RS256, priv: rsaA}

	// HS256 "signed" with the RSA public key as the HMAC secret, the
	// classic key-confusion attack.
	hsToken := func() string {
		der, _ := x509.MarshalPKIXPublicKey(rsaA.Public())
		input := b64json(map[string]any{"alg": "HS256", "kid": rk.kid, "typ": "at+jwt"}) + "." +
			b64json(map[string]any{"iss": testIss, "aud": "api", "exp": now.Add(time.Minute).Unix()})
		m := hmac.New(sha256.New, der)
		m.Write([]byte(input))
		return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}()
	noneToken := b64json(map[string]any{"alg": "none", "typ": "at+jwt", "kid": rk.kid}) + "." +
		b64json(map[string]any{"iss": testIss, "aud": "api", "exp": now.Add(time.Minute).Unix()}) + "."
	embeddedJWK := func() string {
		attacker := newTestKey(ES256, ecB)
		return mint(attacker, testIss, now, tokenSpec{header: map[string]any{"jwk": jwkOf(attacker)}})
	}()
	valid := mint(ek, testIss, now, tokenSpec{})
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + b64json(map[string]any{"iss": testIss, "aud": "api", "sub": "admin",
		"exp": now.Add(time.Minute).Unix()}) + "." + parts[2]
	big := mint(ek, testIss, now, tokenSpec{claims: map[string]any{"pad": strings.Repeat("x", 5700)}})
	huge := mint(ek, testIss, now, tokenSpec{claims: map[string]any{"pad": strings.Repeat("x", MaxTokenSize)}})

	tests := []struct {
		name  string
		token string
		want  error // nil: valid
	}{
		{"valid ES256", valid, nil},
		{"valid RS256", mint(rk, testIss, now, tokenSpec{}), nil},
		{"aud array", mint(ek, testIss, now, tokenSpec{claims: map[string]any{"aud": []string{"other", "api"}}}), nil},
		{"typ application/at+jwt", mint(ek, testIss, now, tokenSpec{header: map[string]any{"typ": "application/at+jwt"}}), nil},
		{"typ upper case", mint(ek, testIss, now, tokenSpec{header: map[string]any{"typ": "AT+JWT"}}), nil},
		{"simplejwt claims", mint(ek, testIss, now, tokenSpec{claims: map[string]any{"token_type": "access", "user_id": 42}}), nil},
		{"exp within leeway", mint(ek, testIss, now.Add(-5*time.Minute-20*time.Second), tokenSpec{}), nil},
		{"nbf within leeway", mint(ek, testIss, now, tokenSpec{claims: map[string]any{"nbf": now.Add(20 * time.Second).Unix()}}), nil},
		{"fractional exp", mint(ek, testIss, now, tokenSpec{claims: map[string]any{"exp": float64(now.Unix()) + 60.5}}), nil},
		{"escaped claim name", mintRaw(ek, map[string]any{"alg": ES256, "kid": ek.kid, "typ": "at+jwt"},
			`{"\u0069ss":"`+testIss+`","aud":"api","exp":`+itoa(now.Unix()+60)+`}`), nil},
		{"near size limit", big, nil},

		{"id token typ JWT", mint(ek, testIss, now, tokenSpec{header: map[string]any{"typ": "JWT"}}), ErrTokenType},
		{"no typ", mint(ek, testIss, now, tokenSpec{header: map[string]any{"typ": nil}}), ErrTokenType},
		{"alg none", noneToken, ErrAlgorithm},
		{"HS256 with RSA public key", hsToken, ErrAlgorithm},
		{"ES256 header on RSA kid", mint(esOnRSAKid, testIss, now, tokenSpec{}), ErrAlgorithm},
		{"RS256 header on EC kid", mint(rsOnECKid, testIss, now, tokenSpec{}), ErrAlgorithm},
		{"alg RS512", mint(rk, testIss, now, tokenSpec{header: map[string]any{"alg": "RS512"}}), ErrAlgorithm},
		{"embedded jwk", embeddedJWK, ErrMalformed},
		{"jku header", mint(ek, testIss, now, tokenSpec{header: map[string]any{"jku": "https://evil.example/jwks"}}), ErrMalformed},
		{"x5u header", mint(ek, testIss, now, tokenSpec{header: map[string]any{"x5u": "https://evil.example/cert"}}), ErrMalformed},
		{"x5c header", mint(ek, testIss, now, tokenSpec{header: map[string]any{"x5c": []string{"MIIB"}}}), ErrMalformed},
		{"crit header", mint(ek, testIss, now, tokenSpec{header: map[string]any{"crit": []string{"exp"}}}), ErrMalformed},
		{"unknown kid", mint(newTestKey(ES256, ecB), testIss, now, tokenSpec{}), ErrUnknownKey},
		{"no kid", mint(ek, testIss, now, tokenSpec{header: map[string]any{"kid": nil}}), ErrUnknownKey},
		{"forged ES256", mint(forgedEC, testIss, now, tokenSpec{}), ErrSignature},
		{"forged RS256", mint(forgedRSA, testIss, now, tokenSpec{}), ErrSignature},
		{"tampered claims", tampered, ErrSignature},
		{"expired and badly signed", mint(forgedEC, testIss, now.Add(-time.Hour), tokenSpec{}), ErrSignature},
		{"short signature", parts[0] + "." + parts[1] + "." + parts[2][:40], ErrSignature},
		{"zero ES256 signature", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64)), ErrSignature},
		{"expired", mint(ek, testIss, now.Add(-6*time.Minute), tokenSpec{}), ErrExpired},
		{"no exp", mint(ek, testIss, now, tokenSpec{claims: map[string]any{"exp": nil}}), ErrMalformed},
		{"nbf in the future", mint(ek, testIss, now, tokenSpec{claims: map[string]any{"nbf": now.Add(time.Minute).Unix()}}), ErrNotYetValid},
		{"iat in the future", mint(ek, testIss, now, tokenSpec{claims: map[string]any{"iat": now.Add(time.Minute).Unix()}}), ErrNotYetValid},
		{"wrong iss", mint(ek, "https://evil.example.com", now, tokenSpec{}), ErrIssuer},
		{"iss trailing slash", mint(ek, testIss+"/", now, tokenSpec{}), ErrIssuer},
		{"no iss", mint(ek, testIss, now, tokenSpec{claims: map[string]any{"iss": nil}}), ErrIssuer},
		{"wrong aud", mint(ek, testIss, now, tokenSpec{claims: map[string]any{"aud": "other"}}), ErrAudience},
		{"aud array without us", mint(ek, testIss, now, tokenSpec{claims: map[string]any{"aud": []string{"a", "b"}}}), ErrAudience},
		{"no aud", mint(ek, testIss, now, tokenSpec{claims: map[string]any{"aud": nil}}), ErrAudience},
		{"over size limit", huge, ErrMalformed},
		{"empty", "", ErrMalformed},
		{"two parts", parts[0] + "." + parts[1], ErrMalformed},
		{"JWE five parts", valid + ".a.b", ErrMalformed},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], ErrMalformed},
		{"line break in payload", parts[0] + "." + parts[1][:10] + "\n" + parts[1][10:] + "." + parts[2], ErrMalformed},
		{"header not JSON", b64json("not json") + "." + parts[1] + "." + parts[2], ErrMalformed},
		{"duplicate alg", mintRaw(ek, `{"alg":"ES256","alg":"ES256","kid":"`+ek.kid+`","typ":"at+jwt"}`, `{}`), ErrMalformed},
		{"duplicate exp", mintRaw(ek, map[string]any{"alg": ES256, "kid": ek.kid, "typ": "at+jwt"},
			`{"iss":"`+testIss+`","aud":"api","exp":`+itoa(now.Unix()+60)+`,"exp":`+itoa(now.Unix()+600)+`}`), ErrMalformed},
		{"exp as string", mint(ek, testIss, now, tokenSpec{claims: map[string]any{"exp": "tomorrow"}}), ErrMalformed},
		{"aud as number", mint(ek, testIss, now, tokenSpec{claims: map[string]any{"aud": 7}}), ErrMalformed},
		{"trailing comma", mintRaw(ek, map[string]any{"alg": ES256, "kid": ek.kid, "typ": "at+jwt"},
			`{"iss":"`+testIss+`","aud":"api","exp":`+itoa(now.Unix()+60)+`,}`), ErrMalformed},
		{"trailing garbage", mintRaw(ek, map[string]any{"alg": ES256, "kid": ek.kid, "typ": "at+jwt"},
			`{"iss":"`+testIss+`","aud":"api","exp":`+itoa(now.Unix()+60)+`} x`), ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(t.Context(), tc.token)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.Issuer != testIss || !c.hasAudience("api") || c.Expiry.IsZero() {
					t.Errorf("claims = %+v", c)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify error = %v, want %v", err, tc.want)
			}
			if c != nil {
				t.Errorf("claims = %+v with error", c)
			}
			if len(tc.token) > 20 && strings.Contains(err.Error(), tc.token[len(tc.token)-20:]) {
				t.Errorf("error %q contains the token", err)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestVerifyClaims(t *testing.T) {
	fixtureKeys()
	ek := newTestKey(ES256, ecA)
	clock := newFakeClock()
	now := clock.Now()
	v := staticVerifier(t, clock, testIss, []*testKey{ek})
	tok := mint(ek, testIss, now, tokenSpec{claims: map[string]any{
		"aud": []string{"api", "billing"}, "token_type": "access", "user_id": "u-9", "extra": map[string]any{"k": []int{1, 2}},
	}})
	c, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{Issuer: testIss, Subject: "user-1", ID: "jti-1", ClientID: "cli", Scope: "read write",
		TokenType: "access", UserID: "u-9", KeyID: ek.kid}
	if c.Issuer != want.Issuer || c.Subject != want.Subject || c.ID != want.ID || c.ClientID != want.ClientID ||
		c.Scope != want.Scope || c.TokenType != want.TokenType || c.UserID != want.UserID || c.KeyID != want.KeyID {
		t.Errorf("claims = %+v, want %+v", c, want)
	}
	if strings.Join(c.Audience, ",") != "api,billing" {
		t.Errorf("Audience = %q", c.Audience)
	}
	if !c.Expiry.Equal(now.Add(5*time.Minute)) || !c.IssuedAt.Equal(now) || !c.NotBefore.Equal(now) {
		t.Errorf("times exp=%v iat=%v nbf=%v", c.Expiry, c.IssuedAt, c.NotBefore)
	}
	if !c.HasScope("write") || c.HasScope("wri") || c.HasScope("") || strings.Join(c.Scopes(), "|") != "read|write" {
		t.Errorf("scopes of %q misreported", c.Scope)
	}
	var extra struct {
		Extra struct{ K []int } `json:"extra"`
	}
	if err := c.Decode(&extra); err != nil || len(extra.Extra.K) != 2 {
		t.Errorf("Decode = %+v, %v", extra, err)
	}
}

func TestExpiredErrorCarriesExpiry(t *testing.T) {
	fixtureKeys()
	ek := newTestKey(ES256, ecA)
	clock := newFakeClock()
	v := staticVerifier(t, clock, testIss, []*testKey{ek})
	tok := mint(ek, testIss, clock.Now(), tokenSpec{})
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	// Once cached, then expired: the cached and the uncached path report it
	// the same way.
	clock.Advance(5*time.Minute + DefaultLeeway)
	for _, vv := range []*Verifier{v, staticVerifier(t, clock, testIss, []*testKey{ek}, WithCacheSize(0))} {
		_, err := vv.Verify(t.Context(), tok)
		var ee *ExpiredError
		if !errors.As(err, &ee) || !errors.Is(err, ErrExpired) {
			t.Fatalf("error = %v, want *ExpiredError", err)
		}
		if want := clock.Now().Add(-DefaultLeeway); !ee.Expiry.Equal(want) {
			t.Errorf("Expiry = %v, want %v", ee.Expiry, want)
		}
	}
}

func TestNewOptions(t *testing.T) {
	fixtureKeys()
	key, err := NewKey("k1", ES256, ecA.Public())
	if err != nil {
		t.Fatal(err)
	}
	set, _ := NewStaticKeySet(key)
	tests := []struct {
		name   string
		issuer string
		opts   []Option
		ok     bool
	}{
		{"ok", testIss, []Option{WithAudience("api")}, true},
		{"skip audience", testIss, []Option{SkipAudienceCheck()}, true},
		{"no audience", testIss, nil, false},
		{"empty issuer", "", []Option{WithAudience("api")}, false},
		{"issuer not a URL", "sigil", []Option{WithAudience("api")}, false},
		{"alg none", testIss, []Option{WithAudience("api"), WithAlgorithms("none")}, false},
		{"alg HS256", testIss, []Option{WithAudience("api"), WithAlgorithms(ES256, "HS256")}, false},
		{"no algs", testIss, []Option{WithAudience("api"), WithAlgorithms()}, false},
		{"ES256 only", testIss, []Option{WithAudience("api"), WithAlgorithms(ES256)}, true},
		{"negative leeway", testIss, []Option{WithAudience("api"), WithLeeway(-time.Second)}, false},
		{"huge leeway", testIss, []Option{WithAudience("api"), WithLeeway(time.Hour)}, false},
		{"bad jwks bounds", testIss, []Option{WithAudience("api"), WithJWKSCacheBounds(time.Hour, time.Minute)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(t.Context(), tc.issuer, append([]Option{WithKeySet(set)}, tc.opts...)...)
			if (err == nil) != tc.ok {
				t.Fatalf("New error = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestAlgorithmAllowList(t *testing.T) {
	fixtureKeys()
	rk, ek := newTestKey(RS256, rsaA), newTestKey(ES256, ecA)
	clock := newFakeClock()
	v := staticVerifier(t, clock, testIss, []*testKey{rk, ek}, WithAlgorithms(ES256))
	if _, err := v.Verify(t.Context(), mint(ek, testIss, clock.Now(), tokenSpec{})); err != nil {
		t.Errorf("ES256: %v", err)
	}
	if _, err := v.Verify(t.Context(), mint(rk, testIss, clock.Now(), tokenSpec{})); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("RS256 with ES256 only: %v, want ErrAlgorithm", err)
	}
}

func TestNewKey(t *testing.T) {
	fixtureKeys()
	tests := []struct {
		name string
		kid  string
		alg  string
		pub  crypto.PublicKey
		ok   bool
	}{
		{"rsa", "k", RS256, rsaA.Public(), true},
		{"ec", "k", ES256, ecA.Public(), true},
		{"empty kid", "", ES256, ecA.Public(), false},
		{"rsa key for ES256", "k", ES256, rsaA.Public(), false},
		{"ec key for RS256", "k", RS256, ecA.Public(), false},
		{"HS256", "k", "HS256", []byte("secret"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := NewKey(tc.kid, tc.alg, tc.pub)
			if (err == nil) != tc.ok {
				t.Fatalf("NewKey error = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && (k.ID() != tc.kid || k.Algorithm() != tc.alg || k.Public() == nil) {
				t.Errorf("key = %v %v", k.ID(), k.Algorithm())
			}
		})
	}
	k, _ := NewKey("k", ES256, ecA.Public())
	if _, err := NewStaticKeySet(k, k); err == nil {
		t.Error("NewStaticKeySet accepted a duplicate kid")
	}
}

// TestTokenTypeAndExpiryOptions: WithTokenType swaps the accepted typ (an
// issuer checking its own ID tokens) and SkipExpiryCheck accepts tokens
// past exp while nbf still counts; neither changes the default verifier.
func TestTokenTypeAndExpiryOptions(t *testing.T) {
	fixtureKeys()
	ek := newTestKey(ES256, ecA)
	clock := newFakeClock()
	now := clock.Now()
	idTok := mint(ek, testIss, now, tokenSpec{header: map[string]any{"typ": "JWT"}})
	appIDTok := mint(ek, testIss, now, tokenSpec{header: map[string]any{"typ": "application/jwt"}})
	access := mint(ek, testIss, now, tokenSpec{})
	expiredID := mint(ek, testIss, now, tokenSpec{header: map[string]any{"typ": "JWT"},
		claims: map[string]any{"exp": now.Add(-time.Hour).Unix(), "iat": now.Add(-2 * time.Hour).Unix(), "nbf": now.Add(-2 * time.Hour).Unix()}})
	futureID := mint(ek, testIss, now, tokenSpec{header: map[string]any{"typ": "JWT"},
		claims: map[string]any{"nbf": now.Add(time.Hour).Unix()}})

	plain := staticVerifier(t, clock, testIss, []*testKey{ek}, WithCacheSize(0))
	idv := staticVerifier(t, clock, testIss, []*testKey{ek}, WithCacheSize(0), WithTokenType("JWT"))
	hint := staticVerifier(t, clock, testIss, []*testKey{ek}, WithCacheSize(0), WithTokenType("JWT"), SkipExpiryCheck())
	tests := []struct {
		name    string
		v       *Verifier
		tok     string
		wantErr error
	}{
		{"default refuses an ID token", plain, idTok, ErrTokenType},
		{"default accepts an access token", plain, access, nil},
		{"typ JWT accepts an ID token", idv, idTok, nil},
		{"typ JWT accepts application/jwt", idv, appIDTok, nil},
		{"typ JWT refuses an access token", idv, access, ErrTokenType},
		{"typ JWT still checks exp", idv, expiredID, ErrExpired},
		{"skip expiry accepts an expired ID token", hint, expiredID, nil},
		{"skip expiry still checks nbf", hint, futureID, ErrNotYetValid},
		{"skip expiry still checks typ", hint, access, ErrTokenType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.v.Verify(t.Context(), tc.tok)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("Verify error = %v, want %v", err, tc.wantErr)
			}
		})
	}
}
