package oauth

import (
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// TestFailedClientAuthThrottledPerAddress sends 200 wrong secrets from one
// address: after the burst every endpoint that authenticates clients
// answers 429 to it, while another address, and successes, are unaffected.
func TestFailedClientAuthThrottledPerAddress(t *testing.T) {
	const burst = 10
	e := newEnv(t, func(c *Config) {
		c.ClientAuthLimit = IPLimit{Burst: burst, Every: time.Minute}
	})
	attacker := netip.MustParseAddr("198.51.100.66")
	other := netip.MustParseAddr("203.0.113.7")
	from := func(cc ClientCredentials, ip netip.Addr) ClientCredentials { cc.RemoteIP = ip; return cc }
	cc := func(secret string, ip netip.Addr) TokenRequest {
		return TokenRequest{GrantType: GrantClientCredentials, Client: from(basic(ccID, secret), ip), RemoteIP: ip}
	}

	refused, limited := 0, 0
	for range 200 {
		_, err := e.svc.Token(e.ctx, cc("wrong", attacker))
		switch er := AsError(err); {
		case er != nil && er.Code == CodeInvalidClient:
			if limited > 0 {
				t.Fatal("invalid_client after the limit started")
			}
			refused++
		case er != nil && er.Code == CodeTemporarilyUnavailable && er.Status == http.StatusTooManyRequests && er.RetryAfter > 0:
			limited++
		default:
			t.Fatalf("wrong secret answered %v", err)
		}
	}
	if refused != burst || limited != 200-burst {
		t.Fatalf("%d invalid_client and %d 429, want %d and %d", refused, limited, burst, 200-burst)
	}

	tests := []struct {
		name string
		call func() error
		code string
	}{
		{"right secret from the limited address", func() error { _, err := e.svc.Token(e.ctx, cc(ccSecret, attacker)); return err }, CodeTemporarilyUnavailable},
		{"revoke from the limited address", func() error {
			return e.svc.Revoke(e.ctx, RevokeRequest{Client: from(basic(confID, "wrong"), attacker), Token: "t"})
		}, CodeTemporarilyUnavailable},
		{"introspect from the limited address", func() error {
			_, err := e.svc.Introspect(e.ctx, IntrospectRequest{Client: from(basic(confID, "wrong"), attacker), Token: "t"})
			return err
		}, CodeTemporarilyUnavailable},
		{"wrong secret from another address", func() error { _, err := e.svc.Token(e.ctx, cc("wrong", other)); return err }, CodeInvalidClient},
		{"right secret from another address", func() error { _, err := e.svc.Token(e.ctx, cc(ccSecret, other)); return err }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if er := AsError(err); er == nil || er.Code != tc.code {
				t.Fatalf("got %v, want %s", err, tc.code)
			}
		})
	}

	// Successes spend nothing: many from one address all pass.
	for i := range 3 * burst {
		if _, err := e.svc.Token(e.ctx, cc(ccSecret, other)); err != nil {
			t.Fatalf("success %d: %v", i, err)
		}
	}
	// The bucket refills: one more failure is answered after Every.
	e.clock.Advance(time.Minute)
	if _, err := e.svc.Token(e.ctx, cc("wrong", attacker)); AsError(err) == nil || AsError(err).Code != CodeInvalidClient {
		t.Fatalf("after a refill: %v, want invalid_client", err)
	}
}

// TestClientCache checks that client authentication reuses a registration
// read from the store for ClientCacheTTL and reads it again afterwards, so
// a deleted client stops working within the TTL; that an unknown client is
// never cached; and that a negative TTL turns the cache off.
func TestClientCache(t *testing.T) {
	cc := func(e *env) error {
		_, err := e.svc.Token(e.ctx, TokenRequest{GrantType: GrantClientCredentials, Client: basic(ccID, ccSecret)})
		return err
	}
	tests := []struct {
		name string
		ttl  time.Duration
		// wantCached: a token is issued while the store is down, right
		// after a first one.
		wantCached bool
	}{
		{"default ttl", 0, true},
		{"off", -1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.ClientCacheTTL = tc.ttl })
			if err := cc(e); err != nil {
				t.Fatal(err)
			}
			e.store.failOnly.Store("GetClient", true)
			e.store.failing.Store(true)
			err := cc(e)
			if got := err == nil; got != tc.wantCached {
				t.Fatalf("store down after a first token: err = %v, want cached %v", err, tc.wantCached)
			}
			if !tc.wantCached {
				return
			}
			e.clock.Advance(DefaultClientCacheTTL - time.Millisecond)
			if err := cc(e); err != nil {
				t.Fatalf("just before the ttl: %v", err)
			}
			e.clock.Advance(time.Millisecond)
			wantErr(t, cc(e), CodeTemporarilyUnavailable, http.StatusServiceUnavailable)

			// A deletion is seen once the cached copy is older than the TTL.
			e.store.failing.Store(false)
			if err := cc(e); err != nil {
				t.Fatal(err)
			}
			if err := e.store.Store.DeleteClient(e.ctx, ccID); err != nil {
				t.Fatal(err)
			}
			e.clock.Advance(DefaultClientCacheTTL)
			wantErr(t, cc(e), CodeInvalidClient, http.StatusUnauthorized)
			// An unknown client is not cached: once added it works at once.
			if err := e.store.Store.CreateClient(e.ctx, storage.Client{ID: ccID, SecretHash: secretHash(ccSecret), Grants: []string{GrantClientCredentials}}); err != nil {
				t.Fatal(err)
			}
			if err := cc(e); err != nil {
				t.Fatalf("client added after a miss: %v", err)
			}
		})
	}
}
