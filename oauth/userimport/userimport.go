// Package userimport reads Django auth_user exports (manage.py dumpdata
// JSON, or CSV) and creates the users in Sigil's storage, keeping their
// password hashes so they log in with their old passwords (the hashes are
// upgraded to argon2id on their first login).
//
// Identity mapping: a Django user's primary key becomes storage.User.ID as
// a decimal string ("42"), so the sub claim is "42" and, with the simplejwt
// profile on, the user_id claim is the number 42, as Django issued it. A
// CSV without an id column gets random (UUID) ids: user_id then differs
// from the Django pk.
//
// Parsing reports every bad row by line and keeps the good ones. Import
// creates each user with one atomic CreateUser; users whose username
// already exists are left untouched, so a second run of the same file
// changes nothing and an interrupted run can simply be repeated.
package userimport

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/sigilauth/sigil/oauth"
	"github.com/sigilauth/sigil/oauth/password"
	"github.com/sigilauth/sigil/storage"
)

// Formats.
const (
	FormatDjangoJSON = "django-json"
	FormatCSV        = "csv"
)

// MaxInput bounds the size of an input file.
const MaxInput = 1 << 30

// Row is one valid user read from the input.
type Row struct {
	// Line is the 1-based line where the record starts.
	Line int
	User storage.User
	// GeneratedID reports that the input had no id for this user.
	GeneratedID bool
}

// RowError reports a skipped row. Messages never contain password hashes.
type RowError struct {
	Line int
	Msg  string
}

// Error implements error.
func (e RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// Parse reads the whole input in the given format. It returns the valid
// rows and one RowError per skipped row; the error is for input that cannot
// be read at all (wrong format, unreadable, not a JSON array, CSV without a
// usable header). now fills CreatedAt when the input has no date_joined, and
// PasswordChangedAt and UpdatedAt.
func Parse(r io.Reader, format string, now time.Time) ([]Row, []RowError, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxInput+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read input: %w", err)
	}
	if len(data) > MaxInput {
		return nil, nil, fmt.Errorf("input larger than %d bytes", MaxInput)
	}
	var rows []Row
	var bad []RowError
	switch format {
	case FormatDjangoJSON:
		rows, bad, err = parseDjangoJSON(data, now)
	case FormatCSV:
		rows, bad, err = parseCSV(data, now)
	default:
		return nil, nil, fmt.Errorf("unknown format %q (want %s or %s)", format, FormatDjangoJSON, FormatCSV)
	}
	if err != nil {
		return nil, nil, err
	}
	rows, dup := dedupe(rows)
	return rows, mergeSorted(bad, dup), nil
}

// lineCounter maps increasing byte offsets of data to line numbers.
type lineCounter struct {
	data []byte
	off  int
	line int
}

func (c *lineCounter) at(off int64) int {
	o := int(off)
	if o > len(c.data) {
		o = len(c.data)
	}
	if o > c.off {
		c.line += bytes.Count(c.data[c.off:o], []byte{'\n'})
		c.off = o
	}
	return c.line + 1
}

// djangoRecord is one dumpdata entry.
type djangoRecord struct {
	Model  string          `json:"model"`
	PK     json.RawMessage `json:"pk"`
	Fields struct {
		Username   *string         `json:"username"`
		Password   *string         `json:"password"`
		Email      string          `json:"email"`
		FirstName  string          `json:"first_name"`
		LastName   string          `json:"last_name"`
		IsActive   *bool           `json:"is_active"`
		DateJoined json.RawMessage `json:"date_joined"`
	} `json:"fields"`
}

func parseDjangoJSON(data []byte, now time.Time) ([]Row, []RowError, error) {
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	lc := &lineCounter{data: data}
	tok, err := d.Token()
	if err != nil || tok != json.Delim('[') {
		return nil, nil, errors.New("django-json: input is not a JSON array (the output of manage.py dumpdata auth.user)")
	}
	var rows []Row
	var bad []RowError
	for d.More() {
		// Skip the separator and whitespace so the offset is the record's.
		start := d.InputOffset()
		for start < int64(len(data)) && (data[start] == ',' || isSpace(data[start])) {
			start++
		}
		line := lc.at(start)
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("django-json: line %d: %w", line, err)
		}
		var rec djangoRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			bad = append(bad, RowError{line, "not a dumpdata record: " + jsonReason(err)})
			continue
		}
		if rec.Fields.Username == nil && rec.Fields.Password == nil {
			if rec.Model != "" && rec.Model != "auth.user" {
				bad = append(bad, RowError{line, fmt.Sprintf("model %q is not a user model", rec.Model)})
			} else {
				bad = append(bad, RowError{line, "record has no username and password fields"})
			}
			continue
		}
		id, err := pkString(rec.PK)
		if err != nil {
			bad = append(bad, RowError{line, err.Error()})
			continue
		}
		u, msg := buildUser(id, deref(rec.Fields.Username), deref(rec.Fields.Password), rec.Fields.Email,
			rec.Fields.FirstName, rec.Fields.LastName, rec.Fields.IsActive == nil || *rec.Fields.IsActive, rawTime(rec.Fields.DateJoined), now)
		if msg != "" {
			bad = append(bad, RowError{line, msg})
			continue
		}
		rows = append(rows, Row{Line: line, User: u})
	}
	if tok, err := d.Token(); err != nil || tok != json.Delim(']') {
		return nil, nil, errors.New("django-json: the JSON array is not terminated")
	}
	return rows, bad, nil
}

func isSpace(b byte) bool { return b == ' ' || b == '\n' || b == '\r' || b == '\t' }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// jsonReason describes a decoding error without quoting the input.
func jsonReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %s has the wrong type", te.Field)
	}
	return "malformed JSON"
}

// rawTime returns a JSON string's content, "" for null or absent.
func rawTime(raw json.RawMessage) string {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		if len(raw) > 0 && string(raw) != "null" {
			return "\x00invalid"
		}
		return ""
	}
	return s
}

// pkString renders a dumpdata pk: an integer as its decimal string, a
// string (UUID primary keys) as itself.
func pkString(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", errors.New("record has no pk")
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil || s == "" || len(s) > 128 {
			return "", errors.New("pk is not a usable string")
		}
		return s, nil
	}
	n, err := strconv.ParseUint(string(raw), 10, 63)
	if err != nil {
		return "", errors.New("pk is not a non-negative integer or a string")
	}
	return strconv.FormatUint(n, 10), nil
}

// csvColumns maps accepted CSV headers to fields; Django auth_user columns
// Sigil has no use for are accepted and ignored.
var csvColumns = map[string]string{
	"id": "id", "pk": "id",
	"username": "username",
	"password": "password", "password_hash": "password",
	"email": "email", "first_name": "first_name", "last_name": "last_name",
	"is_active": "is_active", "date_joined": "date_joined",
	"last_login": "", "is_superuser": "", "is_staff": "",
}

func parseCSV(data []byte, now time.Time) ([]Row, []RowError, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // Excel's BOM
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, nil, fmt.Errorf("csv: read header: %w", err)
	}
	col := map[string]int{}
	var unknown []string
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		f, ok := csvColumns[name]
		switch {
		case !ok:
			unknown = append(unknown, strconv.Quote(h))
		case f == "":
		default:
			if _, dup := col[f]; dup {
				return nil, nil, fmt.Errorf("csv: column %s appears twice", f)
			}
			col[f] = i
		}
	}
	if len(unknown) > 0 {
		return nil, nil, fmt.Errorf("csv: unknown columns %s (accepted: id, username, password, email, first_name, last_name, is_active, date_joined)", strings.Join(unknown, ", "))
	}
	for _, req := range []string{"username", "password"} {
		if _, ok := col[req]; !ok {
			return nil, nil, fmt.Errorf("csv: header lacks the %s column", req)
		}
	}
	var rows []Row
	var bad []RowError
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			// FieldPos is only defined after a successful Read (it panics
			// on a record that failed to parse): take the line from the
			// error.
			line := pe.StartLine
			if line <= 0 {
				line = pe.Line
			}
			bad = append(bad, RowError{line, "malformed CSV: " + pe.Err.Error()})
			continue
		}
		line := 0
		if err == nil {
			line, _ = cr.FieldPos(0)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("csv: %w", err)
		}
		if len(rec) != len(header) {
			bad = append(bad, RowError{line, fmt.Sprintf("has %d fields, the header has %d", len(rec), len(header))})
			continue
		}
		get := func(f string) string {
			if i, ok := col[f]; ok {
				return rec[i]
			}
			return ""
		}
		active := true
		if s := strings.TrimSpace(get("is_active")); s != "" {
			b, ok := parseBool(s)
			if !ok {
				bad = append(bad, RowError{line, fmt.Sprintf("is_active %q is not a boolean", truncate(s))})
				continue
			}
			active = b
		}
		id := strings.TrimSpace(get("id"))
		generated := false
		if _, hasID := col["id"]; !hasID {
			var err error
			if id, err = oauth.NewUserID(); err != nil {
				return nil, nil, err
			}
			generated = true
		} else if id == "" {
			bad = append(bad, RowError{line, "empty id"})
			continue
		} else if n, err := strconv.ParseUint(id, 10, 63); err == nil {
			id = strconv.FormatUint(n, 10)
		}
		u, msg := buildUser(id, get("username"), get("password"), get("email"), get("first_name"), get("last_name"), active, get("date_joined"), now)
		if msg != "" {
			bad = append(bad, RowError{line, msg})
			continue
		}
		rows = append(rows, Row{Line: line, User: u, GeneratedID: generated})
	}
	return rows, bad, nil
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "1", "t", "true", "y", "yes":
		return true, true
	case "0", "f", "false", "n", "no":
		return false, true
	}
	return false, false
}

func truncate(s string) string {
	if len(s) > 32 {
		return s[:32] + "..."
	}
	return s
}

// buildUser validates one record; msg is "" when it is usable.
func buildUser(id, username, hash, email, first, last string, active bool, joined string, now time.Time) (storage.User, string) {
	username = strings.TrimSpace(username)
	if err := oauth.ValidateUsername(username); err != nil {
		return storage.User{}, err.Error()
	}
	if err := oauth.ValidateUserID(id); err != nil {
		return storage.User{}, err.Error()
	}
	if msg := checkHash(hash); msg != "" {
		return storage.User{}, fmt.Sprintf("user %q: %s", username, msg)
	}
	email = strings.TrimSpace(email)
	created := now
	if joined = strings.TrimSpace(joined); joined != "" {
		t, ok := parseTime(joined)
		if !ok {
			return storage.User{}, fmt.Sprintf("user %q: date_joined is not a timestamp", username)
		}
		created = t
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	u := storage.User{
		ID:                id,
		Username:          username,
		Email:             email,
		Name:              strings.TrimSpace(first + " " + last),
		GivenName:         first,
		FamilyName:        last,
		PasswordHash:      hash,
		PasswordChangedAt: now,
		Disabled:          !active,
		CreatedAt:         created.UTC(),
		UpdatedAt:         now,
	}
	// The shared record rules: the same email and name checks as
	// `sigil users add`.
	if err := oauth.ValidateUser(u); err != nil {
		return storage.User{}, fmt.Sprintf("user %q: %s", username, err)
	}
	return u, ""
}

// parseTime accepts what dumpdata and database exports write: RFC 3339
// with or without fraction, with or without zone (naive times are UTC),
// and a space instead of the T.
func parseTime(s string) (time.Time, bool) {
	s = strings.Replace(s, " ", "T", 1)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04:05.999999999Z07", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// checkHash accepts exactly the hashes oauth/password verifies (argon2id
// PHC, bcrypt, Django pbkdf2_sha256, with the cost limits of Verify: it uses
// the same parser, password.ParseHash) and Django's unusable passwords
// ("!..."), which import but never log in. The message names the hasher,
// never the hash.
func checkHash(h string) string {
	if h == "" {
		return "empty password hash"
	}
	_, err := password.ParseHash(h)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, password.ErrMalformed):
		return "malformed " + hashClass(h) + " hash (parameters out of range or bad encoding)"
	}
	algo, _, found := strings.Cut(h, "$")
	if !found || algo == "" || len(algo) > 32 || strings.ContainsFunc(algo, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' }) {
		return "password hash in an unknown format"
	}
	return fmt.Sprintf("unsupported password hasher %q (supported: pbkdf2_sha256, bcrypt, argon2id)", algo)
}

// hashClass names the format of a hash ParseHash recognised by its prefix.
func hashClass(h string) string {
	switch {
	case strings.HasPrefix(h, "$argon2id$"):
		return password.ClassArgon2id
	case strings.HasPrefix(h, "pbkdf2_sha256$"):
		return password.ClassPBKDF2SHA256
	default:
		return password.ClassBcrypt
	}
}

// dedupe drops later rows that repeat an earlier username or id.
func dedupe(rows []Row) ([]Row, []RowError) {
	byName := make(map[string]int, len(rows))
	byID := make(map[string]int, len(rows))
	out := rows[:0]
	var bad []RowError
	for _, r := range rows {
		if l, ok := byName[r.User.Username]; ok {
			bad = append(bad, RowError{r.Line, fmt.Sprintf("username %q repeats line %d", r.User.Username, l)})
			continue
		}
		if l, ok := byID[r.User.ID]; ok {
			bad = append(bad, RowError{r.Line, fmt.Sprintf("id %q repeats line %d", r.User.ID, l)})
			continue
		}
		byName[r.User.Username] = r.Line
		byID[r.User.ID] = r.Line
		out = append(out, r)
	}
	return out, bad
}

// mergeSorted merges two line-sorted lists.
func mergeSorted(a, b []RowError) []RowError {
	out := make([]RowError, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0].Line <= b[0].Line {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// Store is what Import needs from storage.
type Store interface {
	CreateUser(ctx context.Context, u storage.User) error
	GetUserByUsername(ctx context.Context, username string) (storage.User, error)
	// GetUser and GetClient serve oauth.CheckSubjectFree.
	oauth.SubjectLookup
}

// Result counts what Import did.
type Result struct {
	// Created users are new.
	Created int
	// Existing users were already there with the same id (or the input
	// had no id); they were left untouched.
	Existing int
	// Conflicts are rows whose username or id belongs to a different user,
	// or whose id is a client's (oauth.CheckSubjectFree).
	Conflicts []RowError
}

// Import creates the users of rows that do not exist yet. progress, if not
// nil, is called after each row with the number done. A storage failure
// stops the import with an error; the users created so far stay, and
// running the import again continues where it stopped.
func Import(ctx context.Context, st Store, rows []Row, progress func(done int)) (Result, error) {
	var res Result
	for i, r := range rows {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		existing, err := st.GetUserByUsername(ctx, r.User.Username)
		switch {
		case err == nil:
			if r.GeneratedID || existing.ID == r.User.ID {
				res.Existing++
			} else {
				res.Conflicts = append(res.Conflicts, RowError{r.Line,
					fmt.Sprintf("username %q already exists with id %q, not %q", r.User.Username, existing.ID, r.User.ID)})
			}
		case errors.Is(err, storage.ErrNotFound):
			if err := oauth.CheckSubjectFree(ctx, st, oauth.SubjectUser, r.User.ID); errors.Is(err, oauth.ErrSubjectTaken) {
				res.Conflicts = append(res.Conflicts, RowError{r.Line, fmt.Sprintf("user %q: %v", r.User.Username, err)})
				break
			} else if err != nil {
				return res, fmt.Errorf("create user %q (line %d): %w", r.User.Username, r.Line, err)
			}
			err := st.CreateUser(ctx, r.User)
			switch {
			case err == nil:
				res.Created++
			case errors.Is(err, storage.ErrDuplicate):
				res.Conflicts = append(res.Conflicts, RowError{r.Line,
					fmt.Sprintf("id %q or username %q was taken by another user", r.User.ID, r.User.Username)})
			default:
				return res, fmt.Errorf("create user %q (line %d): %w", r.User.Username, r.Line, err)
			}
		default:
			return res, fmt.Errorf("look up user %q (line %d): %w", r.User.Username, r.Line, err)
		}
		if progress != nil {
			progress(i + 1)
		}
	}
	return res, nil
}
