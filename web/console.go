package web

import (
	"bytes"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/sigilauth/sigil/oauth"
)

// The security team's console: server-rendered pages under /console/,
// signed in through /login with the SSO session. Every page needs an admin;
// destructive actions also need a recent login (consoleFreshness), else the
// browser goes through /login?max_age=600 again.

// Console paths, relative to the issuer.
const (
	PathLogin   = "/login"
	PathConsole = "/console/"
)

// consoleFreshness is how old a login may be for a destructive action.
const consoleFreshness = 10 * time.Minute

// Console messages.
const (
	msgNotAdmin       = "Your account is not an administrator of this server. Ask an administrator to grant you access, or sign in with another account."
	msgConsoleBroken  = "Something went wrong on our side. The error was logged; try again later."
	msgReasonRequired = "Give a reason: it is recorded in the audit log."
	msgConsoleCSRF    = msgCSRF
)

var _ ConsoleAuth = (*oauth.Service)(nil)

// Console page names: one template file each (templates/console_NAME.html),
// rendered inside templates/console_layout.html.
const (
	cpKeys      = "keys"
	cpConsumers = "consumers"
	cpAudit     = "audit"
	cpUsers     = "users"
	cpClients   = "clients"
	cpConfirm   = "confirm"
	cpSecret    = "secret"
	cpError     = "error"
)

var consolePageNames = []string{cpKeys, cpConsumers, cpAudit, cpUsers, cpClients, cpConfirm, cpSecret, cpError}

// consoleUI is the console's parsed templates and clock.
type consoleUI struct {
	pages pages
	now   func() time.Time
}

// parseConsoleTemplates parses the console layout and pages from fsys; a
// broken template fails the server's start.
func parseConsoleTemplates(fsys fs.FS) (pages, error) {
	return parsePageSet(fsys, template.New("console_layout").Funcs(consoleFuncs), "console", "templates/console_", consolePageNames)
}

// consoleFuncs are the template helpers: time formatting only.
var consoleFuncs = template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"join": strings.Join,
	"dur":  formatDuration,
	"add":  func(a, b float64) float64 { return a + b },
}

// formatDuration writes d in days, hours or minutes ("7d", "36h", "90m").
func formatDuration(d time.Duration) string {
	switch {
	case d <= 0:
		return "—"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return d.String()
}

// registerConsoleRoutes registers /login and /console/ when both
// Deps.Console and Deps.Admin are set.
func (s *Server) registerConsoleRoutes(r *mux.Router) error {
	if s.deps.Console == nil || s.deps.Admin == nil {
		return nil
	}
	tpl, err := parseConsoleTemplates(templateFS)
	if err != nil {
		return err
	}
	s.console = &consoleUI{pages: tpl, now: time.Now}
	if s.deps.SSO == nil { // the SSO routes serve it otherwise
		r.Handle(PathStylesheet, stylesheetHandler(`"`+stylesheetVersion()+`"`)).Methods(http.MethodGet, http.MethodHead)
	}
	get, post := []string{http.MethodGet, http.MethodHead}, []string{http.MethodPost}
	r.HandleFunc(PathLogin, s.handleConsoleLogin).Methods(http.MethodGet, http.MethodHead, http.MethodPost)
	r.Handle("/console", http.RedirectHandler(s.prefix+PathConsole, http.StatusSeeOther)).Methods(get...)
	c := r.PathPrefix("/console").Subrouter()
	c.Handle("/", s.admin(false, s.consoleKeys)).Methods(get...)
	c.Handle("/keys/rotate", s.admin(true, s.consoleRotateForm)).Methods(get...)
	c.Handle("/keys/rotate", s.admin(true, s.consoleRotate)).Methods(post...)
	c.Handle("/keys/revoke/{kid}", s.admin(true, s.consoleRevokeForm)).Methods(get...)
	c.Handle("/keys/revoke/{kid}", s.admin(true, s.consoleRevoke)).Methods(post...)
	c.Handle("/consumers", s.admin(false, s.consoleConsumers)).Methods(get...)
	c.Handle("/audit", s.admin(false, s.consoleAudit)).Methods(get...)
	c.Handle("/users", s.admin(false, s.consoleList(usersList))).Methods(get...)
	c.Handle("/users", s.admin(false, s.consoleAddUser)).Methods(post...)
	c.Handle("/users/{username}/disable", s.admin(true, s.consoleDisableForm)).Methods(get...)
	c.Handle("/users/{username}/disable", s.admin(true, s.consoleDisable)).Methods(post...)
	c.Handle("/users/{username}/enable", s.admin(false, s.consoleEnable)).Methods(post...)
	c.Handle("/users/{username}/admin", s.admin(true, s.consoleSetAdmin)).Methods(post...)
	c.Handle("/clients", s.admin(false, s.consoleList(clientsList))).Methods(get...)
	c.Handle("/clients", s.admin(false, s.consoleAddClient)).Methods(post...)
	c.Handle("/clients/{id}/delete", s.admin(true, s.consoleDeleteForm)).Methods(get...)
	c.Handle("/clients/{id}/delete", s.admin(true, s.consoleDelete)).Methods(post...)
	c.Handle("/clients/{id}/secret", s.admin(true, s.consoleSecretForm)).Methods(get...)
	c.Handle("/clients/{id}/secret", s.admin(true, s.consoleSecret)).Methods(post...)
	return nil
}

// consoleHandler is a console handler with the signed-in admin and, for a
// POST, the parsed form (CSRF already checked).
type consoleHandler func(w http.ResponseWriter, r *http.Request, c *consoleReq)

// consoleReq is one console request of a signed-in admin.
type consoleReq struct {
	user  SessionUser
	form  url.Values
	actor Actor
}

// admin wraps h: no live session goes to /login with return_to; a
// non-admin gets the 403 page; fresh requires a login within
// consoleFreshness (else /login?max_age=600); a POST needs the CSRF token
// before anything is called.
func (s *Server) admin(fresh bool, h consoleHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var form url.Values
		if r.Method == http.MethodPost {
			f, ok := s.pageParams(w, r)
			if !ok {
				return
			}
			form = f
		}
		u, ok, err := s.deps.Console.SessionUser(r.Context(), s.sessionCookie(r))
		if err != nil {
			s.consoleFail(w, r, nil, "session lookup", err)
			return
		}
		back := returnTarget(r)
		if !ok {
			s.toLogin(w, back, false)
			return
		}
		if !u.Admin {
			s.renderConsoleError(w, r, &u, http.StatusForbidden, msgNotAdmin)
			return
		}
		if form != nil && !s.checkCSRF(r, form) {
			s.renderConsoleError(w, r, &u, http.StatusForbidden, msgConsoleCSRF)
			return
		}
		if fresh && s.console.now().Sub(u.AuthTime) > consoleFreshness {
			s.toLogin(w, back, true)
			return
		}
		h(w, r, &consoleReq{user: u, form: form, actor: Actor{Username: u.Username, Via: "console"}})
	})
}

// returnTarget is where to come back after a sign-in: the request's path
// and query for a GET; for a POST (whose form is lost) the path, which
// serves the form again on GET.
func returnTarget(r *http.Request) string {
	p := r.URL.EscapedPath()
	if r.Method != http.MethodPost && r.URL.RawQuery != "" {
		p += "?" + r.URL.RawQuery
	}
	return p
}

// toLogin answers 303 to /login with return_to, and max_age=600 when the
// login must be fresh.
func (s *Server) toLogin(w http.ResponseWriter, back string, fresh bool) {
	v := url.Values{}
	if fresh {
		v.Set("max_age", strconv.Itoa(int(consoleFreshness/time.Second)))
	}
	if s.safeReturn(back) != "" {
		v.Set("return_to", back)
	}
	setPageHeaders(w.Header(), "")
	w.Header().Set("Location", s.prefix+PathLogin+"?"+v.Encode())
	w.WriteHeader(http.StatusSeeOther)
}

// safeReturn returns rt when it is a same-origin path under the console
// (the issuer's /console, with an optional query), else "". Anything with
// a scheme, a host, a backslash, a control character, dot segments or a
// doubled slash is refused, so /login never redirects off the console.
func (s *Server) safeReturn(rt string) string {
	if rt == "" || len(rt) > 2048 || !strings.HasPrefix(rt, "/") || strings.HasPrefix(rt, "//") {
		return ""
	}
	for i := 0; i < len(rt); i++ {
		if c := rt[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return ""
		}
	}
	u, err := url.Parse(rt)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || u.Fragment != "" {
		return ""
	}
	p := u.Path
	if strings.Contains(p, "//") || strings.Contains(p, "\\") {
		return ""
	}
	clean := path.Clean(p)
	if clean != strings.TrimSuffix(p, "/") && clean != p {
		return "" // dot segments
	}
	base := s.prefix + "/console"
	if clean != base && !strings.HasPrefix(clean, base+"/") {
		return ""
	}
	return rt
}

// Fields of the console's login form.
const (
	fieldReturnTo = "return_to"
	fieldMaxAge   = "max_age"
)

// handleConsoleLogin serves GET and POST /login: the login page's form,
// posting to itself, then a 303 to return_to (a console path; the console
// by default). A GET with a live session goes straight on, unless max_age
// asks for a login younger than the session's.
func (s *Server) handleConsoleLogin(w http.ResponseWriter, r *http.Request) {
	form, ok := s.pageParams(w, r)
	if !ok {
		return
	}
	back := s.safeReturn(form.Get(fieldReturnTo))
	if back == "" {
		back = s.prefix + PathConsole
	}
	maxAge := -1
	if v := form.Get(fieldMaxAge); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 1<<30 {
			maxAge = n
		}
	}
	cookie := s.sessionCookie(r)
	if r.Method != http.MethodPost {
		u, live, err := s.deps.Console.SessionUser(r.Context(), cookie)
		if err != nil {
			s.consoleFail(w, r, nil, "session lookup", err)
			return
		}
		if live && (maxAge < 0 || s.console.now().Sub(u.AuthTime) <= time.Duration(maxAge)*time.Second) {
			seeOther(w, back)
			return
		}
		name := ""
		if live {
			name = u.Username
		}
		s.renderConsoleLogin(w, r, http.StatusOK, form, name, "")
		return
	}
	if !s.checkCSRF(r, form) {
		s.renderError(w, http.StatusForbidden, "", msgCSRF, 0)
		return
	}
	username := form.Get("username")
	newCookie, exp, err := s.deps.Console.SignIn(r.Context(), SignInInput{
		Username:      username,
		Password:      form.Get("password"),
		RemoteAddr:    s.clientAddr(r),
		SessionCookie: cookie,
	})
	if err == nil {
		s.setSessionCookie(w, newCookie, exp)
		seeOther(w, back)
		return
	}
	e := oauth.AsError(err)
	if e == nil {
		s.log.Error("console sign-in failed", "err", err)
		s.renderError(w, http.StatusInternalServerError, oauth.CodeServerError, msgInternal, 0)
		return
	}
	status, msg := s.loginFailure(w, e, "console sign-in failed")
	s.renderConsoleLogin(w, r, status, form, username, msg)
}

// renderConsoleLogin renders the login page (the SSO login template) for
// the console, carrying return_to and max_age in hidden fields.
func (s *Server) renderConsoleLogin(w http.ResponseWriter, r *http.Request, status int, form url.Values, username, message string) {
	tok, err := s.csrfToken(w, r)
	if err != nil {
		s.consoleFail(w, r, nil, "csrf token", err)
		return
	}
	d := s.newPage()
	d.Action = s.prefix + PathLogin
	d.CSRF = tok
	hidden := url.Values{}
	if rt := s.safeReturn(form.Get(fieldReturnTo)); rt != "" {
		hidden.Set(fieldReturnTo, rt)
	}
	if ma := form.Get(fieldMaxAge); ma != "" {
		if n, err := strconv.Atoi(ma); err == nil && n >= 0 {
			hidden.Set(fieldMaxAge, strconv.Itoa(n))
		}
	}
	d.Hidden = hiddenFields(hidden)
	d.ClientName = s.title + " console"
	d.Username = username
	d.Message = message
	s.render(w, status, pageLogin, d, "")
}

// seeOther answers 303 to loc with the page headers.
func seeOther(w http.ResponseWriter, loc string) {
	setPageHeaders(w.Header(), "")
	w.Header().Set("Location", loc)
	w.WriteHeader(http.StatusSeeOther)
}

// consoleData is what every console template sees; each page fills its
// own part. Every field is plain text, escaped by html/template.
type consoleData struct {
	Title, Issuer, StyleURL string
	// Base is the console's root path (ends in "/").
	Base string
	// Nav is the current section (keys, consumers, audit, users, clients).
	Nav string
	// User is the signed-in admin's username ("" on a 403 page shows no nav).
	User string
	// IsAdmin shows the navigation.
	IsAdmin bool
	// LogoutURL is the SSO logout page ("" when not served).
	LogoutURL string
	CSRF      string
	// Message is an error to show; Notice a success; Heading the error
	// page's title.
	Message, Notice, Heading string

	Keys      *keysPage
	Confirm   *confirmPage
	Consumers []ConsumerView
	Audit     *auditPage
	Users     *usersPage
	Clients   *clientsPage
	Secret    *secretPage
}

// newConsoleData starts a page for u (nil when nobody is known).
func (s *Server) newConsoleData(u *SessionUser, nav string) *consoleData {
	d := &consoleData{Title: s.title, Issuer: s.cfg.Issuer, StyleURL: s.styleURL, Base: s.prefix + PathConsole, Nav: nav}
	if u != nil {
		d.User, d.IsAdmin = u.Username, u.Admin
	}
	if s.deps.SSO != nil {
		d.LogoutURL = s.prefix + PathLogout
	}
	return d
}

// renderConsole writes a console page with the page headers; the CSRF
// token of its forms is set here.
func (s *Server) renderConsole(w http.ResponseWriter, r *http.Request, status int, page string, d *consoleData) {
	if d.CSRF == "" {
		tok, err := s.csrfToken(w, r)
		if err != nil {
			s.consoleFail(w, r, nil, "csrf token", err)
			return
		}
		d.CSRF = tok
	}
	var buf bytes.Buffer
	if err := s.console.pages[page].ExecuteTemplate(&buf, "console_layout", d); err != nil {
		s.log.Error("render console page", "page", page, "err", err)
		setPageHeaders(w.Header(), "")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("internal error\n"))
		return
	}
	setPageHeaders(w.Header(), "")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderConsoleError writes the console's error page.
func (s *Server) renderConsoleError(w http.ResponseWriter, r *http.Request, u *SessionUser, status int, msg string) {
	d := s.newConsoleData(u, "")
	d.Message = msg
	switch status {
	case http.StatusForbidden:
		d.Heading = "Access denied"
	case http.StatusInternalServerError:
		d.Heading = "Something went wrong"
	default:
		d.Heading = http.StatusText(status)
	}
	s.renderConsole(w, r, status, cpError, d)
}

// consoleFail logs a server-side failure (the error only: never a form
// value) and answers the 500 page.
func (s *Server) consoleFail(w http.ResponseWriter, r *http.Request, u *SessionUser, what string, err error) {
	s.log.Error("console request failed", "path", r.URL.Path, "step", what, "err", err)
	s.renderConsoleError(w, r, u, http.StatusInternalServerError, msgConsoleBroken)
}

// adminErrorStatus is the HTTP status of an *AdminError's kind.
func adminErrorStatus(k AdminErrorKind) int {
	switch k {
	case AdminInvalid:
		return http.StatusBadRequest
	case AdminNotFound:
		return http.StatusNotFound
	case AdminConflict:
		return http.StatusConflict
	case AdminUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

// asAdminError returns err's *AdminError, or nil.
func asAdminError(err error) *AdminError {
	var ae *AdminError
	if errors.As(err, &ae) {
		return ae
	}
	return nil
}
