package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sigilauth/sigil/keys/keystest"
)

func newTestServer(t testing.TB, issuer string, keys KeySource, ready func(context.Context) error) *Server {
	t.Helper()
	s, err := New(Config{Issuer: issuer, JWKSMaxAge: 2 * time.Minute, Ready: ready}, keys, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func do(s http.Handler, method, path string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	return rec
}

func TestJWKS(t *testing.T) {
	keys := &keystest.Ring{JWKSBody: []byte(`{"keys":[{"kid":"a"}]}`), JWKSETag: `"abc"`}
	s := newTestServer(t, "https://id.example.com", keys, nil)
	tests := []struct {
		name       string
		method     string
		hdr        map[string]string
		wantStatus int
		wantBody   string
	}{
		{"get", http.MethodGet, nil, 200, `{"keys":[{"kid":"a"}]}`},
		{"head", http.MethodHead, nil, 200, ""},
		{"matching etag", http.MethodGet, map[string]string{"If-None-Match": `"abc"`}, 304, ""},
		{"weak form matches", http.MethodGet, map[string]string{"If-None-Match": `W/"abc"`}, 304, ""},
		{"etag in a list", http.MethodGet, map[string]string{"If-None-Match": `"x", "abc"`}, 304, ""},
		{"star", http.MethodGet, map[string]string{"If-None-Match": `*`}, 304, ""},
		{"stale etag", http.MethodGet, map[string]string{"If-None-Match": `"old"`}, 200, `{"keys":[{"kid":"a"}]}`},
		{"post refused", http.MethodPost, nil, 405, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(s, tc.method, "/.well-known/jwks.json", tc.hdr)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			if tc.wantStatus == 405 {
				return
			}
			if got := rec.Header().Get("Cache-Control"); got != "public, max-age=120" {
				t.Fatalf("Cache-Control %q", got)
			}
			if got := rec.Header().Get("ETag"); got != `"abc"` {
				t.Fatalf("ETag %q", got)
			}
			if tc.wantBody != "" && rec.Body.String() != tc.wantBody {
				t.Fatalf("body %q", rec.Body.String())
			}
			if tc.wantStatus == 304 && rec.Body.Len() != 0 {
				t.Fatal("304 with a body")
			}
		})
	}
	t.Run("not loaded", func(t *testing.T) {
		s := newTestServer(t, "https://id.example.com", &keystest.Ring{JWKSErr: errors.New("not loaded")}, nil)
		rec := do(s, http.MethodGet, "/.well-known/jwks.json", nil)
		if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
			t.Fatalf("status %d retry-after %q", rec.Code, rec.Header().Get("Retry-After"))
		}
	})
}

func TestDiscovery(t *testing.T) {
	tests := []struct {
		name   string
		issuer string
		paths  []string
	}{
		{"bare host", "https://id.example.com", []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"}},
		{"issuer with path", "https://example.com/auth", []string{"/auth/.well-known/openid-configuration", "/auth/.well-known/oauth-authorization-server", "/.well-known/oauth-authorization-server/auth"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, tc.issuer, &keystest.Ring{JWKSBody: []byte(`{"keys":[]}`), JWKSETag: `"e"`}, nil)
			for _, p := range tc.paths {
				rec := do(s, http.MethodGet, p, nil)
				if rec.Code != 200 {
					t.Fatalf("%s: status %d", p, rec.Code)
				}
				var d map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
					t.Fatal(err)
				}
				if d["issuer"] != tc.issuer {
					t.Fatalf("issuer %v", d["issuer"])
				}
				for field, want := range map[string]string{
					"jwks_uri":               tc.issuer + "/.well-known/jwks.json",
					"token_endpoint":         tc.issuer + "/oauth2/token",
					"revocation_endpoint":    tc.issuer + "/oauth2/revoke",
					"introspection_endpoint": tc.issuer + "/oauth2/introspect",
					"userinfo_endpoint":      tc.issuer + "/userinfo",
				} {
					if d[field] != want {
						t.Fatalf("%s = %v, want %s", field, d[field], want)
					}
				}
				algs, _ := d["id_token_signing_alg_values_supported"].([]any)
				if len(algs) != 2 || algs[0] != "ES256" || algs[1] != "RS256" {
					t.Fatalf("id_token_signing_alg_values_supported %v", algs)
				}
				for _, f := range []string{"grant_types_supported", "token_endpoint_auth_methods_supported", "scopes_supported", "claims_supported", "response_types_supported", "subject_types_supported"} {
					if v, _ := d[f].([]any); len(v) == 0 {
						t.Fatalf("%s missing", f)
					}
				}
			}
			if tc.issuer == "https://example.com/auth" {
				if rec := do(s, http.MethodGet, "/.well-known/jwks.json", nil); rec.Code != 404 {
					t.Fatalf("JWKS outside the issuer path: %d", rec.Code)
				}
				if rec := do(s, http.MethodGet, "/auth/.well-known/jwks.json", nil); rec.Code != 200 {
					t.Fatalf("JWKS under the issuer path: %d", rec.Code)
				}
			}
		})
	}
}

func TestHealth(t *testing.T) {
	loaded := &keystest.Ring{JWKSBody: []byte(`{"keys":[]}`), JWKSETag: `"e"`}
	tests := []struct {
		name       string
		keys       KeySource
		ready      func(context.Context) error
		path       string
		wantStatus int
	}{
		{"healthz", loaded, func(context.Context) error { return errors.New("down") }, "/healthz", 200},
		{"ready", loaded, func(context.Context) error { return nil }, "/readyz", 200},
		{"storage down", loaded, func(context.Context) error { return errors.New("down") }, "/readyz", 503},
		{"keys not loaded", &keystest.Ring{JWKSErr: errors.New("no")}, func(context.Context) error { return nil }, "/readyz", 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t, "http://127.0.0.1:8080", tc.keys, tc.ready)
			if rec := do(s, http.MethodGet, tc.path, nil); rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantStatus)
			}
		})
	}
}

func TestErrorsAreJSON(t *testing.T) {
	s := newTestServer(t, "http://127.0.0.1:8080", &keystest.Ring{JWKSBody: []byte(`{}`), JWKSETag: `"e"`}, nil)
	tests := []struct {
		name, method, path string
		status             int
	}{
		{"unknown path", http.MethodGet, "/nope", 404},
		{"wrong method", http.MethodDelete, "/.well-known/openid-configuration", 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(s, tc.method, tc.path, nil)
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.status || !strings.Contains(rec.Header().Get("Content-Type"), "json") {
				t.Fatalf("status %d content-type %q", rec.Code, rec.Header().Get("Content-Type"))
			}
			var e struct{ Error string }
			if json.Unmarshal(body, &e) != nil || e.Error == "" {
				t.Fatalf("body %q", body)
			}
		})
	}
}

func BenchmarkJWKS(b *testing.B) {
	s := newTestServer(b, "https://id.example.com", &keystest.Ring{JWKSBody: []byte(`{"keys":[{"kid":"a"}]}`), JWKSETag: `"abc"`}, nil)
	req := httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
	}
}
