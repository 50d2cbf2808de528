package oauth

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sigilauth/sigil/keys/keystest"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/bolt"
)

// FuzzAuthorize runs arbitrary authorization requests, with and without a
// signed-in session, through Service.Authorize. It never panics; a failure
// is an *AuthorizeError; a response (error or code) only ever goes to a
// redirect URI registered for the request's client, carries iss, and
// echoes state; an unverifiable redirect URI gives an error page, never a
// redirect; and a code is only issued to a client allowed the code grant,
// with PKCE S256.
func FuzzAuthorize(f *testing.F) {
	st, err := bolt.Open(filepath.Join(f.TempDir(), "sigil.db"), bolt.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = st.Close() })
	clk := newClock()
	svc, err := New(Config{Issuer: testIssuer}, st, &keystest.Ring{}, Argon2id(testParams), WithClock(clk.Now),
		WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []storage.Client{
		{ID: appID, Name: "The App", Public: true, Grants: []string{"authorization_code", "refresh_token"},
			Scopes: []string{"openid", "profile", "email", "api:read"}, RedirectURIs: []string{appCB, appLoop}},
		{ID: firstID, SecretHash: secretHash(firstSec), Grants: []string{"authorization_code"}, FirstParty: true,
			Scopes: []string{"openid", "profile"}, RedirectURIs: []string{firstCB}},
		{ID: nocodeID, Public: true, Grants: []string{"password"}, Scopes: []string{"openid"}, RedirectURIs: []string{"https://nocode.test/cb"}},
	} {
		if err := st.CreateClient(ctx, c); err != nil {
			f.Fatal(err)
		}
	}
	h, err := Argon2id(testParams).Hash(userPW)
	if err != nil {
		f.Fatal(err)
	}
	if err := st.CreateUser(ctx, storage.User{ID: "42", Username: "alice", PasswordHash: h}); err != nil {
		f.Fatal(err)
	}
	lr, err := svc.Login(ctx, firstParams(), LoginInput{Username: "alice", Password: userPW, RemoteAddr: netip.MustParseAddr(loginAddr)})
	if err != nil {
		f.Fatal(err)
	}
	cookie := lr.SessionCookie

	add := func(p AuthorizeParams, signedIn bool) {
		f.Add(p.ClientID, p.RedirectURI, p.ResponseType, p.ResponseMode, p.Scope, p.State, p.Nonce,
			p.CodeChallenge, p.CodeChallengeMethod, p.Prompt, p.MaxAge, p.LoginHint, signedIn)
	}
	add(appParams(), false)
	add(firstParams(), true)
	p := appParams()
	p.RedirectURI = "http://127.0.0.1:9999/cb"
	add(p, true)
	p = appParams()
	p.RedirectURI = "https://app.test/cb/../evil"
	add(p, false)
	p = firstParams()
	p.Prompt, p.MaxAge, p.ResponseMode = "none", "0", "form_post"
	add(p, true)
	p = appParams()
	p.ClientID, p.CodeChallengeMethod, p.Scope = nocodeID, "plain", "openid offline_access admin"
	p.RedirectURI = "https://nocode.test/cb"
	add(p, false)

	f.Fuzz(func(t *testing.T, clientID, redirectURI, responseType, responseMode, scope, state, nonce,
		challenge, method, prompt, maxAge, loginHint string, signedIn bool) {
		p := AuthorizeParams{ClientID: clientID, RedirectURI: redirectURI, ResponseType: responseType, ResponseMode: responseMode,
			Scope: scope, State: state, Nonce: nonce, CodeChallenge: challenge, CodeChallengeMethod: method,
			Prompt: prompt, MaxAge: maxAge, LoginHint: loginHint}
		c := ""
		if signedIn {
			c = cookie
		}
		res, err := svc.Authorize(ctx, p, c, AuthorizeOptions{})
		client, cerr := st.GetClient(ctx, clientID)
		registered := func(uri string) bool {
			return cerr == nil && uri == redirectURI && redirectURIRegistered(client.RedirectURIs, uri)
		}
		checkResponse := func(r *AuthorizationResponse) {
			if !registered(r.RedirectURI) {
				t.Fatalf("response to unregistered redirect URI %q (client %q)", r.RedirectURI, clientID)
			}
			if r.Params.Get("iss") != testIssuer {
				t.Fatalf("response without iss: %v", r.Params)
			}
			if len(state) <= maxStateLen && r.Params.Get("state") != state {
				t.Fatalf("state %q not echoed: %v", state, r.Params)
			}
		}
		if err != nil {
			var ae *AuthorizeError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T) is not an *AuthorizeError", err, err)
			}
			if ae.Redirect != (ae.Response != nil) {
				t.Fatalf("Redirect %v with response %v", ae.Redirect, ae.Response)
			}
			if ae.Response != nil {
				checkResponse(ae.Response)
				if ae.Response.Params.Get("error") == "" || ae.Response.Params.Has("code") {
					t.Fatalf("error response params %v", ae.Response.Params)
				}
			}
			if len(ae.Description) > 300 {
				t.Fatalf("description of %d bytes echoes the request", len(ae.Description))
			}
			return
		}
		if res == nil {
			t.Fatal("nil result and nil error")
		}
		if cerr != nil || !slices.Contains(client.Grants, GrantAuthorizationCode) || method != "S256" || !registered(redirectURI) {
			t.Fatalf("request accepted (step %v) for client %q, grants %v, method %q, redirect %q", res.Step, clientID, client.Grants, method, redirectURI)
		}
		if res.Step == StepDone {
			if res.Response == nil || res.Response.Params.Get("code") == "" {
				t.Fatalf("StepDone without a code: %+v", res.Response)
			}
			checkResponse(res.Response)
		}
	})
}
