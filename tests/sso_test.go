package tests

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestSSOAuthorizeRefusals: requests whose redirect URI cannot be trusted
// get an error page and no redirect; every other bad request is redirected
// to the client with error, state and iss (RFC 6749 §4.1.2.1, RFC 9207).
func TestSSOAuthorizeRefusals(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newSSOEnv(t, b)
		cb := e.rp.srv.URL + "/cb"

		// The registration the CLI made is what clients list shows (before
		// the server starts: bolt allows one process at a time).
		var listed []struct {
			ID                     string   `json:"id"`
			RedirectURIs           []string `json:"redirect_uris"`
			PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris"`
			BackchannelLogoutURI   string   `json:"backchannel_logout_uri"`
			FirstParty             bool     `json:"first_party"`
		}
		if err := json.Unmarshal([]byte(e.MustCLI("", "clients", "list", "--json")), &listed); err != nil {
			t.Fatal(err)
		}
		found := false
		for _, c := range listed {
			if c.ID == appID {
				found = true
				if !slices.Equal(c.RedirectURIs, []string{cb}) || !slices.Equal(c.PostLogoutRedirectURIs, []string{e.rp.srv.URL + logoutPath}) ||
					c.BackchannelLogoutURI != e.rp.srv.URL+"/backchannel" || !c.FirstParty {
					t.Fatalf("clients list --json shows %+v", c)
				}
			}
		}
		if !found {
			t.Fatalf("clients list --json lacks %s", appID)
		}
		e.start()
		base := func(mod func(v url.Values)) string {
			v := url.Values{
				"response_type":         {"code"},
				"client_id":             {appID},
				"redirect_uri":          {cb},
				"scope":                 {"openid"},
				"state":                 {"st4te"},
				"code_challenge":        {strings.Repeat("A", 43)},
				"code_challenge_method": {"S256"},
			}
			mod(v)
			return e.Issuer + "/oauth2/authorize?" + v.Encode()
		}
		pageCases := []struct {
			name string
			url  string
		}{
			{"unknown client", base(func(v url.Values) { v.Set("client_id", "nobody") })},
			{"missing redirect uri", base(func(v url.Values) { v.Del("redirect_uri") })},
			{"unregistered redirect uri", base(func(v url.Values) { v.Set("redirect_uri", "https://evil.example/cb") })},
			{"redirect uri with an extra path", base(func(v url.Values) { v.Set("redirect_uri", cb+"/x") })},
			{"redirect uri with a query added", base(func(v url.Values) { v.Set("redirect_uri", cb+"?a=1") })},
		}
		for _, tc := range pageCases {
			t.Run(tc.name, func(t *testing.T) {
				p := newBrowserless(t).do(t, http.MethodGet, tc.url, nil)
				if p.status != http.StatusBadRequest || p.header.Get("Location") != "" {
					t.Fatalf("status %d, Location %q; want 400 and no redirect", p.status, p.header.Get("Location"))
				}
				if !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") || !strings.Contains(p.body, "invalid_request") {
					t.Fatalf("want an HTML error page naming invalid_request, got %s:\n%s", p.header.Get("Content-Type"), p.body)
				}
			})
		}
		redirectCases := []struct {
			name, wantErr string
			url           string
		}{
			{"missing PKCE", "invalid_request", base(func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") })},
			{"plain PKCE", "invalid_request", base(func(v url.Values) { v.Set("code_challenge_method", "plain") })},
			{"token response type", "unsupported_response_type", base(func(v url.Values) { v.Set("response_type", "token") })},
			{"scope the client lacks", "invalid_scope", base(func(v url.Values) { v.Set("scope", "openid admin") })},
			{"prompt none without a session", "login_required", base(func(v url.Values) { v.Set("prompt", "none") })},
		}
		for _, tc := range redirectCases {
			t.Run(tc.name, func(t *testing.T) {
				p := newBrowserless(t).do(t, http.MethodGet, tc.url, nil)
				loc := p.location(t)
				q := loc.Query()
				if !strings.HasPrefix(loc.String(), cb+"?") || q.Get("error") != tc.wantErr || q.Get("state") != "st4te" || q.Get("iss") != e.Issuer {
					t.Fatalf("redirect %s, want %s with error %s, state and iss", loc, cb, tc.wantErr)
				}
			})
		}
	})
}

// TestSSOCodeExchange: the code works once, for its client, with its
// verifier and redirect URI; a second use revokes what the first issued.
func TestSSOCodeExchange(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newSSOEnv(t, b)
		e.start()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		br := newBrowserless(t)

		// code returns a fresh code for the app, signing in on first use.
		code := func(t *testing.T, a *authRequest) string {
			t.Helper()
			p := br.do(t, http.MethodGet, a.url, nil)
			if p.status == http.StatusOK {
				form := p.hidden()
				form.Set("username", "alice")
				form.Set("password", alicePW)
				form.Set("action", "login")
				p = br.do(t, http.MethodPost, formAction(t, p, a.url), form)
			}
			q := p.location(t).Query()
			if q.Get("code") == "" || q.Get("state") != a.state {
				t.Fatalf("no code: %v", q)
			}
			return q.Get("code")
		}
		conf := e.oauth2Config(appID, appSecret, "openid", "api")

		t.Run("wrong verifier", func(t *testing.T) {
			a := e.newAuthRequest(conf)
			_, err := conf.Exchange(ctx, code(t, a), oauth2.VerifierOption(oauth2.GenerateVerifier()))
			wantGrantError(t, err, "invalid_grant")
		})
		t.Run("missing verifier", func(t *testing.T) {
			a := e.newAuthRequest(conf)
			_, err := conf.Exchange(ctx, code(t, a))
			wantGrantError(t, err, "invalid_request", "invalid_grant")
		})
		t.Run("other redirect uri", func(t *testing.T) {
			a := e.newAuthRequest(conf)
			c2 := *conf
			c2.RedirectURL = e.rp.srv.URL + "/other"
			_, err := c2.Exchange(ctx, code(t, a), oauth2.VerifierOption(a.verifier))
			wantGrantError(t, err, "invalid_grant")
		})
		t.Run("another client's code", func(t *testing.T) {
			a := e.newAuthRequest(conf)
			spa := e.oauth2Config(spaID, "", "openid")
			_, err := spa.Exchange(ctx, code(t, a), oauth2.VerifierOption(a.verifier))
			wantGrantError(t, err, "invalid_grant")
		})
		t.Run("reused code revokes its tokens", func(t *testing.T) {
			a := e.newAuthRequest(conf)
			c := code(t, a)
			tok, err := a.exchange(ctx, c)
			if err != nil {
				t.Fatalf("first exchange: %v", err)
			}
			_, err = a.exchange(ctx, c)
			wantGrantError(t, err, "invalid_grant")
			r := e.post(t, "/oauth2/introspect", url.Values{"token": {tok.AccessToken}}, appID, appSecret)
			if r.status != 200 || r.body["active"] != false {
				t.Fatalf("access token of a reused code: %d %s, want inactive", r.status, r.raw)
			}
			r = e.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}, appID, appSecret)
			wantOAuthError(t, r, 400, "invalid_grant")
		})
	})
}

// wantGrantError checks that err is an x/oauth2 token error with one of
// the codes.
func wantGrantError(t *testing.T, err error, codes ...string) {
	t.Helper()
	re, ok := err.(*oauth2.RetrieveError)
	if !ok {
		t.Fatalf("error %v, want an oauth2 error %v", err, codes)
	}
	for _, c := range codes {
		if re.ErrorCode == c {
			return
		}
	}
	t.Fatalf("error code %q (%s), want one of %v", re.ErrorCode, re.ErrorDescription, codes)
}

// TestSSOLoginPage: the login form is CSRF-protected, framing is refused by
// the headers, values a request sets are escaped, max_age=0 asks again.
func TestSSOLoginPage(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newSSOEnv(t, b)
		e.start()
		const inject = `"><script>alert(1)</script><img src=x onerror=alert(2)>`
		a := e.newAuthRequest(e.oauth2Config(spaID, "", "openid"),
			oauth2.SetAuthURLParam("login_hint", inject))
		a.url = strings.Replace(a.url, "state="+a.state, "state="+url.QueryEscape(inject), 1)

		br := newBrowserless(t)
		p := br.do(t, http.MethodGet, a.url, nil)
		if p.status != 200 {
			t.Fatalf("login page %d:\n%s", p.status, p.body)
		}
		h := p.header
		if h.Get("X-Frame-Options") != "DENY" || !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") ||
			h.Get("Cache-Control") != "no-store" || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Fatalf("page headers %v", h)
		}
		for _, raw := range []string{"<script>", "<img src=x", spaName} {
			if strings.Contains(p.body, raw) {
				t.Fatalf("login page carries %q unescaped:\n%s", raw, p.body)
			}
		}
		if !strings.Contains(p.body, `Spa &lt;b&gt;&#34;Bold&#34;&lt;/b&gt; &amp; Co`) {
			t.Fatalf("login page does not show the escaped client name:\n%s", p.body)
		}

		t.Run("missing csrf token", func(t *testing.T) {
			form := p.hidden()
			form.Del("csrf_token")
			form.Set("username", "alice")
			form.Set("password", alicePW)
			form.Set("action", "login")
			r := br.do(t, http.MethodPost, formAction(t, p, a.url), form)
			if r.status != http.StatusForbidden || r.header.Get("Location") != "" || r.header.Get("Set-Cookie") != "" && strings.Contains(r.header.Get("Set-Cookie"), "session") {
				t.Fatalf("POST without CSRF: %d %v", r.status, r.header)
			}
		})
		t.Run("another browser's csrf token", func(t *testing.T) {
			other := newBrowserless(t)
			op := other.do(t, http.MethodGet, a.url, nil)
			form := p.hidden()
			form.Set("csrf_token", op.hidden().Get("csrf_token"))
			form.Set("username", "alice")
			form.Set("password", alicePW)
			form.Set("action", "login")
			r := br.do(t, http.MethodPost, formAction(t, p, a.url), form)
			if r.status != http.StatusForbidden {
				t.Fatalf("POST with another browser's CSRF token: %d", r.status)
			}
		})
		t.Run("max_age=0 asks again", func(t *testing.T) {
			conf := e.oauth2Config(appID, appSecret, "openid")
			first := e.newAuthRequest(conf)
			if r := br.signIn(t, first.url, "alice", alicePW); r.location(t).Query().Get("code") == "" {
				t.Fatal("first sign-in gave no code")
			}
			again := e.newAuthRequest(conf, oauth2.SetAuthURLParam("max_age", "0"))
			r := br.do(t, http.MethodGet, again.url, nil)
			if r.status != 200 || !strings.Contains(r.body, `autocomplete="current-password"`) {
				t.Fatalf("max_age=0 with a live session: %d, want the login page", r.status)
			}
			// Without max_age the session is enough.
			plain := e.newAuthRequest(conf)
			if q := br.do(t, http.MethodGet, plain.url, nil).location(t).Query(); q.Get("code") == "" {
				t.Fatalf("live session, no max_age: %v, want a code", q)
			}
		})
	})
}
