package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/sigilauth/sigil/keys/keystest"
	"github.com/sigilauth/sigil/oauth"
)

// fakeSSO is an SSOService whose answers each test chooses; it records
// every call.
type fakeSSO struct {
	mu        sync.Mutex
	calls     []string
	lastLogin oauth.LoginInput
	lastP     oauth.AuthorizeParams
	lastLP    oauth.LogoutParams
	cookies   []string
	allow     *bool

	authorize func(p oauth.AuthorizeParams, cookie string) (*oauth.AuthorizeResult, error)
	login     func(p oauth.AuthorizeParams, in oauth.LoginInput) (*oauth.LoginResult, error)
	consent   func(p oauth.AuthorizeParams, allow bool) (*oauth.AuthorizeResult, error)
	prepare   func(p oauth.LogoutParams) (*oauth.LogoutPlan, error)
	logout    func(p oauth.LogoutParams) (*oauth.LogoutPlan, error)
}

func (f *fakeSSO) record(name, cookie string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	f.cookies = append(f.cookies, cookie)
}

func (f *fakeSSO) called(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c == name {
			n++
		}
	}
	return n
}

func (f *fakeSSO) Authorize(_ context.Context, p oauth.AuthorizeParams, cookie string, _ oauth.AuthorizeOptions) (*oauth.AuthorizeResult, error) {
	f.record("Authorize", cookie)
	f.lastP = p
	if f.authorize == nil {
		return loginStep(p), nil
	}
	return f.authorize(p, cookie)
}

func (f *fakeSSO) Login(_ context.Context, p oauth.AuthorizeParams, in oauth.LoginInput) (*oauth.LoginResult, error) {
	f.record("Login", "")
	f.lastP, f.lastLogin = p, in
	if f.login == nil {
		return nil, errors.New("unexpected Login")
	}
	return f.login(p, in)
}

func (f *fakeSSO) Consent(_ context.Context, p oauth.AuthorizeParams, cookie string, allow bool) (*oauth.AuthorizeResult, error) {
	f.record("Consent", cookie)
	f.lastP, f.allow = p, &allow
	if f.consent == nil {
		return nil, errors.New("unexpected Consent")
	}
	return f.consent(p, allow)
}

func (f *fakeSSO) PrepareLogout(_ context.Context, p oauth.LogoutParams, cookie string) (*oauth.LogoutPlan, error) {
	f.record("PrepareLogout", cookie)
	f.lastLP = p
	if f.prepare == nil {
		return &oauth.LogoutPlan{NeedsConfirmation: true}, nil
	}
	return f.prepare(p)
}

func (f *fakeSSO) Logout(_ context.Context, p oauth.LogoutParams, cookie string) (*oauth.LogoutPlan, error) {
	f.record("Logout", cookie)
	f.lastLP = p
	if f.logout == nil {
		return &oauth.LogoutPlan{}, nil
	}
	return f.logout(p)
}

const testIssuer = "https://id.example.com/auth"

var testClient = oauth.ClientInfo{ID: "app1", Name: "Example App"}

func loginStep(p oauth.AuthorizeParams) *oauth.AuthorizeResult {
	return &oauth.AuthorizeResult{Step: oauth.StepLogin, Client: testClient, LoginHint: p.LoginHint, Params: p}
}

func doneStep(mode, uri string) *oauth.AuthorizeResult {
	res := &oauth.AuthorizeResult{
		Step:   oauth.StepDone,
		Client: testClient,
		Response: &oauth.AuthorizationResponse{
			RedirectURI:  uri,
			ResponseMode: mode,
			Params:       url.Values{"code": {"c0de"}, "state": {"st"}, "iss": {testIssuer}},
		},
	}
	if mode == "form_post" {
		u, _ := url.Parse(uri)
		res.FormPostOrigin = u.Scheme + "://" + u.Host
	}
	return res
}

func authParams() url.Values {
	return url.Values{
		"client_id":             {"app1"},
		"redirect_uri":          {"https://app.example.org/cb"},
		"response_type":         {"code"},
		"scope":                 {"openid profile"},
		"state":                 {"xyz"},
		"code_challenge":        {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
		"code_challenge_method": {"S256"},
	}
}

func newSSOServer(t testing.TB, issuer string, sso SSOService) *Server {
	t.Helper()
	trusted, _ := ParsePrefixes([]string{"10.0.0.0/8"})
	s, err := New(Config{Issuer: issuer, Title: "Acme ID", TrustedProxies: trusted, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, &keystest.Ring{}, Deps{SSO: sso})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// browser holds one browser's cookies between requests.
type browser struct {
	cookies map[string]*http.Cookie
}

func newBrowser() *browser { return &browser{cookies: map[string]*http.Cookie{}} }

// do sends a request; a non-nil form is posted as the body.
func (b *browser) do(s http.Handler, method, target string, form url.Values) *httptest.ResponseRecorder {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, target, body)
	req.RemoteAddr = "192.0.2.7:5555"
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range b.cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	for _, c := range rec.Result().Cookies() {
		if c.MaxAge < 0 {
			delete(b.cookies, c.Name)
			continue
		}
		b.cookies[c.Name] = c
	}
	return rec
}

var csrfField = regexp.MustCompile(`<input type="hidden" name="csrf_token" value="([^"]*)">`)

// csrfFrom returns the CSRF token of the page's form.
func csrfFrom(t *testing.T, body string) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf_token field in page:\n%s", body)
	}
	return m[1]
}

const wantCSP = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// wantFlowCSP is the CSP of the login and consent pages of a request for
// https://app.example.org/cb: browsers apply form-action to the redirect
// that answers the form, so the client's origin is allowed too.
var wantFlowCSP = strings.Replace(wantCSP, "form-action 'self'", "form-action 'self' https://app.example.org", 1)

func checkPageHeaders(t *testing.T, rec *httptest.ResponseRecorder, csp string) {
	t.Helper()
	want := map[string]string{
		"Cache-Control":           "no-store",
		"Content-Security-Policy": csp,
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "no-referrer",
		"X-Content-Type-Options":  "nosniff",
		"Content-Type":            "text/html; charset=utf-8",
	}
	for k, v := range want {
		if got := rec.Header().Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
}

func TestLoginPage(t *testing.T) {
	for _, tc := range []struct {
		name       string
		issuer     string
		csrfCookie string
		action     string
	}{
		{"https issuer with a path", "https://id.example.com/auth", "__Host-sigil_csrf", "/auth/oauth2/authorize"},
		{"http issuer", "http://127.0.0.1:8080", "sigil_csrf", "/oauth2/authorize"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeSSO{}
			s := newSSOServer(t, tc.issuer, fake)
			b := newBrowser()
			rec := b.do(s, http.MethodGet, tc.action+"?"+authParams().Encode(), nil)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
			checkPageHeaders(t, rec, wantFlowCSP)
			body := rec.Body.String()
			for _, want := range []string{
				`<form method="post" action="` + tc.action + `"`,
				`<label for="username">`,
				`<label for="password">`,
				`name="username" type="text" autocomplete="username"`,
				`type="password" name="password" autocomplete="current-password"`,
				`<button type="submit">Sign in</button>`,
				`<input type="hidden" name="action" value="login">`,
				`<input type="hidden" name="client_id" value="app1">`,
				`<input type="hidden" name="code_challenge_method" value="S256">`,
				`<input type="hidden" name="state" value="xyz">`,
				`Example App`,
				`Acme ID`,
				tc.issuer,
				`<meta name="viewport"`,
				`<link rel="stylesheet" href="` + issuerPath(tc.issuer) + `/static/sigil.css?v=`,
			} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q", want)
				}
			}
			if strings.Contains(body, "<script") || strings.Contains(body, "style=") {
				t.Error("page has a script or an inline style")
			}
			c := b.cookies[tc.csrfCookie]
			if c == nil {
				t.Fatalf("no %s cookie; got %v", tc.csrfCookie, rec.Header().Values("Set-Cookie"))
			}
			if tok := csrfFrom(t, body); tok != c.Value || len(tok) != 43 {
				t.Fatalf("csrf field %q, cookie %q", tok, c.Value)
			}
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure != strings.HasPrefix(tc.issuer, "https") {
				t.Fatalf("csrf cookie attributes: %+v", c)
			}
			// A second page in the same browser keeps its token.
			rec2 := b.do(s, http.MethodGet, tc.action+"?"+authParams().Encode(), nil)
			if csrfFrom(t, rec2.Body.String()) != c.Value || len(rec2.Result().Cookies()) != 0 {
				t.Fatal("the csrf token changed within one browser")
			}
		})
	}
}

func TestLoginPagePrefillsHint(t *testing.T) {
	s := newSSOServer(t, testIssuer, &fakeSSO{})
	p := authParams()
	p.Set("login_hint", "alice")
	rec := newBrowser().do(s, http.MethodGet, "/auth/oauth2/authorize?"+p.Encode(), nil)
	if !strings.Contains(rec.Body.String(), `autocomplete="username" autocapitalize="none" spellcheck="false" required value="alice"`) {
		t.Fatalf("login_hint not pre-filled:\n%s", rec.Body)
	}
}

// loggedInResult is a successful login going on to StepDone.
func loggedInResult(expires time.Time) func(oauth.AuthorizeParams, oauth.LoginInput) (*oauth.LoginResult, error) {
	return func(p oauth.AuthorizeParams, in oauth.LoginInput) (*oauth.LoginResult, error) {
		if in.Username != "alice" || in.Password != "hunter2" {
			return nil, &oauth.Error{Code: oauth.CodeInvalidGrant, Status: 400, Reason: oauth.ReasonBadCredentials}
		}
		return &oauth.LoginResult{SessionCookie: "sess-1", SessionExpires: expires, Next: doneStep("query", "https://app.example.org/cb")}, nil
	}
}

func TestCSRF(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		path   string
		action string
		// token: "own" this browser's, "other" another browser's, "" none
		token      string
		withCookie bool
		wantStatus int
		service    string
	}{
		{"login with own token", "/auth/oauth2/authorize", "login", "own", true, http.StatusFound, "Login"},
		{"login without token", "/auth/oauth2/authorize", "login", "", true, http.StatusForbidden, "Login"},
		{"login without cookie", "/auth/oauth2/authorize", "login", "own", false, http.StatusForbidden, "Login"},
		{"login with another browser's token", "/auth/oauth2/authorize", "login", "other", true, http.StatusForbidden, "Login"},
		{"allow without token", "/auth/oauth2/authorize", "allow", "", true, http.StatusForbidden, "Consent"},
		{"deny with another browser's token", "/auth/oauth2/authorize", "deny", "other", true, http.StatusForbidden, "Consent"},
		{"logout without token", "/auth/oauth2/logout", "logout", "", true, http.StatusForbidden, "Logout"},
		{"logout with another browser's token", "/auth/oauth2/logout", "logout", "other", true, http.StatusForbidden, "Logout"},
		{"logout with own token", "/auth/oauth2/logout", "logout", "own", true, http.StatusOK, "Logout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeSSO{login: loggedInResult(exp)}
			s := newSSOServer(t, testIssuer, fake)
			victim, other := newBrowser(), newBrowser()
			own := csrfFrom(t, victim.do(s, http.MethodGet, "/auth/oauth2/authorize?"+authParams().Encode(), nil).Body.String())
			theirs := csrfFrom(t, other.do(s, http.MethodGet, "/auth/oauth2/authorize?"+authParams().Encode(), nil).Body.String())
			if own == theirs {
				t.Fatal("two browsers got the same csrf token")
			}
			if !tc.withCookie {
				victim.cookies = map[string]*http.Cookie{}
			}
			form := authParams()
			form.Set("action", tc.action)
			form.Set("username", "alice")
			form.Set("password", "hunter2")
			switch tc.token {
			case "own":
				form.Set("csrf_token", own)
			case "other":
				form.Set("csrf_token", theirs)
			}
			rec := victim.do(s, http.MethodPost, tc.path, form)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			calls := fake.called(tc.service)
			if tc.wantStatus == http.StatusForbidden {
				if calls != 0 {
					t.Fatalf("%s called %d times despite a bad csrf token", tc.service, calls)
				}
				checkPageHeaders(t, rec, wantCSP)
				for _, c := range rec.Result().Cookies() {
					t.Fatalf("a refused form set cookie %s", c.Name)
				}
				if !strings.Contains(rec.Body.String(), "reload the page") {
					t.Fatalf("403 page lacks its message: %s", rec.Body)
				}
				return
			}
			if calls != 1 {
				t.Fatalf("%s called %d times", tc.service, calls)
			}
		})
	}
}

func TestLoginSubmit(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		issuer      string
		password    string
		xff         string
		err         error
		wantStatus  int
		wantMsg     string
		wantRetry   string
		wantAddr    string
		wantSession string
	}{
		{"success under https", testIssuer, "hunter2", "", nil, http.StatusFound, "", "", "192.0.2.7", "__Host-sigil_session"},
		{"success under http", "http://localhost:8080/auth", "hunter2", "", nil, http.StatusFound, "", "", "192.0.2.7", "sigil_session"},
		{"bad credentials", testIssuer, "wrong-pass-xyz", "", nil, http.StatusBadRequest, "Invalid username or password.", "", "192.0.2.7", ""},
		{"rate limited", testIssuer, "wrong-pass-xyz", "", &oauth.Error{Code: oauth.CodeInvalidGrant, Status: 429, Reason: oauth.ReasonRateLimited, RetryAfter: 30 * time.Second}, 429, "Too many attempts, try again later.", "30", "192.0.2.7", ""},
		{"busy", testIssuer, "wrong-pass-xyz", "", &oauth.Error{Code: oauth.CodeTemporarilyUnavailable, Status: 503, Reason: oauth.ReasonBusy, RetryAfter: 1500 * time.Millisecond}, 503, "Busy, try again.", "2", "192.0.2.7", ""},
		{"storage unavailable", testIssuer, "wrong-pass-xyz", "", &oauth.Error{Code: oauth.CodeTemporarilyUnavailable, Status: 503, Reason: oauth.ReasonUnavailable, RetryAfter: time.Second}, 503, "Busy, try again.", "1", "192.0.2.7", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := &fakeSSO{login: loggedInResult(exp)}
			if tc.err != nil {
				fake.login = func(oauth.AuthorizeParams, oauth.LoginInput) (*oauth.LoginResult, error) { return nil, tc.err }
			}
			s := newSSOServer(t, tc.issuer, fake)
			b := newBrowser()
			path := issuerPath(tc.issuer) + PathAuthorize
			tok := csrfFrom(t, b.do(s, http.MethodGet, path+"?"+authParams().Encode(), nil).Body.String())
			form := authParams()
			form.Set("action", "login")
			form.Set("csrf_token", tok)
			form.Set("username", "alice")
			form.Set("password", tc.password)
			rec := b.do(s, http.MethodPost, path, form)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if fake.lastLogin.RemoteAddr != netip.MustParseAddr(tc.wantAddr) || fake.lastLogin.Username != "alice" {
				t.Fatalf("login input %+v", fake.lastLogin)
			}
			if fake.lastP.State != "xyz" || fake.lastP.ClientID != "app1" {
				t.Fatalf("login params %+v", fake.lastP)
			}
			if got := rec.Header().Get("Retry-After"); got != tc.wantRetry {
				t.Fatalf("Retry-After %q, want %q", got, tc.wantRetry)
			}
			body := rec.Body.String()
			if tc.wantSession == "" {
				if strings.Contains(body, tc.password) {
					t.Fatal("the password was echoed")
				}
				checkPageHeaders(t, rec, wantFlowCSP)
				for _, want := range []string{`role="alert"`, tc.wantMsg, `value="alice"`, `<input type="hidden" name="state" value="xyz">`, `aria-invalid="true"`} {
					if !strings.Contains(body, want) {
						t.Errorf("page lacks %q:\n%s", want, body)
					}
				}
				for _, c := range rec.Result().Cookies() {
					if strings.Contains(c.Name, "session") {
						t.Fatalf("failed login set %s", c.Name)
					}
				}
				return
			}
			if loc := rec.Header().Get("Location"); !strings.HasPrefix(loc, "https://app.example.org/cb?code=c0de") {
				t.Fatalf("Location %q", loc)
			}
			var sess *http.Cookie
			for _, c := range rec.Result().Cookies() {
				if c.Name == tc.wantSession {
					sess = c
				}
			}
			if sess == nil {
				t.Fatalf("no %s cookie in %v", tc.wantSession, rec.Header().Values("Set-Cookie"))
			}
			secure := strings.HasPrefix(tc.issuer, "https:")
			if sess.Value != "sess-1" || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Path != "/" || sess.Secure != secure || !sess.Expires.Equal(exp) || sess.Domain != "" {
				t.Fatalf("session cookie %+v", sess)
			}
		})
	}
}

func TestLoginUsesTrustedProxyAddress(t *testing.T) {
	fake := &fakeSSO{login: loggedInResult(time.Now().Add(time.Hour))}
	s := newSSOServer(t, testIssuer, fake)
	b := newBrowser()
	tok := csrfFrom(t, b.do(s, http.MethodGet, "/auth/oauth2/authorize?"+authParams().Encode(), nil).Body.String())
	form := authParams()
	form.Set("action", "login")
	form.Set("csrf_token", tok)
	form.Set("username", "alice")
	form.Set("password", "hunter2")
	req := httptest.NewRequest(http.MethodPost, "/auth/oauth2/authorize", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", "198.51.100.9")
	req.RemoteAddr = "10.1.2.3:4444"
	for _, c := range b.cookies {
		req.AddCookie(c)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusFound || fake.lastLogin.RemoteAddr != netip.MustParseAddr("198.51.100.9") {
		t.Fatalf("status %d, address %v", rec.Code, fake.lastLogin.RemoteAddr)
	}
}

func TestInjectionIsEscaped(t *testing.T) {
	const evil = `"><script>alert(1)</script><img src=x onerror=alert(2)>`
	for _, tc := range []struct {
		name   string
		mutate func(p url.Values, f *fakeSSO)
	}{
		{"state", func(p url.Values, f *fakeSSO) { p.Set("state", evil) }},
		{"login_hint", func(p url.Values, f *fakeSSO) { p.Set("login_hint", evil) }},
		{"client name", func(p url.Values, f *fakeSSO) {
			f.authorize = func(p oauth.AuthorizeParams, _ string) (*oauth.AuthorizeResult, error) {
				r := loginStep(p)
				r.Client.Name = evil
				return r, nil
			}
		}},
		{"client name on consent", func(p url.Values, f *fakeSSO) {
			f.authorize = func(p oauth.AuthorizeParams, _ string) (*oauth.AuthorizeResult, error) {
				return &oauth.AuthorizeResult{Step: oauth.StepConsent, Client: oauth.ClientInfo{ID: "x", Name: evil}, Params: p,
					ConsentScopes: []oauth.ScopeInfo{{Name: evil, Description: evil}}}, nil
			}
		}},
		{"error description", func(p url.Values, f *fakeSSO) {
			f.authorize = func(oauth.AuthorizeParams, string) (*oauth.AuthorizeResult, error) {
				return nil, &oauth.AuthorizeError{Code: "invalid_request", Description: "bad redirect_uri " + evil, Status: 400}
			}
		}},
		{"form_post values", func(p url.Values, f *fakeSSO) {
			f.authorize = func(oauth.AuthorizeParams, string) (*oauth.AuthorizeResult, error) {
				r := doneStep("form_post", "https://app.example.org/cb")
				r.Response.Params.Set("state", evil)
				r.Client.Name = evil
				return r, nil
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeSSO{}
			p := authParams()
			tc.mutate(p, f)
			s := newSSOServer(t, testIssuer, f)
			rec := newBrowser().do(s, http.MethodGet, "/auth/oauth2/authorize?"+p.Encode(), nil)
			body := rec.Body.String()
			for _, raw := range []string{"<script>", `"><script`, "<img", "onerror=alert(2)>", evil} {
				if strings.Contains(body, raw) {
					t.Fatalf("raw %q in page:\n%s", raw, body)
				}
			}
			if !strings.Contains(body, "&lt;script&gt;") {
				t.Fatalf("escaped value missing from page:\n%s", body)
			}
		})
	}
}

func TestAuthorizeOutcomes(t *testing.T) {
	redirectErr := func(mode string) error {
		return &oauth.AuthorizeError{Code: "invalid_scope", Description: "unknown scope", Redirect: true, Status: 400,
			Response: &oauth.AuthorizationResponse{RedirectURI: "https://app.example.org/cb?tenant=a%20b", ResponseMode: mode,
				Params: url.Values{"error": {"invalid_scope"}, "error_description": {"unknown scope"}, "state": {"xyz"}, "iss": {testIssuer}}}}
	}
	for _, tc := range []struct {
		name       string
		result     *oauth.AuthorizeResult
		err        error
		wantStatus int
		wantLoc    map[string]string // query of Location; nil: no Location at all
		wantPrefix string            // Location prefix
		wantCSP    string
		wantBody   []string
		wantRetry  string
	}{
		{
			name:       "unverified redirect uri: error page, never a redirect",
			err:        &oauth.AuthorizeError{Code: "invalid_request", Description: "redirect_uri is not registered for this client", Status: 400},
			wantStatus: 400, wantCSP: wantCSP,
			wantBody: []string{"redirect_uri is not registered for this client", "invalid_request", `role="alert"`},
		},
		{
			name:       "unknown client, busy: error page with Retry-After",
			err:        &oauth.AuthorizeError{Code: "temporarily_unavailable", Description: "try later", Status: 503, RetryAfter: 2 * time.Second},
			wantStatus: 503, wantCSP: wantCSP, wantRetry: "2",
			wantBody: []string{"try later"},
		},
		{
			name: "redirectable error in query mode",
			err:  redirectErr("query"), wantStatus: http.StatusFound,
			wantPrefix: "https://app.example.org/cb?tenant=a%20b&",
			wantLoc:    map[string]string{"error": "invalid_scope", "error_description": "unknown scope", "state": "xyz", "iss": testIssuer, "tenant": "a b"},
			wantCSP:    wantCSP,
		},
		{
			name: "redirectable error in form_post mode",
			err:  redirectErr("form_post"), wantStatus: 200,
			wantCSP: strings.Replace(wantCSP, "form-action 'self'", "form-action 'self' https://app.example.org", 1),
			wantBody: []string{
				`<form method="post" action="https://app.example.org/cb?tenant=a%20b"`,
				`<input type="hidden" name="error" value="invalid_scope">`,
				`<input type="hidden" name="state" value="xyz">`,
				`<input type="hidden" name="iss" value="https://id.example.com/auth">`,
				`<button type="submit">Continue</button>`,
			},
		},
		{
			name:   "done in query mode",
			result: doneStep("query", "http://127.0.0.1:49152/callback"), wantStatus: http.StatusFound,
			wantPrefix: "http://127.0.0.1:49152/callback?code=c0de&",
			wantLoc:    map[string]string{"code": "c0de", "state": "st", "iss": testIssuer},
			wantCSP:    wantCSP,
		},
		{
			name:   "done in form_post mode",
			result: doneStep("form_post", "https://app.example.org:8443/cb"), wantStatus: 200,
			wantCSP: strings.Replace(wantCSP, "form-action 'self'", "form-action 'self' https://app.example.org:8443", 1),
			wantBody: []string{
				`<form method="post" action="https://app.example.org:8443/cb"`,
				`<input type="hidden" name="code" value="c0de">`,
				`<input type="hidden" name="state" value="st">`,
				`Example App`,
			},
		},
		{
			name: "consent page",
			result: &oauth.AuthorizeResult{Step: oauth.StepConsent, Client: testClient, Params: oauth.AuthorizeParamsFrom(authParams()),
				ConsentScopes: []oauth.ScopeInfo{{Name: "openid", Description: "Sign you in"}, {Name: "email", Description: "See your email address"}}},
			wantStatus: 200, wantCSP: wantFlowCSP,
			wantBody: []string{
				`<button name="action" value="allow">Allow</button>`,
				`<button name="action" value="deny" class="secondary">Deny</button>`,
				`See your email address`, `Sign you in`, `Example App`,
				`<input type="hidden" name="scope" value="openid profile">`,
				`name="csrf_token"`,
			},
		},
		{
			name: "unexpected failure: 500 page without detail",
			err:  errors.New("mongo exploded: secret-detail"), wantStatus: 500, wantCSP: wantCSP,
			wantBody: []string{"Something went wrong on our side"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeSSO{authorize: func(oauth.AuthorizeParams, string) (*oauth.AuthorizeResult, error) { return tc.result, tc.err }}
			s := newSSOServer(t, testIssuer, f)
			rec := newBrowser().do(s, http.MethodGet, "/auth/oauth2/authorize?"+authParams().Encode(), nil)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			checkPageHeaders(t, rec, tc.wantCSP)
			loc := rec.Header().Get("Location")
			if tc.wantLoc == nil {
				if loc != "" {
					t.Fatalf("redirected to %q", loc)
				}
			} else {
				if !strings.HasPrefix(loc, tc.wantPrefix) {
					t.Fatalf("Location %q, want prefix %q", loc, tc.wantPrefix)
				}
				u, err := url.Parse(loc)
				if err != nil {
					t.Fatal(err)
				}
				q := u.Query()
				if len(q) != len(tc.wantLoc) {
					t.Fatalf("Location query %v, want %v", q, tc.wantLoc)
				}
				for k, v := range tc.wantLoc {
					if q.Get(k) != v {
						t.Fatalf("Location %s = %q, want %q", k, q.Get(k), v)
					}
				}
			}
			if got := rec.Header().Get("Retry-After"); got != tc.wantRetry {
				t.Fatalf("Retry-After %q, want %q", got, tc.wantRetry)
			}
			body := rec.Body.String()
			for _, want := range tc.wantBody {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q:\n%s", want, body)
				}
			}
			if strings.Contains(body, "secret-detail") {
				t.Fatal("an internal error reached the page")
			}
		})
	}
}

func TestConsentSubmit(t *testing.T) {
	for _, tc := range []struct {
		name      string
		action    string
		wantAllow bool
		wantError string
	}{
		{"allow", "allow", true, ""},
		{"deny", "deny", false, "access_denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeSSO{consent: func(p oauth.AuthorizeParams, allow bool) (*oauth.AuthorizeResult, error) {
				if !allow {
					return nil, &oauth.AuthorizeError{Code: "access_denied", Redirect: true, Status: 400, Response: &oauth.AuthorizationResponse{
						RedirectURI: "https://app.example.org/cb", ResponseMode: "query",
						Params: url.Values{"error": {"access_denied"}, "state": {p.State}, "iss": {testIssuer}}}}
				}
				return doneStep("query", "https://app.example.org/cb"), nil
			}}
			s := newSSOServer(t, testIssuer, f)
			b := newBrowser()
			b.cookies["__Host-sigil_session"] = &http.Cookie{Name: "__Host-sigil_session", Value: "sess-9"}
			tok := csrfFrom(t, b.do(s, http.MethodGet, "/auth/oauth2/authorize?"+authParams().Encode(), nil).Body.String())
			form := authParams()
			form.Set("action", tc.action)
			form.Set("csrf_token", tok)
			rec := b.do(s, http.MethodPost, "/auth/oauth2/authorize", form)
			if rec.Code != http.StatusFound || f.allow == nil || *f.allow != tc.wantAllow {
				t.Fatalf("status %d, allow %v", rec.Code, f.allow)
			}
			f.mu.Lock()
			lastCookie := f.cookies[len(f.cookies)-1]
			f.mu.Unlock()
			if lastCookie != "sess-9" || f.lastP.State != "xyz" {
				t.Fatalf("consent got cookie %q, params %+v", lastCookie, f.lastP)
			}
			u, _ := url.Parse(rec.Header().Get("Location"))
			if got := u.Query().Get("error"); got != tc.wantError {
				t.Fatalf("error %q, want %q", got, tc.wantError)
			}
		})
	}
}

func TestAuthorizeRequestShapes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		method     string
		target     string
		body       string
		ctype      string
		wantStatus int
		wantCalls  int
	}{
		{"post without action is a request, no csrf needed", http.MethodPost, "/auth/oauth2/authorize", authParams().Encode(), "application/x-www-form-urlencoded", 200, 1},
		{"get with action is still only a request", http.MethodGet, "/auth/oauth2/authorize?action=login&" + authParams().Encode(), "", "", 200, 1},
		{"repeated parameter in query", http.MethodGet, "/auth/oauth2/authorize?state=a&state=b&client_id=app1", "", "", 400, 0},
		{"repeated parameter in body", http.MethodPost, "/auth/oauth2/authorize", "client_id=a&client_id=b", "application/x-www-form-urlencoded", 400, 0},
		{"post with a query string", http.MethodPost, "/auth/oauth2/authorize?client_id=a", "state=x", "application/x-www-form-urlencoded", 400, 0},
		{"post as json", http.MethodPost, "/auth/oauth2/authorize", `{"client_id":"a"}`, "application/json", 415, 0},
		{"post too large", http.MethodPost, "/auth/oauth2/authorize", "state=" + strings.Repeat("a", 70<<10), "application/x-www-form-urlencoded", 413, 0},
		{"put refused", http.MethodPut, "/auth/oauth2/authorize", "", "", 405, 0},
		{"outside the issuer path", http.MethodGet, "/oauth2/authorize?client_id=a", "", "", 404, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeSSO{}
			s := newSSOServer(t, testIssuer, f)
			req := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if got := f.called("Authorize"); got != tc.wantCalls {
				t.Fatalf("Authorize called %d times, want %d", got, tc.wantCalls)
			}
			if tc.wantStatus != 404 {
				want := wantCSP
				if strings.Contains(rec.Body.String(), `autocomplete="current-password"`) {
					want = wantFlowCSP // the login page
				}
				checkPageHeaders(t, rec, want)
			}
			if tc.wantStatus == 405 && rec.Header().Get("Allow") != "GET, POST" {
				t.Fatalf("Allow %q", rec.Header().Get("Allow"))
			}
			if tc.wantCalls == 1 && f.lastP.State != "xyz" {
				t.Fatalf("params %+v", f.lastP)
			}
		})
	}
}

func TestSSORoutesNeedService(t *testing.T) {
	s, err := New(Config{Issuer: testIssuer}, &keystest.Ring{}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{PathAuthorize, PathLogout, PathStylesheet} {
		if rec := do(s, http.MethodGet, "/auth"+p, nil); rec.Code != http.StatusNotFound {
			t.Errorf("%s: status %d without an SSO service", p, rec.Code)
		}
	}
}

func TestLogout(t *testing.T) {
	hint := url.Values{"id_token_hint": {"eyJ.x.y"}, "post_logout_redirect_uri": {"https://app.example.org/bye"}, "state": {"s1"}}
	for _, tc := range []struct {
		name        string
		prepare     *oauth.LogoutPlan
		prepareErr  error
		plan        *oauth.LogoutPlan
		logoutErr   error
		wantStatus  int
		wantLoc     string
		wantBody    []string
		wantCleared bool
		wantLogout  int
	}{
		{
			name:       "no hint: confirmation page",
			prepare:    &oauth.LogoutPlan{NeedsConfirmation: true, Client: testClient},
			wantStatus: 200, wantLogout: 0,
			wantBody: []string{`<button name="action" value="logout">Sign out</button>`, `name="csrf_token"`,
				`<input type="hidden" name="state" value="s1">`, `<input type="hidden" name="post_logout_redirect_uri" value="https://app.example.org/bye">`, `Example App`},
		},
		{
			name:       "valid hint with redirect: ends the session at once",
			prepare:    &oauth.LogoutPlan{Client: testClient, RedirectURI: "https://app.example.org/bye?state=s1"},
			plan:       &oauth.LogoutPlan{Client: testClient, RedirectURI: "https://app.example.org/bye?state=s1"},
			wantStatus: 302, wantLoc: "https://app.example.org/bye?state=s1", wantCleared: true, wantLogout: 1,
		},
		{
			name:    "valid hint without redirect: signed-out page",
			prepare: &oauth.LogoutPlan{}, plan: &oauth.LogoutPlan{},
			wantStatus: 200, wantCleared: true, wantLogout: 1, wantBody: []string{"You are signed out"},
		},
		{
			name:       "unregistered post-logout uri: error page, no redirect",
			prepareErr: &oauth.AuthorizeError{Code: "invalid_request", Description: "post_logout_redirect_uri is not registered", Status: 400},
			wantStatus: 400, wantBody: []string{"post_logout_redirect_uri is not registered"},
		},
		{
			name:       "logout fails: cookie kept",
			prepare:    &oauth.LogoutPlan{},
			logoutErr:  &oauth.AuthorizeError{Code: "temporarily_unavailable", Description: "storage down", Status: 503, RetryAfter: time.Second},
			wantStatus: 503, wantLogout: 1, wantBody: []string{"storage down"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeSSO{
				prepare: func(oauth.LogoutParams) (*oauth.LogoutPlan, error) { return tc.prepare, tc.prepareErr },
				logout:  func(oauth.LogoutParams) (*oauth.LogoutPlan, error) { return tc.plan, tc.logoutErr },
			}
			s := newSSOServer(t, testIssuer, f)
			b := newBrowser()
			b.cookies["__Host-sigil_session"] = &http.Cookie{Name: "__Host-sigil_session", Value: "sess-3"}
			rec := b.do(s, http.MethodGet, "/auth/oauth2/logout?"+hint.Encode(), nil)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.wantStatus, rec.Body)
			}
			if got := rec.Header().Get("Location"); got != tc.wantLoc {
				t.Fatalf("Location %q, want %q", got, tc.wantLoc)
			}
			checkPageHeaders(t, rec, wantCSP)
			if f.called("Logout") != tc.wantLogout {
				t.Fatalf("Logout called %d times", f.called("Logout"))
			}
			if tc.wantLogout > 0 && f.lastLP.IDTokenHint != "eyJ.x.y" {
				t.Fatalf("logout params %+v", f.lastLP)
			}
			checkCleared(t, rec, tc.wantCleared)
			for _, want := range tc.wantBody {
				if !strings.Contains(rec.Body.String(), want) {
					t.Errorf("page lacks %q:\n%s", want, rec.Body)
				}
			}
		})
	}
}

// checkCleared checks whether rec clears the session cookie (Max-Age=0).
func checkCleared(t *testing.T, rec *httptest.ResponseRecorder, want bool) {
	t.Helper()
	cleared := false
	for _, line := range rec.Header().Values("Set-Cookie") {
		if strings.HasPrefix(line, "__Host-sigil_session=;") {
			for _, attr := range []string{"Max-Age=0", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
				if !strings.Contains(line, attr) {
					t.Fatalf("clearing cookie %q lacks %s", line, attr)
				}
			}
			cleared = true
		}
	}
	if cleared != want {
		t.Fatalf("session cookie cleared: %v, want %v (%v)", cleared, want, rec.Header().Values("Set-Cookie"))
	}
}

func TestLogoutConfirm(t *testing.T) {
	f := &fakeSSO{
		prepare: func(oauth.LogoutParams) (*oauth.LogoutPlan, error) {
			return &oauth.LogoutPlan{NeedsConfirmation: true}, nil
		},
		logout: func(oauth.LogoutParams) (*oauth.LogoutPlan, error) { return &oauth.LogoutPlan{}, nil },
	}
	s := newSSOServer(t, testIssuer, f)
	b := newBrowser()
	b.cookies["__Host-sigil_session"] = &http.Cookie{Name: "__Host-sigil_session", Value: "sess-4"}
	rec := b.do(s, http.MethodGet, "/auth/oauth2/logout", nil)
	if rec.Code != 200 || f.called("Logout") != 0 {
		t.Fatalf("status %d, logout calls %d", rec.Code, f.called("Logout"))
	}
	form := url.Values{"action": {"logout"}, "csrf_token": {csrfFrom(t, rec.Body.String())}}
	rec = b.do(s, http.MethodPost, "/auth/oauth2/logout", form)
	if rec.Code != 200 || f.called("Logout") != 1 || !strings.Contains(rec.Body.String(), "You are signed out") {
		t.Fatalf("status %d, logout calls %d: %s", rec.Code, f.called("Logout"), rec.Body)
	}
	f.mu.Lock()
	got := f.cookies[len(f.cookies)-1]
	f.mu.Unlock()
	if got != "sess-4" {
		t.Fatalf("Logout got cookie %q", got)
	}
	checkCleared(t, rec, true)
	if b.cookies["__Host-sigil_session"] != nil {
		t.Fatal("the browser still holds the session cookie")
	}
}

func TestStylesheet(t *testing.T) {
	s := newSSOServer(t, testIssuer, &fakeSSO{})
	page := newBrowser().do(s, http.MethodGet, "/auth/oauth2/authorize?"+authParams().Encode(), nil).Body.String()
	m := regexp.MustCompile(`<link rel="stylesheet" href="([^"]+)">`).FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no stylesheet link")
	}
	for _, tc := range []struct {
		name       string
		method     string
		target     string
		hdr        map[string]string
		wantStatus int
		wantBody   bool
	}{
		{"linked url", http.MethodGet, m[1], nil, 200, true},
		{"plain path", http.MethodGet, "/auth/static/sigil.css", nil, 200, true},
		{"head", http.MethodHead, "/auth/static/sigil.css", nil, 200, false},
		{"revalidation", http.MethodGet, "/auth/static/sigil.css", map[string]string{"If-None-Match": `"` + stylesheetVersion() + `"`}, 304, false},
		{"post refused", http.MethodPost, "/auth/static/sigil.css", nil, 405, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(s, tc.method, tc.target, tc.hdr)
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			if tc.wantStatus == 405 {
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/css; charset=utf-8" {
				t.Fatalf("Content-Type %q", ct)
			}
			if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "immutable") {
				t.Fatalf("Cache-Control %q", cc)
			}
			if got := rec.Body.String(); tc.wantBody != (got == string(stylesheet)) || (tc.wantBody && !strings.Contains(got, ".card")) {
				t.Fatalf("body of %d bytes", len(got))
			}
		})
	}
}

func TestParseTemplates(t *testing.T) {
	good := fstest.MapFS{}
	for _, name := range append([]string{"layout"}, pageNames...) {
		b, err := templateFS.ReadFile("templates/" + name + ".html")
		if err != nil {
			t.Fatal(err)
		}
		good["templates/"+name+".html"] = &fstest.MapFile{Data: b}
	}
	clone := func(edit func(fstest.MapFS)) fstest.MapFS {
		m := fstest.MapFS{}
		for k, v := range good {
			m[k] = v
		}
		edit(m)
		return m
	}
	for _, tc := range []struct {
		name    string
		fsys    fstest.MapFS
		wantErr string
	}{
		{"embedded templates", good, ""},
		{"broken page", clone(func(m fstest.MapFS) {
			m["templates/login.html"] = &fstest.MapFile{Data: []byte(`{{define "title"}}x{{end}}{{define "content"}}{{if}}{{end}}`)}
		}), "parse page login"},
		{"missing page", clone(func(m fstest.MapFS) { delete(m, "templates/consent.html") }), "parse page consent"},
		{"page without content", clone(func(m fstest.MapFS) {
			m["templates/error.html"] = &fstest.MapFile{Data: []byte(`{{define "title"}}x{{end}}`)}
		}), `no "content" template`},
		{"broken layout", clone(func(m fstest.MapFS) {
			m["templates/layout.html"] = &fstest.MapFile{Data: []byte(`{{define "layout"}}{{.Title}`)}
		}), "parse page layout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseTemplates(tc.fsys)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestFormPostOrigin(t *testing.T) {
	for _, tc := range []struct {
		name, uri, want string
	}{
		{"https", "https://app.example.org/cb?x=1", "https://app.example.org"},
		{"loopback with port", "http://127.0.0.1:4000/cb", "http://127.0.0.1:4000"},
		{"ipv6 loopback", "http://[::1]:4000/cb", "http://[::1]:4000"},
		{"private-use scheme", "com.example.app:/cb", ""},
		{"header injection", "https://a.example;script-src */cb", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := formPostOrigin(tc.uri)
			if got != tc.want || (err == nil) != (tc.want != "") {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestLoginSubmitFlowErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		wantStatus int
		wantLoc    string
		wantBody   string
	}{
		{"request became invalid: error page", &oauth.AuthorizeError{Code: "invalid_request", Description: "client was removed", Status: 400}, 400, "", "client was removed"},
		{"redirectable error", &oauth.AuthorizeError{Code: "access_denied", Redirect: true, Status: 400, Response: &oauth.AuthorizationResponse{
			RedirectURI: "https://app.example.org/cb", ResponseMode: "query", Params: url.Values{"error": {"access_denied"}}}}, 302, "https://app.example.org/cb?error=access_denied", ""},
		{"unexpected failure", errors.New("db gone: secret-detail"), 500, "", "Something went wrong on our side"},
		{"misconfigured server", &oauth.Error{Code: oauth.CodeServerError, Status: 500, Reason: oauth.ReasonMisconfigured}, 500, "", "Sign-in is not available right now"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeSSO{login: func(oauth.AuthorizeParams, oauth.LoginInput) (*oauth.LoginResult, error) { return nil, tc.err }}
			s := newSSOServer(t, testIssuer, f)
			b := newBrowser()
			form := authParams()
			form.Set("action", "login")
			form.Set("csrf_token", csrfFrom(t, b.do(s, http.MethodGet, "/auth/oauth2/authorize?"+authParams().Encode(), nil).Body.String()))
			form.Set("username", "alice")
			form.Set("password", "pw-never-shown")
			rec := b.do(s, http.MethodPost, "/auth/oauth2/authorize", form)
			if rec.Code != tc.wantStatus || rec.Header().Get("Location") != tc.wantLoc {
				t.Fatalf("status %d, Location %q: %s", rec.Code, rec.Header().Get("Location"), rec.Body)
			}
			body := rec.Body.String()
			if !strings.Contains(body, tc.wantBody) || strings.Contains(body, "secret-detail") || strings.Contains(body, "pw-never-shown") {
				t.Fatalf("page:\n%s", body)
			}
			for _, c := range rec.Result().Cookies() {
				if strings.Contains(c.Name, "session") {
					t.Fatalf("failed login set %s", c.Name)
				}
			}
		})
	}
}

func TestDefaultTitle(t *testing.T) {
	s, err := New(Config{Issuer: "http://localhost:9000"}, &keystest.Ring{}, Deps{SSO: &fakeSSO{}})
	if err != nil {
		t.Fatal(err)
	}
	rec := newBrowser().do(s, http.MethodGet, "/oauth2/authorize?"+authParams().Encode(), nil)
	if !strings.Contains(rec.Body.String(), `<p class="deployment">Sigil</p>`) {
		t.Fatalf("default title missing:\n%s", rec.Body)
	}
}

func TestRedirectSource(t *testing.T) {
	tests := []struct{ name, uri, want string }{
		{"https origin", "https://app.example.org/cb?x=1", "https://app.example.org"},
		{"loopback with port", "http://127.0.0.1:8765/cb", "http://127.0.0.1:8765"},
		{"ipv6 loopback", "http://[::1]:9000/cb", "http://[::1]:9000"},
		{"private-use scheme", "com.Example.app:/callback", "com.example.app:"},
		{"empty", "", ""},
		{"header injection in host", "https://a.example;script-src *", ""},
		{"scheme without a dot", "javascript:alert(1)", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := redirectSource(tc.uri); got != tc.want {
				t.Fatalf("redirectSource(%q) = %q, want %q", tc.uri, got, tc.want)
			}
		})
	}
}
