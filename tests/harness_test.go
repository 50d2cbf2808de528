// Package tests holds black-box tests: the real sigil binary, built once per
// run, serving on a loopback port against each storage backend.
package tests

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage/mongo/mongotest"
	"github.com/sigilauth/sigil/tests/load"
)

// sigilBin is the path of the binary built by TestMain.
var sigilBin string

func TestMain(m *testing.M) {
	load.RunWithSigil("sigil-e2e-", raceEnabled, &sigilBin, m.Run)
}

// Backend names a storage backend the black-box tests run against.
type Backend string

// The backends.
const (
	Bolt  Backend = "bolt"
	Mongo Backend = "mongo"
)

// forEachBackend runs f as a subtest per backend. The mongo subtest skips
// (or fails under make test) when no MongoDB is configured.
func forEachBackend(t *testing.T, f func(t *testing.T, b Backend)) {
	for _, b := range []Backend{Bolt, Mongo} {
		t.Run(string(b), func(t *testing.T) {
			if b == Mongo {
				mongotest.URI(t)
			}
			f(t, b)
		})
	}
}

// Env is one isolated deployment: a config file, a data directory or
// MongoDB database, and a key-encryption key, shared by every server
// process and CLI call started from it (so several replicas can share one
// MongoDB database).
type Env struct {
	t       testing.TB
	Backend Backend
	Dir     string
	Config  string
	KEK     string
	Issuer  string
	Listen  string
	// ExtraEnv holds NAME=value pairs added to the environment of processes
	// started afterwards.
	ExtraEnv []string
	values   map[string]string
}

// NewEnv prepares an environment on backend b. overrides are YAML
// "section.key: value" settings merged over test defaults (e.g.
// "keys.rotation": "@every 6s").
func NewEnv(t testing.TB, b Backend, overrides map[string]string) *Env {
	t.Helper()
	dir := t.TempDir()
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	port := freePort(t)
	e := &Env{
		t: t, Backend: b, Dir: dir, Config: filepath.Join(dir, "sigil.yaml"),
		KEK:    base64.StdEncoding.EncodeToString(kek),
		Listen: "127.0.0.1:" + port, Issuer: "http://127.0.0.1:" + port,
	}
	v := map[string]string{
		"issuer":          e.Issuer,
		"listen":          e.Listen,
		"storage.backend": string(b),
		"log.format":      "json",
		"log.level":       "debug",
		// Stop at once on SIGTERM: the grace is for load balancers, and
		// tests restart servers often (ops_lifecycle_test sets its own).
		"shutdown_grace": "0s",
	}
	switch b {
	case Bolt:
		v["storage.bolt_path"] = filepath.Join(dir, "data", "sigil.db")
	case Mongo:
		var rnd [6]byte
		_, _ = rand.Read(rnd[:])
		v["storage.mongo_uri"] = mongotest.URI(t)
		v["storage.mongo_database"] = "sigil_e2e_" + hex.EncodeToString(rnd[:])
	}
	for k, val := range overrides {
		v[k] = val
	}
	e.values = v
	e.writeConfig()
	if b == Mongo {
		db := v["storage.mongo_database"]
		t.Cleanup(func() { dropMongoDB(v["storage.mongo_uri"], db) })
	}
	return e
}

// writeConfig renders the flat settings as nested YAML.
func (e *Env) writeConfig() {
	sections := map[string][]string{}
	var top []string
	for k, v := range e.values {
		sec, key, ok := strings.Cut(k, ".")
		line := fmt.Sprintf("%s: %s", key, yamlValue(v))
		if !ok {
			top = append(top, fmt.Sprintf("%s: %s", k, yamlValue(v)))
			continue
		}
		sections[sec] = append(sections[sec], "  "+line)
	}
	var buf bytes.Buffer
	for _, l := range top {
		buf.WriteString(l + "\n")
	}
	for sec, lines := range sections {
		buf.WriteString(sec + ":\n")
		for _, l := range lines {
			buf.WriteString(l + "\n")
		}
	}
	if err := os.WriteFile(e.Config, buf.Bytes(), 0o600); err != nil {
		e.t.Fatal(err)
	}
}

func yamlValue(v string) string {
	if strings.HasPrefix(v, "[") || v == "true" || v == "false" {
		return v
	}
	return fmt.Sprintf("%q", v)
}

// Set changes one setting for processes started afterwards.
func (e *Env) Set(key, value string) {
	e.values[key] = value
	e.writeConfig()
}

func (e *Env) environ() []string {
	env := []string{"SIGIL_KEY_ENCRYPTION_KEY=" + e.KEK, "HOME=" + e.Dir, "PATH=" + os.Getenv("PATH")}
	env = append(env, e.ExtraEnv...)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GOCOVERDIR=") || strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	return env
}

// CLI runs `sigil --config <env config> args...` with stdin and returns
// stdout, stderr and the exit code.
func (e *Env) CLI(stdin string, args ...string) (string, string, int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, sigilBin, append([]string{"--config", e.Config}, args...)...)
	cmd.Env = e.environ()
	cmd.Dir = e.Dir
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("run sigil %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// MustCLI is CLI that fails the test on a non-zero exit.
func (e *Env) MustCLI(stdin string, args ...string) string {
	e.t.Helper()
	out, errOut, code := e.CLI(stdin, args...)
	if code != 0 {
		e.t.Fatalf("sigil %v: exit %d: %s", args, code, errOut)
	}
	return out
}

// Server is one running `sigil serve` process.
type Server struct {
	URL  string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{}
}

// Start starts `sigil serve` with the env's config on the env's listen
// address and waits until /readyz answers 200. The process is killed at
// test cleanup.
func (e *Env) Start() *Server {
	e.t.Helper()
	return e.StartOn(e.Listen)
}

// StartOn starts a replica listening on addr (the issuer stays the env's).
func (e *Env) StartOn(addr string) *Server {
	e.t.Helper()
	cmd := exec.Command(sigilBin, "--config", e.Config, "serve")
	cmd.Env = append(e.environ(), "SIGIL_LISTEN="+addr)
	cmd.Dir = e.Dir
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	s := &Server{URL: "http://" + addr, cmd: cmd, logs: logs, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()
	e.t.Cleanup(func() {
		s.Kill()
		if e.t.Failed() {
			e.t.Logf("server %s logs:\n%s", addr, s.Logs())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-s.done:
			e.t.Fatalf("sigil serve exited early:\n%s", s.Logs())
		default:
		}
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("sigil serve not ready after 60s:\n%s", s.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Logs returns everything the process wrote so far.
func (s *Server) Logs() string { return s.logs.String() }

// Stop sends SIGTERM and waits for a clean exit.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.Kill()
		t.Fatal("sigil serve did not stop within 20s of SIGTERM")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("sigil serve exit code %d after SIGTERM:\n%s", code, s.Logs())
	}
}

// Kill stops the process at once (SIGKILL), as a crash would.
func (s *Server) Kill() {
	_ = s.cmd.Process.Kill()
	<-s.done
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns the log lines containing substr.
func (s *Server) Lines(substr string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s.Logs()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), substr) {
			out = append(out, sc.Text())
		}
	}
	return out
}

func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// get fetches url and returns status, headers and body.
func get(t testing.TB, url string, hdr map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}
