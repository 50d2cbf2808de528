package web

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/sigilauth/sigil/keys/keystest"
)

// fakeRecorder keeps every RecordFetch call.
type fakeRecorder struct {
	mu    sync.Mutex
	calls []fetchCall
}

type fetchCall struct {
	addr      netip.Addr
	ua, etag  string
	timestamp time.Time
}

func (f *fakeRecorder) RecordFetch(addr netip.Addr, ua, etag string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fetchCall{addr, ua, etag, now})
}

func TestJWKSRecordsConsumers(t *testing.T) {
	trusted, _ := ParsePrefixes([]string{"10.0.0.0/8"})
	tests := []struct {
		name     string
		keys     *keystest.Ring
		remote   string
		hdr      map[string]string
		wantCode int
		want     *fetchCall // nil: nothing recorded
	}{
		{name: "fetch", keys: &keystest.Ring{JWKSBody: []byte(`{"keys":[]}`), JWKSETag: `"v1"`}, remote: "192.0.2.9:1234",
			hdr: map[string]string{"User-Agent": "gateway/1.0"}, wantCode: 200,
			want: &fetchCall{addr: netip.MustParseAddr("192.0.2.9"), ua: "gateway/1.0", etag: `"v1"`}},
		{name: "not modified", keys: &keystest.Ring{JWKSBody: []byte(`{"keys":[]}`), JWKSETag: `"v1"`}, remote: "192.0.2.9:1234",
			hdr: map[string]string{"User-Agent": "gateway/1.0", "If-None-Match": `"v1"`}, wantCode: 304,
			want: &fetchCall{addr: netip.MustParseAddr("192.0.2.9"), ua: "gateway/1.0", etag: `"v1"`}},
		{name: "behind a trusted proxy", keys: &keystest.Ring{JWKSBody: []byte(`{}`), JWKSETag: `"v2"`}, remote: "10.0.0.5:80",
			hdr: map[string]string{"X-Forwarded-For": "198.51.100.4"}, wantCode: 200,
			want: &fetchCall{addr: netip.MustParseAddr("198.51.100.4"), etag: `"v2"`}},
		{name: "keys not loaded", keys: &keystest.Ring{JWKSErr: errors.New("not loaded")}, remote: "192.0.2.9:1234", wantCode: 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &fakeRecorder{}
			s, err := New(Config{Issuer: "https://id.example.com", TrustedProxies: trusted}, tc.keys, Deps{Consumers: rec})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil)
			req.RemoteAddr = tc.remote
			for k, v := range tc.hdr {
				req.Header.Set(k, v)
			}
			before := time.Now()
			w := httptest.NewRecorder()
			s.ServeHTTP(w, req)
			if w.Code != tc.wantCode {
				t.Fatalf("status %d, want %d", w.Code, tc.wantCode)
			}
			if tc.want == nil {
				if len(rec.calls) != 0 {
					t.Fatalf("recorded %+v", rec.calls)
				}
				return
			}
			if len(rec.calls) != 1 {
				t.Fatalf("recorded %d fetches, want 1", len(rec.calls))
			}
			got := rec.calls[0]
			if got.addr != tc.want.addr || got.ua != tc.want.ua || got.etag != tc.want.etag || got.timestamp.Before(before) {
				t.Fatalf("recorded %+v, want %+v", got, *tc.want)
			}
		})
	}
}

// TestJWKSRecorderAllocatesNothing: calling the recorder adds no
// allocation to the JWKS handler.
func TestJWKSRecorderAllocatesNothing(t *testing.T) {
	keys := &keystest.Ring{JWKSBody: []byte(`{"keys":[]}`), JWKSETag: `"v1"`}
	allocs := func(deps Deps) float64 {
		s, err := New(Config{Issuer: "https://id.example.com"}, keys, deps)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil)
		req.Header.Set("User-Agent", "gateway/1.0")
		w := &discardWriter{h: http.Header{}}
		return testing.AllocsPerRun(200, func() {
			clear(w.h)
			s.handleJWKS(w, req)
		})
	}
	without, with := allocs(Deps{}), allocs(Deps{Consumers: nopRecorder{}})
	if with > without {
		t.Fatalf("the recorder adds %.1f allocations per request (%.1f without)", with-without, without)
	}
}

type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}
