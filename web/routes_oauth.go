package web

import (
	"net/http"

	"github.com/gorilla/mux"
)

// simplejwt route paths, relative to the issuer.
const (
	PathSimpleJWTObtain    = "/api/token/"
	PathSimpleJWTRefresh   = "/api/token/refresh/"
	PathSimpleJWTVerify    = "/api/token/verify/"
	PathSimpleJWTBlacklist = "/api/token/blacklist/"
)

// registerOAuthRoutes registers the token service's endpoints. Handlers
// check the method themselves, so a wrong method gets the endpoint's own
// error dialect (RFC 6749 JSON, or DRF's for the simplejwt routes) with an
// Allow header.
func (s *Server) registerOAuthRoutes(r *mux.Router) {
	if s.deps.OAuth == nil {
		return
	}
	// Browser apps may call these cross-origin (cors.go); introspection
	// needs a confidential client, which a browser app is not.
	s.routeExact(r, PathToken, s.withCORS(http.MethodPost, s.handleToken))
	r.Handle(PathRevoke, s.withCORS(http.MethodPost, s.handleRevoke))
	r.Handle(PathIntrospect, http.HandlerFunc(s.handleIntrospect))
	r.Handle(PathUserinfo, s.withCORS("GET, POST", s.handleUserinfo))
	if s.deps.OAuth.SimpleJWTEnabled() {
		r.Handle(PathSimpleJWTObtain, s.withCORS(http.MethodPost, s.handleSimpleJWTObtain))
		r.Handle(PathSimpleJWTRefresh, s.withCORS(http.MethodPost, s.handleSimpleJWTRefresh))
		r.Handle(PathSimpleJWTVerify, s.withCORS(http.MethodPost, s.handleSimpleJWTVerify))
		r.Handle(PathSimpleJWTBlacklist, s.withCORS(http.MethodPost, s.handleSimpleJWTBlacklist))
	}
}
