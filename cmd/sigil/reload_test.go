package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sigilauth/sigil/configs"
)

// TestReloadLifetimes drives the SIGHUP handler of a server built without
// a port: changed lifetimes reach the token service (a new token carries
// the new expires_in) and the key retention, settings that need a restart
// are named as such, and an invalid configuration changes nothing.
func TestReloadLifetimes(t *testing.T) {
	const secret = "reload-test-secret-0123456789abcdef"
	base := configs.Default()
	base.Keys.Algorithms = []string{"ES256"}
	base.CORS.AllowedOrigins = []string{"https://app.example.com"}
	// base retention: max(5m access, 1h id token) + 1m leeway
	const baseRetain = 61 * time.Minute
	tests := []struct {
		name          string
		edit          func(*configs.Config)
		loadErr       error
		wantExpiresIn int64
		wantRetain    time.Duration
		wantApplied   []string
		wantRestart   string
		wantOrigins   []string // nil: base.CORS.AllowedOrigins
	}{
		{name: "longer lifetimes", edit: func(c *configs.Config) {
			c.Tokens.AccessTTL, c.Tokens.IDTokenTTL = 7*time.Minute, 2*time.Hour
		}, wantExpiresIn: 420, wantRetain: 121 * time.Minute, wantApplied: []string{"tokens.access_ttl", "tokens.id_token_ttl"}},
		{name: "shorter lifetimes", edit: func(c *configs.Config) {
			c.Tokens.AccessTTL, c.Tokens.IDTokenTTL = time.Minute, 10*time.Minute
		}, wantExpiresIn: 60, wantRetain: 11 * time.Minute, wantApplied: []string{"tokens.access_ttl", "tokens.id_token_ttl"}},
		{name: "refresh and session lifetimes keep the retention", edit: func(c *configs.Config) {
			c.Tokens.RefreshTTL, c.Tokens.RefreshIdleTTL, c.Tokens.RefreshReuseGrace = 48*time.Hour, 3*time.Hour, 5*time.Second
			c.Sessions.TTL, c.Sessions.IdleTTL = 12*time.Hour, time.Hour
		}, wantExpiresIn: 300, wantRetain: baseRetain, wantApplied: []string{"tokens.refresh_ttl", "tokens.refresh_idle_ttl",
			"tokens.refresh_reuse_grace", "sessions.ttl", "sessions.idle_ttl"}},
		{name: "restart-only settings named, lifetimes applied", edit: func(c *configs.Config) {
			c.Listen, c.Tokens.AccessTTL = "127.0.0.1:9999", 7*time.Minute
		}, wantExpiresIn: 420, wantRetain: 61 * time.Minute, wantApplied: []string{"tokens.access_ttl"}, wantRestart: "listen"},
		{name: "cors origins replaced", edit: func(c *configs.Config) {
			c.CORS.AllowedOrigins = []string{"https://new.example.com", "http://localhost:5173"}
		}, wantExpiresIn: 300, wantRetain: baseRetain, wantApplied: []string{"cors.allowed_origins"},
			wantOrigins: []string{"https://new.example.com", "http://localhost:5173"}},
		{name: "cors origins removed, lifetimes applied", edit: func(c *configs.Config) {
			c.CORS.AllowedOrigins, c.Tokens.AccessTTL = nil, 7*time.Minute
		}, wantExpiresIn: 420, wantRetain: 61 * time.Minute, wantApplied: []string{"cors.allowed_origins", "tokens.access_ttl"},
			wantOrigins: []string{}},
		{name: "invalid configuration changes nothing", edit: func(c *configs.Config) {
			c.CORS.AllowedOrigins, c.Tokens.AccessTTL = []string{"https://new.example.com"}, 7*time.Minute
		}, loadErr: errors.New("invalid configuration (1 problem)"), wantExpiresIn: 300, wantRetain: baseRetain},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := base
			cfg.Storage.BoltPath = filepath.Join(t.TempDir(), "sigil.db")
			store := openBoltStore(t, cfg)
			ctx := context.Background()
			addServiceClient(t, store, secret, nil)
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, nil))
			srv, err := newServer(ctx, cfg, store, logger, func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			next := cfg
			if tc.edit != nil {
				tc.edit(&next)
			}
			if err := next.Validate(); err != nil {
				t.Fatal(err)
			}
			srv.life.loadConfig = func() (configs.Config, error) { return next, tc.loadErr }
			srv.reload(nil)

			if got := srv.rotator.RetainFor(); got != tc.wantRetain {
				t.Errorf("key retention %s, want %s", got, tc.wantRetain)
			}
			if got := tokenExpiresIn(t, srv, secret); got != tc.wantExpiresIn {
				t.Errorf("expires_in %d after the reload, want %d", got, tc.wantExpiresIn)
			}
			wantOrigins := tc.wantOrigins
			if wantOrigins == nil {
				wantOrigins = base.CORS.AllowedOrigins
			}
			for _, o := range []string{"https://app.example.com", "https://new.example.com", "http://localhost:5173"} {
				if got, want := preflightAllowed(srv, o), slices.Contains(wantOrigins, o); got != want {
					t.Errorf("origin %s allowed %v after the reload, want %v", o, got, want)
				}
			}
			var applied, restart, refused string
			for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				switch rec["msg"] {
				case "reloaded":
					applied, _ = rec["applied"].(string)
				case "reload: these settings changed but take effect only after a restart":
					restart, _ = rec["keys"].(string)
				case "reload: the configuration is invalid; nothing changed":
					refused, _ = rec["err"].(string)
				}
			}
			if want := strings.Join(tc.wantApplied, ","); applied != want {
				t.Errorf("applied %q, want %q", applied, want)
			}
			if tc.loadErr != nil && refused != tc.loadErr.Error() {
				t.Errorf("refused reload logged %q, want %q", refused, tc.loadErr)
			}
			if restart != tc.wantRestart {
				t.Errorf("restart warning names %q, want %q", restart, tc.wantRestart)
			}
		})
	}
}

// preflightAllowed sends the browser's CORS preflight of a token request
// from origin through the handler and reports whether it was allowed.
func preflightAllowed(srv *server, origin string) bool {
	r := httptest.NewRequest("OPTIONS", "/oauth2/token", nil)
	r.Header.Set("Origin", origin)
	r.Header.Set("Access-Control-Request-Method", "POST")
	rec := httptest.NewRecorder()
	srv.handler.ServeHTTP(rec, r)
	return rec.Code == 204 && rec.Header().Get("Access-Control-Allow-Origin") == origin
}

// tokenExpiresIn runs a client_credentials grant for svc through the
// handler and returns expires_in.
func tokenExpiresIn(t *testing.T, srv *server, secret string) int64 {
	t.Helper()
	r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.SetBasicAuth("svc", secret)
	r.RemoteAddr = "192.0.2.1:1234"
	rec := httptest.NewRecorder()
	srv.handler.ServeHTTP(rec, r)
	var tok struct {
		ExpiresIn int64 `json:"expires_in"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &tok); rec.Code != 200 || err != nil {
		t.Fatalf("token: %d %s (%v)", rec.Code, rec.Body, err)
	}
	return tok.ExpiresIn
}
