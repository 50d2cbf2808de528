package oauth

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sigilauth/sigil/oauth/password"
	"github.com/sigilauth/sigil/storage"
)

// TestIntrospectionRights: a client sees tokens issued to it and access
// tokens whose audience it is; IntrospectAny sees everything; any other
// client gets {"active": false} for a live token.
func TestIntrospectionRights(t *testing.T) {
	e := newEnv(t, nil)
	const rsSecret = "0123456789abcdef0123456789abcdef-rs"
	const anySecret = "0123456789abcdef0123456789abcdef-any"
	for _, c := range []storage.Client{
		// A resource server: its id is the audience of web's access tokens.
		{ID: "https://api.test", SecretHash: secretHash(rsSecret), Grants: []string{"client_credentials"}, CreatedAt: e.clock.Now()},
		{ID: "auditor", SecretHash: secretHash(anySecret), Grants: []string{"client_credentials"}, IntrospectAny: true, CreatedAt: e.clock.Now()},
	} {
		if err := e.store.Store.CreateClient(e.ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	r := e.login("openid api:read")
	svcTok, err := e.svc.Token(e.ctx, TokenRequest{GrantType: GrantClientCredentials, Client: basic(ccID, ccSecret)})
	if err != nil {
		t.Fatal(err)
	}
	web := basic(confID, confSecret)
	svc := basic(ccID, ccSecret)
	rs := basic("https://api.test", rsSecret)
	auditor := basic("auditor", anySecret)
	tests := []struct {
		name   string
		client ClientCredentials
		token  string
		active bool
	}{
		{"own access token", web, r.AccessToken, true},
		{"own refresh token", web, r.RefreshToken, true},
		{"own client_credentials token", svc, svcTok.AccessToken, true},
		{"unrelated client, access token", svc, r.AccessToken, false},
		{"unrelated client, refresh token", svc, r.RefreshToken, false},
		{"unrelated client, client_credentials token", web, svcTok.AccessToken, false},
		{"audience, access token", rs, r.AccessToken, true},
		{"audience, refresh token", rs, r.RefreshToken, false},
		{"introspect any, access token", auditor, r.AccessToken, true},
		{"introspect any, refresh token", auditor, r.RefreshToken, true},
		{"introspect any, client_credentials token", auditor, svcTok.AccessToken, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in, err := e.svc.Introspect(e.ctx, IntrospectRequest{Client: tc.client, Token: tc.token})
			if err != nil {
				t.Fatal(err)
			}
			if in.Active != tc.active {
				t.Fatalf("active = %v, want %v (%+v)", in.Active, tc.active, in)
			}
			if b, _ := json.Marshal(in); !in.Active && string(b) != `{"active":false}` {
				t.Fatalf("inactive answer %s carries data", b)
			}
		})
	}
}

// TestAccessTokenUserState: introspection and userinfo refuse alike the
// access token of a user who is disabled or changed password after the
// login, and accept it when the change came before.
func TestAccessTokenUserState(t *testing.T) {
	tests := []struct {
		name   string
		change func(e *env)
		active bool
		reason Reason
	}{
		{"unchanged", func(*env) {}, true, ""},
		{"disabled", func(e *env) {
			if err := e.store.Store.SetUserDisabled(e.ctx, "42", true, e.clock.Now()); err != nil {
				e.t.Fatal(err)
			}
		}, false, ReasonUserInactive},
		{"password changed after login", func(e *env) {
			e.setPassword(e.clock.Now().Add(time.Second))
		}, false, ReasonPasswordChanged},
		{"password changed in the login's second", func(e *env) {
			e.setPassword(e.clock.Now())
		}, true, ""},
		{"password changed before login", func(e *env) {
			e.setPassword(e.clock.Now().Add(-time.Hour))
		}, true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			r := e.login("openid")
			tc.change(e)
			in, err := e.svc.Introspect(e.ctx, IntrospectRequest{Client: basic(confID, confSecret), Token: r.AccessToken})
			if err != nil {
				t.Fatal(err)
			}
			if in.Active != tc.active {
				t.Fatalf("introspection active = %v, want %v", in.Active, tc.active)
			}
			_, err = e.svc.UserInfo(e.ctx, r.AccessToken)
			if tc.active {
				if err != nil {
					t.Fatalf("userinfo: %v", err)
				}
				return
			}
			if got := wantErr(t, err, CodeInvalidToken, 401); got.Reason != tc.reason {
				t.Fatalf("userinfo reason %s, want %s", got.Reason, tc.reason)
			}
		})
	}
}

// setPassword gives alice a new password changed at at.
func (e *env) setPassword(at time.Time) {
	e.t.Helper()
	h, err := password.Hash("a new password", testParams)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.store.Store.SetUserPassword(e.ctx, "42", h, at); err != nil {
		e.t.Fatal(err)
	}
}
