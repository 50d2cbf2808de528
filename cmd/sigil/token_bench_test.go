package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/storage"
)

// BenchmarkTokenClientCredentials times the whole token endpoint of the
// server newServer assembles (instrumented bolt store, key ring, token
// service and its metrics, router, middleware, access log) for one
// client_credentials ES256 token, the request the load generator sends
// (Basic authentication, grant_type and scope), without the network. In the
// same loop it times one raw P-256 signature (ecdsa.SignASN1 of a SHA-256
// digest, the floor's crypto), alternating the two so that load from other
// processes hits both alike, and reports:
//
//	handler-ns/op   the endpoint per token
//	sign-ns/op      the raw signature
//	x-sign          handler / sign: what the endpoint costs in signatures
//	extra-ns/op     handler - sign: the work above the signature
//
// The access log runs at level info into io.Discard (log=info: a JSON line
// is formatted per request, as in production) and at level warn (log=warn:
// the line is skipped, as in make bench-server). Run it with
// -cpuprofile/-memprofile to see where the extra goes.
func BenchmarkTokenClientCredentials(b *testing.B) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
		b.Run("log="+strings.ToLower(level.String()), func(b *testing.B) {
			h := benchTokenServer(b, level)
			newReq := benchTokenRequest()
			ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				b.Fatal(err)
			}
			digest := sha256.Sum256([]byte("sigil benchmark payload"))
			rec := &benchResponseWriter{}
			serve := func(r *http.Request) {
				h.ServeHTTP(rec, r)
				if rec.status != http.StatusOK {
					b.Fatalf("token endpoint: %d %s", rec.status, rec.body)
				}
				rec.reset()
			}
			serve(newReq()) // warm the client cache
			var handler, sign time.Duration
			n := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				r := newReq() // outside the timed part
				if n%2 == 0 {
					t0 := time.Now()
					serve(r)
					t1 := time.Now()
					_, _ = ecdsa.SignASN1(rand.Reader, ec, digest[:])
					sign += time.Since(t1)
					handler += t1.Sub(t0)
				} else {
					t0 := time.Now()
					_, _ = ecdsa.SignASN1(rand.Reader, ec, digest[:])
					t1 := time.Now()
					serve(r)
					handler += time.Since(t1)
					sign += t1.Sub(t0)
				}
				n++
			}
			b.ReportMetric(float64(handler)/float64(n), "handler-ns/op")
			b.ReportMetric(float64(sign)/float64(n), "sign-ns/op")
			b.ReportMetric(float64(handler)/float64(sign), "x-sign")
			b.ReportMetric(float64(handler-sign)/float64(n), "extra-ns/op")
		})
	}
}

// benchTokenServer builds the server on a bolt temp store with one
// client_credentials client "svc" (secret "svc-secret", scope api, ES256).
func benchTokenServer(b *testing.B, level slog.Level) http.Handler {
	b.Helper()
	cfg := configs.Default()
	cfg.Storage.BoltPath = filepath.Join(b.TempDir(), "sigil.db")
	cfg.Keys.Algorithms = []string{"ES256"}
	cfg.Issuer = "http://127.0.0.1:8080"
	store := openBoltStore(b, cfg)
	addServiceClient(b, store, "svc-secret", func(c *storage.Client) {
		c.Audiences, c.TokenSigningAlg = []string{"https://api.example.com"}, "ES256"
	})
	logger := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: level}))
	srv, err := newServer(context.Background(), cfg, store, logger, func(string) string { return "" })
	if err != nil {
		b.Fatal(err)
	}
	return srv.handler
}

// benchTokenRequest returns a function building the load generator's
// client_credentials request.
func benchTokenRequest() func() *http.Request {
	body := "grant_type=client_credentials&scope=api"
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("svc:svc-secret"))
	return func() *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		r.RemoteAddr = "127.0.0.1:40000"
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", auth)
		return r
	}
}

// benchResponseWriter is a reusable http.ResponseWriter (httptest's
// recorder allocates more than net/http's writer would).
type benchResponseWriter struct {
	h      http.Header
	status int
	body   []byte
}

func (w *benchResponseWriter) reset() {
	clear(w.h)
	w.status = 0
	w.body = w.body[:0]
}

func (w *benchResponseWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}

func (w *benchResponseWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *benchResponseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body = append(w.body, p...)
	return len(p), nil
}
