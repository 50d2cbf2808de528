package verify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// unavailableKeySet fails like a remote set whose issuer is down.
type unavailableKeySet struct{}

func (unavailableKeySet) Key(context.Context, string) (*Key, error) {
	return nil, fmt.Errorf("%w: kid: %w: connection refused", ErrUnknownKey, ErrKeySetUnavailable)
}

func TestMiddleware(t *testing.T) {
	fixtureKeys()
	ek := newTestKey(ES256, ecA)
	clock := newFakeClock()
	now := clock.Now()
	v := staticVerifier(t, clock, testIss, []*testKey{ek})
	down, err := New(t.Context(), testIss, WithKeySet(unavailableKeySet{}), WithAudience("api"), WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := ClaimsFromContext(r.Context())
		if !ok {
			http.Error(w, "no claims", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "hello %s", c.Subject)
	})
	valid := mint(ek, testIss, now, tokenSpec{})
	tests := []struct {
		name       string
		v          *Verifier
		handler    func(*Verifier) http.Handler
		auth       string
		status     int
		challenge  string // WWW-Authenticate prefix
		bodyPrefix string
	}{
		{"valid", v, nil, "Bearer " + valid, 200, "", "hello user-1"},
		{"lower-case scheme", v, nil, "bearer " + valid, 200, "", "hello user-1"},
		{"no header", v, nil, "", 401, "Bearer", `{"error":"invalid_request"`},
		{"basic auth", v, nil, "Basic dXNlcjpwYXNz", 401, "Bearer", `{"error":"invalid_request"`},
		{"empty bearer", v, nil, "Bearer ", 401, "Bearer", `{"error":"invalid_request"`},
		{"garbage", v, nil, "Bearer abc.def.ghi", 401, `Bearer error="invalid_token", error_description="malformed token"`, `{"error":"invalid_token"`},
		{"expired", v, nil, "Bearer " + mint(ek, testIss, now.Add(-10*60e9), tokenSpec{}), 401,
			`Bearer error="invalid_token", error_description="token expired"`, `{"error":"invalid_token"`},
		{"id token", v, nil, "Bearer " + mint(ek, testIss, now, tokenSpec{header: map[string]any{"typ": "JWT"}}), 401,
			`Bearer error="invalid_token", error_description="wrong token type"`, ""},
		{"key set down", down, nil, "Bearer " + valid, 503, "", `{"error":"temporarily_unavailable"`},
		{"scope present", v, func(v *Verifier) http.Handler { return v.Middleware(RequireScope("read")(hello)) },
			"Bearer " + valid, 200, "", "hello"},
		{"scopes present", v, func(v *Verifier) http.Handler { return v.Middleware(RequireScope("write", "read")(hello)) },
			"Bearer " + valid, 200, "", "hello"},
		{"scope missing", v, func(v *Verifier) http.Handler { return v.Middleware(RequireScope("read", "admin")(hello)) },
			"Bearer " + valid, 403, `Bearer error="insufficient_scope", scope="read admin"`, `{"error":"insufficient_scope"`},
		{"RequireScope without Middleware", v, func(v *Verifier) http.Handler { return RequireScope("read")(hello) },
			"Bearer " + valid, 401, "Bearer", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.v.Middleware(hello)
			if tc.handler != nil {
				h = tc.handler(tc.v)
			}
			req := httptest.NewRequest("GET", "/hello", nil)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status = %d, want %d; body %q", rec.Code, tc.status, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, tc.challenge) || (tc.challenge == "" && got != "") {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
			if !strings.HasPrefix(rec.Body.String(), tc.bodyPrefix) {
				t.Errorf("body = %q, want prefix %q", rec.Body, tc.bodyPrefix)
			}
			if tc.status == 503 && rec.Header().Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if len(tc.auth) > 30 && strings.Contains(rec.Body.String()+rec.Header().Get("WWW-Authenticate"), tc.auth[7:]) {
				t.Error("response echoes the token")
			}
		})
	}
}

func TestRequireScopePanicsOnBadScope(t *testing.T) {
	for _, s := range []string{"", "a b", `a"b`, "a\\b"} {
		t.Run(fmt.Sprintf("%q", s), func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("RequireScope(%q) did not panic", s)
				}
			}()
			RequireScope(s)
		})
	}
}

func TestErrorClassification(t *testing.T) {
	tests := []struct {
		name  string
		err   error
		fault bool
	}{
		{"expired", &ExpiredError{}, true},
		{"signature", fmt.Errorf("x: %w", ErrSignature), true},
		{"unknown key", fmt.Errorf("%w: kid", ErrUnknownKey), true},
		{"unavailable", fmt.Errorf("%w: kid, and %w: down", ErrUnknownKey, ErrKeySetUnavailable), false},
		{"context", fmt.Errorf("wait: %w", context.Canceled), false},
		{"other", errors.New("boom"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tokenFault(tc.err); got != tc.fault {
				t.Errorf("tokenFault = %v, want %v", got, tc.fault)
			}
		})
	}
}
