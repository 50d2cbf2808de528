package tests

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage/mongo/mongotest"
)

// cutProxy forwards TCP to target until cut, then drops every connection
// and refuses new ones until restored: a database that went away.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() { _ = ln.Close(); p.cut() })
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
		go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
	}
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// TestOAuthStorageOutage: with MongoDB unreachable the token endpoint (and
// revocation, and the simplejwt routes) answer 503 with Retry-After, never
// 200 or 500, while discovery and the JWKS keep serving from memory; a
// refresh token presented during the outage still works afterwards.
func TestOAuthStorageOutage(t *testing.T) {
	raw := mongotest.URI(t)
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	p := newCutProxy(t, u.Host)
	u.Host = p.ln.Addr().String()
	q := u.Query()
	q.Del("replicaSet")
	q.Set("directConnection", "true")
	u.RawQuery = q.Encode()
	// No serverSelectionTimeoutMS in the URI: the per-call storage.timeout
	// alone must bound the answer.
	const storageTimeout = time.Second
	e := newOAuthEnv(t, Mongo, map[string]string{"storage.mongo_uri": u.String(), "storage.timeout": storageTimeout.String()})
	e.start()
	tok := e.login(t, "alice", alicePW, "openid")
	rt := tok.str("refresh_token")

	p.cut()
	for _, c := range []struct {
		name string
		do   func() response
	}{
		{"password grant", func() response { return e.post(t, "/oauth2/token", pwForm("alice", alicePW), webID, webSecret) }},
		{"refresh grant", func() response { return e.refresh(t, rt) }},
		{"revoke", func() response { return e.post(t, "/oauth2/revoke", url.Values{"token": {rt}}, webID, webSecret) }},
		{"introspect", func() response {
			return e.post(t, "/oauth2/introspect", url.Values{"token": {tok.str("access_token")}}, webID, webSecret)
		}},
		{"userinfo", func() response {
			return call(t, http.MethodGet, e.srv.URL+"/userinfo", "", "", map[string]string{"Authorization": "Bearer " + tok.str("access_token")})
		}},
		{"simplejwt", func() response {
			return e.postJSON(t, "/api/token/", map[string]string{"username": "alice", "password": alicePW})
		}},
	} {
		start := time.Now()
		r := c.do()
		elapsed := time.Since(start)
		if r.status != 503 || r.header.Get("Retry-After") == "" {
			t.Errorf("%s during outage: %d Retry-After %q %s", c.name, r.status, r.header.Get("Retry-After"), r.raw)
		}
		// Measured, not slept: the answer must come within the per-call
		// deadline plus slack, not the driver's 10s server selection.
		if limit := storageTimeout + 2*time.Second; elapsed > limit {
			t.Errorf("%s during outage answered after %s, want under %s", c.name, elapsed, limit)
		}
	}
	for _, path := range []string{"/.well-known/jwks.json", "/.well-known/openid-configuration"} {
		if status, _, _ := get(t, e.srv.URL+path, nil); status != 200 {
			t.Errorf("%s during outage: %d", path, status)
		}
	}
	p.restore()
	if r := e.refresh(t, rt); r.status != 200 {
		t.Fatalf("refresh token after the outage: %d %s", r.status, r.raw)
	}
}
