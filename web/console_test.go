package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigilauth/sigil/keys/keystest"
	"github.com/sigilauth/sigil/oauth"
)

// consoleNow is the console tests' clock.
var consoleNow = time.Date(2030, 5, 6, 12, 0, 0, 0, time.UTC)

// fakeConsoleAuth maps session cookies to users and checks passwords.
type fakeConsoleAuth struct {
	mu        sync.Mutex
	sessions  map[string]SessionUser
	passwords map[string]string // username → password
	users     map[string]SessionUser
	signIns   []SignInInput
	err       error
}

func (f *fakeConsoleAuth) SessionUser(_ context.Context, cookie string) (SessionUser, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return SessionUser{}, false, f.err
	}
	u, ok := f.sessions[cookie]
	return u, ok, nil
}

func (f *fakeConsoleAuth) SignIn(_ context.Context, in SignInInput) (string, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signIns = append(f.signIns, in)
	if pw, ok := f.passwords[in.Username]; !ok || pw != in.Password {
		return "", time.Time{}, &oauth.Error{Code: oauth.CodeInvalidGrant, Status: 400, Reason: oauth.ReasonBadCredentials}
	}
	cookie := "sess-" + in.Username + "-" + consoleNow.Format("150405")
	u := f.users[in.Username]
	u.AuthTime = consoleNow
	f.sessions[cookie] = u
	delete(f.sessions, in.SessionCookie)
	return cookie, consoleNow.Add(time.Hour), nil
}

// fakeAdmin is an AdminService with fixed data that records its calls.
type fakeAdmin struct {
	mu        sync.Mutex
	calls     []string
	overview  *KeyOverview
	consumers []ConsumerView
	users     []UserView
	clients   []ClientView
	audit     map[string]*AuditPage // by cursor
	queries   []AuditQuery
	err       error // returned by every change
	secret    string
}

func (f *fakeAdmin) record(call string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

func (f *fakeAdmin) called(prefix string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeAdmin) Keys(context.Context, time.Time) (*KeyOverview, error) { return f.overview, nil }
func (f *fakeAdmin) RotateKeys(_ context.Context, a Actor, force bool, reason string) (*RotateOutcome, error) {
	f.record("RotateKeys " + a.Username + "/" + a.Via + " " + reason)
	if f.err != nil {
		return nil, f.err
	}
	return &RotateOutcome{Promoted: []string{"es-2"}}, nil
}
func (f *fakeAdmin) RevokeKey(_ context.Context, a Actor, kid, reason string) error {
	f.record("RevokeKey " + a.Username + " " + kid + " " + reason)
	return f.err
}
func (f *fakeAdmin) Users(context.Context) ([]UserView, error) { return f.users, nil }
func (f *fakeAdmin) AddUser(_ context.Context, a Actor, in NewUser) (UserView, error) {
	f.record("AddUser " + in.Username)
	return UserView{Username: in.Username}, f.err
}
func (f *fakeAdmin) SetUserDisabled(_ context.Context, a Actor, username string, disabled bool, reason string) error {
	f.record("SetUserDisabled " + username + " " + map[bool]string{true: "true", false: "false"}[disabled] + " " + reason)
	return f.err
}
func (f *fakeAdmin) SetUserPassword(context.Context, Actor, string, string) error {
	f.record("SetUserPassword")
	return f.err
}
func (f *fakeAdmin) SetUserAdmin(_ context.Context, a Actor, username string, admin bool) error {
	f.record("SetUserAdmin " + username)
	return f.err
}
func (f *fakeAdmin) Clients(context.Context) ([]ClientView, error) { return f.clients, nil }
func (f *fakeAdmin) AddClient(_ context.Context, a Actor, in NewClient) (ClientView, string, error) {
	call := "AddClient " + in.ID + " " + strings.Join(in.Grants, ",")
	if in.IntrospectAny {
		call += " introspect_any"
	}
	f.record(call)
	if f.err != nil {
		return ClientView{}, "", f.err
	}
	if in.Public {
		return ClientView{ID: in.ID}, "", nil
	}
	return ClientView{ID: in.ID}, f.secret, nil
}
func (f *fakeAdmin) DeleteClient(_ context.Context, a Actor, id, reason string) error {
	f.record("DeleteClient " + id + " " + reason)
	return f.err
}
func (f *fakeAdmin) RotateClientSecret(_ context.Context, a Actor, id string) (string, error) {
	f.record("RotateClientSecret " + id)
	if f.err != nil {
		return "", f.err
	}
	return f.secret, nil
}
func (f *fakeAdmin) Audit(_ context.Context, q AuditQuery) (*AuditPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	if p := f.audit[q.Before]; p != nil {
		return p, nil
	}
	return &AuditPage{}, nil
}
func (f *fakeAdmin) Consumers(context.Context, time.Time) ([]ConsumerView, error) {
	return f.consumers, nil
}

var _ AdminService = (*fakeAdmin)(nil)

// sampleOverview is two algorithms: ES256 with a retired, an active and a
// next key, RS256 with a revoked and an active key. Kids and actors carry
// markup, which must come out escaped.
func sampleOverview() *KeyOverview {
	h := func(d float64) time.Time { return consoleNow.Add(time.Duration(d * float64(time.Hour))) }
	return &KeyOverview{
		Now: consoleNow, Prepublish: 24 * time.Hour, MaxAge: time.Hour,
		Algorithms: []AlgorithmKeys{
			{Alg: "ES256", NextRotation: h(48), NextPublishedAt: h(-20), Keys: []KeyView{
				{KID: "es-1", Alg: "ES256", State: "retired", CreatedAt: h(-200), PublishedAt: h(-200), ActivatedAt: h(-170), RetiredAt: h(-96), VerifyUntil: h(24), Actor: "rotator"},
				{KID: "es-2", Alg: "ES256", State: "active", CreatedAt: h(-120), PublishedAt: h(-120), ActivatedAt: h(-96), Actor: "rotator"},
				{KID: `es-3"><script>alert(1)</script>`, Alg: "ES256", State: "next", CreatedAt: h(-20), PublishedAt: h(-20), Actor: `<b>mallory</b>`},
			}},
			{Alg: "RS256", NextRotation: h(48), Keys: []KeyView{
				{KID: "rs-1", Alg: "RS256", State: "revoked", CreatedAt: h(-150), PublishedAt: h(-150), ActivatedAt: h(-140), RetiredAt: h(-30), VerifyUntil: h(30), RevokedAt: h(-10), RevokeReason: "leaked", Actor: "alice"},
				{KID: "rs-2", Alg: "RS256", State: "active", CreatedAt: h(-40), PublishedAt: h(-40), ActivatedAt: h(-30), Actor: "alice"},
			}},
		},
	}
}

func newFakeAdmin() *fakeAdmin {
	return &fakeAdmin{
		overview: sampleOverview(),
		consumers: []ConsumerView{
			{Address: "10.1.2.3", UserAgent: "api-gateway/2.1", FirstSeen: consoleNow.Add(-72 * time.Hour), LastFetch: consoleNow.Add(-5 * time.Minute), ETag: `"abc"`, HasNextKey: true},
			{Address: "10.9.9.9", UserAgent: "billing-worker/0.9 (go-oidc)", FirstSeen: consoleNow.Add(-96 * time.Hour), LastFetch: consoleNow.Add(-30 * time.Hour), ETag: `"old"`, HasNextKey: false},
		},
		users: []UserView{
			{ID: "1", Username: "alice", Name: "Alice Liddell", Email: "alice@example.com", Admin: true, CreatedAt: consoleNow.Add(-1000 * time.Hour)},
			{ID: "2", Username: "bob", Name: "Bob", Email: "bob@example.com", Disabled: true, CreatedAt: consoleNow.Add(-500 * time.Hour)},
		},
		clients: []ClientView{
			{ID: "web", Name: "Web app", FirstParty: true, Grants: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "profile"}, RedirectURIs: []string{"https://app.example.com/cb"}, CreatedAt: consoleNow.Add(-900 * time.Hour)},
			{ID: "cli", Name: "CLI", Public: true, Grants: []string{"authorization_code"}, Scopes: []string{"openid"}, CreatedAt: consoleNow.Add(-800 * time.Hour)},
			{ID: "gateway", Name: "API gateway", IntrospectAny: true, Grants: []string{"client_credentials"}, Scopes: []string{"api"}, CreatedAt: consoleNow.Add(-700 * time.Hour)},
		},
		audit: map[string]*AuditPage{
			"": {Entries: []AuditEntryView{
				{ID: "a3", Time: consoleNow.Add(-time.Hour), Kind: "key", Action: "revoke", Target: "rs-1", Actor: "alice", Replica: "node-1", Reason: "leaked <key>"},
				{ID: "a2", Time: consoleNow.Add(-2 * time.Hour), Kind: "user", Action: "disable", Target: "bob", Actor: "alice", Replica: "node-1", Reason: "left the company"},
			}, Next: "a2"},
			"a2": {Entries: []AuditEntryView{
				{ID: "a1", Time: consoleNow.Add(-3 * time.Hour), Kind: "client", Action: "add", Target: "web", Actor: "alice", Replica: "node-2"},
			}},
		},
		secret: "s3cr3t-VALUE-only-once",
	}
}

// consoleEnv is a server with the console, an admin session (fresh), an
// admin session with an old login, and a non-admin session.
type consoleEnv struct {
	srv   *Server
	auth  *fakeConsoleAuth
	admin *fakeAdmin
	logs  *strings.Builder
}

const (
	cookieAdmin    = "admin-cookie"
	cookieStale    = "stale-admin-cookie"
	cookieNonAdmin = "user-cookie"
)

func newConsoleEnv(t *testing.T) *consoleEnv {
	t.Helper()
	e := &consoleEnv{
		auth: &fakeConsoleAuth{
			sessions: map[string]SessionUser{
				cookieAdmin:    {UserID: "1", Username: "alice", Admin: true, AuthTime: consoleNow.Add(-time.Minute)},
				cookieStale:    {UserID: "1", Username: "alice", Admin: true, AuthTime: consoleNow.Add(-11 * time.Minute)},
				cookieNonAdmin: {UserID: "3", Username: "carol", AuthTime: consoleNow.Add(-time.Minute)},
			},
			passwords: map[string]string{"alice": "pw-alice", "carol": "pw-carol"},
			users: map[string]SessionUser{
				"alice": {UserID: "1", Username: "alice", Admin: true},
				"carol": {UserID: "3", Username: "carol"},
			},
		},
		admin: newFakeAdmin(),
		logs:  &strings.Builder{},
	}
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, e.logs}, nil))
	s, err := New(Config{Issuer: testIssuer, Title: "Acme ID", Logger: logger}, &keystest.Ring{},
		Deps{SSO: &fakeSSO{}, Admin: e.admin, Console: e.auth})
	if err != nil {
		t.Fatal(err)
	}
	s.console.now = func() time.Time { return consoleNow }
	e.srv = s
	return e
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// browserWith is a browser holding the session cookie (name for https).
func browserWith(cookie string) *browser {
	b := newBrowser()
	if cookie != "" {
		b.cookies["__Host-sigil_session"] = &http.Cookie{Name: "__Host-sigil_session", Value: cookie}
	}
	return b
}

const consoleBase = "/auth/console/"

// get fetches a console page.
func (e *consoleEnv) get(b *browser, path string) (int, string, http.Header) {
	rec := e.getRec(b, path)
	return rec.Code, rec.Body.String(), rec.Header()
}

func (e *consoleEnv) getRec(b *browser, path string) *httptest.ResponseRecorder {
	return b.do(e.srv, http.MethodGet, path, nil)
}

// post submits form to path with the CSRF token of the page at from.
func (e *consoleEnv) post(t *testing.T, b *browser, from, path string, form url.Values) (int, string, http.Header) {
	t.Helper()
	code, body, _ := e.get(b, from)
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d:\n%s", from, code, body)
	}
	form.Set("csrf_token", csrfFrom(t, body))
	rec := b.do(e.srv, http.MethodPost, path, form)
	return rec.Code, rec.Body.String(), rec.Header()
}

func TestConsoleRoutesNeedBothServices(t *testing.T) {
	for _, deps := range []Deps{{Admin: newFakeAdmin()}, {Console: &fakeConsoleAuth{}}} {
		s, err := New(Config{Issuer: testIssuer}, &keystest.Ring{}, deps)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"/auth/login", consoleBase, consoleBase + "keys/rotate"} {
			if code, _, _ := (&consoleEnv{srv: s}).get(newBrowser(), p); code != http.StatusNotFound {
				t.Fatalf("%s without both services = %d, want 404", p, code)
			}
		}
	}
}

func TestConsoleAccess(t *testing.T) {
	tests := []struct {
		name     string
		cookie   string
		path     string
		wantCode int
		wantLoc  string // "" for no redirect
	}{
		{name: "not signed in", path: consoleBase + "audit?kind=key", wantCode: 303,
			wantLoc: "/auth/login?return_to=" + url.QueryEscape("/auth/console/audit?kind=key")},
		{name: "unknown session", cookie: "nope", path: consoleBase, wantCode: 303,
			wantLoc: "/auth/login?return_to=" + url.QueryEscape("/auth/console/")},
		{name: "non-admin", cookie: cookieNonAdmin, path: consoleBase, wantCode: 403},
		{name: "non-admin destructive", cookie: cookieNonAdmin, path: consoleBase + "keys/rotate", wantCode: 403},
		{name: "admin reads", cookie: cookieAdmin, path: consoleBase, wantCode: 200},
		{name: "old login reads", cookie: cookieStale, path: consoleBase + "consumers", wantCode: 200},
		{name: "old login reads the audit", cookie: cookieStale, path: consoleBase + "audit", wantCode: 200},
		{name: "old login rotates", cookie: cookieStale, path: consoleBase + "keys/rotate", wantCode: 303,
			wantLoc: "/auth/login?max_age=600&return_to=" + url.QueryEscape("/auth/console/keys/rotate")},
		{name: "old login revokes", cookie: cookieStale, path: consoleBase + "keys/revoke/es-2", wantCode: 303,
			wantLoc: "/auth/login?max_age=600&return_to=" + url.QueryEscape("/auth/console/keys/revoke/es-2")},
		{name: "old login disables", cookie: cookieStale, path: consoleBase + "users/bob/disable", wantCode: 303,
			wantLoc: "/auth/login?max_age=600&return_to=" + url.QueryEscape("/auth/console/users/bob/disable")},
		{name: "old login deletes a client", cookie: cookieStale, path: consoleBase + "clients/web/delete", wantCode: 303,
			wantLoc: "/auth/login?max_age=600&return_to=" + url.QueryEscape("/auth/console/clients/web/delete")},
		{name: "old login rotates a secret", cookie: cookieStale, path: consoleBase + "clients/web/secret", wantCode: 303,
			wantLoc: "/auth/login?max_age=600&return_to=" + url.QueryEscape("/auth/console/clients/web/secret")},
		{name: "fresh login rotates", cookie: cookieAdmin, path: consoleBase + "keys/rotate", wantCode: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newConsoleEnv(t)
			rec := e.getRec(browserWith(tc.cookie), tc.path)
			code, body, h := rec.Code, rec.Body.String(), rec.Header()
			if code != tc.wantCode {
				t.Fatalf("GET %s = %d, want %d:\n%s", tc.path, code, tc.wantCode, body)
			}
			if got := h.Get("Location"); got != tc.wantLoc {
				t.Fatalf("Location = %q, want %q", got, tc.wantLoc)
			}
			checkPageHeaders(t, rec, wantCSP)
			if code == 403 && (!strings.Contains(body, "not an administrator") || strings.Contains(body, "Rotate now")) {
				t.Fatalf("403 page:\n%s", body)
			}
		})
	}
}

// TestConsoleStalePostRedirects: a destructive POST with an old login is
// not performed; it goes through the login with max_age, back to the form.
func TestConsoleStalePostRedirects(t *testing.T) {
	e := newConsoleEnv(t)
	b := browserWith(cookieStale)
	code, _, h := e.post(t, b, consoleBase+"users", consoleBase+"keys/revoke/es-2", url.Values{"reason": {"compromised"}})
	if code != 303 || h.Get("Location") != "/auth/login?max_age=600&return_to="+url.QueryEscape("/auth/console/keys/revoke/es-2") {
		t.Fatalf("stale revoke = %d %q", code, h.Get("Location"))
	}
	if calls := e.admin.called("RevokeKey"); len(calls) != 0 {
		t.Fatalf("RevokeKey called with a stale login: %v", calls)
	}
}

func TestConsoleCSRF(t *testing.T) {
	posts := []struct{ path, call string }{
		{consoleBase + "keys/rotate", "RotateKeys"},
		{consoleBase + "keys/revoke/es-2", "RevokeKey"},
		{consoleBase + "users", "AddUser"},
		{consoleBase + "users/bob/disable", "SetUserDisabled"},
		{consoleBase + "users/bob/enable", "SetUserDisabled"},
		{consoleBase + "users/bob/admin", "SetUserAdmin"},
		{consoleBase + "clients", "AddClient"},
		{consoleBase + "clients/web/delete", "DeleteClient"},
		{consoleBase + "clients/web/secret", "RotateClientSecret"},
	}
	for _, p := range posts {
		for _, tok := range []string{"", "wrong-token-wrong-token-wrong-token-wrong"} {
			t.Run(p.path+"/"+map[bool]string{true: "missing", false: "wrong"}[tok == ""], func(t *testing.T) {
				e := newConsoleEnv(t)
				b := browserWith(cookieAdmin)
				e.get(b, consoleBase) // sets the CSRF cookie
				form := url.Values{"reason": {"because"}, "username": {"dave"}, "password": {"pw"}, "id": {"x"}}
				if tok != "" {
					form.Set("csrf_token", tok)
				}
				rec := b.do(e.srv, http.MethodPost, p.path, form)
				if rec.Code != http.StatusForbidden {
					t.Fatalf("POST without a valid token = %d, want 403", rec.Code)
				}
				checkPageHeaders(t, rec, wantCSP)
				if calls := e.admin.called(p.call); len(calls) != 0 {
					t.Fatalf("%s called without CSRF token: %v", p.call, calls)
				}
			})
		}
	}
}

func TestConsoleLogin(t *testing.T) {
	tests := []struct {
		name       string
		returnTo   string
		wantReturn string // where a successful sign-in goes
	}{
		{name: "console page", returnTo: "/auth/console/audit?kind=key", wantReturn: "/auth/console/audit?kind=key"},
		{name: "no return_to", returnTo: "", wantReturn: "/auth/console/"},
		{name: "protocol-relative", returnTo: "//evil.example/auth/console/", wantReturn: "/auth/console/"},
		{name: "absolute URL", returnTo: "https://evil.example/auth/console/", wantReturn: "/auth/console/"},
		{name: "dot segments", returnTo: "/auth/console/../x", wantReturn: "/auth/console/"},
		{name: "encoded dot segments", returnTo: "/auth/console/%2e%2e/x", wantReturn: "/auth/console/"},
		{name: "backslash", returnTo: "/\\evil.example", wantReturn: "/auth/console/"},
		{name: "outside the console", returnTo: "/auth/oauth2/logout", wantReturn: "/auth/console/"},
		{name: "console prefix lookalike", returnTo: "/auth/consolex", wantReturn: "/auth/console/"},
		{name: "javascript", returnTo: "javascript:alert(1)", wantReturn: "/auth/console/"},
		{name: "newline", returnTo: "/auth/console/\r\nLocation: https://evil.example", wantReturn: "/auth/console/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newConsoleEnv(t)
			b := newBrowser()
			q := url.Values{}
			if tc.returnTo != "" {
				q.Set("return_to", tc.returnTo)
			}
			rec := b.do(e.srv, http.MethodGet, "/auth/login?"+q.Encode(), nil)
			if rec.Code != 200 {
				t.Fatalf("GET /login = %d", rec.Code)
			}
			checkPageHeaders(t, rec, wantCSP)
			body := rec.Body.String()
			if !strings.Contains(body, `autocomplete="current-password"`) || !strings.Contains(body, `action="/auth/login"`) {
				t.Fatalf("login page:\n%s", body)
			}
			if strings.Contains(body, "evil.example") {
				t.Fatalf("the login page carries the refused return_to:\n%s", body)
			}
			form := url.Values{"username": {"alice"}, "password": {"pw-alice"}, "csrf_token": {csrfFrom(t, body)}}
			if tc.returnTo != "" {
				form.Set("return_to", tc.returnTo)
			}
			rec = b.do(e.srv, http.MethodPost, "/auth/login", form)
			if rec.Code != 303 || rec.Header().Get("Location") != tc.wantReturn {
				t.Fatalf("sign-in = %d to %q, want 303 to %q", rec.Code, rec.Header().Get("Location"), tc.wantReturn)
			}
			if c := b.cookies["__Host-sigil_session"]; c == nil || !c.HttpOnly || !c.Secure {
				t.Fatalf("session cookie %+v", c)
			}
			if code, _, _ := e.get(b, "/auth/console/"); code != 200 {
				t.Fatalf("console after sign-in = %d", code)
			}
		})
	}
}

func TestConsoleLoginFailures(t *testing.T) {
	e := newConsoleEnv(t)
	b := newBrowser()
	rec := b.do(e.srv, http.MethodGet, "/auth/login?return_to=%2Fauth%2Fconsole%2Fusers", nil)
	tok := csrfFrom(t, rec.Body.String())
	// Without the CSRF token nothing is checked.
	rec = b.do(e.srv, http.MethodPost, "/auth/login", url.Values{"username": {"alice"}, "password": {"pw-alice"}})
	if rec.Code != 403 || len(e.auth.signIns) != 0 {
		t.Fatalf("POST /login without CSRF = %d, sign-ins %d", rec.Code, len(e.auth.signIns))
	}
	rec = b.do(e.srv, http.MethodPost, "/auth/login", url.Values{"username": {"alice"}, "password": {"wrong"}, "csrf_token": {tok}, "return_to": {"/auth/console/users"}})
	body := rec.Body.String()
	if rec.Code != 400 || !strings.Contains(body, msgBadCredentials) || strings.Contains(body, "wrong") ||
		!strings.Contains(body, `value="/auth/console/users"`) || !strings.Contains(body, `value="alice"`) {
		t.Fatalf("failed sign-in = %d:\n%s", rec.Code, body)
	}
	if _, ok := b.cookies["__Host-sigil_session"]; ok {
		t.Fatal("failed sign-in set a session cookie")
	}
}

// TestConsoleReauth: /login?max_age=600 asks for the password even with a
// live session when the login is older, and goes straight on otherwise.
func TestConsoleReauth(t *testing.T) {
	tests := []struct {
		name     string
		cookie   string
		query    string
		wantForm bool
	}{
		{name: "old login, max_age", cookie: cookieStale, query: "max_age=600&return_to=%2Fauth%2Fconsole%2Fkeys%2Frotate", wantForm: true},
		{name: "fresh login, max_age", cookie: cookieAdmin, query: "max_age=600&return_to=%2Fauth%2Fconsole%2Fkeys%2Frotate"},
		{name: "old login, no max_age", cookie: cookieStale, query: "return_to=%2Fauth%2Fconsole%2Fkeys%2Frotate"},
		{name: "no session", query: "return_to=%2Fauth%2Fconsole%2F", wantForm: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newConsoleEnv(t)
			b := browserWith(tc.cookie)
			rec := b.do(e.srv, http.MethodGet, "/auth/login?"+tc.query, nil)
			if tc.wantForm {
				body := rec.Body.String()
				if rec.Code != 200 || !strings.Contains(body, `name="max_age"`) == strings.Contains(tc.query, "max_age") {
					t.Fatalf("GET /login = %d:\n%s", rec.Code, body)
				}
				if tc.cookie == cookieStale && !strings.Contains(body, `value="alice"`) {
					t.Fatalf("re-authentication does not name the user:\n%s", body)
				}
				return
			}
			if rec.Code != 303 || rec.Header().Get("Location") != "/auth/console/keys/rotate" {
				t.Fatalf("GET /login = %d to %q", rec.Code, rec.Header().Get("Location"))
			}
		})
	}
	// After the re-authentication the destructive page opens.
	e := newConsoleEnv(t)
	b := browserWith(cookieStale)
	rec := b.do(e.srv, http.MethodGet, "/auth/login?max_age=600&return_to=%2Fauth%2Fconsole%2Fkeys%2Frotate", nil)
	form := url.Values{"username": {"alice"}, "password": {"pw-alice"}, "max_age": {"600"}, "return_to": {"/auth/console/keys/rotate"}, "csrf_token": {csrfFrom(t, rec.Body.String())}}
	rec = b.do(e.srv, http.MethodPost, "/auth/login", form)
	if rec.Code != 303 || rec.Header().Get("Location") != "/auth/console/keys/rotate" {
		t.Fatalf("re-authentication = %d to %q", rec.Code, rec.Header().Get("Location"))
	}
	if len(e.auth.signIns) != 1 || e.auth.signIns[0].SessionCookie != cookieStale {
		t.Fatalf("sign-in did not replace the old session: %+v", e.auth.signIns)
	}
	if code, body, _ := e.get(b, consoleBase+"keys/rotate"); code != 200 {
		t.Fatalf("rotate page after re-authentication = %d:\n%s", code, body)
	}
}

var (
	svgRE = regexp.MustCompile(`(?s)<svg class="tl"[^>]*data-alg="([^"]+)"[^>]*>(.*?)</svg>`)
	barRE = regexp.MustCompile(`<g class="bar[^"]*"`)
)

func TestConsoleTimeline(t *testing.T) {
	e := newConsoleEnv(t)
	code, body, _ := e.get(browserWith(cookieAdmin), consoleBase)
	if code != 200 {
		t.Fatalf("keys page = %d", code)
	}
	bars := map[string]int{}
	for _, m := range svgRE.FindAllStringSubmatch(body, -1) {
		bars[m[1]] = len(barRE.FindAllString(m[2], -1))
		if !strings.Contains(m[2], `class="tl-now"`) || !strings.Contains(m[2], `class="tl-next"`) || !strings.Contains(m[2], `class="tl-window"`) {
			t.Errorf("%s timeline lacks the now line, the next rotation or the prepublish window", m[1])
		}
	}
	if bars["ES256"] != 3 || bars["RS256"] != 2 || len(bars) != 2 {
		t.Fatalf("bars per algorithm = %v, want ES256:3 RS256:2", bars)
	}
	for _, bad := range []string{"<script>alert(1)", "<b>mallory</b>", `es-3">`} {
		if strings.Contains(body, bad) {
			t.Fatalf("unescaped %q in the keys page", bad)
		}
	}
	for _, want := range []string{
		"es-3&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;", // kid in the title and table
		"by: &lt;b&gt;mallory&lt;/b&gt;",                     // actor in the bar's title
		`<g class="bar revoked" data-kid="rs-1"><title>rs-1 (RS256, revoked)`,
		"reason: leaked",
		"class=\"tl-revoked-mark\"",
		"seg-active", "seg-next", "seg-retired",
	} {
		if !strings.Contains(body, want) {
			t.Fatalf("keys page lacks %q:\n%s", want, body)
		}
	}
	// The consumer without the next key is named in the warning.
	if !strings.Contains(body, "1 of 2 JWKS consumers has not fetched") || !strings.Contains(body, "billing-worker/0.9") {
		t.Fatalf("keys page lacks the consumer warning:\n%s", body)
	}
}

func TestConsoleRotateAndRevoke(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		form     url.Values
		err      error
		wantCode int
		wantCall string // "" for none
		wantText string
	}{
		{name: "revoke without reason", path: "keys/revoke/es-2", form: url.Values{"reason": {"  "}}, wantCode: 400, wantText: msgReasonRequired},
		{name: "revoke", path: "keys/revoke/es-2", form: url.Values{"reason": {"key leaked"}}, wantCode: 303, wantCall: "RevokeKey alice es-2 key leaked"},
		{name: "revoke unknown", path: "keys/revoke/nope", form: url.Values{"reason": {"x"}}, err: &AdminError{Kind: AdminNotFound, Message: "no key nope <here>"},
			wantCode: 404, wantCall: "RevokeKey alice nope x", wantText: "no key nope &lt;here&gt;"},
		{name: "rotate without reason", path: "keys/rotate", form: url.Values{}, wantCode: 400, wantText: msgReasonRequired},
		{name: "rotate", path: "keys/rotate", form: url.Values{"reason": {"quarterly"}}, wantCode: 303, wantCall: "RotateKeys alice/console quarterly"},
		{name: "rotate too young", path: "keys/rotate", form: url.Values{"reason": {"now"}}, err: &AdminError{Kind: AdminConflict, Message: "the next ES256 key was published 20m ago"},
			wantCode: 409, wantCall: "RotateKeys alice/console now", wantText: "the next ES256 key was published 20m ago"},
		{name: "rotate server error", path: "keys/rotate", form: url.Values{"reason": {"now"}}, err: errors.New("store down: dsn=secret-dsn"),
			wantCode: 500, wantCall: "RotateKeys alice/console now", wantText: msgConsoleBroken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newConsoleEnv(t)
			e.admin.err = tc.err
			b := browserWith(cookieAdmin)
			code, body, h := e.post(t, b, consoleBase+tc.path, consoleBase+tc.path, tc.form)
			if code != tc.wantCode {
				t.Fatalf("POST = %d, want %d:\n%s", code, tc.wantCode, body)
			}
			calls := e.admin.called(strings.SplitN(tc.wantCall+" ", " ", 2)[0])
			if tc.wantCall == "" {
				calls = append(e.admin.called("RotateKeys"), e.admin.called("RevokeKey")...)
				if len(calls) != 0 {
					t.Fatalf("service called: %v", calls)
				}
			} else if len(calls) != 1 || calls[0] != tc.wantCall {
				t.Fatalf("calls %v, want %q", calls, tc.wantCall)
			}
			if tc.wantText != "" && !strings.Contains(body, tc.wantText) {
				t.Fatalf("page lacks %q:\n%s", tc.wantText, body)
			}
			if code == 303 && h.Get("Location") == "" {
				t.Fatal("no redirect after success")
			}
			if strings.Contains(body, "secret-dsn") {
				t.Fatal("a server error's detail reached the page")
			}
		})
	}
}

func TestConsoleConfirmWarnsAboutConsumers(t *testing.T) {
	for _, allFetched := range []bool{false, true} {
		e := newConsoleEnv(t)
		if allFetched {
			for i := range e.admin.consumers {
				e.admin.consumers[i].HasNextKey = true
			}
		}
		for _, p := range []string{"keys/rotate", "keys/revoke/es-2"} {
			_, body, _ := e.get(browserWith(cookieAdmin), consoleBase+p)
			warned := strings.Contains(body, "has not fetched the key set since the next key was published") && strings.Contains(body, "10.9.9.9")
			if warned == allFetched {
				t.Fatalf("%s (all fetched %v): warning shown %v:\n%s", p, allFetched, warned, body)
			}
			if !strings.Contains(body, `name="reason"`) || !strings.Contains(body, "required") {
				t.Fatalf("%s has no required reason field", p)
			}
		}
	}
}

func TestConsoleConsumersPage(t *testing.T) {
	e := newConsoleEnv(t)
	code, body, _ := e.get(browserWith(cookieAdmin), consoleBase+"consumers")
	if code != 200 {
		t.Fatal(code)
	}
	rows := strings.Count(body, "<tr>") - 1
	if rows != 2 || !strings.Contains(body, `<span class="badge bad">no</span>`) || !strings.Contains(body, `<span class="badge ok">yes</span>`) {
		t.Fatalf("consumers page (%d rows):\n%s", rows, body)
	}
}

func TestConsoleAuditPage(t *testing.T) {
	e := newConsoleEnv(t)
	b := browserWith(cookieAdmin)
	code, body, _ := e.get(b, consoleBase+"audit?kind=key")
	if code != 200 || !strings.Contains(body, "leaked &lt;key&gt;") {
		t.Fatalf("audit page = %d:\n%s", code, body)
	}
	if i, j := strings.Index(body, "rs-1"), strings.Index(body, "bob"); i < 0 || j < 0 || i > j {
		t.Fatal("audit entries are not in the service's order (newest first)")
	}
	next := "/auth/console/audit?before=a2&amp;kind=key"
	if !strings.Contains(body, next) {
		t.Fatalf("no link to the older page %q:\n%s", next, body)
	}
	code, body, _ = e.get(b, consoleBase+"audit?before=a2&kind=key")
	if code != 200 || !strings.Contains(body, "node-2") || strings.Contains(body, "Older entries") {
		t.Fatalf("second page = %d:\n%s", code, body)
	}
	_, _, _ = e.get(b, consoleBase+"audit?kind=bogus")
	want := []AuditQuery{{Kind: "key", Limit: 50}, {Kind: "key", Before: "a2", Limit: 50}, {Limit: 50}}
	if len(e.admin.queries) != 3 {
		t.Fatalf("queries %+v", e.admin.queries)
	}
	for i, q := range want {
		if e.admin.queries[i] != q {
			t.Fatalf("query %d = %+v, want %+v", i, e.admin.queries[i], q)
		}
	}
}

func TestConsoleSecretShownOnce(t *testing.T) {
	for _, tc := range []struct{ name, from, path string }{
		{"rotate secret", "clients/web/secret", "clients/web/secret"},
		{"add client", "clients", "clients"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newConsoleEnv(t)
			b := browserWith(cookieAdmin)
			code, body, h := e.post(t, b, consoleBase+tc.from, consoleBase+tc.path, url.Values{"id": {"svc"}, "grants": {"client_credentials"}})
			if code != 200 || strings.Count(body, e.admin.secret) != 1 || h.Get("Location") != "" {
				t.Fatalf("result page = %d (Location %q):\n%s", code, h.Get("Location"), body)
			}
			if h.Get("Cache-Control") != "no-store" {
				t.Fatal("the secret page may be cached")
			}
			if strings.Contains(e.logs.String(), e.admin.secret) {
				t.Fatal("the secret reached the log")
			}
			_, list, _ := e.get(b, consoleBase+"clients")
			if strings.Contains(list, e.admin.secret) {
				t.Fatal("the secret is shown again on the clients page")
			}
		})
	}
}

func TestConsoleUserActions(t *testing.T) {
	tests := []struct {
		name, from, path string
		form             url.Values
		err              error
		wantCode         int
		wantCall         string
		wantText         string
	}{
		{name: "add", from: "users", path: "users", form: url.Values{"username": {"dave"}, "password": {"pw-dave-123"}}, wantCode: 303, wantCall: "AddUser dave"},
		{name: "add taken", from: "users", path: "users", form: url.Values{"username": {"alice"}, "password": {"pw-secret-xyz"}}, err: &AdminError{Kind: AdminConflict, Message: "username alice is taken"},
			wantCode: 409, wantCall: "AddUser alice", wantText: "username alice is taken"},
		{name: "disable without reason", from: "users/bob/disable", path: "users/bob/disable", form: url.Values{}, wantCode: 400, wantText: msgReasonRequired},
		{name: "disable", from: "users/bob/disable", path: "users/bob/disable", form: url.Values{"reason": {"left"}}, wantCode: 303, wantCall: "SetUserDisabled bob true left"},
		{name: "enable", from: "users", path: "users/bob/enable", form: url.Values{}, wantCode: 303, wantCall: "SetUserDisabled bob false "},
		{name: "set admin", from: "users", path: "users/bob/admin", form: url.Values{"admin": {"true"}}, wantCode: 303, wantCall: "SetUserAdmin bob"},
		{name: "delete client", from: "clients/web/delete", path: "clients/web/delete", form: url.Values{"reason": {"retired app"}}, wantCode: 303, wantCall: "DeleteClient web retired app"},
		{name: "delete client without reason", from: "clients/web/delete", path: "clients/web/delete", form: url.Values{}, wantCode: 400, wantText: msgReasonRequired},
		{name: "add public client", from: "clients", path: "clients", form: url.Values{"id": {"spa"}, "public": {"true"}, "grants": {"authorization_code refresh_token"}}, wantCode: 303, wantCall: "AddClient spa authorization_code,refresh_token"},
		{name: "add client introspecting any token", from: "clients", path: "clients", form: url.Values{"id": {"gw"}, "public": {"true"}, "grants": {"client_credentials"}, "introspect_any": {"true"}},
			wantCode: 303, wantCall: "AddClient gw client_credentials introspect_any"},
		{name: "add client introspecting any token refused", from: "clients", path: "clients", form: url.Values{"id": {"gw"}, "grants": {"client_credentials"}, "introspect_any": {"true"}},
			err: &AdminError{Kind: AdminConflict, Message: "client gw already exists"}, wantCode: 409, wantCall: "AddClient gw client_credentials introspect_any",
			wantText: `name="introspect_any" value="true" checked`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newConsoleEnv(t)
			e.admin.err = tc.err
			code, body, _ := e.post(t, browserWith(cookieAdmin), consoleBase+tc.from, consoleBase+tc.path, tc.form)
			if code != tc.wantCode {
				t.Fatalf("POST = %d, want %d:\n%s", code, tc.wantCode, body)
			}
			var all []string
			for _, p := range []string{"AddUser", "SetUser", "AddClient", "DeleteClient"} {
				all = append(all, e.admin.called(p)...)
			}
			if (tc.wantCall == "" && len(all) != 0) || (tc.wantCall != "" && (len(all) != 1 || all[0] != tc.wantCall)) {
				t.Fatalf("calls %q, want %q", all, tc.wantCall)
			}
			if tc.wantText != "" && !strings.Contains(body, tc.wantText) {
				t.Fatalf("page lacks %q:\n%s", tc.wantText, body)
			}
			if pw := tc.form.Get("password"); pw != "" && strings.Contains(body, pw) {
				t.Fatal("the password was echoed")
			}
		})
	}
}

// TestConsoleClientsIntrospectAny: the clients page shows which clients may
// introspect any token and offers the checkbox, unchecked, in the CSRF-
// protected add form.
func TestConsoleClientsIntrospectAny(t *testing.T) {
	e := newConsoleEnv(t)
	code, body, _ := e.get(browserWith(cookieAdmin), consoleBase+"clients")
	if code != 200 {
		t.Fatalf("GET clients = %d", code)
	}
	row := body[strings.Index(body, "<code>gateway</code>"):]
	row = row[:strings.Index(row, "</tr>")]
	tests := []struct {
		name, in, text string
		count          int
	}{
		{"GatewayRowMarked", row, "introspects any token", 1},
		{"NoOtherRowMarked", body, "introspects any token", 1},
		{"UncheckedBox", body, `<input type="checkbox" name="introspect_any" value="true">`, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Count(tc.in, tc.text); got != tc.count {
				t.Fatalf("%q appears %d times, want %d", tc.text, got, tc.count)
			}
		})
	}
	form := body[strings.Index(body, `<form method="post" action="/auth/console/clients"`):]
	form = form[:strings.Index(form, "</form>")]
	if !strings.Contains(form, `name="csrf_token"`) || !strings.Contains(form, `name="introspect_any"`) {
		t.Fatalf("the add form lacks the CSRF token or the checkbox:\n%s", form)
	}
}

func TestConsoleSessionLookupFailure(t *testing.T) {
	e := newConsoleEnv(t)
	e.auth.err = errors.New("store down: password=hunter2")
	code, body, _ := e.get(browserWith(cookieAdmin), consoleBase)
	if code != 500 || strings.Contains(body, "hunter2") {
		t.Fatalf("= %d:\n%s", code, body)
	}
}
