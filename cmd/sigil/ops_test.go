package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServeFailsFastWhenMongoUnreachable: with nothing listening on the
// MongoDB port, serve fails within storage.timeout (plus slack), naming the
// host and never the password.
func TestServeFailsFastWhenMongoUnreachable(t *testing.T) {
	const password = "s3cret-pw-do-not-log"
	dir := t.TempDir()
	path := filepath.Join(dir, "sigil.yaml")
	content := "listen: 127.0.0.1:0\nstorage:\n  backend: mongo\n  mongo_uri: \"mongodb://sigil:" + password +
		"@127.0.0.1:1/?directConnection=true\"\n  timeout: 1s\nkeys:\n  algorithms: [ES256]\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SIGIL_KEY_ENCRYPTION_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
	t.Setenv("SIGIL_LOG_LEVLE", "debug") // misspelt: serve warns and runs on
	start := time.Now()
	r := runMain(t, "", "--config", path, "serve")
	elapsed := time.Since(start)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", r.code, r.stderr)
	}
	if elapsed > 3*time.Second {
		t.Errorf("serve took %s to fail, want within storage.timeout (1s) + 2s", elapsed)
	}
	if !strings.Contains(r.stderr, "unknown environment variable") || !strings.Contains(r.stderr, "SIGIL_LOG_LEVEL") {
		t.Errorf("serve did not warn about SIGIL_LOG_LEVLE: %q", r.stderr)
	}
	if !strings.Contains(r.stderr, "127.0.0.1:1") {
		t.Errorf("stderr does not name the host: %q", r.stderr)
	}
	if strings.Contains(r.stderr+r.stdout, password) {
		t.Errorf("output carries the MongoDB password: %q", r.stderr)
	}
}

// TestVersion: `sigil version` and `sigil --version` print the same stamped
// line.
func TestVersion(t *testing.T) {
	old := [3]string{version, commit, buildDate}
	version, commit, buildDate = "v9.8.7", "abc1234", "2026-01-02T03:04:05Z"
	t.Cleanup(func() { version, commit, buildDate = old[0], old[1], old[2] })
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := runMain(t, "", args...)
		if r.code != 0 {
			t.Fatalf("sigil %v: exit %d %q", args, r.code, r.stderr)
		}
		for _, want := range []string{"v9.8.7", "abc1234", "2026-01-02T03:04:05Z"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("sigil %v printed %q, lacks %s", args, r.stdout, want)
			}
		}
	}
}

func TestConfigCheck(t *testing.T) {
	const pw = "mongo-pw-not-shown"
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("storage:\n  backend: mongo\n  mongo_uri: \"mongodb://u:"+pw+"@db:27017/?authSource=admin\"\n  timeout: 3s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("storage:\n  timeout: 0s\nsecurity:\n  lockout:\n    free_failures: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		config   string
		env      map[string]string
		wantCode int
		wantOut  []string
		wantErr  []string
	}{
		{name: "valid prints effective settings", config: good, env: map[string]string{"SIGIL_JWKS_MAX_AGE": "10m"}, wantCode: 0,
			wantOut: []string{"storage.timeout: 3s\n", "jwks.max_age: 10m0s\n", "storage.mongo_uri: mongodb://u:REDACTED@db:27017/?REDACTED\n", "security.lockout.free_failures: 5\n"}},
		{name: "known non-setting variables are fine", config: good,
			env: map[string]string{"SIGIL_KEY_ENCRYPTION_KEY_PREVIOUS": "x", "SIGIL_ADMIN_CLIENT_ID": "a", "SIGIL_TEST_WHATEVER": "1"}, wantCode: 0},
		{name: "misspelt variable exits 2 naming the closest key", config: good, env: map[string]string{"SIGIL_STORAGE_TIMOUT": "1s"}, wantCode: 2,
			wantErr: []string{"SIGIL_STORAGE_TIMOUT", "SIGIL_STORAGE_TIMEOUT", "storage.timeout"}},
		{name: "invalid config exits 2 listing every problem", config: bad, wantCode: 2,
			wantErr: []string{"storage.timeout", "security.lockout.free_failures"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			r := runMain(t, "", "config", "check", "--config", tc.config)
			if r.code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, tc.wantCode, r.stderr)
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, r.stderr)
				}
			}
			if strings.Contains(r.stdout+r.stderr, pw) {
				t.Errorf("output carries the MongoDB password")
			}
		})
	}
}
