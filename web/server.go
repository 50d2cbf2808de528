// Package web is Sigil's HTTP layer: the gorilla/mux router, thin handlers
// (decode, call a service, encode), discovery, JWKS, health, and middleware.
package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
)

// KeySource is what the discovery and JWKS handlers need from the key ring.
type KeySource interface {
	// JWKS returns the current JWKS bytes (shared, read-only) and strong ETag.
	JWKS() ([]byte, string, error)
	// Algorithms lists the configured signing algorithms, default first.
	Algorithms() []string
}

// Config is the HTTP layer's configuration.
type Config struct {
	// Issuer is the exact issuer URL (no trailing slash is added or removed).
	Issuer string
	// JWKSMaxAge is the JWKS Cache-Control max-age.
	JWKSMaxAge time.Duration
	// TrustedProxies are the addresses whose X-Forwarded-For is believed
	// when finding a client's address (see ParsePrefixes).
	TrustedProxies []netip.Prefix
	// Ready reports whether storage answers; /readyz also needs loaded keys.
	Ready  func(ctx context.Context) error
	Logger *slog.Logger
	// Title names the deployment on the sign-in pages; "" means
	// DefaultTitle ("Sigil").
	Title string
	// Metrics, when set, receives the HTTP metrics (see Metrics).
	Metrics *Metrics
	// MetricsHandler, when set, is served at /metrics (outside the issuer
	// path); leave it nil when metrics have their own listener.
	MetricsHandler http.Handler
	// AllowedOrigins are the browser origins allowed to call the token,
	// revocation and userinfo endpoints and the simplejwt routes
	// cross-origin (see Server.SetAllowedOrigins, which changes them while
	// serving).
	AllowedOrigins []string
}

// Server is Sigil's HTTP handler. Build it with New; it is safe for
// concurrent use.
type Server struct {
	cfg     Config
	keys    KeySource
	deps    Deps
	log     *slog.Logger
	badXFF  sync.Once // logs the first unparseable X-Forwarded-For entry
	router  *mux.Router
	handler http.Handler // router wrapped by entry (request id, access log, metrics)
	discov  []byte       // precomputed discovery document
	jwksCC  string       // precomputed Cache-Control value

	pages    pages  // parsed page templates
	title    string // Config.Title or DefaultTitle
	prefix   string // the issuer's path, for form actions
	secure   bool   // https issuer: __Host- cookies with Secure
	styleURL string // versioned stylesheet path

	console *consoleUI // the console's pages and clock (nil when not served)

	// exact maps the full paths of hot endpoints to their handlers, already
	// wrapped in the router's middleware (see routeExact); entry serves
	// them without the router. Read-only after New.
	exact map[string]exactRoute

	cors atomic.Pointer[corsPolicy] // allowed origins (nil: none); see cors.go
}

// exactRoute is an endpoint entry dispatches by exact path.
type exactRoute struct {
	route string       // the route template the access log and metrics show
	h     http.Handler // wrapped in securityHeaders and recoverPanics
}

// New builds the router and parses the page templates; a broken template
// is an error here, never on a request. keys must be non-nil.
func New(cfg Config, keys KeySource, deps Deps) (*Server, error) {
	s := &Server{cfg: cfg, keys: keys, deps: deps, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := s.SetAllowedOrigins(cfg.AllowedOrigins); err != nil {
		return nil, err
	}
	tpl, err := parseTemplates(templateFS)
	if err != nil {
		return nil, err
	}
	s.pages = tpl
	s.title = cfg.Title
	if s.title == "" {
		s.title = DefaultTitle
	}
	s.prefix = issuerPath(cfg.Issuer)
	s.secure = isHTTPS(cfg.Issuer)
	s.styleURL = s.prefix + PathStylesheet + "?v=" + stylesheetVersion()
	doc, err := discoveryDocument(cfg.Issuer, keys.Algorithms())
	if err != nil {
		return nil, err
	}
	s.discov = doc
	s.jwksCC = jwksCacheControl(cfg.JWKSMaxAge)
	root := mux.NewRouter()
	root.NotFoundHandler = http.HandlerFunc(notFound)
	root.MethodNotAllowedHandler = http.HandlerFunc(methodNotAllowed)
	root.Use(recordRoute, securityHeaders, s.recoverPanics)
	s.exact = make(map[string]exactRoute)
	// Endpoints live under the issuer's path, so an issuer of
	// https://host/auth serves https://host/auth/oauth2/token. Route
	// registrations use paths relative to it.
	r := root
	prefix := issuerPath(cfg.Issuer)
	if prefix != "" {
		r = root.PathPrefix(prefix).Subrouter()
		r.NotFoundHandler = root.NotFoundHandler
		r.MethodNotAllowedHandler = root.MethodNotAllowedHandler
		// RFC 8414 §3: the well-known segment goes before the issuer path.
		root.Handle("/.well-known/oauth-authorization-server"+prefix, http.HandlerFunc(s.handleDiscovery)).Methods(http.MethodGet, http.MethodHead)
	}
	s.registerWellKnownRoutes(r)
	s.registerHealthRoutes(root)
	s.registerOAuthRoutes(r)
	s.registerSSORoutes(r)
	s.registerAdminAPIRoutes(r)
	if err := s.registerConsoleRoutes(r); err != nil {
		return nil, err
	}
	if cfg.MetricsHandler != nil {
		root.Handle("/metrics", cfg.MetricsHandler).Methods(http.MethodGet, http.MethodHead)
	}
	s.router = root
	s.handler = s.entry(root)
	return s, nil
}

// routeExact registers h at path on r (under the issuer's path prefix, as
// every endpoint) and also serves it from entry by exact match of the
// request's path, without the router: gorilla/mux would match each
// registered route's pattern in turn, wrap the middleware around the
// handler and copy the request twice on every request. Only for a path
// that no route registered before it can match and whose handler checks
// the method itself (no method matcher), so both ways answer the same;
// any other spelling of the path (unclean, other case) still goes through
// the router.
func (s *Server) routeExact(r *mux.Router, path string, h http.Handler) {
	r.Handle(path, h)
	full := s.prefix + path
	s.exact[full] = exactRoute{route: full, h: securityHeaders(s.recoverPanics(h))}
}

// ServeHTTP dispatches to the router through the access-log middleware.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// issuerPath returns the path prefix of the issuer URL ("" for a bare host),
// so endpoints live under it.
func issuerPath(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil {
		return "" // configs.Validate has refused such an issuer already
	}
	return strings.TrimSuffix(u.Path, "/")
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeJSONError(w, http.StatusNotFound, "not_found", "no such endpoint")
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	writeJSONError(w, http.StatusMethodNotAllowed, "invalid_request", "method "+r.Method+" not allowed")
}

func writeJSONError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":` + quoteJSON(code) + `,"error_description":` + quoteJSON(desc) + "}\n"))
}

// securityHeaders sets headers every response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a handler panic into a logged 500 without echoing it
// (a panic value could hold a secret).
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("handler panic", "method", r.Method, "path", r.URL.Path)
				writeJSONError(w, http.StatusInternalServerError, "server_error", "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// quoteJSON returns s as a JSON string literal.
func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
