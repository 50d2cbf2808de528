package tests

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

const (
	rootUser  = "root"
	consolePW = "root's console password 42"
)

// jwksKids returns the kids in the JWKS by algorithm, fetched with
// userAgent (which the server counts as a consumer).
func jwksKids(t *testing.T, e *oauthEnv, userAgent string) map[string][]string {
	t.Helper()
	_, _, body := get(t, e.srv.URL+"/.well-known/jwks.json", map[string]string{"User-Agent": userAgent})
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			Alg string `json:"alg"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatalf("JWKS: %v\n%s", err, body)
	}
	out := map[string][]string{}
	for _, k := range set.Keys {
		out[k.Alg] = append(out[k.Alg], k.Kid)
	}
	return out
}

// TestConsoleBrowser is the security team's console in headless Chromium:
// an admin (made with `sigil users add --admin`) is sent to the login page,
// signs in, sees a timeline with one bar per key of each algorithm,
// revokes the active ES256 key with a reason on its confirmation page; the
// key leaves the JWKS and the audit page shows the revocation with the
// reason. A non-admin gets 403, and a POST without the CSRF token is
// refused and changes nothing. It needs the admin core (storage of the
// admin flag, the AdminService wired in cmd).
func TestConsoleBrowser(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		e := newOAuthEnv(t, b, map[string]string{"keys.algorithms": "[ES256, RS256]"})
		e.MustCLI(consolePW+"\n", "users", "add", rootUser, "--password-stdin", "--admin")
		e.start()
		shots := b == Bolt

		before := jwksKids(t, e, "resource-server/1.0 (console test)")
		if len(before["ES256"]) < 2 || len(before["RS256"]) < 2 {
			t.Fatalf("JWKS %v: want an active and a next key per algorithm", before)
		}

		// 1. Not signed in: the console sends the browser to /login.
		bctx := newBrowser(t)
		var loc string
		if err := chromedp.Run(bctx,
			chromedp.Navigate(e.Issuer+"/console/"),
			chromedp.WaitVisible(`input[autocomplete="current-password"]`, chromedp.ByQuery),
			chromedp.Location(&loc),
		); err != nil {
			t.Fatalf("open the console: %v", err)
		}
		if !strings.HasPrefix(loc, e.Issuer+"/login?") || !strings.Contains(loc, "return_to=%2Fconsole%2F") {
			t.Fatalf("not sent to the login page with return_to: %s", loc)
		}
		if err := chromedp.Run(bctx,
			chromedp.SendKeys(`input[autocomplete="username"]`, rootUser, chromedp.ByQuery),
			chromedp.SendKeys(`input[autocomplete="current-password"]`, consolePW, chromedp.ByQuery),
			chromedp.Submit(`input[autocomplete="current-password"]`, chromedp.ByQuery),
			chromedp.WaitVisible(`svg.tl`, chromedp.ByQuery),
		); err != nil {
			t.Fatalf("sign in: %v", err)
		}

		// 2. The timeline: one bar per key of each algorithm.
		var bars map[string]int
		if err := chromedp.Run(bctx, chromedp.Evaluate(
			`Object.fromEntries([...document.querySelectorAll('svg.tl')].map(s => [s.dataset.alg, s.querySelectorAll('g.bar').length]))`, &bars)); err != nil {
			t.Fatal(err)
		}
		if len(bars) != 2 || bars["ES256"] != len(before["ES256"]) || bars["RS256"] != len(before["RS256"]) {
			t.Fatalf("bars per algorithm %v, want one per JWKS key %v", bars, before)
		}
		if shots {
			screenshot(bctx, t, "console-keys")
		}
		var active string
		if err := chromedp.Run(bctx, chromedp.Evaluate(
			`[...document.querySelectorAll('table.data tbody tr')].filter(r => r.children[1].textContent === 'ES256' && r.querySelector('.state-active')).map(r => r.querySelector('code').textContent)[0] || ''`, &active)); err != nil {
			t.Fatal(err)
		}
		if active == "" {
			t.Fatal("no active ES256 key in the key table")
		}

		// 3. Revoke it: the confirmation page asks for a reason.
		const reason = "key material leaked in a support ticket"
		if err := chromedp.Run(bctx,
			chromedp.Navigate(e.Issuer+"/console/keys/revoke/"+url.PathEscape(active)),
			chromedp.WaitVisible(`textarea[name="reason"]`, chromedp.ByQuery),
			chromedp.SendKeys(`textarea[name="reason"]`, reason, chromedp.ByQuery),
			chromedp.Click(`form button[type="submit"]`, chromedp.ByQuery),
			chromedp.WaitVisible(`.notice`, chromedp.ByQuery),
		); err != nil {
			t.Fatalf("revoke %s: %v", active, err)
		}
		after := jwksKids(t, e, "resource-server/1.0 (console test)")
		for _, kid := range after["ES256"] {
			if kid == active {
				t.Fatalf("revoked key %s is still in the JWKS %v", active, after)
			}
		}

		// 4. Consumers: the test's own fetches are listed.
		var text string
		if err := chromedp.Run(bctx,
			chromedp.Navigate(e.Issuer+"/console/consumers"),
			chromedp.WaitVisible(`h1`, chromedp.ByQuery),
			chromedp.Text(`main`, &text, chromedp.ByQuery),
		); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, "resource-server/1.0 (console test)") {
			t.Fatalf("consumers page does not list the test's JWKS fetches:\n%s", text)
		}
		if shots {
			screenshot(bctx, t, "console-consumers")
		}

		// 5. Audit: the revocation, by root, with the reason.
		if err := chromedp.Run(bctx,
			chromedp.Navigate(e.Issuer+"/console/audit?kind=key"),
			chromedp.WaitVisible(`h1`, chromedp.ByQuery),
			chromedp.Text(`main`, &text, chromedp.ByQuery),
		); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text, active) || !strings.Contains(text, reason) || !strings.Contains(text, rootUser) || !strings.Contains(text, "revoke") {
			t.Fatalf("audit page lacks the revocation of %s:\n%s", active, text)
		}
		if shots {
			screenshot(bctx, t, "console-audit")
		}

		// 6. A non-admin signs in and gets 403.
		alice := newBrowserless(t)
		consoleLogin(t, alice, e, "alice", alicePW)
		if p := alice.do(t, http.MethodGet, e.Issuer+"/console/", nil); p.status != http.StatusForbidden || !strings.Contains(p.body, "not an administrator") {
			t.Fatalf("non-admin console = %d:\n%s", p.status, p.body)
		}

		// 7. A POST without the CSRF token is refused and revokes nothing.
		root := newBrowserless(t)
		consoleLogin(t, root, e, rootUser, consolePW)
		victim := after["RS256"][0]
		p := root.do(t, http.MethodPost, e.Issuer+"/console/keys/revoke/"+url.PathEscape(victim), url.Values{"reason": {"csrf attempt"}})
		if p.status != http.StatusForbidden {
			t.Fatalf("POST without CSRF = %d, want 403:\n%s", p.status, p.body)
		}
		still := jwksKids(t, e, "console-test-check")
		found := false
		for _, kid := range still["RS256"] {
			found = found || kid == victim
		}
		if !found {
			t.Fatalf("key %s left the JWKS after a refused POST", victim)
		}
	})
}

// consoleLogin signs user in through /login with an HTTP client and
// expects the redirect to the console.
func consoleLogin(t *testing.T, b *browserless, e *oauthEnv, user, pw string) {
	t.Helper()
	p := b.do(t, http.MethodGet, e.Issuer+"/login?return_to=%2Fconsole%2F", nil)
	if p.status != 200 {
		t.Fatalf("GET /login = %d:\n%s", p.status, p.body)
	}
	form := p.hidden()
	form.Set("username", user)
	form.Set("password", pw)
	p = b.do(t, http.MethodPost, e.Issuer+"/login", form)
	if loc := p.location(t); loc.Path != "/console/" {
		t.Fatalf("sign-in of %s went to %s", user, loc)
	}
}
