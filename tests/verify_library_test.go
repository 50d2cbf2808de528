package tests

import (
	"context"
	"errors"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/sigilauth/sigil/oauth/verify"
)

// TestVerifyLibrary checks oauth/verify against the real server: tokens of
// the password and client_credentials grants verify with the right claims,
// an ID token and a token for another audience are refused, and after an
// emergency rotation plus revocation the library picks up the new kid and
// drops tokens of the revoked key.
func TestVerifyLibrary(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		// A one-minute JWKS max-age lets the test reach a refresh while the
		// five-minute access tokens are still valid.
		e := newOAuthEnv(t, b, map[string]string{"keys.algorithms": "[ES256, RS256]", "jwks.max_age": "1m"})
		e.MustCLI(webSecret+"\n", "clients", "add", "svc", "--secret-stdin", "--grants", "client_credentials",
			"--scopes", "api", "--audience", apiAud, "--signing-alg", "RS256")
		e.start()

		var mu sync.Mutex
		now := time.Now()
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
		ctx := context.Background()
		v, err := verify.New(ctx, e.Issuer, verify.WithAudience(apiAud), verify.WithClock(clock))
		if err != nil {
			t.Fatal(err)
		}
		other, err := verify.New(ctx, e.Issuer, verify.WithAudience("https://other.example.com"))
		if err != nil {
			t.Fatal(err)
		}

		login := e.login(t, "alice", alicePW, "openid api")
		userTok := login.str("access_token")
		c, err := v.Verify(ctx, userTok)
		if err != nil {
			t.Fatalf("password-grant token: %v", err)
		}
		if c.Issuer != e.Issuer || c.ClientID != webID || !c.HasScope("api") || c.Subject == "" || c.TokenType != "access" {
			t.Errorf("claims %+v", c)
		}
		svc := e.post(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}, "svc", webSecret)
		if c, err := v.Verify(ctx, svc.str("access_token")); err != nil || c.Subject != "svc" {
			t.Fatalf("client_credentials RS256 token: %+v, %v", c, err)
		}
		if _, err := v.Verify(ctx, login.str("id_token")); !errors.Is(err, verify.ErrTokenType) {
			t.Errorf("id_token: %v, want ErrTokenType", err)
		}
		if _, err := other.Verify(ctx, userTok); !errors.Is(err, verify.ErrAudience) {
			t.Errorf("other audience: %v, want ErrAudience", err)
		}

		// Emergency rotation, then revoke the old ES256 key (bolt: offline).
		oldKid := c.KeyID
		e.offline(t, func() {
			e.MustCLI("", "keys", "rotate", "--now")
			e.MustCLI("", "keys", "revoke", "--reason", "test", "--", oldKid)
		})
		// The next key was pre-published, so its tokens verify at once; the
		// revoked key goes at the first JWKS refresh after max-age.
		fresh := e.login(t, "alice", alicePW, "api").str("access_token")
		c2, err := v.Verify(ctx, fresh)
		if err != nil || c2.KeyID == oldKid {
			t.Fatalf("token of the new key: %+v, %v", c2, err)
		}
		advance(61 * time.Second)
		if _, err := v.Verify(ctx, e.login(t, "alice", alicePW, "api").str("access_token")); err != nil {
			t.Fatalf("token after the refresh: %v", err)
		}
		if _, err := v.Verify(ctx, userTok); !errors.Is(err, verify.ErrUnknownKey) {
			t.Errorf("cached token of the revoked key: %v, want ErrUnknownKey", err)
		}
	})
}
