package web

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/mux"

	"github.com/sigilauth/sigil/oauth"
)

// SSOService is what the single-sign-on pages need from the token service:
// the authorization flow (request, login, consent) and RP-Initiated Logout.
// The pages are stateless: every step re-sends the authorization request's
// parameters and the session cookie, and the service re-validates them.
// Failures are *oauth.AuthorizeError (error page or redirect to the client),
// *oauth.Error (a failed login), or anything else (logged, answered 500).
type SSOService interface {
	// Authorize validates an authorization request and says what comes next.
	Authorize(ctx context.Context, p oauth.AuthorizeParams, sessionCookie string, opts oauth.AuthorizeOptions) (*oauth.AuthorizeResult, error)
	// Login checks a submitted login form and starts a session.
	Login(ctx context.Context, p oauth.AuthorizeParams, in oauth.LoginInput) (*oauth.LoginResult, error)
	// Consent records the user's answer on the consent page.
	Consent(ctx context.Context, p oauth.AuthorizeParams, sessionCookie string, allow bool) (*oauth.AuthorizeResult, error)
	// PrepareLogout validates a logout request and says whether to confirm.
	PrepareLogout(ctx context.Context, p oauth.LogoutParams, sessionCookie string) (*oauth.LogoutPlan, error)
	// Logout ends the session (idempotent).
	Logout(ctx context.Context, p oauth.LogoutParams, sessionCookie string) (*oauth.LogoutPlan, error)
}

// Page actions: the "action" field of a page's form.
const (
	actionLogin  = "login"
	actionAllow  = "allow"
	actionDeny   = "deny"
	actionLogout = "logout"
)

// Login messages: one for every credential failure, so a page never says
// which of user, password or account state was wrong.
const (
	msgBadCredentials = "Invalid username or password."
	msgRateLimited    = "Too many attempts, try again later."
	msgBusy           = "Busy, try again."
	msgLoginFailed    = "Sign-in is not available right now, try again later."
	msgInternal       = "Something went wrong on our side. Try again later."
	msgCSRF           = "This form has expired or was not sent from this browser. Go back, reload the page and try again."
)

// registerSSORoutes registers the authorization and logout pages and their
// stylesheet. A nil Deps.SSO leaves them unregistered (404).
func (s *Server) registerSSORoutes(r *mux.Router) {
	if s.deps.SSO == nil {
		return
	}
	r.Handle(PathAuthorize, http.HandlerFunc(s.handleAuthorize))
	r.Handle(PathLogout, http.HandlerFunc(s.handleLogout))
	r.Handle(PathStylesheet, stylesheetHandler(`"`+stylesheetVersion()+`"`)).Methods(http.MethodGet, http.MethodHead)
}

// pageParams reads a page's parameters: the query string of a GET, or the
// form body of a POST (application/x-www-form-urlencoded, at most 64 KiB,
// nothing in the query). A repeated parameter is refused (RFC 6749 §3.1).
// Failures are written as the error page and reported as ok == false.
func (s *Server) pageParams(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	var form url.Values
	switch r.Method {
	case http.MethodGet:
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			s.renderError(w, http.StatusBadRequest, oauth.CodeInvalidRequest, "The request's query string is malformed.", 0)
			return nil, false
		}
		form = q
	case http.MethodPost:
		if r.URL.RawQuery != "" {
			s.renderError(w, http.StatusBadRequest, oauth.CodeInvalidRequest, "A POST request carries its parameters in the body, not the URL.", 0)
			return nil, false
		}
		mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != contentTypeForm {
			s.renderError(w, http.StatusUnsupportedMediaType, oauth.CodeInvalidRequest, "The form must be sent as "+contentTypeForm+".", 0)
			return nil, false
		}
		if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
			s.renderError(w, http.StatusUnsupportedMediaType, oauth.CodeInvalidRequest, "The form must be sent in UTF-8.", 0)
			return nil, false
		}
		body, err := readBody(w, r)
		if err != nil {
			e := oauth.AsError(err)
			s.renderError(w, e.Status, e.Code, e.Description, 0)
			return nil, false
		}
		f, err := url.ParseQuery(string(body))
		if err != nil {
			s.renderError(w, http.StatusBadRequest, oauth.CodeInvalidRequest, "The form body is malformed.", 0)
			return nil, false
		}
		form = f
	default:
		w.Header().Set("Allow", "GET, POST")
		s.renderError(w, http.StatusMethodNotAllowed, oauth.CodeInvalidRequest, "Method "+r.Method+" is not allowed here.", 0)
		return nil, false
	}
	for k, v := range form {
		if len(v) > 1 {
			s.renderError(w, http.StatusBadRequest, oauth.CodeInvalidRequest, "Parameter "+shortParam(k)+" is repeated.", 0)
			return nil, false
		}
	}
	return form, true
}

// handleAuthorize serves GET/POST /oauth2/authorize. A GET, or a POST
// without "action", is an authorization request (it only reads, so it
// needs no CSRF token). A POST with "action" is a page submission (login,
// allow, deny) and must carry the browser's CSRF token.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	form, ok := s.pageParams(w, r)
	if !ok {
		return
	}
	params := oauth.AuthorizeParamsFrom(form)
	cookie := s.sessionCookie(r)
	ctx := r.Context()
	_, submitted := form["action"]
	if r.Method != http.MethodPost || !submitted {
		res, err := s.deps.SSO.Authorize(ctx, params, cookie, oauth.AuthorizeOptions{})
		s.authorizeOutcome(w, r, res, err)
		return
	}
	if !s.checkCSRF(r, form) {
		s.renderError(w, http.StatusForbidden, "", msgCSRF, 0)
		return
	}
	switch form.Get("action") {
	case actionLogin:
		s.submitLogin(w, r, params, form)
	case actionAllow, actionDeny:
		res, err := s.deps.SSO.Consent(ctx, params, cookie, form.Get("action") == actionAllow)
		s.authorizeOutcome(w, r, res, err)
	default:
		s.renderError(w, http.StatusBadRequest, oauth.CodeInvalidRequest, "Unknown form action.", 0)
	}
}

// submitLogin handles a posted login form: on success it sets the session
// cookie and goes on; a credential failure re-renders the login page with
// one generic message, the username kept and the password never echoed.
func (s *Server) submitLogin(w http.ResponseWriter, r *http.Request, params oauth.AuthorizeParams, form url.Values) {
	username := form.Get("username")
	res, err := s.deps.SSO.Login(r.Context(), params, oauth.LoginInput{
		Username:   username,
		Password:   form.Get("password"),
		RemoteAddr: s.clientAddr(r),
		// The session the browser presented is replaced (session fixation).
		SessionCookie: s.sessionCookie(r),
	})
	if err == nil {
		if res == nil || res.Next == nil {
			s.authorizeOutcome(w, r, nil, errors.New("login returned no next step"))
			return
		}
		s.setSessionCookie(w, res.SessionCookie, res.SessionExpires)
		s.authorizeOutcome(w, r, res.Next, nil)
		return
	}
	var ae *oauth.AuthorizeError
	e := oauth.AsError(err)
	if errors.As(err, &ae) || e == nil {
		s.authorizeOutcome(w, r, nil, err)
		return
	}
	status, msg := s.loginFailure(w, e, "login failed")
	// The page needs the client's name and the request's parameters; ask
	// for them without the session, so this read can only say "log in".
	again, aerr := s.deps.SSO.Authorize(r.Context(), params, "", oauth.AuthorizeOptions{})
	if aerr != nil {
		s.authorizeOutcome(w, r, nil, aerr)
		return
	}
	if again == nil {
		s.authorizeOutcome(w, r, nil, errors.New("authorize returned no result"))
		return
	}
	s.renderLogin(w, r, status, again, username, msg)
}

// authorizeOutcome answers a step of the authorization flow.
func (s *Server) authorizeOutcome(w http.ResponseWriter, r *http.Request, res *oauth.AuthorizeResult, err error) {
	if err != nil {
		s.flowError(w, r, err)
		return
	}
	if res == nil {
		s.flowError(w, r, errors.New("authorize returned no result"))
		return
	}
	switch res.Step {
	case oauth.StepLogin:
		username := res.LoginHint
		s.renderLogin(w, r, http.StatusOK, res, username, "")
	case oauth.StepConsent:
		d := s.flowPage(w, r, res)
		if d == nil {
			return
		}
		for _, sc := range res.ConsentScopes {
			desc := sc.Description
			if desc == "" {
				desc = sc.Name
			}
			d.Scopes = append(d.Scopes, scopeLine{Name: sc.Name, Description: desc})
		}
		s.render(w, http.StatusOK, pageConsent, d, redirectSource(res.Params.RedirectURI))
	case oauth.StepDone:
		s.deliver(w, r, res.Response, clientName(res.Client))
	default:
		s.flowError(w, r, errors.New("authorize returned an unknown step"))
	}
}

// renderLogin renders the login page for res with username pre-filled and
// message as its error state ("" for none).
func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, status int, res *oauth.AuthorizeResult, username, message string) {
	d := s.flowPage(w, r, res)
	if d == nil {
		return
	}
	d.Username = username
	d.Message = message
	s.render(w, status, pageLogin, d, redirectSource(res.Params.RedirectURI))
}

// flowPage starts a page of the authorization flow (login or consent) for
// res: a form posting back to the authorize endpoint with a CSRF token, the
// request's parameters as hidden fields and the client's name. If the CSRF
// token cannot be issued it has answered with the flow's error and returns
// nil.
func (s *Server) flowPage(w http.ResponseWriter, r *http.Request, res *oauth.AuthorizeResult) *pageData {
	tok, err := s.csrfToken(w, r)
	if err != nil {
		s.flowError(w, r, err)
		return nil
	}
	d := s.newPage()
	d.Action = s.prefix + PathAuthorize
	d.CSRF = tok
	d.Hidden = hiddenFields(res.Params.Values())
	d.ClientName = clientName(res.Client)
	return d
}

// flowError answers a failed step: an *oauth.AuthorizeError goes to the
// client when its redirect URI is verified and is an error page otherwise;
// an *oauth.Error is an error page with its status; anything else is
// logged and a 500 page without detail.
func (s *Server) flowError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *oauth.AuthorizeError
	if errors.As(err, &ae) {
		if ae.Redirect && ae.Response != nil {
			s.deliver(w, r, ae.Response, "")
			return
		}
		status := ae.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		s.renderError(w, status, ae.Code, ae.Description, ae.RetryAfter)
		return
	}
	if e := oauth.AsError(err); e != nil {
		if e.Status >= 500 && e.Reason != oauth.ReasonBusy {
			s.log.Error("sso request failed", "path", r.URL.Path, "err", e)
		}
		s.renderError(w, e.Status, e.Code, e.Description, e.RetryAfter)
		return
	}
	s.log.Error("sso request failed", "path", r.URL.Path, "err", err)
	s.renderError(w, http.StatusInternalServerError, oauth.CodeServerError, msgInternal, 0)
}

// deliver sends an authorization response to its (verified) redirect URI:
// a 302 with the parameters added to the URI's query, or for form_post a
// page whose form posts them there.
func (s *Server) deliver(w http.ResponseWriter, r *http.Request, resp *oauth.AuthorizationResponse, client string) {
	if resp == nil {
		s.flowError(w, r, errors.New("authorization response missing"))
		return
	}
	switch resp.ResponseMode {
	case "form_post":
		origin, err := formPostOrigin(resp.RedirectURI)
		if err != nil {
			s.flowError(w, r, err)
			return
		}
		d := s.newPage()
		d.PostURI = resp.RedirectURI
		d.Hidden = hiddenFields(resp.Params)
		d.ClientName = client
		if d.ClientName == "" {
			d.ClientName = "the application"
		}
		s.render(w, http.StatusOK, pageFormPost, d, origin)
	case "", "query":
		loc, err := withQuery(resp.RedirectURI, resp.Params)
		if err != nil {
			s.flowError(w, r, err)
			return
		}
		redirect(w, loc)
	default:
		s.flowError(w, r, errors.New("unknown response mode "+resp.ResponseMode))
	}
}

// redirect sends a 302 to loc with the page headers (never cached).
func redirect(w http.ResponseWriter, loc string) {
	setPageHeaders(w.Header(), "")
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusFound)
}

// withQuery adds params to uri's query, keeping the query the registered
// URI already has (RFC 6749 §3.1.2).
func withQuery(uri string, params url.Values) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", errors.New("redirect uri does not parse")
	}
	if enc := params.Encode(); enc != "" {
		if u.RawQuery != "" {
			u.RawQuery += "&" + enc
		} else {
			u.RawQuery = enc
		}
	}
	u.Fragment, u.RawFragment = "", ""
	return u.String(), nil
}

// formPostOrigin returns the origin of a form_post redirect URI for the
// page's CSP form-action; it refuses anything that is not a plain
// http(s) origin, so nothing can be smuggled into the header.
func formPostOrigin(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", errors.New("form_post redirect uri is not an http(s) URL")
	}
	for _, c := range u.Host {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c)
		if !ok {
			return "", errors.New("form_post redirect uri has an unusual host")
		}
	}
	return u.Scheme + "://" + u.Host, nil
}

// redirectSource returns the CSP source of a verified redirect URI that a
// page's form may end at: browsers apply form-action to the redirects that
// follow a submission, so the login, consent and logout-confirmation forms,
// which post to us and are answered with a redirect to the client, need
// the client's origin (scheme://host[:port]) or, for a native app's
// private-use scheme, that scheme ("com.example.app:"). Anything unusual
// gives "" (the form then works unless it redirects off-site), so nothing
// can be smuggled into the header.
func redirectSource(uri string) string {
	if uri == "" {
		return ""
	}
	if origin, err := formPostOrigin(uri); err == nil {
		return origin
	}
	u, err := url.Parse(uri)
	if err != nil || !strings.Contains(u.Scheme, ".") {
		return ""
	}
	for _, c := range u.Scheme {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".+-", c)) {
			return ""
		}
	}
	return strings.ToLower(u.Scheme) + ":"
}

// clientName is the name a page shows for c.
func clientName(c oauth.ClientInfo) string {
	if c.Name != "" {
		return c.Name
	}
	return c.ID
}

// handleLogout serves GET/POST /oauth2/logout (RP-Initiated Logout 1.0).
// Without a valid id_token_hint the service asks for confirmation: a page
// whose form posts action=logout with the browser's CSRF token.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	form, ok := s.pageParams(w, r)
	if !ok {
		return
	}
	params := oauth.LogoutParamsFrom(form)
	cookie := s.sessionCookie(r)
	ctx := r.Context()
	if _, submitted := form["action"]; submitted && r.Method == http.MethodPost {
		if !s.checkCSRF(r, form) {
			s.renderError(w, http.StatusForbidden, "", msgCSRF, 0)
			return
		}
		if form.Get("action") != actionLogout {
			s.renderError(w, http.StatusBadRequest, oauth.CodeInvalidRequest, "Unknown form action.", 0)
			return
		}
		s.logout(w, r, params, cookie)
		return
	}
	plan, err := s.deps.SSO.PrepareLogout(ctx, params, cookie)
	if err != nil {
		s.logoutError(w, r, err)
		return
	}
	if plan == nil {
		s.logoutError(w, r, errors.New("prepare logout returned no plan"))
		return
	}
	if !plan.NeedsConfirmation {
		s.logout(w, r, params, cookie)
		return
	}
	tok, err := s.csrfToken(w, r)
	if err != nil {
		s.logoutError(w, r, err)
		return
	}
	d := s.newPage()
	d.Action = s.prefix + PathLogout
	d.CSRF = tok
	d.Hidden = hiddenFields(params.Values())
	d.ClientName = clientName(plan.Client)
	s.render(w, http.StatusOK, pageLogoutConfirm, d, redirectSource(plan.RedirectURI))
}

// logout ends the session, clears its cookie, and redirects to the verified
// post-logout URI or shows the signed-out page. On failure the cookie is
// kept, so the user can try again.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, params oauth.LogoutParams, cookie string) {
	plan, err := s.deps.SSO.Logout(r.Context(), params, cookie)
	if err != nil {
		s.logoutError(w, r, err)
		return
	}
	s.clearSessionCookie(w)
	if plan != nil && plan.RedirectURI != "" {
		redirect(w, plan.RedirectURI)
		return
	}
	s.render(w, http.StatusOK, pageLoggedOut, s.newPage(), "")
}

// logoutError answers a failed logout step with an error page; a logout
// never redirects on error.
func (s *Server) logoutError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *oauth.AuthorizeError
	if errors.As(err, &ae) {
		status := ae.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		s.renderError(w, status, ae.Code, ae.Description, ae.RetryAfter)
		return
	}
	s.flowError(w, r, err)
}

var (
	_ SSOService                = (*oauth.Service)(nil)
	_ oauth.BackchannelNotifier = (*BackchannelSender)(nil)
)
