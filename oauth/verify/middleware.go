package verify

import (
	"context"
	"net/http"
	"strconv"
	"strings"
)

type claimsKey struct{}

// ContextWithClaims returns a copy of ctx carrying c, as Middleware does; use
// it to test handlers without tokens.
func ContextWithClaims(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFromContext returns the claims Middleware stored in ctx, and whether
// there were any. The claims are shared: do not modify them.
func ClaimsFromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*Claims)
	return c, ok && c != nil
}

// Middleware returns a handler that verifies the request's bearer token
// (Authorization: Bearer, RFC 6750 §2.1) and calls next with the claims in
// the request context (see ClaimsFromContext). It answers, without calling
// next:
//   - 401 with WWW-Authenticate: Bearer when there is no bearer token;
//   - 401 with WWW-Authenticate: Bearer error="invalid_token" and a fixed
//     error_description when the token is refused;
//   - 503 with Retry-After when the key set could not be fetched or the
//     request ended while waiting for it.
//
// The token never reaches a log line or a response. Safe for concurrent use.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok, ok := bearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", "Bearer")
			writeError(w, http.StatusUnauthorized, "invalid_request", "bearer token required")
			return
		}
		c, err := v.Verify(r.Context(), tok)
		if err != nil {
			if !tokenFault(err) {
				w.Header().Set("Retry-After", "10")
				writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "cannot verify tokens now")
				return
			}
			d := describe(err)
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+d+`"`)
			writeError(w, http.StatusUnauthorized, "invalid_token", d)
			return
		}
		next.ServeHTTP(w, r.WithContext(ContextWithClaims(r.Context(), c)))
	})
}

// RequireScope returns middleware that calls next only when the claims that
// Middleware put in the request context include every one of scopes. It
// answers 403 with WWW-Authenticate: Bearer error="insufficient_scope" when a
// scope is missing (RFC 6750 §3.1), and 401 when the request carries no
// claims (Middleware did not run first). It panics, when called, if a scope
// is empty or holds characters RFC 6749 §3.3 forbids (spaces, quotes,
// backslashes, controls).
func RequireScope(scopes ...string) func(http.Handler) http.Handler {
	for _, s := range scopes {
		if s == "" || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == '"' || r == '\\' || r == 0x7f }) {
			panic("verify: RequireScope: invalid scope " + strconv.Quote(s))
		}
	}
	need := strings.Join(scopes, " ")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := ClaimsFromContext(r.Context())
			if !ok {
				w.Header().Set("WWW-Authenticate", "Bearer")
				writeError(w, http.StatusUnauthorized, "invalid_request", "bearer token required")
				return
			}
			for _, s := range scopes {
				if !c.HasScope(s) {
					w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+need+`"`)
					writeError(w, http.StatusForbidden, "insufficient_scope", "token lacks scope "+need)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// bearer extracts the token of an Authorization: Bearer header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// writeError writes an RFC 6749 style JSON error body. code and desc are
// fixed strings of this package (no quotes or backslashes to escape).
func writeError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":"` + code + `","error_description":"` + desc + `"}` + "\n"))
}
