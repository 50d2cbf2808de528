package web

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sigilauth/sigil/keys/keystest"
)

type nextFakeKeys struct {
	*keystest.Ring
	next map[string]string
}

func (k *nextFakeKeys) NextKIDs() map[string]string { return k.next }

func TestRequestIDAndAccessLog(t *testing.T) {
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	keys := &nextFakeKeys{Ring: &keystest.Ring{JWKSBody: []byte(`{"keys":[]}`), JWKSETag: `"e"`}, next: map[string]string{"ES256": "k1"}}
	s, err := New(Config{Issuer: "https://id.example.com/t", JWKSMaxAge: time.Minute, Metrics: m,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}, keys, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		path      string
		reqID     string
		wantEcho  bool // the response carries reqID itself
		wantRoute string
	}{
		{name: "sane id is echoed", path: "/t/.well-known/jwks.json", reqID: "abc-123_X.y", wantEcho: true, wantRoute: "/t/.well-known/jwks.json"},
		{name: "64 chars is sane", path: "/healthz", reqID: strings.Repeat("a", 64), wantEcho: true, wantRoute: "/healthz"},
		{name: "65 chars is replaced", path: "/healthz", reqID: strings.Repeat("a", 65), wantRoute: "/healthz"},
		{name: "spaces are replaced", path: "/healthz", reqID: "a b", wantRoute: "/healthz"},
		{name: "log injection is replaced", path: "/healthz", reqID: "x\" level=ERROR", wantRoute: "/healthz"},
		{name: "missing id is generated", path: "/t/no/such/secret-looking-path", wantRoute: "unmatched"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			hdr := map[string]string{}
			if tc.reqID != "" {
				hdr[HeaderRequestID] = tc.reqID
			}
			rec := do(s, "GET", tc.path, hdr)
			got := rec.Header().Get(HeaderRequestID)
			switch {
			case tc.wantEcho && got != tc.reqID:
				t.Errorf("request id %q, want %q echoed", got, tc.reqID)
			case !tc.wantEcho && (got == tc.reqID || !saneRequestID(got)):
				t.Errorf("request id %q, want a fresh sane one", got)
			}
			line := logs.String()
			if !strings.Contains(line, "route="+tc.wantRoute) || !strings.Contains(line, "request_id="+got) {
				t.Errorf("log line %q lacks route=%s or request_id=%s", line, tc.wantRoute, got)
			}
			if strings.Contains(line, "secret-looking-path") {
				t.Errorf("log line carries the raw path: %q", line)
			}
		})
	}
	if n := testutil.CollectAndCount(m.requests); n != 3 { // jwks, healthz, unmatched
		t.Errorf("request series = %d, want 3", n)
	}
	if got := testutil.ToFloat64(m.jwks.WithLabelValues("200")); got != 1 {
		t.Errorf("jwks 200 = %v, want 1", got)
	}
	if got := testutil.ToFloat64(m.fetches.WithLabelValues("ES256")); got != 1 {
		t.Errorf("fetches since next published = %v, want 1", got)
	}
	keys.next = map[string]string{"ES256": "k2"} // a new next key: the count restarts
	do(s, "GET", "/t/.well-known/jwks.json", nil)
	do(s, "GET", "/t/.well-known/jwks.json", map[string]string{"If-None-Match": `"e"`})
	if got := testutil.ToFloat64(m.fetches.WithLabelValues("ES256")); got != 2 {
		t.Errorf("fetches since the new next key = %v, want 2", got)
	}
	if got := testutil.ToFloat64(m.jwks.WithLabelValues("304")); got != 1 {
		t.Errorf("jwks 304 = %v, want 1", got)
	}
}
