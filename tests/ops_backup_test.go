package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupRestoreRoundTrip backs up a deployment that has issued tokens,
// restores it into a fresh store, and checks on each backend that the
// restored server serves the same JWKS and accepts a refresh token issued
// before the backup; that the file is 0600 and holds no KEK; and that a
// second restore into the now non-empty store is refused with exit 2.
func TestBackupRestoreRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		src := newOAuthEnv(t, b, nil)
		src.start()
		tok := src.login(t, "alice", alicePW, "openid api")
		rt := tok.str("refresh_token")
		if rt == "" {
			t.Fatalf("no refresh token: %s", tok.raw)
		}
		_, _, jwks := get(t, src.srv.URL+"/.well-known/jwks.json", nil)
		src.srv.Stop(t) // bolt is one process; mongo could stay up

		file := filepath.Join(t.TempDir(), "sigil.backup")
		out := src.MustCLI("", "backup", file)
		if !strings.Contains(out, "backed up") {
			t.Errorf("backup output %q", out)
		}
		st, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("backup mode %v, want 0600", st.Mode().Perm())
		}
		data, _ := os.ReadFile(file)
		if strings.Contains(string(data), src.KEK) {
			t.Fatal("the backup holds the key-encryption key")
		}
		if !strings.HasPrefix(string(data), `{"format":"sigil-backup","version":1,`) {
			t.Errorf("backup header: %.100s", data)
		}

		dst := NewEnv(t, b, map[string]string{
			"keys.algorithms": oauthAlgs, "compat.simplejwt": "true", "compat.client_id": compatName,
		})
		dst.KEK = src.KEK
		// The restored server must answer as the same issuer.
		dst.Set("issuer", src.Issuer)
		if out, errOut, code := dst.CLI("", "restore", filepath.Join(t.TempDir(), "missing")); code != 2 {
			t.Errorf("restore of a missing file: exit %d (%s%s), want 2", code, out, errOut)
		}
		dst.MustCLI("", "restore", file)
		if _, errOut, code := dst.CLI("", "restore", file); code != 2 || !strings.Contains(errOut, "not empty") {
			t.Errorf("second restore: exit %d %q, want 2 and not empty", code, errOut)
		}

		restored := &oauthEnv{Env: dst}
		restored.start()
		_, _, jwks2 := get(t, restored.srv.URL+"/.well-known/jwks.json", nil)
		if string(jwks2) != string(jwks) {
			t.Errorf("restored JWKS differs:\n%s\nwant\n%s", jwks2, jwks)
		}
		if r := restored.refresh(t, rt); r.status != 200 || r.str("access_token") == "" {
			t.Fatalf("refresh after restore: %d %s", r.status, r.raw)
		}
		restored.login(t, "bob", bobPW, "openid")
	})
}

// TestRestoreRefusesBadFiles feeds restore files that are not complete
// backups of this backend; each is refused with exit 2 and nothing written
// (a later good restore still finds the store empty).
func TestRestoreRefusesBadFiles(t *testing.T) {
	t.Parallel()
	src := NewEnv(t, Bolt, nil)
	src.MustCLI("", "clients", "add", "svc", "--public", "--grants", "password", "--scopes", "openid")
	good := filepath.Join(t.TempDir(), "good")
	src.MustCLI("", "backup", good)
	data, _ := os.ReadFile(good)
	lines := strings.SplitAfter(strings.TrimSuffix(string(data), "\n"), "\n")
	dst := NewEnv(t, Bolt, nil)
	cases := []struct{ name, content, want string }{
		{"not a backup", "hello\n", "not a sigil backup"},
		{"other version", strings.Replace(string(data), `"version":1`, `"version":9`, 1), "version 9"},
		{"other backend", strings.Replace(string(data), `"backend":"bolt"`, `"backend":"mongo"`, 1), "the backup is of mongo storage"},
		{"truncated", strings.Join(lines[:len(lines)-1], ""), "truncated"},
		{"miscounted", strings.Join(lines[:len(lines)-2], "") + lines[len(lines)-1], "end line counts"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "bad")
			if err := os.WriteFile(f, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, errOut, code := dst.CLI("", "restore", f); code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d %q, want 2 and %q", code, errOut, tc.want)
			}
		})
	}
	dst.MustCLI("", "restore", good)
	if out := dst.MustCLI("", "clients", "list"); !strings.Contains(out, "svc") {
		t.Errorf("restored clients: %q", out)
	}
}
