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
	start := time.Now()
	r := runMain(t, "", "--config", path, "serve")
	elapsed := time.Since(start)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr %q", r.code, r.stderr)
	}
	if elapsed > 3*time.Second {
		t.Errorf("serve took %s to fail, want within storage.timeout (1s) + 2s", elapsed)
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
