package tests

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sigilauth/sigil/keys/keystest"
)

// waitFor polls cond every 20ms until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestGracefulShutdown sends SIGTERM to a real `sigil serve` (grace 2s):
// /readyz turns 503 at once while requests still succeed, a request that
// is in flight when the grace ends is answered during the drain, and the
// process exits 0 after stopping its jobs and closing storage.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	e := NewEnv(t, Bolt, map[string]string{"shutdown_grace": "2s", "shutdown_timeout": "10s"})
	s := e.Start()

	// An in-flight request: headers and half the body now, the rest once
	// the server is draining.
	conn, err := net.Dial("tcp", e.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := "grant_type=client_credentials&client_id=nobody"
	fmt.Fprintf(conn, "POST /oauth2/token HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n%s",
		e.Listen, len(body), body[:10])

	sent := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	status := func(path string) int {
		resp, err := http.Get(s.URL + path)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitFor(t, time.Second, "/readyz 503 after SIGTERM", func() bool { return status("/readyz") == 503 })
	if d := time.Since(sent); d > time.Second {
		t.Errorf("/readyz turned 503 after %s", d)
	}
	served := 0
	for time.Since(sent) < 1500*time.Millisecond {
		if got := status("/.well-known/jwks.json"); got != 200 {
			t.Fatalf("JWKS during the grace: %d, want 200", got)
		}
		served++
		time.Sleep(100 * time.Millisecond)
	}
	if served == 0 {
		t.Fatal("no request made during the grace")
	}

	waitFor(t, 5*time.Second, "the drain to begin", func() bool { return len(s.Lines("draining in-flight requests")) > 0 })
	if d := time.Since(sent); d < 2*time.Second {
		t.Errorf("drain began %s after SIGTERM, before the 2s grace", d)
	}
	// The listener closes right after that line: new connections are
	// refused while the in-flight request is still waited for.
	waitFor(t, 2*time.Second, "new connections refused during the drain", func() bool { return status("/healthz") == -1 })
	if _, err := io.WriteString(conn, body[10:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request lost in the drain: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 && resp.StatusCode != 400 {
		t.Errorf("in-flight token request: %d, want an OAuth error (400/401)", resp.StatusCode)
	}

	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after the drain")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d after SIGTERM:\n%s", code, s.Logs())
	}
	for _, line := range []string{"background jobs stopped", "storage closed", `"stopped"`} {
		if len(s.Lines(line)) == 0 {
			t.Errorf("log lacks %q", line)
		}
	}
}

// TestShutdownTimeoutCuts: a request still in flight after
// shutdown_timeout is cut, and the exit status says so (1).
func TestShutdownTimeoutCuts(t *testing.T) {
	t.Parallel()
	e := NewEnv(t, Bolt, map[string]string{"shutdown_grace": "0s", "shutdown_timeout": "1s"})
	s := e.Start()
	conn, err := net.Dial("tcp", e.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A body that never completes keeps the request in flight.
	fmt.Fprintf(conn, "POST /oauth2/token HTTP/1.1\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=", e.Listen)
	time.Sleep(200 * time.Millisecond) // let the server start reading it
	sent := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("no exit after shutdown_timeout")
	}
	if d := time.Since(sent); d < time.Second {
		t.Errorf("exited %s after SIGTERM, before the 1s shutdown_timeout", d)
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit %d, want 1 (requests cut)", code)
	}
	if len(s.Lines("were cut")) == 0 {
		t.Errorf("no log of the cut requests:\n%s", s.Logs())
	}
}

// TestReloadOnSIGHUP changes the log level, the CORS origins, a token
// lifetime and a setting that needs a restart, sends SIGHUP, and checks the
// level applies (info access-log lines appear), the new origin is allowed
// and the old one no longer, a new token carries the new lifetime
// (expires_in and exp), and only the other setting is named as needing a
// restart; an invalid file changes nothing, not even its valid lifetime
// and origins.
func TestReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	const appOrigin, devOrigin, lateOrigin = "https://app.example.com", "http://localhost:5173", "https://late.example.com"
	e := NewEnv(t, Bolt, map[string]string{"log.level": "warn", "keys.algorithms": "[ES256]",
		"cors.allowed_origins": `["` + appOrigin + `"]`})
	const secret = "reload-secret-0123456789abcdef0123"
	e.MustCLI(secret+"\n", "clients", "add", "svc", "--secret-stdin", "--grants", "client_credentials", "--scopes", "api")
	s := e.Start()
	accessLines := func() int { return len(s.Lines(`"msg":"request"`)) }
	get(t, s.URL+"/healthz", nil)
	if n := accessLines(); n != 0 {
		t.Fatalf("%d access-log lines at level warn", n)
	}
	// token returns expires_in and the access token's exp - iat.
	token := func() (expiresIn, lifetime int64) {
		t.Helper()
		r := call(t, http.MethodPost, s.URL+"/oauth2/token", "application/x-www-form-urlencoded", "grant_type=client_credentials",
			map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("svc:"+secret))})
		if r.status != 200 {
			t.Fatalf("token: %d %s", r.status, r.raw)
		}
		parts := strings.Split(r.str("access_token"), ".")
		if len(parts) != 3 {
			t.Fatalf("access token is not a JWS: %s", r.raw)
		}
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var c struct{ Exp, Iat int64 }
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatal(err)
		}
		n, _ := r.body["expires_in"].(float64)
		return int64(n), c.Exp - c.Iat
	}
	if in, life := token(); in != 300 || life != 300 {
		t.Fatalf("before the reload: expires_in %d, lifetime %d; want 300", in, life)
	}
	// origins checks which origins a browser may call the token endpoint
	// from: the preflight is allowed, and so is the request itself.
	origins := func(when string, want ...string) {
		t.Helper()
		for _, o := range []string{appOrigin, devOrigin, lateOrigin} {
			pre := call(t, http.MethodOptions, s.URL+"/oauth2/token", "", "", map[string]string{"Origin": o, "Access-Control-Request-Method": "POST"})
			tok := call(t, http.MethodPost, s.URL+"/oauth2/token", "application/x-www-form-urlencoded", "grant_type=client_credentials",
				map[string]string{"Origin": o, "Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("svc:"+secret))})
			preOK := pre.status == http.StatusNoContent && pre.header.Get("Access-Control-Allow-Origin") == o
			tokOK := tok.status == http.StatusOK && tok.header.Get("Access-Control-Allow-Origin") == o
			if w := slices.Contains(want, o); preOK != w || tokOK != w {
				t.Errorf("%s: origin %s: preflight allowed %v (%d), token answer readable %v (%d); want %v", when, o, preOK, pre.status, tokOK, tok.status, w)
			}
		}
	}
	origins("before the reload", appOrigin)
	hup := func() {
		t.Helper()
		if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
	e.Set("log.level", "info")
	e.Set("tokens.access_ttl", "7m")
	e.Set("cors.allowed_origins", `["`+devOrigin+`"]`)
	e.Set("security.password_hash_queue", "32")
	hup()
	waitFor(t, 5*time.Second, "reload", func() bool { return len(s.Lines(`"msg":"reloaded"`)) == 1 })
	if l := s.Lines(`"msg":"reloaded"`)[0]; !strings.Contains(l, `"applied":"log.level,cors.allowed_origins,tokens.access_ttl"`) {
		t.Errorf("reload line %s does not name log.level, cors.allowed_origins and tokens.access_ttl", l)
	}
	origins("after the reload", devOrigin)
	if l := s.Lines("take effect only after a restart"); len(l) != 1 || !strings.Contains(l[0], `"keys":"security.password_hash_queue"`) {
		t.Errorf("restart warning = %q, want security.password_hash_queue only", l)
	}
	if in, life := token(); in != 420 || life != 420 {
		t.Errorf("after the reload: expires_in %d, lifetime %d; want 420", in, life)
	}
	get(t, s.URL+"/healthz", nil)
	waitFor(t, 5*time.Second, "an access-log line at level info", func() bool { return accessLines() > 0 })
	e.Set("log.level", "loud")
	e.Set("tokens.access_ttl", "1m")
	e.Set("cors.allowed_origins", `["`+lateOrigin+`"]`)
	hup()
	waitFor(t, 5*time.Second, "refused reload", func() bool { return len(s.Lines("the configuration is invalid; nothing changed")) == 1 })
	if st, _, _ := get(t, s.URL+"/healthz", nil); st != 200 {
		t.Errorf("healthz after a refused reload: %d", st)
	}
	if in, _ := token(); in != 420 {
		t.Errorf("after a refused reload: expires_in %d, want 420 (unchanged)", in)
	}
	origins("after a refused reload", devOrigin)
	s.Stop(t)
}

// writeCert writes a fresh self-signed certificate for 127.0.0.1 named cn
// (and its key) and returns it.
func writeCert(t *testing.T, certFile, keyFile, cn string) *x509.Certificate {
	t.Helper()
	cert, certPEM, keyPEM := keystest.SelfSignedCert(t, cn)
	// Write beside and rename, as a certificate renewal tool does.
	for _, f := range []struct {
		path string
		pem  []byte
	}{
		{certFile, certPEM},
		{keyFile, keyPEM},
	} {
		if err := os.WriteFile(f.path+".new", f.pem, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(f.path+".new", f.path); err != nil {
			t.Fatal(err)
		}
	}
	return cert
}

// TestTLSServeAndReload serves HTTPS with a generated certificate, replaces
// the files and sends SIGHUP: a new connection sees the new certificate
// while a keep-alive connection opened before keeps working.
func TestTLSServeAndReload(t *testing.T) {
	t.Parallel()
	e := NewEnv(t, Bolt, nil)
	cf, kf := filepath.Join(e.Dir, "tls.crt"), filepath.Join(e.Dir, "tls.key")
	a := writeCert(t, cf, kf, "first")
	e.Set("issuer", "https://"+e.Listen)
	e.Set("tls.cert_file", cf)
	e.Set("tls.key_file", kf)

	cmd := exec.Command(sigilBin, "--config", e.Config, "serve")
	cmd.Env, cmd.Dir = e.environ(), e.Dir
	s := &Server{URL: "https://" + e.Listen, cmd: cmd, logs: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.Kill()
		if t.Failed() {
			t.Logf("server logs:\n%s", s.Logs())
		}
	})

	pool := x509.NewCertPool()
	pool.AddCert(a)
	newClient := func() *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	}
	// fetch GETs /healthz and returns the served certificate's CN and
	// whether the connection was reused.
	fetch := func(c *http.Client) (string, bool, error) {
		var reused bool
		req, _ := http.NewRequest(http.MethodGet, s.URL+"/healthz", nil)
		req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
			GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused },
		}))
		resp, err := c.Do(req)
		if err != nil {
			return "", false, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			return "", false, fmt.Errorf("status %d", resp.StatusCode)
		}
		if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
			return "", false, fmt.Errorf("not TLS 1.2+: %+v", resp.TLS)
		}
		return resp.TLS.PeerCertificates[0].Subject.CommonName, reused, nil
	}
	old := newClient()
	waitFor(t, 60*time.Second, "HTTPS /healthz", func() bool { _, _, err := fetch(old); return err == nil })
	if cn, _, _ := fetch(old); cn != "first" {
		t.Fatalf("serving %q, want first", cn)
	}

	// TLS 1.1 is refused.
	if _, err := tls.Dial("tcp", e.Listen, &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("a TLS 1.1 handshake succeeded")
	}

	b := writeCert(t, cf, kf, "second")
	pool.AddCert(b)
	if err := s.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "reload", func() bool { return len(s.Lines(`"msg":"reloaded"`)) == 1 })

	if cn, _, err := fetch(newClient()); err != nil || cn != "second" {
		t.Errorf("new connection after reload: %q, %v; want second", cn, err)
	}
	cn, reused, err := fetch(old)
	if err != nil || cn != "first" || !reused {
		t.Errorf("keep-alive connection after reload: cn %q reused %v err %v; want first on the same connection", cn, reused, err)
	}
}
