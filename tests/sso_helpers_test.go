package tests

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// SSO clients every SSO test starts with, besides those of newOAuthEnv.
const (
	appID      = "app" // confidential, first-party: no consent page
	appSecret  = "app-secret-0123456789abcdef0123456789"
	appName    = "Acme Notes"
	spaID      = "spa" // public, third-party: consent page
	spaName    = `Spa <b>"Bold"</b> & Co`
	logoutPath = "/signed-out"
)

// callbacks is a loopback relying party: it records every authorization
// response and back-channel logout token it receives.
type callbacks struct {
	srv *httptest.Server

	mu        sync.Mutex
	got       []url.Values // authorization responses (query or form_post)
	logouts   []string     // logout tokens
	loggedOut int          // hits on the post-logout redirect URI
}

func newCallbacks(t *testing.T) *callbacks {
	t.Helper()
	c := &callbacks{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		c.mu.Lock()
		defer c.mu.Unlock()
		switch r.URL.Path {
		case "/cb":
			v := url.Values{}
			for k, vs := range r.Form {
				v[k] = vs
			}
			c.got = append(c.got, v)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!doctype html><title>callback</title><p id="callback">callback received</p>`)
		case "/backchannel":
			c.logouts = append(c.logouts, r.PostForm.Get("logout_token"))
			w.WriteHeader(http.StatusOK)
		case logoutPath:
			c.loggedOut++
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!doctype html><title>bye</title><p id="bye">signed out at the app</p>`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(c.srv.Close)
	return c
}

// last returns the latest authorization response.
func (c *callbacks) last(t *testing.T) url.Values {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.got) == 0 {
		t.Fatal("no authorization response reached the callback")
	}
	return c.got[len(c.got)-1]
}

func (c *callbacks) logoutTokens() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.logouts...)
}

// ssoEnv is an oauthEnv with the SSO clients registered and a relying party
// listening on loopback.
type ssoEnv struct {
	*oauthEnv
	rp *callbacks
}

func newSSOEnv(t *testing.T, b Backend) *ssoEnv {
	t.Helper()
	rp := newCallbacks(t)
	e := &ssoEnv{oauthEnv: newOAuthEnv(t, b, nil), rp: rp}
	e.MustCLI(appSecret+"\n", "clients", "add", appID, "--secret-stdin", "--name", appName,
		"--grants", "authorization_code,refresh_token", "--scopes", "openid,profile,email,api",
		"--redirect-uri", rp.srv.URL+"/cb", "--post-logout-redirect-uri", rp.srv.URL+logoutPath,
		"--backchannel-logout-uri", rp.srv.URL+"/backchannel", "--first-party")
	e.MustCLI("", "clients", "add", spaID, "--public", "--name", spaName,
		"--grants", "authorization_code", "--scopes", "openid,profile",
		"--redirect-uri", rp.srv.URL+"/cb", "--backchannel-logout-uri", rp.srv.URL+"/backchannel")
	return e
}

// oauth2Config is the x/oauth2 configuration of a client.
func (e *ssoEnv) oauth2Config(id, secret string, scopes ...string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: id, ClientSecret: secret,
		Endpoint: oauth2.Endpoint{
			AuthURL:  e.Issuer + "/oauth2/authorize",
			TokenURL: e.Issuer + "/oauth2/token",
		},
		RedirectURL: e.rp.srv.URL + "/cb",
		Scopes:      scopes,
	}
}

// authRequest is one authorization request a test starts.
type authRequest struct {
	conf     *oauth2.Config
	state    string
	nonce    string
	verifier string
	url      string
}

func (e *ssoEnv) newAuthRequest(conf *oauth2.Config, extra ...oauth2.AuthCodeOption) *authRequest {
	a := &authRequest{conf: conf, state: randomString(), nonce: randomString(), verifier: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(a.verifier), oauth2.SetAuthURLParam("nonce", a.nonce)}, extra...)
	a.url = conf.AuthCodeURL(a.state, opts...)
	return a
}

func (a *authRequest) exchange(ctx context.Context, code string) (*oauth2.Token, error) {
	return a.conf.Exchange(ctx, code, oauth2.VerifierOption(a.verifier))
}

func randomString() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// browserless is an HTTP client with a cookie jar that does not follow
// redirects, for SSO tests that need no real browser.
type browserless struct {
	c *http.Client
}

func newBrowserless(t *testing.T) *browserless {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &browserless{c: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// page is an HTML answer.
type page struct {
	status int
	header http.Header
	body   string
}

func (b *browserless) do(t *testing.T, method, u string, form url.Values) page {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return page{status: resp.StatusCode, header: resp.Header, body: string(raw)}
}

var hiddenField = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)

// hidden returns the hidden fields of a page's form.
func (p page) hidden() url.Values {
	v := url.Values{}
	for _, m := range hiddenField.FindAllStringSubmatch(p.body, -1) {
		v.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	return v
}

// location parses the Location of a redirect.
func (p page) location(t *testing.T) *url.URL {
	t.Helper()
	if p.status != http.StatusFound && p.status != http.StatusSeeOther {
		t.Fatalf("status %d, want a redirect; body:\n%s", p.status, p.body)
	}
	u, err := url.Parse(p.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// signIn runs the login form of an authorization request page and returns
// the answer to the POST.
func (b *browserless) signIn(t *testing.T, authURL, user, pw string) page {
	t.Helper()
	p := b.do(t, http.MethodGet, authURL, nil)
	if p.status != 200 || !strings.Contains(p.body, `autocomplete="current-password"`) {
		t.Fatalf("expected the login page, got %d:\n%s", p.status, p.body)
	}
	form := p.hidden()
	form.Set("username", user)
	form.Set("password", pw)
	form.Set("action", "login")
	return b.do(t, http.MethodPost, formAction(t, p, authURL), form)
}

var formActionRE = regexp.MustCompile(`<form[^>]*action="([^"]*)"`)

// formAction resolves the action of a page's first form against base.
func formAction(t *testing.T, p page, base string) string {
	t.Helper()
	m := formActionRE.FindStringSubmatch(p.body)
	bu, _ := url.Parse(base)
	if m == nil {
		bu.RawQuery = ""
		return bu.String()
	}
	ref, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return bu.ResolveReference(ref).String()
}
