package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeSigil serves discovery and a one-key JWKS and mints access tokens.
type fakeSigil struct {
	url string
	key *ecdsa.PrivateKey
}

func newFakeSigil(t *testing.T) *fakeSigil {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeSigil{key: key}
	pt, _ := key.PublicKey.Bytes()
	b64 := base64.RawURLEncoding.EncodeToString
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": f.url, "jwks_uri": f.url + "/.well-known/jwks.json"})
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "EC", "crv": "P-256", "kid": "k1", "use": "sig", "alg": "ES256", "x": b64(pt[1:33]), "y": b64(pt[33:]),
		}}})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fakeSigil) token(t *testing.T, aud, scope string) string {
	t.Helper()
	enc := func(v any) string {
		data, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(data)
	}
	now := time.Now()
	input := enc(map[string]string{"alg": "ES256", "kid": "k1", "typ": "at+jwt"}) + "." + enc(map[string]any{
		"iss": f.url, "sub": "alice", "aud": aud, "exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(),
		"nbf": now.Unix(), "jti": "j", "client_id": "demo-client", "scope": scope,
	})
	sum := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, f.key, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64url(append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...))
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestDemoAPI(t *testing.T) {
	sigil := newFakeSigil(t)
	ctx, cancel := context.WithCancel(t.Context())
	ready := make(chan string, 1)
	exit := make(chan int, 1)
	var stderr bytes.Buffer
	go func() {
		exit <- run(ctx, []string{"--issuer", sigil.url, "--listen", "127.0.0.1:0"}, &stderr, ready)
	}()
	var addr string
	select {
	case addr = <-ready:
	case code := <-exit:
		t.Fatalf("run exited %d: %s", code, stderr.String())
	}

	tests := []struct {
		name   string
		token  string
		status int
		body   string
	}{
		{"valid", sigil.token(t, "demo-api", "hello"), 200, `"message":"hello, alice"`},
		{"no token", "", 401, "invalid_request"},
		{"other audience", sigil.token(t, "billing", "hello"), 401, "invalid_token"},
		{"missing scope", sigil.token(t, "demo-api", "other"), 403, "insufficient_scope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", "http://"+addr+"/hello", nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.body) {
				t.Errorf("GET /hello = %d %s, want %d with %q", resp.StatusCode, body, tc.status, tc.body)
			}
		})
	}
	cancel()
	if code := <-exit; code != 0 {
		t.Errorf("exit %d after shutdown: %s", code, stderr.String())
	}
}

func TestDemoAPIStartFailures(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close()
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"bad flag", []string{"--nope"}, 2},
		{"stray argument", []string{"extra"}, 2},
		{"issuer unreachable", []string{"--issuer", down.URL, "--listen", "127.0.0.1:0"}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if code := run(t.Context(), tc.args, io.Discard, nil); code != tc.code {
				t.Errorf("run(%q) = %d, want %d", tc.args, code, tc.code)
			}
		})
	}
}
