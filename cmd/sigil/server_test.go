package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/bolt"
)

// newBoltServer builds the whole server with newServer on a bolt temp
// store, without opening a port: ES256 keys, the KEK generated beside the
// bolt file, a quiet logger. mutate (nil for none) edits the configuration
// first; it must then validate.
func newBoltServer(t *testing.T, mutate func(*configs.Config)) (*server, *bolt.Store, configs.Config) {
	t.Helper()
	cfg := configs.Default()
	cfg.Storage.BoltPath = filepath.Join(t.TempDir(), "sigil.db")
	cfg.Keys.Algorithms = []string{"ES256"}
	if mutate != nil {
		mutate(&cfg)
	}
	store := openBoltStore(t, cfg)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := newServer(context.Background(), cfg, store, logger, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	return srv, store, cfg
}

// openBoltStore validates cfg and opens its bolt store, closed when the
// test ends.
func openBoltStore(tb testing.TB, cfg configs.Config) *bolt.Store {
	tb.Helper()
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	store, err := bolt.Open(cfg.Storage.BoltPath, bolt.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = store.Close() })
	return store
}

// addServiceClient registers the client_credentials client "svc" with
// secret and scope api; edit (nil for none) adjusts it first.
func addServiceClient(tb testing.TB, store storage.Store, secret string, edit func(*storage.Client)) {
	tb.Helper()
	sum := sha256.Sum256([]byte(secret))
	c := storage.Client{ID: "svc", SecretHash: sum[:], Grants: []string{"client_credentials"}, Scopes: []string{"api"}, CreatedAt: time.Now()}
	if edit != nil {
		edit(&c)
	}
	if err := store.CreateClient(context.Background(), c); err != nil {
		tb.Fatal(err)
	}
}

// TestNewServerWiring builds the whole server on a bolt temp store without
// opening a port and drives its handler: discovery, the bootstrapped JWKS,
// readiness and a client_credentials token signed by the ring.
func TestNewServerWiring(t *testing.T) {
	srv, store, cfg := newBoltServer(t, nil)
	const secret = "wiring-test-secret-0123456789abcdef"
	addServiceClient(t, store, secret, func(c *storage.Client) { c.Audiences = []string{"https://api.example.com"} })

	tests := []struct {
		name       string
		req        *http.Request
		wantStatus int
		check      func(t *testing.T, body []byte)
	}{
		{
			name: "discovery names the issuer", req: httptest.NewRequest("GET", "/.well-known/openid-configuration", nil), wantStatus: 200,
			check: func(t *testing.T, body []byte) {
				var d struct {
					Issuer string `json:"issuer"`
				}
				if err := json.Unmarshal(body, &d); err != nil || d.Issuer != cfg.Issuer {
					t.Errorf("issuer %q (%v), want %q", d.Issuer, err, cfg.Issuer)
				}
			},
		},
		{
			name: "jwks holds the bootstrapped active and next keys", req: httptest.NewRequest("GET", "/.well-known/jwks.json", nil), wantStatus: 200,
			check: func(t *testing.T, body []byte) {
				var set struct {
					Keys []struct {
						Alg string `json:"alg"`
						D   string `json:"d"`
					} `json:"keys"`
				}
				if err := json.Unmarshal(body, &set); err != nil || len(set.Keys) != 2 {
					t.Fatalf("jwks %s (%v), want 2 keys", body, err)
				}
				for _, k := range set.Keys {
					if k.Alg != "ES256" || k.D != "" {
						t.Errorf("key alg %q, private part present: %t", k.Alg, k.D != "")
					}
				}
			},
		},
		{name: "ready", req: httptest.NewRequest("GET", "/readyz", nil), wantStatus: 200},
		{
			name: "client_credentials token", wantStatus: 200,
			req: func() *http.Request {
				r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				r.SetBasicAuth("svc", secret)
				r.RemoteAddr = "192.0.2.1:1234"
				return r
			}(),
			check: func(t *testing.T, body []byte) {
				var tok struct {
					AccessToken string `json:"access_token"`
					TokenType   string `json:"token_type"`
				}
				if err := json.Unmarshal(body, &tok); err != nil || tok.TokenType != "Bearer" || strings.Count(tok.AccessToken, ".") != 2 {
					t.Errorf("token response %s (%v)", body, err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			srv.handler.ServeHTTP(rec, tc.req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if tc.check != nil {
				tc.check(t, rec.Body.Bytes())
			}
		})
	}
}
