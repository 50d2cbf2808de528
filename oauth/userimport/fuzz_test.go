package userimport

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sigilauth/sigil/oauth"
	"github.com/sigilauth/sigil/oauth/password"
)

// cheap keeps the "!" (unusable) path of password.Verify fast.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1}

// checkRows asserts what every successful Parse promises, whatever the
// input: valid usernames and ids, no two rows with the same username or
// id, line numbers in range and row errors in line order, and every
// accepted hash one that password.Verify can parse (a row that imports
// must be able to log in, issue 12 defect 2).
// noPanic turns a panic of Parse into a test failure, so that one bad
// input fails its own case instead of the whole package's test binary.
func noPanic(t *testing.T) {
	if r := recover(); r != nil {
		t.Fatalf("Parse panicked: %v", r)
	}
}

func checkRows(t *testing.T, data []byte, rows []Row, bad []RowError) {
	t.Helper()
	lines := bytes.Count(data, []byte("\n")) + 1
	names, ids := map[string]bool{}, map[string]bool{}
	for _, r := range rows {
		u := r.User
		if oauth.ValidateUsername(u.Username) != nil || oauth.ValidateUserID(u.ID) != nil {
			t.Fatalf("line %d: accepted invalid username %q or id %q", r.Line, u.Username, u.ID)
		}
		if names[u.Username] || ids[u.ID] {
			t.Fatalf("line %d: username %q or id %q accepted twice", r.Line, u.Username, u.ID)
		}
		names[u.Username], ids[u.ID] = true, true
		if r.Line < 1 || r.Line > lines {
			t.Fatalf("row line %d out of 1..%d", r.Line, lines)
		}
		// An empty password only parses the hash (no derivation).
		if _, _, err := password.Verify(u.PasswordHash, "", cheap); err != nil {
			t.Fatalf("line %d: imported a hash the login cannot use: %v", r.Line, err)
		}
	}
	if !slices.IsSortedFunc(bad, func(a, b RowError) int { return a.Line - b.Line }) {
		t.Fatalf("row errors not in line order: %v", bad)
	}
	for _, e := range bad {
		if e.Line < 1 || e.Line > lines {
			t.Fatalf("row error line %d out of 1..%d: %v", e.Line, lines, e)
		}
	}
}

// FuzzParseDjangoJSON feeds arbitrary bytes to the dumpdata reader.
func FuzzParseDjangoJSON(f *testing.F) {
	f.Add([]byte(dump))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"model":"auth.user","pk":"7","fields":{"username":"a","password":"` + djangoHash + `"}}]`))
	f.Add([]byte(`[{"model":"auth.group","pk":1,"fields":{"name":"x"}},{"pk":1e99,"fields":{"username":"b","password":"!"}}]`))
	f.Add([]byte(`[{"pk":1,"fields":{"username":"c","password":"pbkdf2_sha256$99999999999$s$YWJjZGVmZ2hpamtsbW5vcHFy"}}`))
	f.Add([]byte("{\"not\":\"an array\"}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer noPanic(t)
		rows, bad, err := Parse(bytes.NewReader(data), FormatDjangoJSON, now)
		if err != nil {
			if rows != nil || bad != nil {
				t.Fatal("rows returned with an error")
			}
			return
		}
		checkRows(t, data, rows, bad)
	})
}

// FuzzParseCSV feeds arbitrary bytes to the CSV reader.
func FuzzParseCSV(f *testing.F) {
	f.Add([]byte("id,username,password,email\n1,alice," + djangoHash + ",a@example.com\n2,bob," + bcryptHash + ",\n"))
	f.Add([]byte("\xef\xbb\xbfusername,password,is_active,date_joined\ncarol,!,false,2020-01-02 03:04:05\n"))
	f.Add([]byte("username,password\n\"unterminated,x\n"))
	f.Add([]byte("username,password,first_name,last_name\nd,md5$s$h,D,\ne,$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA,,\n"))
	f.Add([]byte("id,username,password\n007,f," + djangoHash + "\n7,g," + djangoHash + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer noPanic(t)
		rows, bad, err := Parse(bytes.NewReader(data), FormatCSV, now)
		if err != nil {
			if rows != nil || bad != nil {
				t.Fatal("rows returned with an error")
			}
			return
		}
		checkRows(t, data, rows, bad)
	})
}

// FuzzImportRecord writes one user as a CSV row and as a dumpdata record
// (properly quoted) and parses both: each yields exactly one row or one
// row error, never an input error; no message quotes the hash; and when
// both accept, they agree on every field they both carry.
func FuzzImportRecord(f *testing.F) {
	f.Add("1", "alice", djangoHash, "alice@example.com", "Alice", "Liddell", true, "2020-01-02T03:04:05Z")
	f.Add("2", "bob", bcryptHash, "", "", "", false, "")
	f.Add("3", "carol", "sha1$salt$0123456789abcdef0123456789abcdef01234567", "c@x", "", "", true, "")
	f.Add("4", "dave", "pbkdf2_sha256$1$$c2VjcmV0c2VjcmV0c2VjcmV0", "", "", "", true, "yesterday")
	f.Add("5", " spaced ", "!unusable0123456789", " e@example.com ", " A ", " B ", true, "2020-01-02")
	f.Fuzz(func(t *testing.T, id, username, hash, email, first, last string, active bool, joined string) {
		defer noPanic(t)
		var cbuf bytes.Buffer
		w := csv.NewWriter(&cbuf)
		_ = w.Write([]string{"id", "username", "password", "email", "first_name", "last_name", "is_active", "date_joined"})
		_ = w.Write([]string{id, username, hash, email, first, last, strconv.FormatBool(active), joined})
		w.Flush()
		rec := map[string]any{"model": "auth.user", "pk": id, "fields": map[string]any{
			"username": username, "password": hash, "email": email, "first_name": first,
			"last_name": last, "is_active": active, "date_joined": joined}}
		jdata, err := json.Marshal([]any{rec})
		if err != nil {
			t.Fatal(err)
		}
		var got [2]*Row
		for i, in := range []struct {
			format string
			data   []byte
		}{{FormatCSV, cbuf.Bytes()}, {FormatDjangoJSON, jdata}} {
			rows, bad, err := Parse(bytes.NewReader(in.data), in.format, now)
			if err != nil {
				// CSV cannot carry every string (a lone \r, NUL); that is an
				// input error, not a crash.
				if in.format == FormatCSV {
					continue
				}
				t.Fatalf("%s: input error for one well-formed record: %v", in.format, err)
			}
			checkRows(t, in.data, rows, bad)
			if len(rows)+len(bad) != 1 && !(in.format == FormatCSV && len(rows) == 0) {
				t.Fatalf("%s: %d rows and %d errors for one record", in.format, len(rows), len(bad))
			}
			for _, e := range bad {
				if len(hash) >= 8 && strings.Contains(e.Msg, hash) && !strings.Contains(username, hash) {
					t.Fatalf("%s: row error %q quotes the hash", in.format, e.Msg)
				}
			}
			if len(rows) == 1 {
				got[i] = &rows[0]
			}
		}
		if got[0] != nil && got[1] != nil {
			a, b := got[0].User, got[1].User
			a.ID, b.ID = "", ""
			if a != b {
				t.Fatalf("CSV and dumpdata disagree:\n%+v\n%+v", a, b)
			}
		}
	})
}
