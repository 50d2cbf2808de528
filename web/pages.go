package web

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/sigilauth/sigil/oauth"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/sigil.css
var stylesheet []byte

// PathStylesheet is the pages' stylesheet, relative to the issuer.
const PathStylesheet = "/static/sigil.css"

// DefaultTitle names the deployment on the pages when Config.Title is empty.
const DefaultTitle = "Sigil"

// Page names: one template file each, rendered inside layout.html.
const (
	pageLogin         = "login"
	pageConsent       = "consent"
	pageError         = "error"
	pageLogoutConfirm = "logout_confirm"
	pageLoggedOut     = "logged_out"
	pageFormPost      = "form_post"
)

var pageNames = []string{pageLogin, pageConsent, pageError, pageLogoutConfirm, pageLoggedOut, pageFormPost}

// pages are the parsed templates, one per page, each a clone of the layout.
type pages map[string]*template.Template

// parseTemplates parses layout.html and every page from fsys (a tree with a
// templates/ directory). A missing or broken template is an error, so a
// bad build fails at start-up rather than on a request.
func parseTemplates(fsys fs.FS) (pages, error) {
	return parsePageSet(fsys, template.New("layout"), "page", "templates/", pageNames)
}

// parsePageSet parses a layout, templates/<prefix>layout.html, into base
// (options and functions set here: missingkey=error), then each page
// templates/<prefix><name>.html on a clone of it. Each page must define
// "title" and "content". kind names the set in errors ("page",
// "console").
func parsePageSet(fsys fs.FS, base *template.Template, kind, prefix string, names []string) (pages, error) {
	base, err := base.Option("missingkey=error").ParseFS(fsys, prefix+"layout.html")
	if err != nil {
		return nil, fmt.Errorf("parse %s layout: %w", kind, err)
	}
	page := "page"
	if kind != "page" {
		page = kind + " page"
	}
	out := make(pages, len(names))
	for _, name := range names {
		t, err := base.Clone()
		if err != nil {
			return nil, fmt.Errorf("clone %s layout: %w", kind, err)
		}
		if _, err := t.ParseFS(fsys, prefix+name+".html"); err != nil {
			return nil, fmt.Errorf("parse %s %s: %w", page, name, err)
		}
		for _, def := range []string{"title", "content"} {
			if t.Lookup(def) == nil {
				return nil, fmt.Errorf("parse %s %s: no %q template", page, name, def)
			}
		}
		out[name] = t
	}
	return out, nil
}

// hiddenField is one hidden form input.
type hiddenField struct{ Name, Value string }

// pageData is what every page template sees. Every field is plain text:
// html/template escapes it for its context.
type pageData struct {
	// Title names the deployment (Config.Title).
	Title string
	// Issuer is shown in the footer.
	Issuer string
	// StyleURL is the versioned stylesheet path.
	StyleURL string
	// Action is the path the page's form posts to.
	Action string
	// CSRF is the token of the page's form ("" for no token).
	CSRF string
	// Hidden are the request's parameters carried by the form.
	Hidden []hiddenField
	// ClientName is the relying party's display name.
	ClientName string
	// Username pre-fills the login form.
	Username string
	// Message is the error shown on the page ("" for none).
	Message string
	// ErrorCode is the error page's protocol error code.
	ErrorCode string
	// Scopes are the consent page's scopes.
	Scopes []scopeLine
	// PostURI is where the form_post page's form goes.
	PostURI string
}

// scopeLine is one scope on the consent page.
type scopeLine struct{ Name, Description string }

// hiddenFields turns v into sorted hidden fields (one per value).
func hiddenFields(v url.Values) []hiddenField {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []hiddenField
	for _, k := range keys {
		for _, val := range v[k] {
			out = append(out, hiddenField{k, val})
		}
	}
	return out
}

// newPage returns the data every page shares.
func (s *Server) newPage() *pageData {
	return &pageData{Title: s.title, Issuer: s.cfg.Issuer, StyleURL: s.styleURL}
}

// setPageHeaders sets the headers of every HTML page: never cached, never
// framed, no referrer, and a CSP that allows only our stylesheet and forms
// posting to us (and to formPostOrigin, when not "").
func setPageHeaders(h http.Header, formPostOrigin string) {
	formAction := "'self'"
	if formPostOrigin != "" {
		formAction += " " + formPostOrigin
	}
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action "+formAction+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
}

// render writes page with status and the page headers. The page is built
// in memory first, so a template failure becomes a clean 500.
func (s *Server) render(w http.ResponseWriter, status int, page string, d *pageData, formPostOrigin string) {
	var buf bytes.Buffer
	if err := s.pages[page].ExecuteTemplate(&buf, "layout", d); err != nil {
		s.log.Error("render page", "page", page, "err", err)
		setPageHeaders(w.Header(), "")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("internal error\n"))
		return
	}
	setPageHeaders(w.Header(), formPostOrigin)
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderError writes the error page: status, a message (escaped like every
// value) and the protocol error code, if any. It never redirects.
func (s *Server) renderError(w http.ResponseWriter, status int, code, message string, retry time.Duration) {
	if retry > 0 {
		w.Header().Set("Retry-After", retryAfter(retry))
	}
	d := s.newPage()
	d.ErrorCode = code
	d.Message = message
	if d.Message == "" {
		d.Message = http.StatusText(status)
	}
	s.render(w, status, pageError, d, "")
}

// stylesheetHandler serves the embedded stylesheet. Its URL carries a hash
// of the content, so it may be cached for good.
func stylesheetHandler(etag string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/css; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		h.Set("ETag", etag)
		h.Set("X-Content-Type-Options", "nosniff")
		if match := r.Header.Get("If-None-Match"); match != "" && etagMatch(match, etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(stylesheet)
	})
}

// stylesheetVersion is a short hash of the stylesheet for its URL and ETag.
func stylesheetVersion() string {
	sum := sha256.Sum256(stylesheet)
	return hex.EncodeToString(sum[:8])
}

// Cookies. Under an https issuer they carry the __Host- prefix and Secure
// (RFC 6265bis §4.1.3.2), so no subdomain or plain-HTTP page can set them.
const (
	sessionCookieBase = "sigil_session"
	csrfCookieBase    = "sigil_csrf"
	hostPrefix        = "__Host-"
	// csrfTokenBytes is the CSRF token's entropy (256 bits).
	csrfTokenBytes = 32
	// fieldCSRF is the form field carrying the CSRF token.
	fieldCSRF = "csrf_token"
)

// cookieName returns base with the __Host- prefix under an https issuer.
func (s *Server) cookieName(base string) string {
	if s.secure {
		return hostPrefix + base
	}
	return base
}

// sessionCookie returns the SSO session cookie's value, or "".
func (s *Server) sessionCookie(r *http.Request) string {
	c, err := r.Cookie(s.cookieName(sessionCookieBase))
	if err != nil {
		return ""
	}
	return c.Value
}

// setSessionCookie sets the SSO session cookie, expiring with the session.
func (s *Server) setSessionCookie(w http.ResponseWriter, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookieName(sessionCookieBase),
		Value:    value,
		Path:     "/",
		Expires:  expires,
		Secure:   s.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}

// clearSessionCookie tells the browser to forget the session cookie.
func (s *Server) clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookieName(sessionCookieBase),
		Value:    "",
		Path:     "/",
		MaxAge:   -1, // Max-Age=0
		Secure:   s.secure,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	})
}

// csrfToken returns the browser's CSRF token, setting a new random one in
// the CSRF cookie when the request carries none (or a malformed one). The
// cookie is SameSite=Strict: a cross-site arrival does not send it, gets a
// new one, and the form it renders carries that.
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) (string, error) {
	if c, err := r.Cookie(s.cookieName(csrfCookieBase)); err == nil && validCSRFToken(c.Value) {
		return c.Value, nil
	}
	b := make([]byte, csrfTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("csrf token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{
		Name:     s.cookieName(csrfCookieBase),
		Value:    tok,
		Path:     "/",
		Secure:   s.secure,
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
	return tok, nil
}

// validCSRFToken reports whether tok has the shape of a token we issue.
func validCSRFToken(tok string) bool {
	if len(tok) != base64.RawURLEncoding.EncodedLen(csrfTokenBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(tok)
	return err == nil
}

// checkCSRF reports whether the submitted csrf_token equals the browser's
// CSRF cookie (constant time). Missing either is a failure.
func (s *Server) checkCSRF(r *http.Request, form url.Values) bool {
	c, err := r.Cookie(s.cookieName(csrfCookieBase))
	if err != nil || !validCSRFToken(c.Value) {
		return false
	}
	got := form.Get(fieldCSRF)
	return subtle.ConstantTimeCompare([]byte(got), []byte(c.Value)) == 1
}

// isHTTPS reports whether the issuer URL is https.
func isHTTPS(issuer string) bool {
	u, err := url.Parse(issuer)
	return err == nil && strings.EqualFold(u.Scheme, "https")
}

// loginFailure maps a failed sign-in to the status and the one message the
// login page shows (the same for every credential failure), sets
// Retry-After when the service asked for it, and logs unexpected server
// failures under logMsg. Both login forms (single sign-on and the console)
// use it.
func (s *Server) loginFailure(w http.ResponseWriter, e *oauth.Error, logMsg string) (int, string) {
	msg := msgBadCredentials
	switch {
	case e.Reason == oauth.ReasonBadCredentials:
	case e.Reason == oauth.ReasonRateLimited:
		msg = msgRateLimited
	case e.Reason == oauth.ReasonBusy || e.Reason == oauth.ReasonUnavailable:
		msg = msgBusy
	case e.Status >= 500:
		s.log.Error(logMsg, "err", e)
		msg = msgLoginFailed
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", retryAfter(e.RetryAfter))
	}
	return e.Status, msg
}
