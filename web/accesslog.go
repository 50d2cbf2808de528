package web

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"log/slog"
	"net/http"
	"time"

	"github.com/gorilla/mux"
)

// HeaderRequestID carries the request id, taken from the request when sane
// and echoed in every response.
const HeaderRequestID = "X-Request-Id"

// routeUnmatched is the route label of a request no route matched.
const routeUnmatched = "unmatched"

// requestInfo is what a request's handlers tell the access log. The entry
// middleware puts one in the request context; handlers fill it.
type requestInfo struct {
	route    string // mux route template
	clientID string // authenticated client, "" when none
}

type requestInfoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return ri
}

// setLogClient records the client a request authenticated as, for the
// access log. Call it only with the id of a client that authenticated,
// never with raw input.
func setLogClient(r *http.Request, clientID string) {
	if ri := infoFrom(r.Context()); ri != nil {
		ri.clientID = clientID
	}
}

// recordRoute is router middleware (it runs only for matched routes): it
// stores the matched route's template.
func recordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ri := infoFrom(r.Context()); ri != nil {
			if rt := mux.CurrentRoute(r); rt != nil {
				if tpl, err := rt.GetPathTemplate(); err == nil {
					ri.route = tpl
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// saneRequestID reports whether id is 1 to 64 characters of
// [A-Za-z0-9._-], safe to log and echo.
func saneRequestID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// statusRecorder remembers the status and counts the body bytes.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// entry wraps the whole router: request id, route and client holder,
// metrics and one access-log line per request. The line carries method,
// route template (never the raw path), status, bytes, duration, client
// address, request id and, when known, the authenticated client id; never
// a header value other than the sane request id, a body, a query or a
// cookie.
func (s *Server) entry(next http.Handler) http.Handler {
	jwksRoute := issuerPath(s.cfg.Issuer) + PathJWKS
	nextKeys, _ := s.keys.(NextKeySource)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rid := r.Header.Get(HeaderRequestID)
		if !saneRequestID(rid) {
			rid = newRequestID()
		}
		w.Header().Set(HeaderRequestID, rid)
		ri := &requestInfo{}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, ri))
		rec := &statusRecorder{ResponseWriter: w}
		if er, ok := s.exact[r.URL.Path]; ok {
			ri.route = er.route
			er.h.ServeHTTP(rec, r)
		} else {
			next.ServeHTTP(rec, r)
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		d := time.Since(start)
		route := ri.route
		if route == "" {
			route = routeUnmatched
		}
		if m := s.cfg.Metrics; m != nil {
			m.observeRequest(route, r.Method, rec.status, d)
			if route == jwksRoute {
				var nk map[string]string
				if nextKeys != nil {
					nk = nextKeys.NextKIDs()
				}
				m.observeJWKS(rec.status, nk)
			}
		}
		if !s.log.Enabled(r.Context(), slog.LevelInfo) {
			return // the line would be dropped: do not build it
		}
		attrs := []slog.Attr{
			slog.String("method", methodLabel(r.Method)),
			slog.String("route", route),
			slog.Int("status", rec.status),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", d),
			slog.String("client_addr", s.clientAddr(r).String()),
			slog.String("request_id", rid),
		}
		if ri.clientID != "" {
			attrs = append(attrs, slog.String("client_id", ri.clientID))
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
	})
}
