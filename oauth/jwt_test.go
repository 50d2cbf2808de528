package oauth

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sigilauth/sigil/keys/keystest"
)

// TestParseAccessRules pins the server's own rules on top of oauth/verify:
// exp strict (no leeway, unlike the library), nbf and iat with Leeway, jti
// and sub required, the 8 KiB cap, and the reasons the errors carry.
func TestParseAccessRules(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now()
	leeway := int64(DefaultLeeway / time.Second)
	base := func() map[string]any {
		return map[string]any{"iss": testIssuer, "sub": "42", "aud": confID, "client_id": confID, "jti": "j1",
			"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Unix() + 60}
	}
	with := func(k string, v any) map[string]any {
		c := base()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	tests := []struct {
		name    string
		claims  map[string]any
		advance time.Duration
		reason  Reason // ReasonNone: valid
		desc    string
	}{
		{name: "valid", claims: base()},
		{name: "one second before exp", claims: base(), advance: 59 * time.Second},
		{name: "at exp, inside the library leeway", claims: base(), advance: 60 * time.Second, reason: ReasonTokenExpired, desc: "token is expired"},
		{name: "past exp plus leeway", claims: base(), advance: 2 * time.Minute, reason: ReasonTokenExpired, desc: "token is expired"},
		{name: "nbf within leeway", claims: with("nbf", now.Unix()+leeway)},
		{name: "nbf beyond leeway", claims: with("nbf", now.Unix()+leeway+1), reason: ReasonTokenInvalid, desc: "token is not valid yet"},
		{name: "iat beyond leeway", claims: with("iat", now.Unix()+leeway+1), reason: ReasonTokenInvalid, desc: "token is not valid yet"},
		{name: "no jti", claims: with("jti", nil), reason: ReasonTokenInvalid, desc: "token is invalid"},
		{name: "no sub", claims: with("sub", nil), reason: ReasonTokenInvalid, desc: "token is invalid"},
		{name: "no exp", claims: with("exp", nil), reason: ReasonTokenInvalid, desc: "token is invalid"},
		{name: "other issuer", claims: with("iss", "https://other.test"), reason: ReasonTokenInvalid, desc: "token is invalid"},
		{name: "over 8 KiB, validly signed", claims: with("scope", strings.Repeat("s", 8<<10)), reason: ReasonTokenInvalid, desc: "token is invalid"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr, _ := json.Marshal(map[string]string{"alg": "ES256", "kid": keystest.KidEC, "typ": TypAccessToken})
			payload, _ := json.Marshal(tc.claims)
			tok, err := keystest.Sign(hdr, payload, "ES256")
			if err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(tc.advance)
			defer e.clock.Advance(-tc.advance)
			in, ierr := e.svc.Introspect(e.ctx, IntrospectRequest{Client: basic(confID, confSecret), Token: tok})
			_, err = e.svc.parseAccess(e.ctx, tok, e.clock.Now())
			if tc.reason == ReasonNone {
				if err != nil || ierr != nil || !in.Active {
					t.Fatalf("refused: %v, introspection %+v %v", err, in, ierr)
				}
				return
			}
			got := wantErr(t, err, CodeInvalidToken, 401)
			if got.Reason != tc.reason || got.Description != tc.desc {
				t.Fatalf("reason %s %q, want %s %q", got.Reason, got.Description, tc.reason, tc.desc)
			}
			if ierr != nil || in.Active {
				t.Fatalf("introspection %+v %v, want active:false", in, ierr)
			}
		})
	}
}
