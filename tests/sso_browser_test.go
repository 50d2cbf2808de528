package tests

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// TestSSOBrowser is single sign-on as a user sees it, in headless Chromium:
// the first app sends the browser to the login page, found by its
// autocomplete attributes; the code reaches the app's loopback callback and
// is exchanged with PKCE; its ID token verifies with go-oidc. A second app
// then gets the same user with no password prompt (after consent, as it is
// third-party). Logout ends the session for both: the back-channel
// receiver gets a logout token for each app that verifies, refresh tokens
// of the session stop working, and the next authorization asks for the
// password again.
func TestSSOBrowser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newSSOEnv(t, b)
		e.start()
		bctx := newBrowser(t)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		provider, err := oidc.NewProvider(ctx, e.Issuer)
		if err != nil {
			t.Fatalf("go-oidc discovery: %v", err)
		}
		shots := b == Bolt // one set of screenshots is enough

		// 1. The first app: login page, then straight back (first-party).
		app := e.newAuthRequest(e.oauth2Config(appID, appSecret, oidc.ScopeOpenID, "profile", "email"))
		if err := chromedp.Run(bctx,
			chromedp.Navigate(app.url),
			chromedp.WaitVisible(`input[autocomplete="username"]`, chromedp.ByQuery),
		); err != nil {
			t.Fatalf("open the login page: %v", err)
		}
		if shots {
			screenshot(bctx, t, "sso-login")
		}
		var bodyText string
		if err := chromedp.Run(bctx, chromedp.Text("body", &bodyText, chromedp.ByQuery)); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(bodyText, appName) {
			t.Fatalf("login page does not name the app %q:\n%s", appName, bodyText)
		}
		if err := chromedp.Run(bctx,
			chromedp.SendKeys(`input[autocomplete="username"]`, "alice", chromedp.ByQuery),
			chromedp.SendKeys(`input[autocomplete="current-password"]`, alicePW, chromedp.ByQuery),
			chromedp.Submit(`input[autocomplete="current-password"]`, chromedp.ByQuery),
			chromedp.WaitVisible(`#callback`, chromedp.ByQuery),
		); err != nil {
			t.Fatalf("sign in: %v", err)
		}
		resp := e.rp.last(t)
		if resp.Get("state") != app.state || resp.Get("iss") != e.Issuer || resp.Get("code") == "" {
			t.Fatalf("authorization response %v (state %q, iss %q)", resp, app.state, e.Issuer)
		}
		appTok, err := app.exchange(ctx, resp.Get("code"))
		if err != nil {
			t.Fatalf("exchange the first app's code: %v", err)
		}
		rawID, _ := appTok.Extra("id_token").(string)
		idt, err := provider.Verifier(&oidc.Config{ClientID: appID}).Verify(ctx, rawID)
		if err != nil {
			t.Fatalf("go-oidc ID token verification: %v", err)
		}
		var claims struct {
			Nonce    string `json:"nonce"`
			SID      string `json:"sid"`
			AuthTime int64  `json:"auth_time"`
		}
		if err := idt.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		if claims.Nonce != app.nonce || claims.SID == "" || claims.AuthTime == 0 {
			t.Fatalf("ID token claims %+v, want nonce %q, a sid and auth_time", claims, app.nonce)
		}
		if err := idt.VerifyAccessToken(appTok.AccessToken); err != nil {
			t.Fatalf("at_hash: %v", err)
		}
		if appTok.RefreshToken == "" {
			t.Fatal("no refresh token for a client holding the refresh_token grant")
		}

		// 2. The second app: no password, a consent page (third-party).
		spa := e.newAuthRequest(e.oauth2Config(spaID, "", oidc.ScopeOpenID, "profile"))
		if err := chromedp.Run(bctx,
			chromedp.Navigate(spa.url),
			chromedp.WaitVisible(`button[value="allow"]`, chromedp.ByQuery),
		); err != nil {
			t.Fatalf("open the consent page: %v", err)
		}
		var inputs int
		if err := chromedp.Run(bctx, chromedp.Evaluate(`document.querySelectorAll('input[type="password"]').length`, &inputs)); err != nil {
			t.Fatal(err)
		}
		if inputs != 0 {
			t.Fatal("the second app's request asked for a password again: no single sign-on")
		}
		if shots {
			screenshot(bctx, t, "sso-consent")
		}
		if err := chromedp.Run(bctx,
			chromedp.Click(`button[value="allow"]`, chromedp.ByQuery),
			chromedp.WaitVisible(`#callback`, chromedp.ByQuery),
		); err != nil {
			t.Fatalf("allow: %v", err)
		}
		resp = e.rp.last(t)
		if resp.Get("state") != spa.state {
			t.Fatalf("second response %v", resp)
		}
		spaTok, err := spa.exchange(ctx, resp.Get("code"))
		if err != nil {
			t.Fatalf("exchange the second app's code: %v", err)
		}
		spaID2, err := provider.Verifier(&oidc.Config{ClientID: spaID}).Verify(ctx, spaTok.Extra("id_token").(string))
		if err != nil {
			t.Fatalf("second ID token: %v", err)
		}
		if spaID2.Subject != idt.Subject {
			t.Fatalf("second app got subject %q, first %q", spaID2.Subject, idt.Subject)
		}

		// 3. An error page: an unregistered redirect URI is never followed.
		bad := e.newAuthRequest(e.oauth2Config(appID, appSecret, oidc.ScopeOpenID))
		badURL := strings.Replace(bad.url, url.QueryEscape(e.rp.srv.URL+"/cb"), url.QueryEscape("https://evil.example/cb"), 1)
		var loc string
		if err := chromedp.Run(bctx,
			chromedp.Navigate(badURL),
			chromedp.WaitVisible(`main`, chromedp.ByQuery),
			chromedp.Location(&loc),
		); err != nil {
			t.Fatalf("open the error page: %v", err)
		}
		if !strings.HasPrefix(loc, e.Issuer) {
			t.Fatalf("browser left the issuer for %s", loc)
		}
		if shots {
			screenshot(bctx, t, "sso-error")
		}

		// 4. Logout without a hint: confirmation, then the signed-out page.
		if err := chromedp.Run(bctx,
			chromedp.Navigate(e.Issuer+"/oauth2/logout"),
			chromedp.WaitVisible(`button[value="logout"]`, chromedp.ByQuery),
		); err != nil {
			t.Fatalf("open the logout page: %v", err)
		}
		if shots {
			screenshot(bctx, t, "sso-logout")
		}
		if err := chromedp.Run(bctx,
			chromedp.Click(`button[value="logout"]`, chromedp.ByQuery),
			chromedp.WaitNotPresent(`button[value="logout"]`, chromedp.ByQuery),
		); err != nil {
			t.Fatalf("sign out: %v", err)
		}
		if shots {
			screenshot(bctx, t, "sso-signed-out")
		}

		// Both apps hear of it on their back channel, with tokens that
		// verify, name the session and carry no nonce.
		deadline := time.Now().Add(20 * time.Second)
		for len(e.rp.logoutTokens()) < 2 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		lts := e.rp.logoutTokens()
		if len(lts) != 2 {
			t.Fatalf("got %d logout tokens, want 2 (one per app)", len(lts))
		}
		for _, lt := range lts {
			h, c := e.verifyJWT(t, lt)
			events, _ := c["events"].(map[string]any)
			if h.ExtraHeaders["typ"] != "logout+jwt" || c["sid"] != claims.SID || c["sub"] != idt.Subject ||
				events["http://schemas.openid.net/event/backchannel-logout"] == nil || c["nonce"] != nil {
				t.Fatalf("logout token header %v claims %v", h.ExtraHeaders, c)
			}
		}

		// The session's refresh family is revoked.
		if _, err := app.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: appTok.RefreshToken}).Token(); err == nil {
			t.Fatal("the session's refresh token still works after logout")
		}
		// And the next authorization asks for the password again.
		again := e.newAuthRequest(e.oauth2Config(appID, appSecret, oidc.ScopeOpenID))
		if err := chromedp.Run(bctx,
			chromedp.Navigate(again.url),
			chromedp.WaitVisible(`input[autocomplete="current-password"]`, chromedp.ByQuery),
		); err != nil {
			t.Fatalf("after logout, the login page: %v", err)
		}
	})
}
