package userimport

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/bolt"
)

var now = time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)

const (
	djangoHash = "pbkdf2_sha256$870000$c2FsdHNhbHQ$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXowMTIzNDU="
	bcryptHash = "$2b$12$KIXQJf6bZ1Gq0Z0mYH5bUu5yqfO6Yq3g7G0rjBq1t9Qe0xQ2hF6aW"
)

// dump is dumpdata --indent 2 output with one bad record per kind of
// problem.
const dump = `[
{
  "model": "auth.user",
  "pk": 1,
  "fields": {
    "password": "` + djangoHash + `",
    "last_login": null,
    "is_superuser": true,
    "username": "admin",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada@example.com",
    "is_staff": true,
    "is_active": true,
    "date_joined": "2021-03-04T05:06:07.123Z",
    "groups": [],
    "user_permissions": []
  }
},
{"model": "auth.user", "pk": 2, "fields": {"password": "` + bcryptHash + `", "username": "bob", "is_active": false, "email": "", "first_name": "", "last_name": "", "date_joined": "2022-01-01T00:00:00"}},
{"model": "auth.user", "pk": 3, "fields": {"password": "md5$salt$abc", "username": "old", "email": "", "first_name": "", "last_name": ""}},
{"model": "auth.user", "pk": 4, "fields": {"password": "` + djangoHash + `", "username": "has space"}},
{"model": "auth.group", "pk": 1, "fields": {"name": "staff"}},
{"model": "auth.user", "pk": -5, "fields": {"password": "` + djangoHash + `", "username": "neg"}},
{"model": "auth.user", "pk": 6, "fields": {"password": "` + djangoHash + `", "username": "admin"}},
{"model": "auth.user", "pk": 7, "fields": {"password": "!unusableXYZ", "username": "social", "date_joined": "yesterday"}},
{"model": "auth.user", "pk": 8, "fields": {"password": "!unusableXYZ", "username": "social2", "is_active": "yes"}},
{"model": "auth.user", "pk": 9, "fields": {"password": "pbkdf2_sha256$x$salt$abc", "username": "badpbkdf"}}
]
`

func TestParseDjangoJSON(t *testing.T) {
	rows, bad, err := Parse(strings.NewReader(dump), FormatDjangoJSON, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2: %+v", len(rows), rows)
	}
	ada := rows[0]
	want := storage.User{ID: "1", Username: "admin", Email: "ada@example.com", Name: "Ada Lovelace", GivenName: "Ada", FamilyName: "Lovelace",
		PasswordHash: djangoHash, PasswordChangedAt: now, CreatedAt: time.Date(2021, 3, 4, 5, 6, 7, 123e6, time.UTC), UpdatedAt: now}
	if ada.Line != 2 || ada.User != want {
		t.Fatalf("row %d %+v\nwant line 2 %+v", ada.Line, ada.User, want)
	}
	bob := rows[1]
	if bob.Line != 20 || bob.User.ID != "2" || !bob.User.Disabled || bob.User.PasswordHash != bcryptHash ||
		!bob.User.CreatedAt.Equal(time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("bob %+v", bob)
	}
	wantBad := []struct {
		line int
		msg  string
	}{
		{21, `unsupported password hasher "md5"`},
		{22, "contains spaces"},
		{23, `model "auth.group" is not a user model`},
		{24, "pk is not a non-negative integer"},
		{25, `username "admin" repeats line 2`},
		{26, "date_joined is not a timestamp"},
		{27, "wrong type"},
		{28, "malformed pbkdf2_sha256 hash"},
	}
	if len(bad) != len(wantBad) {
		t.Fatalf("bad rows %v, want %d", bad, len(wantBad))
	}
	for i, w := range wantBad {
		if bad[i].Line != w.line || !strings.Contains(bad[i].Msg, w.msg) {
			t.Errorf("bad[%d] = %v, want line %d containing %q", i, bad[i], w.line, w.msg)
		}
		if strings.Contains(bad[i].Msg, "870000") || strings.Contains(bad[i].Msg, "unusableXYZ") {
			t.Errorf("bad row message leaks a hash: %s", bad[i].Msg)
		}
	}
}

func TestParseDjangoJSONCompact(t *testing.T) {
	in := `[{"model":"auth.user","pk":10,"fields":{"username":"a","password":"` + djangoHash + `"}},{"model":"auth.user","pk":11,"fields":{"username":"b","password":"` + djangoHash + `"}}]`
	rows, bad, err := Parse(strings.NewReader(in), FormatDjangoJSON, now)
	if err != nil || len(bad) != 0 || len(rows) != 2 || rows[1].User.ID != "11" || rows[1].Line != 1 {
		t.Fatalf("rows %+v bad %v err %v", rows, bad, err)
	}
	if !rows[0].User.CreatedAt.Equal(now) {
		t.Fatal("missing date_joined should default to now")
	}
}

func TestParseFileErrors(t *testing.T) {
	tests := []struct {
		name, format, in, want string
	}{
		{"not an array", FormatDjangoJSON, `{"model":"auth.user"}`, "not a JSON array"},
		{"truncated", FormatDjangoJSON, `[{"model":"auth.user","pk":1,`, "line 1"},
		{"unterminated", FormatDjangoJSON, `[{"model":"auth.user","pk":1,"fields":{"username":"a","password":"!x"}}`, "not terminated"},
		{"unknown format", "xml", ``, "unknown format"},
		{"csv unknown column", FormatCSV, "username,password,emial\n", `unknown columns "emial"`},
		{"csv no password", FormatCSV, "username,email\n", "lacks the password column"},
		{"csv empty", FormatCSV, "", "read header"},
		{"csv dup column", FormatCSV, "username,password,password_hash\n", "appears twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse(strings.NewReader(tc.in), tc.format, now)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseCSV(t *testing.T) {
	in := "\xef\xbb\xbfid,username,password,email,first_name,last_name,is_active,is_staff,date_joined\n" +
		"1,admin," + djangoHash + ",ada@example.com,Ada,Lovelace,t,t,2021-03-04 05:06:07+00\n" +
		"2,bob," + bcryptHash + ",,,,f,f,\n" +
		"3,carol,plaintext,,,,true,f,\n" +
		"4,dave," + djangoHash + ",,,,maybe,f,\n" +
		"5,erin," + djangoHash + ",not-an-email,,,1,f,\n" +
		"6,\"multi\nline\"," + djangoHash + ",,,,1,f,\n" +
		"7,frank\n" +
		"007,gina," + djangoHash + ",,,,1,f,\n" +
		",hank," + djangoHash + ",,,,1,f,\n"
	rows, bad, err := Parse(strings.NewReader(in), FormatCSV, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || rows[0].User.Name != "Ada Lovelace" || rows[0].Line != 2 || !rows[1].User.Disabled || rows[2].User.ID != "7" || rows[2].User.Username != "gina" {
		t.Fatalf("rows %+v", rows)
	}
	if !rows[0].User.CreatedAt.Equal(time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)) {
		t.Fatalf("date_joined %v", rows[0].User.CreatedAt)
	}
	wantLines := []int{4, 5, 6, 7, 9, 11}
	if len(bad) != len(wantLines) {
		t.Fatalf("bad %v", bad)
	}
	for i, l := range wantLines {
		if bad[i].Line != l {
			t.Errorf("bad[%d] = %v, want line %d", i, bad[i], l)
		}
	}
	if strings.Contains(bad[0].Msg, "plaintext") {
		t.Errorf("message quotes the hash: %s", bad[0].Msg)
	}
}

func TestParseCSVWithoutIDGeneratesIDs(t *testing.T) {
	rows, bad, err := Parse(strings.NewReader("username,password_hash\nann,"+djangoHash+"\n"), FormatCSV, now)
	if err != nil || len(bad) != 0 || len(rows) != 1 {
		t.Fatalf("%v %v %v", rows, bad, err)
	}
	if !rows[0].GeneratedID || len(rows[0].User.ID) != 36 {
		t.Fatalf("generated id %q", rows[0].User.ID)
	}
}

func openStore(t *testing.T) *bolt.Store {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestImportIdempotent(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	rows, _, err := Parse(strings.NewReader(dump), FormatDjangoJSON, now)
	if err != nil {
		t.Fatal(err)
	}
	var progress []int
	res, err := Import(ctx, st, rows, func(done int) { progress = append(progress, done) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 2 || res.Existing != 0 || len(res.Conflicts) != 0 || len(progress) != 2 || progress[1] != 2 {
		t.Fatalf("first run %+v progress %v", res, progress)
	}
	u, err := st.GetUserByUsername(ctx, "admin")
	if err != nil || u.ID != "1" || u.PasswordHash != djangoHash {
		t.Fatalf("imported user %+v %v", u, err)
	}
	// The user changes password in Sigil; a second import must not undo it.
	if err := st.SetUserPassword(ctx, "1", "$argon2id$new", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	res, err = Import(ctx, st, rows, nil)
	if err != nil || res.Created != 0 || res.Existing != 2 || len(res.Conflicts) != 0 {
		t.Fatalf("second run %+v %v", res, err)
	}
	if u, _ := st.GetUserByUsername(ctx, "admin"); u.PasswordHash != "$argon2id$new" {
		t.Fatal("second import overwrote a changed password")
	}
	// Conflicts: same username with another id, same id with another name.
	clash := []Row{
		{Line: 3, User: storage.User{ID: "99", Username: "admin", PasswordHash: djangoHash}},
		{Line: 4, User: storage.User{ID: "2", Username: "robert", PasswordHash: djangoHash}},
	}
	res, err = Import(ctx, st, clash, nil)
	if err != nil || len(res.Conflicts) != 2 || res.Conflicts[0].Line != 3 || res.Conflicts[1].Line != 4 {
		t.Fatalf("conflicts %+v %v", res, err)
	}
}

type downStore struct{ *bolt.Store }

func (downStore) CreateUser(context.Context, storage.User) error {
	return errors.New("connection reset")
}

func TestImportStopsOnStorageFailure(t *testing.T) {
	rows, _, _ := Parse(strings.NewReader(dump), FormatDjangoJSON, now)
	_, err := Import(context.Background(), downStore{openStore(t)}, rows, nil)
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v", err)
	}
}

// TestParseRefusesHashesVerifyRefuses checks that the import refuses, by
// line, every hash that password.Verify would refuse at each login (issue
// 12, defect 2): such users would import but never log in.
func TestParseRefusesHashesVerifyRefuses(t *testing.T) {
	const argon = "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	tests := []struct {
		name, hash, want string
	}{
		{"pbkdf2 over the iteration cap", "pbkdf2_sha256$20000000$c2FsdHNhbHQ$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXowMTIzNDU=", "malformed pbkdf2_sha256 hash"},
		{"argon2id memory out of range", strings.Replace(argon, "m=256", "m=4294967295", 1), "malformed argon2id hash"},
		{"argon2id zero passes", strings.Replace(argon, "t=2", "t=0", 1), "malformed argon2id hash"},
		{"argon2id short salt", strings.Replace(argon, "c29tZXNhbHQ", "c29tZQ", 1), "malformed argon2id hash"},
		{"argon2id bad version", strings.Replace(argon, "v=19", "v=16", 1), "malformed argon2id hash"},
		{"bcrypt salt outside its alphabet", "$2b$12$KIXQJf6bZ1Gq0Z0mYH5b+u5yqfO6Yq3g7G0rjBq1t9Qe0xQ2hF6aW", "malformed bcrypt hash"},
		{"bcrypt cost out of range", "$2b$99$KIXQJf6bZ1Gq0Z0mYH5bUu5yqfO6Yq3g7G0rjBq1t9Qe0xQ2hF6aW", "malformed bcrypt hash"},
		// bcrypt accepts cost 31 (hours of CPU per login); Sigil stops at 16.
		{"bcrypt cost over the cap", "$2b$17$KIXQJf6bZ1Gq0Z0mYH5bUu5yqfO6Yq3g7G0rjBq1t9Qe0xQ2hF6aW", "malformed bcrypt hash"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := "id,username,password\n1,ok,\"" + argon + "\"\n2,bad,\"" + tc.hash + "\"\n"
			rows, bad, err := Parse(strings.NewReader(in), FormatCSV, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 1 || rows[0].User.Username != "ok" {
				t.Fatalf("rows %+v bad %v, want only the good one", rows, bad)
			}
			if len(bad) != 1 || bad[0].Line != 3 || !strings.Contains(bad[0].Msg, tc.want) {
				t.Fatalf("bad %v, want line 3: %q", bad, tc.want)
			}
			for _, part := range strings.Split(tc.hash, "$") {
				if len(part) >= 8 && part != "pbkdf2_sha256" && part != "argon2id" && strings.Contains(bad[0].Msg, part) {
					t.Fatalf("message %q quotes the hash", bad[0].Msg)
				}
			}
		})
	}
}

// TestImportRefusesClientIDs checks that a user whose id is a client's is
// not imported (issue 12, defect 5): both would get tokens with the same
// sub.
func TestImportRefusesClientIDs(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	if err := st.CreateClient(ctx, storage.Client{ID: "42", Grants: []string{"client_credentials"}, SecretHash: make([]byte, 32), CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	rows := []Row{
		{Line: 2, User: storage.User{ID: "41", Username: "ann", PasswordHash: djangoHash, CreatedAt: now}},
		{Line: 3, User: storage.User{ID: "42", Username: "bea", PasswordHash: djangoHash, CreatedAt: now}},
	}
	res, err := Import(ctx, st, rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 1 || len(res.Conflicts) != 1 || res.Conflicts[0].Line != 3 || !strings.Contains(res.Conflicts[0].Msg, "client") {
		t.Fatalf("result %+v, want ann created and line 3 refused as a client's id", res)
	}
	if _, err := st.GetUser(ctx, "42"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("user 42 was created (err %v)", err)
	}
}
