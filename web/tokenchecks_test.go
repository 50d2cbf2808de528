package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sigilauth/sigil/oauth/verify"
)

// TestEndpointsCheckTokenTimesAndSize signs access tokens with the
// server's own key and presents them to userinfo and introspection: a
// token valid in the future (nbf or iat past the leeway) or larger than
// verify.MaxTokenSize is refused by both endpoints, while the same token
// within the leeway or at the size cap is accepted. The server relies on
// the verifier for these checks, so this is where their removal shows.
func TestEndpointsCheckTokenTimesAndSize(t *testing.T) {
	f := newOAuthFixture(t, false)
	const leeway = 30 * time.Second // oauth.DefaultLeeway
	now := time.Now()
	token := func(t *testing.T, mod func(c map[string]any)) string {
		t.Helper()
		c := map[string]any{
			"iss": tIssuer, "sub": "7", "aud": []string{"web"}, "client_id": "web", "scope": "openid",
			"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "nbf": now.Unix(),
			"auth_time": now.Unix(), "jti": fmt.Sprintf("jti-%d", time.Now().UnixNano()),
		}
		if mod != nil {
			mod(c)
		}
		payload, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := f.keys.SignJWT("ES256", "at+jwt", payload)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// sized pads the token to exactly n bytes, or the largest size not
	// above n that base64 allows.
	sized := func(t *testing.T, n int) string {
		t.Helper()
		best := ""
		for pad := 0; pad < n; pad++ {
			tok := token(t, func(c map[string]any) { c["pad"] = strings.Repeat("x", pad) })
			if len(tok) > n {
				break
			}
			best = tok
		}
		if len(best) < n-3 {
			t.Fatalf("could not build a token of about %d bytes (got %d)", n, len(best))
		}
		return best
	}
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	tests := []struct {
		name string
		tok  func(t *testing.T) string
		ok   bool
	}{
		{"valid", func(t *testing.T) string { return token(t, nil) }, true},
		{"nbf within the leeway", func(t *testing.T) string {
			return token(t, func(c map[string]any) { c["nbf"] = at(leeway - 10*time.Second) })
		}, true},
		{"nbf past the leeway", func(t *testing.T) string {
			return token(t, func(c map[string]any) { c["nbf"] = at(leeway + 10*time.Second) })
		}, false},
		{"nbf an hour ahead", func(t *testing.T) string { return token(t, func(c map[string]any) { c["nbf"] = at(time.Hour) }) }, false},
		{"iat within the leeway", func(t *testing.T) string {
			return token(t, func(c map[string]any) { c["iat"] = at(leeway - 10*time.Second) })
		}, true},
		{"iat past the leeway", func(t *testing.T) string {
			return token(t, func(c map[string]any) { c["iat"] = at(leeway + 10*time.Second) })
		}, false},
		{"iat an hour ahead", func(t *testing.T) string { return token(t, func(c map[string]any) { c["iat"] = at(time.Hour) }) }, false},
		{"at the size cap", func(t *testing.T) string { return sized(t, verify.MaxTokenSize) }, true},
		{"over the size cap", func(t *testing.T) string { return sized(t, verify.MaxTokenSize+4) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.tok(t)
			if strings.Contains(tc.name, "size cap") {
				if over := len(tok) > verify.MaxTokenSize; over == tc.ok {
					t.Fatalf("token of %d bytes does not test the cap of %d", len(tok), verify.MaxTokenSize)
				}
			}
			rec := f.do(req{method: http.MethodGet, path: "/userinfo", hdr: map[string]string{"Authorization": "Bearer " + tok}})
			if tc.ok && rec.Code != 200 {
				t.Fatalf("userinfo: %d %s", rec.Code, rec.Body)
			}
			if !tc.ok && (rec.Code != 401 || !strings.Contains(rec.Header().Get("WWW-Authenticate"), "invalid_token")) {
				t.Fatalf("userinfo: %d %v %s, want 401 invalid_token", rec.Code, rec.Header(), rec.Body)
			}
			rec = f.do(req{path: "/oauth2/introspect", hdr: basicAuth("web", tSecret), body: form("token", tok)})
			if rec.Code != 200 {
				t.Fatalf("introspect: %d %s", rec.Code, rec.Body)
			}
			if active := decodeBody(t, rec)["active"] == true; active != tc.ok {
				t.Fatalf("introspect active = %v, want %v: %s", active, tc.ok, rec.Body)
			}
		})
	}
}
