package bolt

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/conformance"
)

func TestConformance(t *testing.T) {
	conformance.RunTests(t, func(t *testing.T) storage.Store {
		return openTemp(t, filepath.Join(t.TempDir(), "sigil.db"))
	})
}

// openTemp opens path and closes it when the test ends.
func openTemp(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sigil.db")
	openTemp(t, path)

	start := time.Now()
	s, err := Open(path, Options{LockTimeout: 200 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
	if !errors.Is(err, berrors.ErrTimeout) {
		t.Errorf("error %v does not wrap berrors.ErrTimeout", err)
	}
	for _, want := range []string{path, "locked by another sigil process"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second Open took %v with a 200ms lock timeout", d)
	}
}

func TestCloseReleasesLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sigil.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if got := s.Path(); got != path {
		t.Errorf("Path() = %q, want %q", got, path)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	openTemp(t, path)
}

func TestPersistsAcrossReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sigil.db")
	ctx := t.Context()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	user := storage.User{ID: "u1", Username: "ada", PasswordHash: "$argon2id$secret", CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now}
	client := storage.Client{ID: "web", SecretHash: []byte{1, 2, 3}, Grants: []string{"password"}, CreatedAt: now}

	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	_, swapErr := s.CompareAndSwapKeySet(ctx, 0, storage.KeySet{Keys: []storage.Key{{KID: "k1", SealedPrivate: []byte("sealed")}}, UpdatedAt: now})
	for _, err := range []error{
		s.CreateUser(ctx, user),
		s.CreateClient(ctx, client),
		s.CreateFamily(ctx, storage.RefreshFamily{ID: "fam", ClientID: "web", ExpiresAt: now.Add(time.Hour),
			RefreshState: storage.RefreshState{CurrentHash: "h1", CurrentExpiresAt: now.Add(time.Hour)}}),
		swapErr,
	} {
		if err != nil {
			t.Fatalf("write before reopen: %v", err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openTemp(t, path)
	gotUser, err := s.GetUserByUsername(ctx, "ada")
	if err != nil || gotUser.PasswordHash != user.PasswordHash || !gotUser.CreatedAt.Equal(now) {
		t.Errorf("user after reopen: %v, err %v", gotUser.ID, err)
	}
	gotClient, err := s.GetClient(ctx, "web")
	if err != nil || string(gotClient.SecretHash) != string(client.SecretHash) {
		t.Errorf("client after reopen: err %v, secret hash persisted: %v", err, string(gotClient.SecretHash) == string(client.SecretHash))
	}
	if f, err := s.GetFamily(ctx, "fam", now); err != nil || f.CurrentHash != "h1" {
		t.Errorf("refresh family after reopen: current %q, err %v", f.CurrentHash, err)
	}
	ks, err := s.GetKeySet(ctx)
	if err != nil || ks.Version != 1 || len(ks.Keys) != 1 || string(ks.Keys[0].SealedPrivate) != "sealed" {
		t.Errorf("key set after reopen: version %d, %d keys, err %v", ks.Version, len(ks.Keys), err)
	}
}

func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "missing", "data")
	path := filepath.Join(dir, "sigil.db")
	openTemp(t, path)

	tests := []struct {
		name string
		path string
		want os.FileMode
	}{
		{"DataFile", path, 0o600},
		{"CreatedDirectory", dir, 0o700},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fi, err := os.Stat(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			// The umask can only remove bits, so anything beyond want is a bug.
			if got := fi.Mode().Perm(); got&^tc.want != 0 {
				t.Errorf("mode %v, want at most %v", got, tc.want)
			}
		})
	}
}

func TestOpenRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sigil.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a bolt file ", 512)), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err == nil {
		s.Close()
		t.Fatal("Open of a non-bolt file succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name the path", err)
	}
}

func TestClosedStore(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "sigil.db"), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := t.Context()
	now := time.Now()
	tests := []struct {
		name string
		call func() error
	}{
		{"Ping", func() error { return s.Ping(ctx) }},
		{"CreateUser", func() error { return s.CreateUser(ctx, storage.User{ID: "u", Username: "u"}) }},
		{"GetUser", func() error { _, err := s.GetUser(ctx, "u"); return err }},
		{"ListUsers", func() error { _, err := s.ListUsers(ctx); return err }},
		{"GetKeySet", func() error { _, err := s.GetKeySet(ctx); return err }},
		{"CompareAndSwapKeySet", func() error { _, err := s.CompareAndSwapKeySet(ctx, 0, storage.KeySet{}); return err }},
		{"SwapRefreshToken", func() error {
			_, err := s.SwapRefreshToken(ctx, "f", "c", "h", storage.RefreshState{}, now)
			return err
		}},
		{"IsAccessTokenDenied", func() error { _, err := s.IsAccessTokenDenied(ctx, "j", now); return err }},
		{"AdmitLogin", func() error { _, err := s.AdmitLogin(ctx, "k", now, time.Minute, nil); return err }},
		{"Purge", func() error { _, err := s.Purge(ctx, now); return err }},
		{"GetSession", func() error { _, err := s.GetSession(ctx, []byte("h"), now); return err }},
		{"ConsumeAuthCode", func() error { _, err := s.ConsumeAuthCode(ctx, []byte("h"), now, storage.AuthCodeIssue{}); return err }},
		{"SaveConsent", func() error { return s.SaveConsent(ctx, storage.Consent{UserID: "u", ClientID: "c"}) }},
		{"RevokeUserFamilies", func() error { _, err := s.RevokeUserFamilies(ctx, "u", now, "r"); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if !errors.Is(err, berrors.ErrDatabaseNotOpen) {
				t.Errorf("got %v, want an error wrapping berrors.ErrDatabaseNotOpen", err)
			}
		})
	}
}

func TestCanceledContext(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "sigil.db"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.CreateUser(ctx, storage.User{ID: "u", Username: "u"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateUser with canceled context: %v", err)
	}
	if _, err := s.GetUser(t.Context(), "u"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("user written despite canceled context: %v", err)
	}
}

func TestEmptyIDRejected(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "sigil.db"))
	tests := []struct {
		name string
		call func() error
	}{
		{"UserID", func() error { return s.CreateUser(t.Context(), storage.User{Username: "u"}) }},
		{"Username", func() error { return s.CreateUser(t.Context(), storage.User{ID: "u"}) }},
		{"ClientID", func() error { return s.CreateClient(t.Context(), storage.Client{}) }},
		{"FamilyID", func() error { return s.CreateFamily(t.Context(), storage.RefreshFamily{}) }},
		{"SessionIDHash", func() error { return s.CreateSession(t.Context(), storage.Session{UserID: "u"}) }},
		{"AuthCodeHash", func() error { return s.CreateAuthCode(t.Context(), storage.AuthCode{ClientID: "c"}) }},
		{"ConsentUserID", func() error { return s.SaveConsent(t.Context(), storage.Consent{ClientID: "c"}) }},
		{"RevokeSessionFamilies", func() error {
			_, err := s.RevokeSessionFamilies(t.Context(), nil, time.Now(), "r")
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, errEmptyID) {
				t.Fatalf("got %v, want errEmptyID", err)
			}
		})
	}
}

// TestDecodesRecordsWithoutSSOFields reads client and family records as
// written before single sign-on (no redirect URIs, no session link): they
// decode with the new fields empty, and the new buckets exist.
func TestDecodesRecordsWithoutSSOFields(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "sigil.db"))
	ctx := t.Context()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketClients).Put([]byte("old"),
			[]byte(`{"id":"old","grants":["password"],"created_at":"2026-01-02T03:04:05Z"}`)); err != nil {
			return err
		}
		return tx.Bucket(bucketFamilies).Put([]byte("fam"),
			[]byte(`{"id":"fam","client_id":"old","user_id":"u1","auth_time":"2026-01-02T03:04:05Z","expires_at":"2100-01-01T00:00:00Z"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.GetClient(ctx, "old")
	if err != nil {
		t.Fatalf("GetClient: %v", err)
	}
	if c.RedirectURIs != nil || c.PostLogoutRedirectURIs != nil || c.BackchannelLogoutURI != "" || c.FirstParty || c.IntrospectAny {
		t.Errorf("old client decoded with SSO fields set: %+v", c)
	}
	f, err := s.GetFamily(ctx, "fam", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatalf("GetFamily: %v", err)
	}
	if f.SessionIDHash != nil {
		t.Errorf("old family decoded with a session: %x", f.SessionIDHash)
	}
	for _, b := range [][]byte{bucketSessions, bucketAuthCodes, bucketConsents} {
		err := s.db.View(func(tx *bbolt.Tx) error {
			if tx.Bucket(b) == nil {
				return errors.New("missing")
			}
			return nil
		})
		if err != nil {
			t.Errorf("bucket %s: %v", b, err)
		}
	}
}

// TestOpenDropsPerTokenRecords: a file written when every refresh token had
// its own record loses that bucket on Open (those tokens can no longer be
// presented), so its space is reused.
func TestOpenDropsPerTokenRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sigil.db")
	s := openTemp(t, path)
	if err := s.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket(bucketRefreshTokens)
		if err != nil {
			return err
		}
		return b.Put([]byte("rt"), []byte(`{"id":"rt"}`))
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTemp(t, path)
	_ = s.db.View(func(tx *bbolt.Tx) error {
		if tx.Bucket(bucketRefreshTokens) != nil {
			t.Error("refresh_tokens bucket still present after Open")
		}
		return nil
	})
}

// TestGetClientSeesChanges: the decoded-client cache never answers with a
// record that is no longer stored.
func TestGetClientSeesChanges(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "sigil.db"))
	ctx := t.Context()
	c := storage.Client{ID: "web", Grants: []string{"password"}, Scopes: []string{"a"}}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second read is served from the cache
		got, err := s.GetClient(ctx, "web")
		if err != nil || len(got.Scopes) != 1 || got.Scopes[0] != "a" {
			t.Fatalf("GetClient = %+v, %v", got, err)
		}
		got.Scopes[0] = "mutated" // a returned record is a copy
	}
	if err := s.DeleteClient(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetClient(ctx, "web"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("GetClient after delete: %v", err)
	}
	c.Scopes = []string{"b"}
	if err := s.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got, err := s.GetClient(ctx, "web"); err != nil || got.Scopes[0] != "b" {
		t.Fatalf("GetClient after re-create = %+v, %v", got, err)
	}
}
