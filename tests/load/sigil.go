package load

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// Sigil is one deployment of the real sigil binary on loopback: a config
// file, a data directory (bolt) or a fresh MongoDB database, and a
// key-encryption key, shared by the server and every CLI call.
type Sigil struct {
	Bin     string
	Dir     string
	Backend string // "bolt" or "mongo"
	URL     string
	// BoltPath is the data file on bolt.
	BoltPath string

	config   string
	env      []string
	mongoURI string
	mongoDB  string
	cmd      *exec.Cmd
	logs     *lockedBuffer
	done     chan struct{}
}

// NewSigil prepares a deployment in dir on backend ("bolt", or "mongo" with
// mongoURI) listening on a free loopback port. settings are "section.key"
// values merged over quiet defaults (log level warn).
func NewSigil(bin, dir, backend, mongoURI string, settings map[string]string) (*Sigil, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	kek := make([]byte, 32)
	_, _ = rand.Read(kek)
	s := &Sigil{Bin: bin, Dir: dir, Backend: backend, URL: "http://127.0.0.1:" + port}
	v := map[string]string{
		"issuer":          s.URL,
		"listen":          "127.0.0.1:" + port,
		"storage.backend": backend,
		"log.level":       "warn",
		"log.format":      "json",
	}
	switch backend {
	case "bolt":
		s.BoltPath = filepath.Join(dir, "data", "sigil.db")
		v["storage.bolt_path"] = s.BoltPath
	case "mongo":
		if mongoURI == "" {
			return nil, fmt.Errorf("backend mongo needs a MongoDB URI")
		}
		var rnd [6]byte
		_, _ = rand.Read(rnd[:])
		s.mongoURI, s.mongoDB = mongoURI, "sigil_load_"+hex.EncodeToString(rnd[:])
		v["storage.mongo_uri"] = mongoURI
		v["storage.mongo_database"] = s.mongoDB
	default:
		return nil, fmt.Errorf("unknown backend %q", backend)
	}
	for k, val := range settings {
		v[k] = val
	}
	s.config = filepath.Join(dir, "sigil.yaml")
	if err := os.WriteFile(s.config, renderYAML(v), 0o600); err != nil {
		return nil, err
	}
	s.env = []string{"SIGIL_KEY_ENCRYPTION_KEY=" + base64.StdEncoding.EncodeToString(kek), "HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GORACE=") || strings.HasPrefix(kv, "GOMAXPROCS=") || strings.HasPrefix(kv, "GOMEMLIMIT=") || strings.HasPrefix(kv, "GOGC=") || strings.HasPrefix(kv, "SIGIL_PPROF_LISTEN=") {
			s.env = append(s.env, kv)
		}
	}
	return s, nil
}

// renderYAML writes flat dotted settings ("security.ip_limit.disabled") as
// nested YAML; values that look like lists or booleans are written bare,
// others quoted.
func renderYAML(v map[string]string) []byte {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var buf bytes.Buffer
	var open []string // the sections the previous key was in
	for _, k := range keys {
		parts := strings.Split(k, ".")
		secs, leaf := parts[:len(parts)-1], parts[len(parts)-1]
		same := 0
		for same < len(secs) && same < len(open) && secs[same] == open[same] {
			same++
		}
		for i := same; i < len(secs); i++ {
			fmt.Fprintf(&buf, "%s%s:\n", strings.Repeat("  ", i), secs[i])
		}
		open = secs
		val := v[k]
		if !strings.HasPrefix(val, "[") && val != "true" && val != "false" {
			val = fmt.Sprintf("%q", val)
		}
		fmt.Fprintf(&buf, "%s%s: %s\n", strings.Repeat("  ", len(secs)), leaf, val)
	}
	return buf.Bytes()
}

// CLI runs `sigil --config <config> args...` with stdin and returns stdout,
// or an error with stderr.
func (s *Sigil) CLI(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Bin, append([]string{"--config", s.config}, args...)...)
	cmd.Env, cmd.Dir = s.env, s.Dir
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("sigil %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// AddClient runs `sigil clients add id args...` and returns the generated
// secret ("" for a public client).
func (s *Sigil) AddClient(id string, args ...string) (string, error) {
	out, err := s.CLI("", append([]string{"clients", "add", id}, args...)...)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		if sec, ok := strings.CutPrefix(line, "client_secret: "); ok {
			return strings.TrimSpace(sec), nil
		}
	}
	return "", nil
}

// AddUser runs `sigil users add name --password-stdin`.
func (s *Sigil) AddUser(name, password string) error {
	_, err := s.CLI(password+"\n", "users", "add", name, "--password-stdin")
	return err
}

// Start starts `sigil serve` and waits up to a minute for /readyz.
func (s *Sigil) Start(ctx context.Context) error {
	if err := CheckLoopback(s.URL); err != nil {
		return err
	}
	cmd := exec.Command(s.Bin, "--config", s.config, "serve")
	cmd.Env, cmd.Dir = s.env, s.Dir
	s.logs = &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	s.done = make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("sigil serve exited early: %s", s.Logs())
		case <-ctx.Done():
			s.Kill()
			return ctx.Err()
		default:
		}
		resp, err := http.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("sigil serve not ready after 1m: %s", s.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PID is the server's process id (0 when not running).
func (s *Sigil) PID() int {
	if s.cmd == nil || s.cmd.Process == nil {
		return 0
	}
	return s.cmd.Process.Pid
}

// Logs returns what the server wrote so far.
func (s *Sigil) Logs() string {
	if s.logs == nil {
		return ""
	}
	return s.logs.String()
}

// Stop sends SIGTERM and waits up to 20 s, then kills.
func (s *Sigil) Stop() error {
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(20 * time.Second):
		s.Kill()
		return fmt.Errorf("sigil serve did not stop within 20s of SIGTERM")
	}
	s.cmd = nil
	return nil
}

// Kill stops the server at once (SIGKILL), as a crash would.
func (s *Sigil) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Cleanup stops the server and drops the MongoDB database, if any.
func (s *Sigil) Cleanup() {
	s.Kill()
	if s.mongoDB == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(s.mongoURI))
	if err != nil {
		return
	}
	defer func() { _ = c.Disconnect(ctx) }()
	_ = c.Database(s.mongoDB).Drop(ctx)
}

// StoredBytes is the size of the bolt file, or MongoDB's dataSize +
// indexSize of the database.
func (s *Sigil) StoredBytes(ctx context.Context) (int64, error) {
	if s.Backend == "bolt" {
		fi, err := os.Stat(s.BoltPath)
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	c, err := mongo.Connect(options.Client().ApplyURI(s.mongoURI))
	if err != nil {
		return 0, err
	}
	defer func() { _ = c.Disconnect(ctx) }()
	var st struct {
		DataSize  float64 `bson:"dataSize"`
		IndexSize float64 `bson:"indexSize"`
	}
	if err := c.Database(s.mongoDB).RunCommand(ctx, map[string]any{"dbStats": 1}).Decode(&st); err != nil {
		return 0, err
	}
	return int64(st.DataSize + st.IndexSize), nil
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port, nil
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 4<<20 { // keep the tail bounded
		b.buf.Reset()
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
