package tests

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage/mongo/mongotest"
)

// faultProxy forwards TCP to MongoDB and injects faults: slow (each chunk
// from the server is held back), or failing writes (a connection that
// sends a write command is dropped, so reads work and writes fail).
type faultProxy struct {
	ln         net.Listener
	target     string
	delay      atomic.Int64 // nanoseconds added before each server chunk
	failWrites atomic.Bool
	mu         sync.Mutex
	conns      map[net.Conn]bool
}

// writeCommands are the BSON element names (type byte, name, NUL) that open
// a MongoDB write command in an OP_MSG body.
var writeCommands = [][]byte{[]byte("\x02update\x00"), []byte("\x02findAndModify\x00"), []byte("\x02insert\x00"), []byte("\x02delete\x00")}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
	})
	return p
}

func (p *faultProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = true, true
		p.mu.Unlock()
		go func() { // client -> MongoDB
			defer up.Close()
			defer c.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if p.failWrites.Load() {
						for _, w := range writeCommands {
							if bytes.Contains(buf[:n], w) {
								return
							}
						}
					}
					if _, err := up.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
		go func() { // MongoDB -> client
			defer c.Close()
			buf := make([]byte, 64<<10)
			for {
				n, err := up.Read(buf)
				if n > 0 {
					time.Sleep(time.Duration(p.delay.Load()))
					if _, err := c.Write(buf[:n]); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// proxiedMongoURI points the test MongoDB URI at addr, directly.
func proxiedMongoURI(t *testing.T, addr string) string {
	u, err := url.Parse(mongotest.URI(t))
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	q := u.Query()
	q.Del("replicaSet")
	q.Set("directConnection", "true")
	u.RawQuery = q.Encode()
	return u.String()
}

func mongoHost(t *testing.T) string {
	u, err := url.Parse(mongotest.URI(t))
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// TestAdversarialStorageFaults: MongoDB down at start-up, slow, and failing
// writes. The server fails to start within its storage timeout rather than
// serve without storage; a slow database gives 503 within the timeout, not
// a hang; a revocation whose write fails answers 503, never 200, and the
// token it was meant to revoke is revoked by a retry once writes work.
func TestAdversarialStorageFaults(t *testing.T) {
	const storageTimeout = time.Second
	t.Run("down at start", func(t *testing.T) {
		p := newCutProxy(t, mongoHost(t))
		e := newOAuthEnv(t, Mongo, map[string]string{"storage.mongo_uri": proxiedMongoURI(t, p.ln.Addr().String()),
			"storage.timeout": storageTimeout.String()})
		p.cut()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, sigilBin, "--config", e.Config, "serve")
		cmd.Env = e.environ()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		if err == nil || ctx.Err() != nil {
			t.Fatalf("serve with MongoDB down: %v after %s\n%s", err, time.Since(start), out.String())
		}
		noStackTrace(t, "start-up", out.Bytes())
		p.restore()
		e.start()
		if r := e.post(t, "/oauth2/token", pwForm("alice", alicePW), webID, webSecret); r.status != 200 {
			t.Fatalf("after MongoDB came back: %d %s", r.status, r.raw)
		}
	})

	p := newFaultProxy(t, mongoHost(t))
	e := newOAuthEnv(t, Mongo, map[string]string{"storage.mongo_uri": proxiedMongoURI(t, p.ln.Addr().String()),
		"storage.timeout": storageTimeout.String()})
	e.start()
	tok := e.login(t, "alice", alicePW, "openid")

	t.Run("slow", func(t *testing.T) {
		p.delay.Store(int64(3 * storageTimeout))
		defer p.delay.Store(0)
		start := time.Now()
		r := e.post(t, "/oauth2/token", pwForm("alice", alicePW), webID, webSecret)
		if r.status != 503 || r.header.Get("Retry-After") == "" {
			t.Errorf("password grant on a slow database: %d %s", r.status, r.raw)
		}
		if d := time.Since(start); d > storageTimeout+2*time.Second {
			t.Errorf("answered after %s, want within the storage timeout %s", d, storageTimeout)
		}
		if status, _, _ := get(t, e.srv.URL+"/.well-known/jwks.json", nil); status != 200 {
			t.Errorf("JWKS on a slow database: %d", status)
		}
	})

	t.Run("revocation whose write fails", func(t *testing.T) {
		// Wait for the slow phase's connections to drain.
		deadline := time.Now().Add(10 * time.Second)
		for e.refresh(t, tok.str("refresh_token")).status != 200 {
			if time.Now().After(deadline) {
				t.Fatal("refresh does not work after the slow phase")
			}
			time.Sleep(200 * time.Millisecond)
		}
		rt := e.login(t, "alice", alicePW, "openid").str("refresh_token")
		p.failWrites.Store(true)
		r := e.post(t, "/oauth2/revoke", url.Values{"token": {rt}}, webID, webSecret)
		p.failWrites.Store(false)
		if r.status != 503 {
			t.Fatalf("revocation whose write failed: %d %s (want 503, never 200)", r.status, r.raw)
		}
		noStackTrace(t, "revoke", r.raw)
		if r := e.post(t, "/oauth2/revoke", url.Values{"token": {rt}}, webID, webSecret); r.status != 200 {
			t.Fatalf("retried revocation: %d %s", r.status, r.raw)
		}
		wantOAuthError(t, e.refresh(t, rt), 400, "invalid_grant")
		if r := call(t, http.MethodGet, e.srv.URL+"/readyz", "", "", nil); r.status != 200 {
			t.Fatalf("readyz after the faults: %d", r.status)
		}
	})
}
