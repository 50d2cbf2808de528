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
	s.routeExact(r, PathToken, http.HandlerFunc(s.handleToken))
	r.Handle(PathRevoke, http.HandlerFunc(s.handleRevoke))
	r.Handle(PathIntrospect, http.HandlerFunc(s.handleIntrospect))
	r.Handle(PathUserinfo, http.HandlerFunc(s.handleUserinfo))
	if s.deps.OAuth.SimpleJWTEnabled() {
		r.Handle(PathSimpleJWTObtain, http.HandlerFunc(s.handleSimpleJWTObtain))
		r.Handle(PathSimpleJWTRefresh, http.HandlerFunc(s.handleSimpleJWTRefresh))
		r.Handle(PathSimpleJWTVerify, http.HandlerFunc(s.handleSimpleJWTVerify))
		r.Handle(PathSimpleJWTBlacklist, http.HandlerFunc(s.handleSimpleJWTBlacklist))
	}
}
