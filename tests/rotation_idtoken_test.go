package tests

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// jwksHas reports whether the server's JWKS publishes kid.
func (e *oauthEnv) jwksHas(t *testing.T, kid string) bool {
	t.Helper()
	status, _, body := get(t, e.srv.URL+"/.well-known/jwks.json", nil)
	if status != 200 {
		t.Fatalf("JWKS status %d", status)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	return len(set.Key(kid)) > 0
}

// TestIDTokenVerifiesAfterRotationUntilExp: an ID token signed by a key
// that is then rotated out still verifies against the JWKS until its exp,
// and the key leaves the JWKS after its verify_until (retirement + longest
// token lifetime + leeway) (issue 12, point 12). The ID token lives longer
// than access tokens, so a verify_until computed from the access-token
// lifetime alone would drop the key while the ID token is still valid.
func TestIDTokenVerifiesAfterRotationUntilExp(t *testing.T) {
	const (
		idTTL  = 20 * time.Second
		leeway = time.Second
	)
	settings := map[string]string{
		"keys.rotation":           "@every 3s",
		"keys.prepublish":         "10s",
		"keys.reconcile_interval": "1s",
		"keys.clock_leeway":       "1s",
		"jwks.max_age":            "1s",
		"tokens.access_ttl":       "2s",
		"tokens.id_token_ttl":     "20s",
	}
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newOAuthEnv(t, b, settings)
		e.start()
		login := e.login(t, "alice", alicePW, "openid")
		idTok := login.str("id_token")
		if login.status != 200 || idTok == "" {
			t.Fatalf("login: %d %s", login.status, login.raw)
		}
		kid, exp := kidOf(t, idTok), expOf(t, idTok)
		if _, claims := e.verifyJWT(t, idTok); claims["aud"] != webID {
			t.Fatalf("not an ID token for %s: %v", webID, claims)
		}

		// Wait for the signing key to change: the ID token's key is retired.
		var rotated time.Time
		// The first rotation waits for the bootstrap next key's 10 s
		// pre-publication.
		for deadline := time.Now().Add(15 * time.Second); rotated.IsZero(); time.Sleep(300 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the signing key did not rotate within 15 s (@every 3s, prepublish 10s)")
			}
			r := e.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {login.str("refresh_token")}}, webID, webSecret)
			if r.status != 200 {
				t.Fatalf("refresh: %d %s", r.status, r.raw)
			}
			login = r
			if kidOf(t, r.str("access_token")) != kid {
				rotated = time.Now()
			}
		}
		if time.Until(exp) < 3*time.Second {
			t.Fatalf("rotation came %s before the ID token's exp; too late to check the window", time.Until(exp))
		}

		// Until exp, the retired key stays published and the ID token verifies.
		checks := 0
		for time.Now().Before(exp.Add(-200 * time.Millisecond)) {
			if _, claims := e.verifyJWT(t, idTok); claims["sub"] == nil {
				t.Fatal("verified ID token has no sub")
			}
			checks++
			time.Sleep(500 * time.Millisecond)
		}
		if checks < 4 {
			t.Fatalf("only %d checks between the rotation and exp", checks)
		}

		// After verify_until (the retirement, at the latest when we saw it,
		// + the ID-token lifetime + leeway) the key leaves the JWKS.
		gone := rotated.Add(idTTL + leeway + 5*time.Second)
		for e.jwksHas(t, kid) {
			if time.Now().After(gone) {
				t.Fatalf("retired key %s still published %s after the rotation", kid, time.Since(rotated).Round(time.Second))
			}
			time.Sleep(500 * time.Millisecond)
		}
	})
}
