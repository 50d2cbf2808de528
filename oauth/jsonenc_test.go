package oauth

import (
	"bytes"
	"encoding/json"
	"testing"
)

// TestHandEncodingMatchesJSON: the hand-written encoders of the access
// token claims and the token response produce exactly json.Marshal's bytes,
// for plain values and for strings that need escaping (quotes, controls,
// HTML characters, non-ASCII, U+2028, invalid UTF-8), with and without the
// optional fields.
func TestHandEncodingMatchesJSON(t *testing.T) {
	odd := []string{"", "plain", `q"uote`, `back\slash`, "tab\tnew\nline\x01", "<script>&amp;</script>", "a<b", "x>y", "p&q", "ünïcödé ✓", "line\u2028sep\u2029", "bad\xffutf8", "https://api.example.com/x?a=1&b=2"}
	claims := []struct {
		name string
		c    AccessClaims
	}{
		{"client_credentials", AccessClaims{Issuer: "https://sigil.example", Subject: "svc", Audience: Audience{"https://api.example.com"},
			ExpiresAt: 1764670000, IssuedAt: 1764669100, NotBefore: 1764669100, JTI: "abcDEF_-123", ClientID: "svc", Scope: "api"}},
		{"user with simplejwt", AccessClaims{Issuer: "https://sigil.example/auth", Subject: "42", Audience: Audience{"a", "b"},
			ExpiresAt: 1, IssuedAt: 0, NotBefore: -5, JTI: "j", ClientID: "app", Scope: "openid api", AuthTime: 1764669000,
			TokenType: "access", UserID: simpleJWTUserID("42")}},
		{"string user id", AccessClaims{Subject: "u-1", Audience: Audience{}, UserID: simpleJWTUserID("0042<x>")}},
		{"nil audience, no scope", AccessClaims{Issuer: "i", Subject: "s", JTI: "j", ClientID: "c"}},
	}
	for _, s := range odd {
		claims = append(claims, struct {
			name string
			c    AccessClaims
		}{"odd " + s, AccessClaims{Issuer: s, Subject: s, Audience: Audience{s, s}, JTI: s, ClientID: s, Scope: s, TokenType: s}})
	}
	for _, tc := range claims {
		t.Run("claims/"+tc.name, func(t *testing.T) {
			want, err := json.Marshal(&tc.c)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.c.appendJSON([]byte("prefix")); !bytes.Equal(got, append([]byte("prefix"), want...)) {
				t.Fatalf("got  %s\nwant prefix%s", got, want)
			}
		})
	}
	responses := []struct {
		name string
		r    TokenResponse
	}{
		{"access only", TokenResponse{AccessToken: "eyJ.a.b", TokenType: TokenTypeBearer, ExpiresIn: 900, alg: "ES256", clientID: "svc"}},
		{"everything", TokenResponse{AccessToken: "eyJ.a.b", TokenType: TokenTypeBearer, ExpiresIn: 0, RefreshToken: "sgl_rt_x.y", Scope: "openid api", IDToken: "eyJ.c.d"}},
		{"negative lifetime", TokenResponse{ExpiresIn: -1}},
	}
	for _, s := range odd {
		responses = append(responses, struct {
			name string
			r    TokenResponse
		}{"odd " + s, TokenResponse{AccessToken: s, TokenType: s, RefreshToken: s, Scope: s, IDToken: s}})
	}
	for _, tc := range responses {
		t.Run("response/"+tc.name, func(t *testing.T) {
			want, err := json.Marshal(&tc.r)
			if err != nil {
				t.Fatal(err)
			}
			if got := tc.r.AppendJSON(nil); !bytes.Equal(got, want) {
				t.Fatalf("got  %s\nwant %s", got, want)
			}
		})
	}
}
