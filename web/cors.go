package web

import (
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// CORS for the endpoints a browser application calls from JavaScript (a
// single-page app, a public client using the authorization code flow with
// PKCE): token, revocation, userinfo and the simplejwt routes. Only origins
// in the allowed set (cors.allowed_origins) get CORS headers; every other
// request is answered as if CORS did not exist, since it is the browser that
// enforces it. No endpoint reads cookies, so credentials are never allowed.
// The login, consent and console pages, the admin API and introspection
// (which needs a confidential client) never answer cross-origin requests;
// discovery and the JWKS allow every origin on their own.

// CORS response values.
const (
	corsAllowHeaders = "Authorization, Content-Type"
	// corsExposeHeaders are the response headers a script needs beyond the
	// CORS-safelisted ones: the RFC 6750 challenge, the back-off of a 429 or
	// 503 and the request id to quote in a support request.
	corsExposeHeaders = "WWW-Authenticate, Retry-After, " + HeaderRequestID
	// CORSMaxAge is how long, in seconds, a browser may reuse an answered
	// preflight. An origin removed from the set loses access at once all
	// the same: the actual answer no longer carries its
	// Access-Control-Allow-Origin.
	CORSMaxAge = 600
)

var (
	varyOrigin        = []string{"Origin"}
	corsAllowHeadersV = []string{corsAllowHeaders}
	corsExposeV       = []string{corsExposeHeaders}
	corsMaxAgeV       = []string{strconv.Itoa(CORSMaxAge)}
)

// corsPolicy is one immutable allowed-origin set.
type corsPolicy struct {
	origins map[string][]string // origin -> the header value echoing it
}

// SetAllowedOrigins replaces the set of origins allowed to call the CORS
// endpoints; nil or empty allows none. Each entry must be an origin exactly
// as browsers send it (lower-case scheme://host[:port], http or https, no
// path; configs.Config.Validate explains every mistake in detail). On an
// error nothing changes. Requests already running keep the set they
// started with; it is safe to call while the server is serving.
func (s *Server) SetAllowedOrigins(origins []string) error {
	p := &corsPolicy{origins: make(map[string][]string, len(origins))}
	var bad []string
	for i, o := range origins {
		if !isOrigin(o) {
			bad = append(bad, strconv.Itoa(i+1))
			continue
		}
		p.origins[o] = []string{o}
	}
	if len(bad) > 0 {
		return fmt.Errorf("cors: allowed origin(s) #%s not of the form scheme://host[:port]", strings.Join(bad, ", #"))
	}
	if len(p.origins) == 0 {
		p = nil
	}
	s.cors.Store(p)
	return nil
}

// AllowedOrigins returns the origins now allowed, sorted (nil for none).
func (s *Server) AllowedOrigins() []string {
	p := s.cors.Load()
	if p == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(p.origins))
}

// isOrigin reports whether o is a serialised http(s) origin: scheme and
// host (with a port, if any) and nothing else, in lower case, no wildcard.
func isOrigin(o string) bool {
	u, err := url.Parse(o)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != "" &&
		u.Scheme+"://"+u.Host == o && o == strings.ToLower(o) && !strings.ContainsAny(o, "*@ ")
}

// withCORS wraps an endpoint's handler with CORS: methods is its
// Access-Control-Allow-Methods ("POST", "GET, POST"). A request without an
// Origin header, or with no origin allowed, goes straight to next and
// allocates nothing here. With an Origin, the answer varies by it (Vary:
// Origin). An allowed origin gets Access-Control-Allow-Origin echoing it
// (and the headers a script may read); its preflight (OPTIONS with
// Access-Control-Request-Method) is answered 204 here with the methods,
// the request headers Authorization and Content-Type, and a max-age. Any
// other origin gets no CORS header and is handled as usual (a preflight
// then gets the endpoint's 405), so the browser hides the answer.
func (s *Server) withCORS(methods string, next http.HandlerFunc) http.Handler {
	allowMethods := []string{methods}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header["Origin"]
		if len(origin) == 0 {
			next(w, r)
			return
		}
		p := s.cors.Load()
		if p == nil {
			next(w, r)
			return
		}
		h := w.Header()
		h["Vary"] = append(h["Vary"], varyOrigin...)
		allow, ok := p.origins[origin[0]]
		if !ok || len(origin) > 1 {
			next(w, r)
			return
		}
		h["Access-Control-Allow-Origin"] = allow
		if r.Method == http.MethodOptions && len(r.Header["Access-Control-Request-Method"]) > 0 {
			h["Access-Control-Allow-Methods"] = allowMethods
			h["Access-Control-Allow-Headers"] = corsAllowHeadersV
			h["Access-Control-Max-Age"] = corsMaxAgeV
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h["Access-Control-Expose-Headers"] = corsExposeV
		next(w, r)
	})
}
