package web

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// TestExactRouteMatchesRouter: the token endpoint answers the same whether
// entry dispatches it by exact path (routeExact) or the router matches it:
// status, headers (the security headers included), body, and the route in
// the access log. Requests are sent both ways in turn.
func TestExactRouteMatchesRouter(t *testing.T) {
	f := newOAuthFixture(t, false)
	if _, ok := f.srv.exact[PathToken]; !ok {
		t.Fatalf("token endpoint not dispatched by exact path: %v", f.srv.exact)
	}
	exact := f.srv.exact
	tests := []struct {
		name string
		r    req
		// random: the body carries fresh tokens; compare its shape only.
		random bool
	}{
		{name: "wrong method", r: req{method: http.MethodGet, path: PathToken}},
		{name: "wrong content type", r: req{path: PathToken, ct: "text/plain", body: "grant_type=client_credentials"}},
		{name: "content type with charset", r: req{path: PathToken, ct: "application/x-www-form-urlencoded; charset=latin1", body: "grant_type=client_credentials"}},
		{name: "query string", r: req{path: PathToken + "?grant_type=client_credentials", body: ""}},
		{name: "bad client", r: req{path: PathToken, body: form("grant_type", "client_credentials"), hdr: basicAuth("web", "wrong")}},
		{name: "success", r: req{path: PathToken, ct: "Application/X-WWW-Form-URLEncoded", body: form("grant_type", "client_credentials", "scope", "api"), hdr: basicAuth("web", tSecret)}, random: true},
	}
	token := regexp.MustCompile(`"access_token":"[^"]+"`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			type answer struct {
				status int
				hdr    http.Header
				body   string
				log    string
			}
			var got [2]answer
			for i, m := range []map[string]exactRoute{exact, nil} {
				f.srv.exact = m
				f.logs.Reset()
				rec := f.do(tc.r)
				h := rec.Header().Clone()
				h.Del(HeaderRequestID)
				body := rec.Body.String()
				if tc.random {
					body = token.ReplaceAllString(body, `"access_token":"x"`)
				}
				log := f.logs.String()
				log = log[strings.Index(log, "msg="):]
				log = regexp.MustCompile(`duration=\S+ |request_id=\S+`).ReplaceAllString(log, "")
				got[i] = answer{rec.Code, h, body, log}
			}
			f.srv.exact = exact
			if got[0].status != got[1].status || got[0].body != got[1].body || got[0].log != got[1].log {
				t.Fatalf("exact path and router differ:\n%+v\n%+v", got[0], got[1])
			}
			for k := range got[1].hdr {
				if got[0].hdr.Get(k) != got[1].hdr.Get(k) {
					t.Fatalf("header %s: exact %q, router %q", k, got[0].hdr.Get(k), got[1].hdr.Get(k))
				}
			}
			if len(got[0].hdr) != len(got[1].hdr) || got[0].hdr.Get("X-Content-Type-Options") != "nosniff" {
				t.Fatalf("headers differ or lack the security headers:\n%v\n%v", got[0].hdr, got[1].hdr)
			}
			if !strings.Contains(got[0].log, "route="+PathToken) {
				t.Fatalf("access log %q lacks the route", got[0].log)
			}
		})
	}
}
