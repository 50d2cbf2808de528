package load

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/sigilauth/sigil/oauth/verify"
)

// authCodeStep is the next request of an authorization code flow.
type authCodeStep int

const (
	stepAuthorize authCodeStep = iota // GET /oauth2/authorize
	stepLogin                         // POST the login form
	stepExchange                      // POST /oauth2/token, grant_type=authorization_code
	stepRefresh                       // POST /oauth2/token, grant_type=refresh_token
)

// AuthCodeCounts count the authorization code flows of a soak.
type AuthCodeCounts struct {
	// Completed counts flows whose code was exchanged and whose tokens
	// verified; Login those of them that went through the login form,
	// SessionReused those answered from the browser's session cookie
	// without one.
	Completed, Login, SessionReused atomic.Int64
}

// authCodeFlow is one soak worker's browser: a cookie jar of its own, no
// JavaScript, and no redirect following. Each call to step sends one HTTP
// request of the authorization code flow (RFC 6749 §4.1 with PKCE S256,
// state and nonce): the authorization request, the login form (skipped when
// the session cookie still holds a session), the code exchange and one
// refresh. Every other flow starts as a new browser, with an empty jar, so
// the flows alternate between logging in and reusing the session.
type authCodeFlow struct {
	d       *Deployment
	user    string
	idv     *verify.Verifier // ID tokens: audience ClientWeb, typ JWT
	hand    func(string)     // access tokens go to the resource server
	counts  *AuthCodeCounts
	shared  *http.Client // its transport is shared with the other workers
	browser *http.Client
	flows   int // flows started

	step                   authCodeStep
	authURL                string
	state, nonce, verifier string
	loggedIn               bool       // this flow went through the login form
	form                   url.Values // the login form's fields, to post
	formAction             string
	code, refresh          string
}

func newAuthCodeFlow(d *Deployment, user string, shared *http.Client, idv *verify.Verifier, hand func(string), counts *AuthCodeCounts) *authCodeFlow {
	f := &authCodeFlow{d: d, user: user, shared: shared, idv: idv, hand: hand, counts: counts}
	f.newBrowser()
	return f
}

// newBrowser forgets every cookie: the next authorization request logs in.
func (f *authCodeFlow) newBrowser() {
	jar, _ := cookiejar.New(nil) // never fails without options
	f.browser = &http.Client{
		Transport:     f.shared.Transport,
		Jar:           jar,
		Timeout:       f.shared.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// run sends the flow's next request. On failure the flow starts again with
// a new browser, so one error does not cascade into the next steps.
func (f *authCodeFlow) run(ctx context.Context) error {
	var err error
	switch f.step {
	case stepAuthorize:
		err = f.authorize(ctx)
	case stepLogin:
		err = f.login(ctx)
	case stepExchange:
		err = f.exchange(ctx)
	case stepRefresh:
		err = f.refreshOnce(ctx)
	}
	if err != nil {
		f.step = stepAuthorize
		f.flows = 0 // the next flow starts in a new browser
		return fmt.Errorf("authorization_code: %w", err)
	}
	return nil
}

// authorize starts a flow: a new browser every other flow, fresh state,
// nonce and PKCE verifier, and GET /oauth2/authorize. A new browser must get
// the login page; a browser with a session must be sent to the redirect
// URI with a code at once.
func (f *authCodeFlow) authorize(ctx context.Context) error {
	fresh := f.flows%2 == 0
	if fresh {
		f.newBrowser()
	}
	f.flows++
	f.state, f.nonce, f.verifier = randomToken(16), randomToken(16), randomToken(32)
	sum := sha256.Sum256([]byte(f.verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {ClientWeb},
		"redirect_uri":          {WebRedirectURI},
		"scope":                 {"openid api"},
		"state":                 {f.state},
		"nonce":                 {f.nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	f.authURL = f.d.URL + "/oauth2/authorize?" + q.Encode()
	f.loggedIn = false
	status, loc, body, err := f.send(ctx, http.MethodGet, f.authURL, nil)
	if err != nil {
		return err
	}
	if fresh {
		if status != http.StatusOK {
			return fmt.Errorf("GET authorize in a new browser: status %d, want the login page (200): %s", status, pageMessage(body))
		}
		return f.readLoginPage(body)
	}
	if err := f.takeCode(status, loc); err != nil {
		return fmt.Errorf("GET authorize with a session: %w", err)
	}
	return nil
}

var (
	hiddenInputRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)"`)
	formActionRE  = regexp.MustCompile(`<form[^>]*action="([^"]*)"`)
)

// readLoginPage reads the login form: its action and hidden fields (the
// authorization request's parameters and the CSRF token).
func (f *authCodeFlow) readLoginPage(body string) error {
	if !strings.Contains(body, `name="password"`) {
		return errors.New("GET authorize: the page has no password field")
	}
	f.form = url.Values{}
	for _, m := range hiddenInputRE.FindAllStringSubmatch(body, -1) {
		f.form.Set(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	if f.form.Get("csrf_token") == "" {
		return errors.New("GET authorize: the login form has no csrf_token")
	}
	if f.form.Get("action") != "login" {
		return errors.New("GET authorize: the login form has no action=login")
	}
	m := formActionRE.FindStringSubmatch(body)
	if m == nil {
		return errors.New("GET authorize: no form action on the login page")
	}
	base, _ := url.Parse(f.authURL)
	ref, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return fmt.Errorf("GET authorize: form action: %w", err)
	}
	f.formAction = base.ResolveReference(ref).String()
	f.step = stepLogin
	return nil
}

// login posts the credentials with the form's hidden fields. The client is
// first-party, so no consent page may follow: the answer is the redirect.
func (f *authCodeFlow) login(ctx context.Context) error {
	f.form.Set("username", f.user)
	f.form.Set("password", UserPassword)
	status, loc, body, err := f.send(ctx, http.MethodPost, f.formAction, f.form)
	f.form = nil
	if err != nil {
		return err
	}
	if status == http.StatusOK {
		return fmt.Errorf("POST login: a page instead of the redirect: %s", pageMessage(body))
	}
	if err := f.takeCode(status, loc); err != nil {
		return fmt.Errorf("POST login: %w", err)
	}
	f.loggedIn = true
	return nil
}

// takeCode reads the authorization response from a redirect to the
// (loopback, never contacted) redirect URI: the code, the state sent and
// the issuer (RFC 9207).
func (f *authCodeFlow) takeCode(status int, loc string) error {
	if status != http.StatusFound && status != http.StatusSeeOther {
		return fmt.Errorf("status %d, want a redirect to the client", status)
	}
	u, err := url.Parse(loc)
	if err != nil {
		return fmt.Errorf("the Location does not parse: %w", err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != WebRedirectURI {
		return fmt.Errorf("redirect to %q, want %q", got, WebRedirectURI)
	}
	q := u.Query()
	switch {
	case q.Get("error") != "":
		return fmt.Errorf("error response %q: %s", q.Get("error"), q.Get("error_description"))
	case q.Get("state") != f.state:
		return errors.New("the response's state is not the request's")
	case q.Get("iss") != f.d.URL:
		return fmt.Errorf("the response's iss is %q, want %q", q.Get("iss"), f.d.URL)
	case q.Get("code") == "":
		return errors.New("the response has no code")
	}
	f.code = q.Get("code")
	f.step = stepExchange
	return nil
}

// exchange trades the code and the PKCE verifier for tokens, verifies the
// ID token (audience the client, the request's nonce) and hands the access
// token to the resource server.
func (f *authCodeFlow) exchange(ctx context.Context) error {
	tr, err := f.d.Token(ctx, f.shared, ClientWeb, url.Values{
		"grant_type": {"authorization_code"}, "code": {f.code},
		"redirect_uri": {WebRedirectURI}, "code_verifier": {f.verifier},
	})
	f.code = ""
	if err != nil {
		return err
	}
	switch {
	case tr.IDToken == "":
		return errors.New("code exchange: no id_token")
	case tr.RefreshToken == "":
		return errors.New("code exchange: no refresh_token")
	}
	if err := f.checkIDToken(ctx, tr.IDToken, f.nonce); err != nil {
		return fmt.Errorf("code exchange: %w", err)
	}
	f.hand(tr.AccessToken)
	f.refresh = tr.RefreshToken
	f.step = stepRefresh
	f.counts.Completed.Add(1)
	if f.loggedIn {
		f.counts.Login.Add(1)
	} else {
		f.counts.SessionReused.Add(1)
	}
	return nil
}

// refreshOnce refreshes the flow's tokens once; the next step starts a new
// flow.
func (f *authCodeFlow) refreshOnce(ctx context.Context) error {
	tr, err := f.d.Token(ctx, f.shared, ClientWeb, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {f.refresh}})
	f.refresh = ""
	if err != nil {
		return err
	}
	if tr.RefreshToken == "" {
		return errors.New("refresh: no refresh_token")
	}
	if tr.IDToken != "" {
		// A refreshed ID token carries no nonce of a new request.
		if err := f.checkIDToken(ctx, tr.IDToken, ""); err != nil {
			return fmt.Errorf("refresh: %w", err)
		}
	}
	f.hand(tr.AccessToken)
	f.step = stepAuthorize
	return nil
}

// checkIDToken verifies an ID token's signature, issuer, audience (the
// client id), expiry and typ, and, when nonce is not empty, its nonce.
func (f *authCodeFlow) checkIDToken(ctx context.Context, tok, nonce string) error {
	c, err := f.idv.Verify(ctx, tok)
	if err != nil {
		return fmt.Errorf("id_token: %w", err)
	}
	var extra struct {
		Nonce string `json:"nonce"`
	}
	if err := c.Decode(&extra); err != nil {
		return fmt.Errorf("id_token claims: %w", err)
	}
	if nonce != "" && extra.Nonce != nonce {
		return errors.New("id_token: nonce is not the request's")
	}
	if c.Subject == "" {
		return errors.New("id_token: no sub")
	}
	return nil
}

// send sends one browser request (a form when form is not nil) and returns
// the status, the Location and up to 256 KiB of the body.
func (f *authCodeFlow) send(ctx context.Context, method, u string, form url.Values) (int, string, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, "", "", err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := f.browser.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<10))
	if err != nil {
		return 0, "", "", err
	}
	return resp.StatusCode, resp.Header.Get("Location"), string(b), nil
}

var alertRE = regexp.MustCompile(`(?s)role="alert">\s*<p>(.*?)</p>`)

// pageMessage is the error message a page shows, for an error report.
func pageMessage(body string) string {
	if m := alertRE.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(m[1])
	}
	if strings.Contains(body, `value="allow"`) {
		return "the consent page"
	}
	return "no message"
}

// randomToken is n random bytes, base64url: state, nonce, PKCE verifier.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
