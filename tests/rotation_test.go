package tests

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// rotationSettings are the Done-when settings of the keys issue (rotation
// due every 6 s, jwks.max_age 2 s), with a one-second reconcile so a
// replica reloads well within pre-publication, and the shortest
// pre-publication validation allows (configs.MinPrepublish, oauth/verify's
// refetch interval; the 3 s no longer validates): a due rotation
// waits for it, so keys rotate about every 10 s.
var rotationSettings = map[string]string{
	"keys.algorithms":         "[ES256]",
	"keys.rotation":           "@every 6s",
	"keys.prepublish":         "10s",
	"keys.reconcile_interval": "1s",
	"keys.clock_leeway":       "1s",
	"jwks.max_age":            "2s",
	"tokens.access_ttl":       "15s",
	"tokens.id_token_ttl":     "15s",
}

// addServiceClient registers a confidential client_credentials client and
// returns its id and secret.
func addServiceClient(t *testing.T, e *Env) (string, string) {
	t.Helper()
	out := e.MustCLI("", "clients", "add", "svc", "--grants", "client_credentials", "--scopes", "api", "--audience", "https://api.example.com")
	for _, line := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(line, "client_secret: "); ok {
			return "svc", strings.TrimSpace(s)
		}
	}
	t.Fatalf("no client_secret in output:\n%s", out)
	return "", ""
}

// clientCredentialsToken gets an access token from the token endpoint.
func clientCredentialsToken(t *testing.T, base, id, secret string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("token endpoint: status %d, error %q, decode %v", resp.StatusCode, body.Error, err)
	}
	return body.AccessToken
}

// cachingClient is a resource server that caches the JWKS for exactly the
// max-age the server sends and never refetches on an unknown kid: the
// strictest client the pre-publication promise must satisfy.
type cachingClient struct {
	t         *testing.T
	jwksURL   string
	keys      map[string]jose.JSONWebKey
	expires   time.Time
	fetches   int
	unknown   int
	verified  int
	sigFailed int
}

func (c *cachingClient) refresh(now time.Time) {
	if now.Before(c.expires) {
		return
	}
	status, hdr, body := get(c.t, c.jwksURL, nil)
	if status != 200 {
		c.t.Fatalf("JWKS status %d", status)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		c.t.Fatal(err)
	}
	c.keys = map[string]jose.JSONWebKey{}
	for _, k := range set.Keys {
		c.keys[k.KeyID] = k
	}
	maxAge := -1
	for _, d := range strings.Split(hdr.Get("Cache-Control"), ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(d), "max-age="); ok {
			maxAge, _ = strconv.Atoi(v)
		}
	}
	if maxAge < 0 {
		c.t.Fatalf("JWKS without max-age: %q", hdr.Get("Cache-Control"))
	}
	c.expires = now.Add(time.Duration(maxAge) * time.Second)
	c.fetches++
}

// verify checks tok against the cached keys only.
func (c *cachingClient) verify(tok string) (kid string, ok bool) {
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		c.t.Fatal(err)
	}
	kid = jws.Signatures[0].Protected.KeyID
	k, found := c.keys[kid]
	if !found {
		c.unknown++
		return kid, false
	}
	if _, err := jws.Verify(k.Key); err != nil {
		c.sigFailed++
		return kid, false
	}
	c.verified++
	return kid, true
}

func expOf(t *testing.T, tok string) time.Time {
	var claims struct {
		Exp int64 `json:"exp"`
	}
	raw, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw.UnsafePayloadWithoutVerification(), &claims); err != nil {
		t.Fatal(err)
	}
	return time.Unix(claims.Exp, 0)
}

// TestRotationNeverMeetsUnknownKID runs the real server with rotation due
// every 6 s (every 10 s with the pre-publication) until ten keys have
// signed (about 100 s; it fails at 150 s). A client caching the JWKS for
// exactly max-age and never refetching on a miss must verify every fresh
// token, and every earlier token until its exp, across those rotations.
func TestRotationNeverMeetsUnknownKID(t *testing.T) {
	if testing.Short() {
		t.Skip("about 100 s of real rotation; skipped with -short")
	}
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		e := NewEnv(t, b, rotationSettings)
		id, secret := addServiceClient(t, e)
		srv := e.Start()
		c := &cachingClient{t: t, jwksURL: srv.URL + "/.well-known/jwks.json"}
		type held struct {
			tok string
			exp time.Time
			kid string
		}
		var pool []held
		signers := map[string]bool{}
		oldChecked := 0
		const wantSigners = 10
		deadline := time.Now().Add(150 * time.Second)
		for len(signers) < wantSigners && time.Now().Before(deadline) {
			now := time.Now()
			c.refresh(now)
			tok := clientCredentialsToken(t, srv.URL, id, secret)
			kid, ok := c.verify(tok)
			if !ok {
				t.Fatalf("fresh token with kid %s not verifiable from a JWKS cached %s ago", kid, now.Sub(c.expires.Add(-2*time.Second)).Round(time.Millisecond))
			}
			signers[kid] = true
			pool = append(pool, held{tok, expOf(t, tok), kid})
			// Every earlier token stays verifiable until its exp (less a
			// second of margin for the client's own delay).
			kept := pool[:0]
			for _, h := range pool {
				if time.Now().Add(time.Second).After(h.exp) {
					continue
				}
				if h.kid != kid {
					if _, ok := c.verify(h.tok); !ok {
						t.Fatalf("token signed by retired key %s refused %s before its exp", h.kid, time.Until(h.exp).Round(time.Millisecond))
					}
					oldChecked++
				}
				kept = append(kept, h)
			}
			pool = kept
			time.Sleep(200 * time.Millisecond)
		}
		if c.unknown != 0 || c.sigFailed != 0 {
			t.Fatalf("%d unknown kids, %d bad signatures", c.unknown, c.sigFailed)
		}
		if len(signers) < wantSigners {
			t.Fatalf("only %d signing keys in 150 s of rotation every 10 s, want %d", len(signers), wantSigners)
		}
		if oldChecked == 0 {
			t.Fatal("no token signed by a since-retired key was re-verified")
		}
		t.Logf("%s: %d signing keys, %d verifications (%d of retired-key tokens), %d JWKS fetches",
			b, len(signers), c.verified, oldChecked, c.fetches)
		srv.Stop(t)
	})
}

// TestRevokeRemovesKey revokes the active key with the CLI; it leaves the
// JWKS, a client that refetches refuses tokens it signed, and new tokens
// are signed by its replacement.
func TestRevokeRemovesKey(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		e := NewEnv(t, b, map[string]string{"keys.algorithms": "[ES256]", "keys.reconcile_interval": "1s"})
		id, secret := addServiceClient(t, e)
		srv := e.Start()
		tok := clientCredentialsToken(t, srv.URL, id, secret)
		c := &cachingClient{t: t, jwksURL: srv.URL + "/.well-known/jwks.json"}
		c.refresh(time.Now())
		kid, ok := c.verify(tok)
		if !ok {
			t.Fatal("fresh token not verifiable")
		}
		if b == Bolt {
			// One process owns the bolt file: stop the server to revoke.
			srv.Stop(t)
		}
		out := e.MustCLI("", "keys", "revoke", "--reason", "test: key leaked", "--", kid)
		if !strings.Contains(out, "revoked") {
			t.Fatalf("revoke output: %s", out)
		}
		if b == Bolt {
			srv = e.Start()
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			c.expires = time.Time{}
			c.refresh(time.Now())
			if _, present := c.keys[kid]; !present {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("revoked key still in the JWKS after 10s")
			}
			time.Sleep(200 * time.Millisecond)
		}
		if _, ok := c.verify(tok); ok {
			t.Fatal("token signed by a revoked key still verifies after refetch")
		}
		tok2 := clientCredentialsToken(t, srv.URL, id, secret)
		kid2, ok := c.verify(tok2)
		if !ok || kid2 == kid {
			t.Fatalf("new token kid %s (revoked %s) ok=%v", kid2, kid, ok)
		}
		if b == Bolt {
			srv.Stop(t)
		}
		evOut := e.MustCLI("", "keys", "events")
		if !strings.Contains(evOut, "revoke") || !strings.Contains(evOut, "test: key leaked") {
			t.Fatalf("audit trail lacks the revocation:\n%s", evOut)
		}
	})
}
