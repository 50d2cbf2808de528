package oauth

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/sigilauth/sigil/storage"
)

func TestValidateRecordFields(t *testing.T) {
	tests := []struct {
		name    string
		check   func() error
		wantErr string // "" means valid
	}{
		{"username ok", func() error { return ValidateUsername("alice.o'hara@corp") }, ""},
		{"username empty", func() error { return ValidateUsername("") }, "empty user name"},
		{"username space", func() error { return ValidateUsername("a b") }, "contains spaces"},
		{"username control", func() error { return ValidateUsername("a\x01b") }, "control"},
		{"username bad utf8", func() error { return ValidateUsername("a\xffb") }, "UTF-8"},
		{"username 150", func() error { return ValidateUsername(strings.Repeat("é", 150)) }, ""},
		{"username 151", func() error { return ValidateUsername(strings.Repeat("é", 151)) }, "longer than 150"},
		{"email empty", func() error { return ValidateEmail("") }, ""},
		{"email ok", func() error { return ValidateEmail("ada@example.com") }, ""},
		{"email no at", func() error { return ValidateEmail("not-an-email") }, "invalid email"},
		{"email with name", func() error { return ValidateEmail("Ada <ada@example.com>") }, "invalid email"},
		{"email with space", func() error { return ValidateEmail("ada @example.com") }, "invalid email"},
		{"display name control", func() error { return ValidateDisplayName("a\nb") }, "control"},
		{"display name long", func() error { return ValidateDisplayName(strings.Repeat("x", 257)) }, "longer than 256"},
		{"client id ok", func() error { return ValidateClientID("web-app_1.example") }, ""},
		{"client id colon", func() error { return ValidateClientID("a:b") }, "client id"},
		{"client id space", func() error { return ValidateClientID("a b") }, "client id"},
		{"client id empty", func() error { return ValidateClientID("") }, "empty client id"},
		{"client id long", func() error { return ValidateClientID(strings.Repeat("c", 256)) }, "longer than 255"},
		{"grants ok", func() error { return ValidateGrants([]string{"password", "refresh_token"}, true) }, ""},
		{"grants none", func() error { return ValidateGrants(nil, false) }, "no grants"},
		{"grants unknown", func() error { return ValidateGrants([]string{"implicit"}, false) }, `unknown grant "implicit"`},
		{"grants public cc", func() error { return ValidateGrants([]string{"client_credentials"}, true) }, "public client"},
		{"scopes ok", func() error { return ValidateScopes([]string{"openid", "api:read"}) }, ""},
		{"scopes none", func() error { return ValidateScopes(nil) }, "no scopes"},
		{"scope quote", func() error { return ValidateScopes([]string{`a"b`}) }, "invalid scope"},
		{"scope backslash", func() error { return ValidateScopes([]string{`a\b`}) }, "invalid scope"},
		{"scope empty", func() error { return ValidateScopes([]string{""}) }, "invalid scope"},
		{"audience blank", func() error { return ValidateAudience(" ") }, "invalid audience"},
		{"signing alg HS256", func() error { return ValidateSigningAlg("HS256") }, "HS256"},
		{"user ok", func() error { return ValidateUser(storage.User{ID: "42", Username: "ann", Email: "ann@example.com"}) }, ""},
		{"user empty id", func() error { return ValidateUser(storage.User{Username: "ann"}) }, "id"},
		{"client ok", func() error {
			return ValidateClient(storage.Client{ID: "svc", Grants: []string{"client_credentials"}, Scopes: []string{"api"}, Audiences: []string{"https://api"}})
		}, ""},
		{"client bad alg", func() error {
			return ValidateClient(storage.Client{ID: "svc", Grants: []string{"password"}, Scopes: []string{"api"}, TokenSigningAlg: "none"})
		}, "signing algorithm"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestNewUserIDIsUUIDv4(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 20 {
		id, err := NewUserID()
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(id) || seen[id] {
			t.Fatalf("id %q is not a fresh UUIDv4", id)
		}
		seen[id] = true
	}
}

// errLookup fails every lookup.
type errLookup struct{}

func (errLookup) GetUser(context.Context, string) (storage.User, error) {
	return storage.User{}, errors.New("storage down")
}
func (errLookup) GetClient(context.Context, string) (storage.Client, error) {
	return storage.Client{}, errors.New("storage down")
}

// TestCheckSubjectFree checks the rule that no user id equals a client id
// (issue 12, defect 5): the env has client "web" and user "42".
func TestCheckSubjectFree(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name, kind, id string
		st             SubjectLookup
		want           error // nil, ErrSubjectTaken, or errAny
	}{
		{name: "user named like a client", kind: SubjectUser, id: confID, want: ErrSubjectTaken},
		{name: "client named like a user", kind: SubjectClient, id: "42", want: ErrSubjectTaken},
		{name: "free user id", kind: SubjectUser, id: "43"},
		{name: "free client id", kind: SubjectClient, id: "new-client"},
		{name: "user id held by a user is the store's duplicate, not this rule", kind: SubjectUser, id: "42"},
		{name: "client id held by a client likewise", kind: SubjectClient, id: confID},
		{name: "storage failure", kind: SubjectClient, id: "x", st: errLookup{}, want: errAny},
		{name: "unknown kind", kind: "robot", id: "x", want: errAny},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := tc.st
			if st == nil {
				st = e.store
			}
			err := CheckSubjectFree(e.ctx, st, tc.kind, tc.id)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("err = %v, want nil", err)
			case tc.want == errAny && (err == nil || errors.Is(err, ErrSubjectTaken)):
				t.Fatalf("err = %v, want an error that is not ErrSubjectTaken", err)
			case tc.want == ErrSubjectTaken && !errors.Is(err, ErrSubjectTaken):
				t.Fatalf("err = %v, want ErrSubjectTaken", err)
			}
		})
	}
}

var errAny = errors.New("any error")
