package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

var userTests = []subtest{
	{"CreateGet", testUserCreateGet},
	{"NotFound", testUserNotFound},
	{"ListOrderedByUsername", testUserList},
	{"SetPassword", testUserSetPassword},
	{"Rehash", testUserRehash},
	{"SetDisabled", testUserSetDisabled},
	{"SetAdmin", testUserSetAdmin},
	{"Duplicate", testUserDuplicate},
	{"PasswordHashSamples", testPasswordHashSamples},
}

// newUser returns a user with every field set.
func newUser(id, username string) storage.User {
	return storage.User{
		ID:                id,
		Username:          username,
		Email:             username + "@example.com",
		EmailVerified:     true,
		Name:              "Ada Lovelace",
		GivenName:         "Ada",
		FamilyName:        "Lovelace",
		PasswordHash:      "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo-" + id,
		PasswordChangedAt: at(-48 * time.Hour),
		CreatedAt:         at(-72 * time.Hour),
		UpdatedAt:         at(-24 * time.Hour),
		Admin:             true,
	}
}

func testUserCreateGet(t *testing.T, s storage.Store) {
	u := newUser("u1", "ada")
	// Times given in another zone must come back in UTC, same instant.
	u.CreatedAt = u.CreatedAt.In(time.FixedZone("UTC+2", 2*3600))
	must(t, "CreateUser", s.CreateUser(ctx(t), u))

	got, err := s.GetUser(ctx(t), "u1")
	must(t, "GetUser", err)
	wantEqual(t, "GetUser", u, got)
	if got.PasswordHash != u.PasswordHash {
		t.Fatalf("GetUser: password hash not persisted")
	}
	wantUTC(t, "GetUser CreatedAt", got.CreatedAt)
	wantUTC(t, "GetUser PasswordChangedAt", got.PasswordChangedAt)

	got, err = s.GetUserByUsername(ctx(t), "ada")
	must(t, "GetUserByUsername", err)
	wantEqual(t, "GetUserByUsername", u, got)

	// Usernames match exactly and case-sensitively.
	_, err = s.GetUserByUsername(ctx(t), "Ada")
	wantErr(t, "GetUserByUsername with other case", err, storage.ErrNotFound)
}

func testUserNotFound(t *testing.T, s storage.Store) {
	must(t, "CreateUser", s.CreateUser(ctx(t), newUser("u1", "ada")))
	tests := []struct {
		name string
		call func() error
	}{
		{"GetUser", func() error { _, err := s.GetUser(ctx(t), "nobody"); return err }},
		{"GetUserByUsername", func() error { _, err := s.GetUserByUsername(ctx(t), "nobody"); return err }},
		{"SetUserPassword", func() error { return s.SetUserPassword(ctx(t), "nobody", "h", base) }},
		{"RehashUserPassword", func() error { return s.RehashUserPassword(ctx(t), "nobody", "h", "h2") }},
		{"SetUserDisabled", func() error { return s.SetUserDisabled(ctx(t), "nobody", true, base) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.name, tc.call(), storage.ErrNotFound)
		})
	}
}

func testUserList(t *testing.T, s storage.Store) {
	got, err := s.ListUsers(ctx(t))
	must(t, "ListUsers on empty store", err)
	if len(got) != 0 {
		t.Fatalf("ListUsers on empty store: got %d users", len(got))
	}
	// IDs sort in the opposite order of usernames, so a list ordered by ID
	// (or by insertion) fails.
	users := []storage.User{
		newUser("u3", "carol"),
		newUser("u1", "erin"),
		newUser("u4", "alice"),
		newUser("u2", "dave"),
		newUser("u0", "bob"),
	}
	for _, u := range users {
		must(t, "CreateUser "+u.ID, s.CreateUser(ctx(t), u))
	}
	got, err = s.ListUsers(ctx(t))
	must(t, "ListUsers", err)
	want := []storage.User{users[2], users[4], users[0], users[3], users[1]}
	wantEqual(t, "ListUsers", want, got)
}

func testUserSetPassword(t *testing.T, s storage.Store) {
	u := newUser("u1", "ada")
	must(t, "CreateUser", s.CreateUser(ctx(t), u))
	changed := at(time.Hour)
	must(t, "SetUserPassword", s.SetUserPassword(ctx(t), "u1", "new-hash", changed))

	got, err := s.GetUser(ctx(t), "u1")
	must(t, "GetUser", err)
	want := u
	want.PasswordHash = "new-hash"
	want.PasswordChangedAt = changed
	want.UpdatedAt = changed
	wantEqual(t, "user after SetUserPassword", want, got)
}

func testUserRehash(t *testing.T, s storage.Store) {
	u := newUser("u1", "ada")
	must(t, "CreateUser", s.CreateUser(ctx(t), u))

	err := s.RehashUserPassword(ctx(t), "u1", "not-the-current-hash", "rehashed")
	wantErr(t, "RehashUserPassword with stale old hash", err, storage.ErrConflict)
	got, err := s.GetUser(ctx(t), "u1")
	must(t, "GetUser", err)
	if got.PasswordHash != u.PasswordHash {
		t.Fatalf("failed RehashUserPassword changed the hash")
	}

	must(t, "RehashUserPassword", s.RehashUserPassword(ctx(t), "u1", u.PasswordHash, "rehashed"))
	got, err = s.GetUser(ctx(t), "u1")
	must(t, "GetUser", err)
	if got.PasswordHash != "rehashed" {
		t.Fatalf("RehashUserPassword did not replace the hash")
	}
	if !EqualTime(got.PasswordChangedAt, u.PasswordChangedAt) {
		t.Fatalf("RehashUserPassword changed PasswordChangedAt to %v, want %v", got.PasswordChangedAt, u.PasswordChangedAt)
	}

	// The old hash no longer matches.
	err = s.RehashUserPassword(ctx(t), "u1", u.PasswordHash, "again")
	wantErr(t, "second RehashUserPassword from the replaced hash", err, storage.ErrConflict)
}

func testUserSetDisabled(t *testing.T, s storage.Store) {
	u := newUser("u1", "ada")
	must(t, "CreateUser", s.CreateUser(ctx(t), u))
	tests := []struct {
		name     string
		disabled bool
		at       time.Time
	}{
		{"Disable", true, at(time.Hour)},
		{"DisableAgain", true, at(2 * time.Hour)},
		{"Enable", false, at(3 * time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			must(t, "SetUserDisabled", s.SetUserDisabled(ctx(t), "u1", tc.disabled, tc.at))
			got, err := s.GetUser(ctx(t), "u1")
			must(t, "GetUser", err)
			want := u
			want.Disabled = tc.disabled
			want.UpdatedAt = tc.at
			wantEqual(t, "user after SetUserDisabled", want, got)
		})
	}
}

func testUserDuplicate(t *testing.T, s storage.Store) {
	orig := newUser("u1", "ada")
	must(t, "CreateUser", s.CreateUser(ctx(t), orig))

	tests := []struct {
		name string
		user storage.User
	}{
		{"SameID", newUser("u1", "grace")},
		{"SameUsername", newUser("u2", "ada")},
		{"SameIDAndUsername", newUser("u1", "ada")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dup := tc.user
			dup.Name = "Impostor"
			dup.PasswordHash = "impostor-hash"
			wantErr(t, "CreateUser duplicate", s.CreateUser(ctx(t), dup), storage.ErrDuplicate)
		})
	}

	got, err := s.GetUser(ctx(t), "u1")
	must(t, "GetUser", err)
	wantEqual(t, "original user after duplicates", orig, got)
	if got.PasswordHash != orig.PasswordHash {
		t.Fatalf("original user's password hash changed by a duplicate create")
	}
	got, err = s.GetUserByUsername(ctx(t), "ada")
	must(t, "GetUserByUsername", err)
	wantEqual(t, "original user by username after duplicates", orig, got)
	// The rejected creates left no trace.
	_, err = s.GetUserByUsername(ctx(t), "grace")
	wantErr(t, "GetUserByUsername of a rejected user", err, storage.ErrNotFound)
	_, err = s.GetUser(ctx(t), "u2")
	wantErr(t, "GetUser of a rejected user", err, storage.ErrNotFound)
	list, err := s.ListUsers(ctx(t))
	must(t, "ListUsers", err)
	wantEqual(t, "ListUsers after duplicates", []storage.User{orig}, list)
}

func testUserSetAdmin(t *testing.T, s storage.Store) {
	u := newUser("u1", "ada")
	u.Admin = false
	must(t, "CreateUser", s.CreateUser(ctx(t), u))
	tests := []struct {
		name  string
		admin bool
		at    time.Time
	}{
		{"Grant", true, at(time.Hour)},
		{"GrantAgain", true, at(2 * time.Hour)},
		{"Revoke", false, at(3 * time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			must(t, "SetUserAdmin", s.SetUserAdmin(ctx(t), "u1", tc.admin, tc.at))
			got, err := s.GetUserByUsername(ctx(t), "ada")
			must(t, "GetUserByUsername", err)
			want := u
			want.Admin = tc.admin
			want.UpdatedAt = tc.at
			wantEqual(t, "user after SetUserAdmin", want, got)
		})
	}
	wantErr(t, "SetUserAdmin of an absent user", s.SetUserAdmin(ctx(t), "nobody", true, base), storage.ErrNotFound)
}

// wantHashSamples checks that PasswordHashSamples returns only stored
// hashes and covers every scheme of want (the stored hashes).
func wantHashSamples(t *testing.T, s storage.Store, want []string) {
	t.Helper()
	got, err := s.PasswordHashSamples(ctx(t))
	must(t, "PasswordHashSamples", err)
	stored := make(map[string]bool)
	schemes := make(map[string]bool)
	for _, h := range want {
		stored[h] = true
		schemes[storage.PasswordHashScheme(h)] = true
	}
	for _, h := range got {
		if !stored[h] {
			t.Fatalf("PasswordHashSamples returned %q, which no user holds (stored %q)", h, want)
		}
		delete(schemes, storage.PasswordHashScheme(h))
	}
	if len(schemes) > 0 {
		t.Fatalf("PasswordHashSamples = %q: no sample of the schemes %v", got, schemes)
	}
}

func testPasswordHashSamples(t *testing.T, s storage.Store) {
	wantHashSamples(t, s, nil)
	bcryptTail := "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	hashes := []string{
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdDE$a2V5MQ",
		"$argon2id$v=19$m=19456,t=2,p=1$c2FsdDI$a2V5Mg",
		"$argon2id$v=19$m=65536,t=3,p=4$c2FsdDM$a2V5Mw",
		"$2b$04$" + bcryptTail + "1",
		"$2b$06$" + bcryptTail + "2",
		"$2b$06$" + bcryptTail + "3",
		"pbkdf2_sha256$870000$salt1$a2V5",
		"pbkdf2_sha256$1200$salt2$a2V5",
		"pbkdf2_sha256$1200$salt3$a2V5",
		"!unusable",
	}
	for i, h := range hashes {
		u := newUser(fmt.Sprintf("u%d", i), fmt.Sprintf("user%d", i))
		u.PasswordHash = h
		must(t, "CreateUser", s.CreateUser(ctx(t), u))
	}
	wantHashSamples(t, s, hashes)

	// A new password's scheme is seen, and the old one's only while a
	// user still holds it.
	newer := "$argon2id$v=19$m=8192,t=4,p=1$c2FsdDQ$a2V5NA"
	must(t, "SetUserPassword", s.SetUserPassword(ctx(t), "u2", newer, at(0)))
	hashes[2] = newer
	rehashed := "$argon2id$v=19$m=19456,t=2,p=1$c2FsdDU$a2V5NQ"
	must(t, "RehashUserPassword", s.RehashUserPassword(ctx(t), "u7", hashes[7], rehashed))
	hashes[7] = rehashed
	wantHashSamples(t, s, hashes)
	got, err := s.PasswordHashSamples(ctx(t))
	must(t, "PasswordHashSamples", err)
	for _, h := range got {
		if sc := storage.PasswordHashScheme(h); sc == "$argon2id$v=19$m=65536,t=3,p=4" {
			t.Fatalf("PasswordHashSamples = %q still has the scheme no user holds any more", got)
		}
	}
}
