package main

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigilauth/sigil/storage"
)

func importDjangoHash(pw string) string {
	salt := "importsalt12"
	k, err := pbkdf2.Key(sha256.New, pw, []byte(salt), 1000, 32)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("pbkdf2_sha256$1000$%s$%s", salt, base64.StdEncoding.EncodeToString(k))
}

func TestUsersImport(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, backend)
			dir := t.TempDir()
			hash := importDjangoHash("django-pw")
			dump := `[
  {"model": "auth.user", "pk": 41, "fields": {"password": "` + hash + `", "username": "ann", "email": "ann@example.com", "first_name": "Ann", "last_name": "Lee", "is_active": true, "date_joined": "2020-01-01T00:00:00Z"}},
  {"model": "auth.user", "pk": 42, "fields": {"password": "sha1$x$y", "username": "old"}},
  {"model": "auth.user", "pk": 43, "fields": {"password": "` + hash + `", "username": "ben", "is_active": false}}
]`
			jsonPath := filepath.Join(dir, "users.json")
			if err := os.WriteFile(jsonPath, []byte(dump), 0o600); err != nil {
				t.Fatal(err)
			}
			r := e.run("", "users", "import", jsonPath)
			if r.code != 2 || !strings.Contains(r.stdout, "2 users imported, 0 already present, 1 rows skipped") {
				t.Fatalf("first import: exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, "line 3: user \"old\": unsupported password hasher \"sha1\"") || strings.Contains(r.stderr, "sha1$x$y") {
				t.Fatalf("bad row report %q", r.stderr)
			}
			e.withStore(func(s storage.Store) {
				u, err := s.GetUserByUsername(context.Background(), "ann")
				if err != nil || u.ID != "41" || u.PasswordHash != hash || u.Name != "Ann Lee" || u.Disabled {
					t.Fatalf("ann %+v %v", u, err)
				}
				if b, _ := s.GetUserByUsername(context.Background(), "ben"); !b.Disabled {
					t.Fatal("inactive Django user imported enabled")
				}
			})
			before := e.dump()
			r = e.run("", "users", "import", jsonPath)
			if !strings.Contains(r.stdout, "0 users imported, 2 already present") {
				t.Fatalf("second import: %q", r.stdout)
			}
			if after := e.dump(); after != before {
				t.Fatalf("second import changed the store:\n%s\n%s", before, after)
			}

			csvPath := filepath.Join(dir, "more.csv")
			csv := "id,username,password,email,is_active\n50,cat," + hash + ",cat@example.com,t\n"
			if err := os.WriteFile(csvPath, []byte(csv), 0o600); err != nil {
				t.Fatal(err)
			}
			e.mustRun("", "users", "import", csvPath)
			e.mustRun(csv, "users", "import", "-", "--format", "csv") // stdin, already present

			for _, bad := range [][]string{
				{"users", "import", filepath.Join(dir, "missing.json")},
				{"users", "import", filepath.Join(dir, "users.txt")},
				{"users", "import", jsonPath, "--format", "xml"},
				{"users", "import", csvPath, "--format", "django-json"},
			} {
				before := e.dump()
				if r := e.run("", bad...); r.code != 2 {
					t.Errorf("%v: exit %d, want 2 (%s)", bad, r.code, r.stderr)
				}
				if e.dump() != before {
					t.Errorf("%v changed the store", bad)
				}
			}
		})
	}
}
