package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

func (s *Server) registerWellKnownRoutes(r *mux.Router) {
	get := []string{http.MethodGet, http.MethodHead}
	r.HandleFunc(PathOpenIDConfig, s.handleDiscovery).Methods(get...)
	r.HandleFunc(PathOAuthMeta, s.handleDiscovery).Methods(get...)
	r.HandleFunc(PathJWKS, s.handleJWKS).Methods(get...)
}

func jwksCacheControl(maxAge time.Duration) string {
	return "public, max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)
}

// handleJWKS serves the precomputed JWKS bytes with a strong ETag; a
// matching If-None-Match gets 304. With Deps.Consumers set, every answer
// (not a 503) is recorded as a fetch of its consumer (client address and
// User-Agent). It allocates nothing per request beyond what net/http and the
// recorder do.
func (s *Server) handleJWKS(w http.ResponseWriter, r *http.Request) {
	body, etag, err := s.keys.JWKS()
	if err != nil {
		w.Header().Set("Retry-After", "1")
		writeJSONError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "signing keys not loaded yet")
		return
	}
	if rec := s.deps.Consumers; rec != nil {
		// Counted before answering, 200 and 304 alike: a 304 also says the
		// consumer holds the current key set. RecordFetch returns at once.
		rec.RecordFetch(s.clientAddr(r), r.Header.Get("User-Agent"), etag, time.Now())
	}
	h := w.Header()
	h["Cache-Control"] = []string{s.jwksCC}
	h["Etag"] = []string{etag}
	h["Access-Control-Allow-Origin"] = []string{"*"}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etagMatch(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h["Content-Type"] = []string{"application/jwk-set+json"}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// etagMatch implements If-None-Match's weak comparison (RFC 9110 §13.1.2)
// over a comma-separated list, including "*".
func etagMatch(header, etag string) bool {
	for header != "" {
		var tag string
		tag, header, _ = strings.Cut(header, ",")
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
}
