package tests

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TestOAuthInterop runs unmodified third-party clients against the server:
// golang.org/x/oauth2 (password grant, then a TokenSource that refreshes
// and keeps the rotated refresh token) and coreos/go-oidc (discovery, ID
// token verification against the JWKS, at_hash, userinfo).
func TestOAuthInterop(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		// An access lifetime under x/oauth2's 10 s expiry margin makes every
		// TokenSource call refresh.
		e := newOAuthEnv(t, b, map[string]string{"tokens.access_ttl": "5s"})
		e.start()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()

		provider, err := oidc.NewProvider(ctx, e.Issuer)
		if err != nil {
			t.Fatalf("go-oidc discovery: %v", err)
		}
		for _, tc := range []struct {
			name string
			conf oauth2.Config
		}{
			{"confidential client, auto-detected auth style", oauth2.Config{ClientID: webID, ClientSecret: webSecret,
				Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}},
			{"confidential client, secret in body", oauth2.Config{ClientID: webID, ClientSecret: webSecret,
				Endpoint: withStyle(provider.Endpoint(), oauth2.AuthStyleInParams), Scopes: []string{oidc.ScopeOpenID}}},
			{"public client", oauth2.Config{ClientID: publicID, Endpoint: provider.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile"}}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				conf := tc.conf
				tok, err := conf.PasswordCredentialsToken(ctx, "alice", alicePW)
				if err != nil {
					t.Fatalf("password grant: %v", err)
				}
				rawID, ok := tok.Extra("id_token").(string)
				if !ok || tok.RefreshToken == "" || tok.TokenType != "Bearer" {
					t.Fatalf("token %+v", tok)
				}
				idt, err := provider.Verifier(&oidc.Config{ClientID: conf.ClientID}).Verify(ctx, rawID)
				if err != nil {
					t.Fatalf("go-oidc ID token verification: %v", err)
				}
				if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
					t.Fatalf("at_hash: %v", err)
				}
				info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
				if err != nil || info.Subject != idt.Subject {
					t.Fatalf("userinfo: %v %+v", err, info)
				}

				// The TokenSource refreshes on each call (access tokens are
				// short) and must keep the rotated refresh token.
				ts := conf.TokenSource(ctx, tok)
				seen := map[string]bool{tok.RefreshToken: true}
				for i := range 3 {
					nt, err := ts.Token()
					if err != nil {
						t.Fatalf("refresh %d: %v", i, err)
					}
					if seen[nt.RefreshToken] || nt.AccessToken == tok.AccessToken {
						t.Fatalf("refresh %d did not rotate", i)
					}
					seen[nt.RefreshToken] = true
					if nt.Extra("id_token") == nil {
						t.Fatalf("refresh %d: no id_token for the openid scope", i)
					}
				}
				// The first refresh token was rotated away: replaying it is
				// refused with invalid_grant, which x/oauth2 surfaces as
				// *RetrieveError.
				_, err = conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token()
				var re *oauth2.RetrieveError
				if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
					t.Fatalf("replayed refresh token: %v", err)
				}
			})
		}
		// A wrong password is an *oauth2.RetrieveError with invalid_grant.
		conf := oauth2.Config{ClientID: webID, ClientSecret: webSecret, Endpoint: provider.Endpoint()}
		_, err = conf.PasswordCredentialsToken(ctx, "alice", "wrong")
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
			t.Fatalf("wrong password: %v", err)
		}
	})
}

func withStyle(ep oauth2.Endpoint, s oauth2.AuthStyle) oauth2.Endpoint {
	ep.AuthStyle = s
	return ep
}
