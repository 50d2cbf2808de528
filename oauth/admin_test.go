package oauth

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

func newTestAdmin(e *env) *Admin {
	return NewAdmin(e.store.Store, e.hasher, AdminConfig{Replica: "r1", Algorithms: []string{"ES256"}, Now: e.clock.Now})
}

func wantAdminErr(t *testing.T, err error, kind AdminErrorKind) {
	t.Helper()
	var ae *AdminError
	if !errors.As(err, &ae) || ae.Kind != kind {
		t.Fatalf("error = %v, want AdminError kind %d", err, kind)
	}
}

func TestAdminUsers(t *testing.T) {
	e := newEnv(t, nil)
	a := newTestAdmin(e)
	tests := []struct {
		name string
		in   NewUser
		kind AdminErrorKind
	}{
		{"OK", NewUser{Username: "bob", Password: "pw-bob-123", Email: "bob@example.com", Admin: true}, 0},
		{"Taken", NewUser{Username: "alice", Password: "x"}, AdminConflict},
		{"BadName", NewUser{Username: "b o b", Password: "x"}, AdminInvalid},
		{"BadEmail", NewUser{Username: "carol", Password: "x", Email: "nope"}, AdminInvalid},
		{"NoPassword", NewUser{Username: "dave"}, AdminInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, err := a.AddUser(e.ctx, "root", tc.in)
			if tc.kind != 0 {
				wantAdminErr(t, err, tc.kind)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := e.store.GetUserByUsername(e.ctx, tc.in.Username)
			if err != nil || got.ID != u.ID || !got.Admin {
				t.Fatalf("stored user %+v, %v", got, err)
			}
			if ok, _, _ := e.hasher.Verify(got.PasswordHash, tc.in.Password); !ok {
				t.Fatal("stored hash does not verify the password")
			}
		})
	}

	// A disable ends the user's refresh families.
	tok := e.login("offline_access")
	if err := a.SetUserDisabled(e.ctx, "root", "alice", true, "left"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.refresh(tok.RefreshToken); err == nil {
		t.Fatal("refresh after disable succeeded")
	}
	if err := a.SetUserDisabled(e.ctx, "root", "alice", false, ""); err != nil {
		t.Fatal(err)
	}
	if err := a.SetUserAdmin(e.ctx, "root", "alice", true); err != nil {
		t.Fatal(err)
	}
	if err := a.SetUserPassword(e.ctx, "root", "alice", "new password"); err != nil {
		t.Fatal(err)
	}
	wantAdminErr(t, a.SetUserAdmin(e.ctx, "root", "nobody", true), AdminNotFound)
	wantAdminErr(t, a.SetUserPassword(e.ctx, "root", "alice", ""), AdminInvalid)

	page, next, err := a.Audit(e.ctx, AuditKindUser, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range page {
		if en.Actor != "root" || en.Replica != "r1" || en.Kind != AuditKindUser {
			t.Fatalf("entry %+v", en)
		}
		actions = append(actions, en.Action+":"+en.Target)
	}
	want := []string{"set-password:alice", "set-admin:alice", "enable:alice", "disable:alice", "add:bob"}
	if next != "" || len(actions) != len(want) {
		t.Fatalf("audit = %v (next %q), want %v", actions, next, want)
	}
	for i := range want {
		if actions[i] != want[i] {
			t.Fatalf("audit = %v, want %v", actions, want)
		}
	}
	if page[3].Reason != "left" {
		t.Fatalf("disable reason %q", page[3].Reason)
	}
}

func TestAdminClients(t *testing.T) {
	e := newEnv(t, nil)
	a := newTestAdmin(e)
	ops := storage.Client{ID: "ops", Grants: []string{GrantClientCredentials}, Scopes: []string{ScopeAdmin}}
	tests := []struct {
		name   string
		c      storage.Client
		secret string
		kind   AdminErrorKind
	}{
		{"Generated", ops, "", 0},
		{"Taken", ops, "", AdminConflict},
		{"Given", storage.Client{ID: "c2", Grants: []string{GrantClientCredentials}, Scopes: []string{"a"}}, "0123456789abcdef0123456789abcdef", 0},
		{"ShortSecret", storage.Client{ID: "c3", Grants: []string{GrantClientCredentials}, Scopes: []string{"a"}}, "short", AdminInvalid},
		{"PublicWithSecret", storage.Client{ID: "c4", Public: true, Grants: []string{GrantPassword}, Scopes: []string{"a"}}, "0123456789abcdef0123456789abcdef", AdminInvalid},
		{"AlgNotConfigured", storage.Client{ID: "c5", Grants: []string{GrantClientCredentials}, Scopes: []string{"a"}, TokenSigningAlg: "RS256"}, "", AdminInvalid},
		{"NoGrants", storage.Client{ID: "c6", Scopes: []string{"a"}}, "", AdminInvalid},
		{"IntrospectAny", storage.Client{ID: "rs", Grants: []string{GrantClientCredentials}, Scopes: []string{"a"}, IntrospectAny: true}, "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, secret, err := a.AddClient(e.ctx, "root", tc.c, tc.secret)
			if tc.kind != 0 {
				wantAdminErr(t, err, tc.kind)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(secret) < MinClientSecretLen || (tc.secret != "" && secret != tc.secret) {
				t.Fatalf("secret %q", secret)
			}
			got, _ := e.store.GetClient(e.ctx, c.ID)
			if string(got.SecretHash) != string(HashClientSecret(secret)) {
				t.Fatal("stored hash is not the secret's")
			}
			if got.IntrospectAny != tc.c.IntrospectAny {
				t.Fatalf("stored IntrospectAny %t, want %t", got.IntrospectAny, tc.c.IntrospectAny)
			}
			// The audit entry of the registration names the privilege.
			entries, _, err := a.Audit(e.ctx, AuditKindClient, "", MaxAuditPage)
			if err != nil {
				t.Fatal(err)
			}
			wantReason := map[bool]string{true: AuditIntrospectAny, false: ""}[tc.c.IntrospectAny]
			found := false
			for _, en := range entries {
				if en.Action == "add" && en.Target == c.ID {
					found = en.Actor == "root" && en.Reason == wantReason
				}
			}
			if !found {
				t.Fatalf("no add entry for %s with reason %q in %+v", c.ID, wantReason, entries)
			}
		})
	}
	old, _ := e.store.GetClient(e.ctx, "ops")
	secret, err := a.RotateClientSecret(e.ctx, "root", "ops")
	if err != nil {
		t.Fatal(err)
	}
	now, _ := e.store.GetClient(e.ctx, "ops")
	if string(now.SecretHash) == string(old.SecretHash) || string(now.SecretHash) != string(HashClientSecret(secret)) {
		t.Fatal("secret not rotated")
	}
	_, err = a.RotateClientSecret(e.ctx, "root", pubID)
	wantAdminErr(t, err, AdminInvalid)
	if err := a.DeleteClient(e.ctx, "root", "ops", "decommissioned"); err != nil {
		t.Fatal(err)
	}
	wantAdminErr(t, a.DeleteClient(e.ctx, "root", "ops", ""), AdminNotFound)
}

func TestAdminAuditMergesKeyEventsAndPages(t *testing.T) {
	e := newEnv(t, nil)
	a := newTestAdmin(e)
	for i, id := range []string{"k1", "k2", "k3"} {
		ev := storage.KeyEvent{ID: a.NewAuditID(e.clock.Now()), Time: e.clock.Now(), KID: id, Alg: "ES256", Action: "create", Actor: "r1"}
		if err := e.store.AppendKeyEvent(e.ctx, ev); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second)
		if _, err := a.AddUser(e.ctx, "root", NewUser{Username: "u" + string(rune('a'+i)), Password: "pw"}); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Second)
	}
	var all []string
	before := ""
	for range 10 {
		page, next, err := a.Audit(e.ctx, "", before, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range page {
			all = append(all, en.Target)
		}
		if next == "" {
			break
		}
		before = next
	}
	want := []string{"uc", "k3", "ub", "k2", "ua", "k1"}
	if len(all) != len(want) {
		t.Fatalf("paged audit = %v, want %v", all, want)
	}
	for i := range want {
		if all[i] != want[i] {
			t.Fatalf("paged audit = %v, want %v", all, want)
		}
	}
	keysOnly, _, err := a.Audit(e.ctx, AuditKindKey, "", 10)
	if err != nil || len(keysOnly) != 3 {
		t.Fatalf("key audit = %v, %v", keysOnly, err)
	}
	_, _, err = a.Audit(e.ctx, "bogus", "", 0)
	wantAdminErr(t, err, AdminInvalid)
	_, _, err = a.Audit(e.ctx, "", "", 201)
	wantAdminErr(t, err, AdminInvalid)
}

func TestAdminActor(t *testing.T) {
	e := newEnv(t, nil)
	ctx := e.ctx
	// The confidential client may ask for sigil:admin.
	c, _ := e.store.GetClient(ctx, confID)
	c.Scopes = append(c.Scopes, ScopeAdmin)
	_ = e.store.DeleteClient(ctx, confID)
	if err := e.store.CreateClient(ctx, c); err != nil {
		t.Fatal(err)
	}
	cc, _ := e.store.GetClient(ctx, ccID)
	cc.Scopes = append(cc.Scopes, ScopeAdmin)
	_ = e.store.DeleteClient(ctx, ccID)
	if err := e.store.CreateClient(ctx, cc); err != nil {
		t.Fatal(err)
	}
	ccTok := func(scope string) string {
		r, err := e.svc.Token(ctx, TokenRequest{GrantType: GrantClientCredentials, Client: basic(ccID, ccSecret), Scope: scope})
		if err != nil {
			t.Fatal(err)
		}
		return r.AccessToken
	}
	userAdmin := e.login(ScopeAdmin).AccessToken
	if err := e.store.SetUserAdmin(ctx, "42", true, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	adminTok := e.login(ScopeAdmin).AccessToken
	expiring := ccTok(ScopeAdmin)
	tests := []struct {
		name    string
		tok     string
		setup   func()
		want    string
		wantErr error
	}{
		{"ClientToken", ccTok(ScopeAdmin), nil, ccID, nil},
		{"ClientWithoutScope", ccTok("api:read"), nil, "", ErrAdminTokenForbidden},
		{"AdminUser", adminTok, nil, "alice", nil},
		{"UserTokenBeforeAdmin", userAdmin, nil, "alice", nil}, // admin is checked now, not at issue
		{"Empty", "", nil, "", ErrAdminTokenInvalid},
		{"Garbage", "a.b.c", nil, "", ErrAdminTokenInvalid},
		{"NotAdminAnyMore", adminTok, func() { _ = e.store.SetUserAdmin(ctx, "42", false, e.clock.Now()) }, "", ErrAdminTokenForbidden},
		{"DisabledAdmin", adminTok, func() {
			_ = e.store.SetUserAdmin(ctx, "42", true, e.clock.Now())
			_ = e.store.SetUserDisabled(ctx, "42", true, e.clock.Now())
		}, "", ErrAdminTokenForbidden},
		{"Expired", expiring, func() { e.clock.Advance(time.Hour) }, "", ErrAdminTokenInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			got, err := e.svc.AdminActor(ctx, tc.tok)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("AdminActor = %q, %v; want %v", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("AdminActor = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestAdminClientChangesSkipClientCache checks that client changes made
// through an Admin wired to the Service apply to it at once, although the
// Service caches client registrations: a rotated secret, and a deletion.
func TestAdminClientChangesSkipClientCache(t *testing.T) {
	e := newEnv(t, nil)
	a := NewAdmin(e.store.Store, e.hasher, AdminConfig{Replica: "r1", Algorithms: []string{"ES256"}, Now: e.clock.Now, ClientChanged: e.svc.ForgetClient})
	cc := func(secret string) error {
		_, err := e.svc.Token(e.ctx, TokenRequest{GrantType: GrantClientCredentials, Client: basic(ccID, secret)})
		return err
	}
	if err := cc(ccSecret); err != nil {
		t.Fatal(err) // now cached
	}
	secret, err := a.RotateClientSecret(e.ctx, "root", ccID)
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, cc(ccSecret), CodeInvalidClient, http.StatusUnauthorized)
	if err := cc(secret); err != nil {
		t.Fatalf("new secret: %v", err)
	}
	if err := a.DeleteClient(e.ctx, "root", ccID, "gone"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, cc(secret), CodeInvalidClient, http.StatusUnauthorized)
}

// TestClientCacheNewSecretWorksAtOnce checks that a secret changed by
// another process (no ForgetClient) works at once: a secret that does not
// match the cached registration is checked against the store.
func TestClientCacheNewSecretWorksAtOnce(t *testing.T) {
	e := newEnv(t, nil)
	cc := func(secret string) error {
		_, err := e.svc.Token(e.ctx, TokenRequest{GrantType: GrantClientCredentials, Client: basic(ccID, secret)})
		return err
	}
	if err := cc(ccSecret); err != nil {
		t.Fatal(err)
	}
	const newSecret = "another-0123456789abcdef0123456789abcdef"
	if err := e.store.Store.SetClientSecret(e.ctx, ccID, secretHash(newSecret)); err != nil {
		t.Fatal(err)
	}
	if err := cc(newSecret); err != nil {
		t.Fatalf("new secret set elsewhere: %v", err)
	}
	// The re-read replaced the cached copy: the old secret fails too.
	wantErr(t, cc(ccSecret), CodeInvalidClient, http.StatusUnauthorized)
}
