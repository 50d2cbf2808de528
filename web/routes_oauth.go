package web

import "github.com/gorilla/mux"

// registerOAuthRoutes registers the token service's endpoints.
func (s *Server) registerOAuthRoutes(r *mux.Router) {}
