package web

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// keysPage is the Keys page: the timelines, the key table and the consumer
// warning.
type keysPage struct {
	Overview   *KeyOverview
	Timelines  []timeline
	Keys       []KeyView
	Prepublish time.Duration
	MaxAge     time.Duration
	Warning    *consumerWarning
}

// consumerWarning names the consumers that have not fetched the JWKS since
// the current next key was published.
type consumerWarning struct {
	Missing []ConsumerView
	Total   int
}

// confirmPage is a confirmation step: what will happen, and the form.
type confirmPage struct {
	// Heading and Body say what the action does.
	Heading, Body string
	// Action is where the form posts; Button its label.
	Action, Button string
	// Reason is required when NeedReason; Force offers the rotation override.
	NeedReason bool
	Reason     string
	OfferForce bool
	Force      bool
	// Warning is the consumer warning ("" for none).
	Warning *consumerWarning
	// WarningText explains what the missing consumers risk.
	WarningText string
	Danger      bool
	Cancel      string
}

// auditPage is one page of the audit trail with its filter.
type auditPage struct {
	Entries []AuditEntryView
	Kind    string
	Kinds   []string
	// NextURL is the link to the older page ("" at the end).
	NextURL string
	// First is set on the newest page.
	First bool
}

// usersPage lists users with the add form's values.
type usersPage struct {
	Users []UserView
	New   NewUser
}

// clientsPage lists clients with the add form's values.
type clientsPage struct {
	Clients []ClientView
	New     clientForm
}

// clientForm is the add-client form as typed.
type clientForm struct {
	ID, Name, Grants, Scopes, Audiences, RedirectURIs, PostLogoutURIs, BackchannelLogoutURI, TokenSigningAlg string
	Public, FirstParty, IntrospectAny                                                                        bool
}

// secretPage shows a client secret, once.
type secretPage struct {
	ClientID, Secret string
	Created          bool
}

// notices are the success messages a redirect may name (?done=).
var notices = map[string]string{
	"rotated":         "Rotation done. The promoted keys are listed below.",
	"rotated-none":    "No key was promoted: every algorithm's next key is too young. See the reason on the Rotate page.",
	"revoked":         "Key revoked. It has left the JWKS.",
	"user-added":      "User added.",
	"user-disabled":   "User disabled; their sessions have ended.",
	"user-enabled":    "User enabled.",
	"admin-granted":   "Administrator rights granted.",
	"admin-revoked":   "Administrator rights taken away.",
	"client-deleted":  "Client deleted.",
	"client-added":    "Client added.",
	"secret-rotated":  "Secret rotated.",
	"password-change": "Password changed.",
}

// done answers a successful action with a 303 to page?done=code (POST,
// redirect, GET: a reload does not repeat it).
func (s *Server) done(w http.ResponseWriter, page, code string) {
	seeOther(w, s.prefix+PathConsole+page+"?done="+url.QueryEscape(code))
}

// notice is the success message of r's ?done=, or "".
func notice(r *http.Request) string { return notices[r.URL.Query().Get("done")] }

// consoleKeys serves the Keys page (/console/).
func (s *Server) consoleKeys(w http.ResponseWriter, r *http.Request, c *consoleReq) {
	d := s.newConsoleData(&c.user, cpKeys)
	d.Notice = notice(r)
	kp, err := s.keysPage(r, c)
	if err != nil {
		s.consoleError(w, r, c, err, d, cpKeys)
		return
	}
	d.Keys = kp
	s.renderConsole(w, r, http.StatusOK, cpKeys, d)
}

// keysPage loads the key overview and the consumers.
func (s *Server) keysPage(r *http.Request, c *consoleReq) (*keysPage, error) {
	now := s.console.now()
	ov, err := s.deps.Admin.Keys(r.Context(), now)
	if err != nil {
		return nil, err
	}
	if ov == nil {
		ov = &KeyOverview{Now: now}
	}
	if ov.Now.IsZero() {
		ov.Now = now
	}
	kp := &keysPage{Overview: ov, Prepublish: ov.Prepublish, MaxAge: ov.MaxAge}
	for _, a := range ov.Algorithms {
		kp.Timelines = append(kp.Timelines, buildTimeline(a, ov.Now, ov.Prepublish))
		kp.Keys = append(kp.Keys, a.Keys...)
	}
	kp.Warning, err = s.consumerWarning(r, now)
	if err != nil {
		return nil, err
	}
	return kp, nil
}

// consumerWarning lists the consumers without the next key (nil when
// every consumer has it, or none is known).
func (s *Server) consumerWarning(r *http.Request, now time.Time) (*consumerWarning, error) {
	cs, err := s.deps.Admin.Consumers(r.Context(), now)
	if err != nil {
		return nil, err
	}
	w := &consumerWarning{Total: len(cs)}
	for _, cv := range cs {
		if !cv.HasNextKey {
			w.Missing = append(w.Missing, cv)
		}
	}
	if len(w.Missing) == 0 {
		return nil, nil
	}
	return w, nil
}

// consoleError shows an *AdminError on page (re-rendered with d) with its
// message and status; any other error is the logged 500 page.
func (s *Server) consoleError(w http.ResponseWriter, r *http.Request, c *consoleReq, err error, d *consoleData, page string) {
	ae := asAdminError(err)
	if ae == nil || d == nil {
		s.consoleFail(w, r, &c.user, page, err)
		return
	}
	d.Message = ae.Message
	s.renderConsole(w, r, adminErrorStatus(ae.Kind), page, d)
}

// showConfirm shows the confirmation step cp under the nav entry nav.
func (s *Server) showConfirm(w http.ResponseWriter, r *http.Request, c *consoleReq, nav string, cp *confirmPage) {
	d := s.newConsoleData(&c.user, nav)
	d.Confirm = cp
	s.renderConsole(w, r, http.StatusOK, cpConfirm, d)
}

// confirmed runs the action of the confirmation step cp (under nav), which
// needs a reason, cp.Reason: without one the step is shown again (400);
// act's error is shown on the step (consoleError); on success it redirects
// to act's page with act's notice code (done).
func (s *Server) confirmed(w http.ResponseWriter, r *http.Request, c *consoleReq, nav string, cp *confirmPage,
	act func(ctx context.Context) (page, code string, err error)) {
	d := s.newConsoleData(&c.user, nav)
	d.Confirm = cp
	if cp.Reason == "" {
		d.Message = msgReasonRequired
		s.renderConsole(w, r, http.StatusBadRequest, cpConfirm, d)
		return
	}
	page, code, err := act(r.Context())
	if err != nil {
		s.consoleError(w, r, c, err, d, cpConfirm)
		return
	}
	s.done(w, page, code)
}

// rotateConfirm builds the rotation's confirmation step.
func (s *Server) rotateConfirm(r *http.Request, reason string, force bool) (*confirmPage, error) {
	warn, err := s.consumerWarning(r, s.console.now())
	if err != nil {
		return nil, err
	}
	return &confirmPage{
		Heading:     "Rotate the signing keys now",
		Body:        "Each algorithm's next key becomes the active signing key at once. The current active keys retire and stay in the JWKS until their tokens expire.",
		Action:      s.prefix + PathConsole + "keys/rotate",
		Button:      "Rotate now",
		NeedReason:  true,
		Reason:      reason,
		OfferForce:  true,
		Force:       force,
		Warning:     warn,
		WarningText: "After the rotation they will reject new tokens until they fetch the JWKS again.",
		Cancel:      s.prefix + PathConsole,
	}, nil
}

// consoleRotateForm is the rotation's confirmation page.
func (s *Server) consoleRotateForm(w http.ResponseWriter, r *http.Request, c *consoleReq) {
	cp, err := s.rotateConfirm(r, "", false)
	if err != nil {
		s.consoleFail(w, r, &c.user, "rotate form", err)
		return
	}
	s.showConfirm(w, r, c, cpKeys, cp)
}

// consoleRotate rotates with the confirmed form's reason.
func (s *Server) consoleRotate(w http.ResponseWriter, r *http.Request, c *consoleReq) {
	reason := strings.TrimSpace(c.form.Get("reason"))
	force := c.form.Get("force") == "true"
	cp, err := s.rotateConfirm(r, reason, force)
	if err != nil {
		s.consoleFail(w, r, &c.user, "rotate form", err)
		return
	}
	s.confirmed(w, r, c, cpKeys, cp, func(ctx context.Context) (string, string, error) {
		out, err := s.deps.Admin.RotateKeys(ctx, c.actor, force, reason)
		if err != nil {
			return "", "", err
		}
		if out == nil || len(out.Promoted) == 0 {
			return "", "rotated-none", nil
		}
		return "", "rotated", nil
	})
}

// revokeConfirm builds the revocation's confirmation step for kid.
func (s *Server) revokeConfirm(r *http.Request, kid, reason string) (*confirmPage, error) {
	warn, err := s.consumerWarning(r, s.console.now())
	if err != nil {
		return nil, err
	}
	return &confirmPage{
		Heading:     "Revoke key " + kid,
		Body:        "The key leaves the JWKS at once: tokens it signed stop verifying. If it is the active key, the next key takes over now.",
		Action:      s.prefix + PathConsole + "keys/revoke/" + url.PathEscape(kid),
		Button:      "Revoke key",
		NeedReason:  true,
		Reason:      reason,
		Warning:     warn,
		WarningText: "If the revoked key is active, they will reject the tokens of its replacement until they fetch the JWKS again.",
		Danger:      true,
		Cancel:      s.prefix + PathConsole,
	}, nil
}

// consoleRevokeForm is the revocation's confirmation page.
func (s *Server) consoleRevokeForm(w http.ResponseWriter, r *http.Request, c *consoleReq) {
	cp, err := s.revokeConfirm(r, mux.Vars(r)["kid"], "")
	if err != nil {
		s.consoleFail(w, r, &c.user, "revoke form", err)
		return
	}
	s.showConfirm(w, r, c, cpKeys, cp)
}

// consoleRevoke revokes the key with the confirmed form's reason.
func (s *Server) consoleRevoke(w http.ResponseWriter, r *http.Request, c *consoleReq) {
	kid := mux.Vars(r)["kid"]
	reason := strings.TrimSpace(c.form.Get("reason"))
	cp, err := s.revokeConfirm(r, kid, reason)
	if err != nil {
		s.consoleFail(w, r, &c.user, "revoke form", err)
		return
	}
	s.confirmed(w, r, c, cpKeys, cp, func(ctx context.Context) (string, string, error) {
		return "", "revoked", s.deps.Admin.RevokeKey(ctx, c.actor, kid, reason)
	})
}

// consoleConsumers serves the Consumers page.
func (s *Server) consoleConsumers(w http.ResponseWriter, r *http.Request, c *consoleReq) {
	cs, err := s.deps.Admin.Consumers(r.Context(), s.console.now())
	if err != nil {
		s.consoleError(w, r, c, err, nil, cpConsumers)
		return
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].LastFetch.After(cs[j].LastFetch) })
	d := s.newConsoleData(&c.user, cpConsumers)
	d.Consumers = cs
	s.renderConsole(w, r, http.StatusOK, cpConsumers, d)
}

// auditKinds are the audit filter's choices.
var auditKinds = []string{"key", "user", "client"}

// consoleAudit serves the Audit page: newest first, ?kind= filters,
// ?before= pages.
func (s *Server) consoleAudit(w http.ResponseWriter, r *http.Request, c *consoleReq) {
	q := r.URL.Query()
	kind := q.Get("kind")
	known := kind == ""
	for _, k := range auditKinds {
		known = known || k == kind
	}
	if !known {
		kind = ""
	}
	before := q.Get("before")
	if len(before) > 256 {
		before = ""
	}
	page, err := s.deps.Admin.Audit(r.Context(), AuditQuery{Kind: kind, Before: before, Limit: 50})
	d := s.newConsoleData(&c.user, cpAudit)
	d.Audit = &auditPage{Kind: kind, Kinds: auditKinds, First: before == ""}
	if err != nil {
		s.consoleError(w, r, c, err, d, cpAudit)
		return
	}
	if page != nil {
		d.Audit.Entries = page.Entries
		if page.Next != "" {
			v := url.Values{}
			if kind != "" {
				v.Set("kind", kind)
			}
			v.Set("before", page.Next)
			d.Audit.NextURL = s.prefix + PathConsole + "audit?" + v.Encode()
		}
	}
	s.renderConsole(w, r, http.StatusOK, cpAudit, d)
}

// listPage is a console page that lists records above an add form: Users
// or Clients. Serving it, and showing it again with a failed action's
// message, are the same for both; only what it loads differs.
type listPage struct {
	page string // cpUsers or cpClients
	// load fills d with the records and the add form's defaults.
	load func(s *Server, r *http.Request, d *consoleData) error
}

var (
	usersList = listPage{page: cpUsers, load: func(s *Server, r *http.Request, d *consoleData) error {
		us, err := s.deps.Admin.Users(r.Context())
		if err != nil {
			return err
		}
		d.Users = &usersPage{Users: us}
		return nil
	}}
	clientsList = listPage{page: cpClients, load: func(s *Server, r *http.Request, d *consoleData) error {
		cs, err := s.deps.Admin.Clients(r.Context())
		if err != nil {
			return err
		}
		d.Clients = &clientsPage{Clients: cs, New: clientForm{Grants: "authorization_code refresh_token", Scopes: "openid profile email"}}
		return nil
	}}
)

// listData loads page p for c's admin.
func (s *Server) listData(r *http.Request, c *consoleReq, p listPage) (*consoleData, error) {
	d := s.newConsoleData(&c.user, p.page)
	if err := p.load(s, r, d); err != nil {
		return nil, err
	}
	return d, nil
}

// consoleList serves page p, with the notice of the action that led there.
func (s *Server) consoleList(p listPage) consoleHandler {
	return func(w http.ResponseWriter, r *http.Request, c *consoleReq) {
		d, err := s.listData(r, c, p)
		if err != nil {
			s.consoleError(w, r, c, err, nil, p.page)
			return
		}
		d.Notice = notice(r)
		s.renderConsole(w, r, http.StatusOK, p.page, d)
	}
}

// listError shows page p again with err (see consoleError); keep, if not
// nil, puts the add form's values back. A page that cannot be loaded is the
// logged 500 page.
func (s *Server) listError(w http.ResponseWriter, r *http.Request, c *consoleReq, p listPage, err error, keep func(*consoleData)) {
	d, lerr := s.listData(r, c, p)
	if lerr != nil {
		s.consoleFail(w, r, &c.user, "list "+p.page, lerr)
		return
	}
	if keep != nil {
		keep(d)
	}
	s.consoleError(w, r, c, err, d, p.page)
}

// consoleAddUser adds a user from the Users page's form.
func (s *Server) consoleAddUser(w http.ResponseWriter, r *http.Request, c *consoleReq) {
	in := NewUser{
		Username: strings.TrimSpace(c.form.Get("username")),
		Password: c.form.Get("password"),
		Email:    strings.TrimSpace(c.form.Get("email")),
		Name:     strings.TrimSpace(c.form.Get("name")),
		Admin:    c.form.Get("admin") == "true",
	}
	if _, err := s.deps.Admin.AddUser(r.Context(), c.actor, in); err != nil {
		in.Password = "" // never echoed
		s.listError(w, r, c, usersList, err, func(d *consoleData) { d.Users.New = in })
		return
	}
	s.done(w, "users", "user-added")
}

// consoleDisableForm is the confirmation step of disabling a user.
func (s *Server) consoleDisableForm(w http.ResponseWriter, r *http.Request, c *consoleReq) {
	s.showConfirm(w, r, c, cpUsers, s.disableConfirm(mux.Vars(r)["username"], ""))
}

func (s *Server) disableConfirm(username, reason string) *confirmPage {
	return &confirmPage{
		Heading:    "Disable user " + username,
		Body:       "The user can no longer sign in; their sessions and refresh tokens end now. You can enable them again later.",
		Action:     s.prefix + PathConsole + "users/" + url.PathEscape(username) + "/disable",
		Button:     "Disable user",
		NeedReason: true,
		Reason:     reason,
		Danger:     true,
		Cancel:     s.prefix + PathConsole + "users",
	}
}

// consoleDisable disables a user with the confirmed reason.
func (s *Server) consoleDisable(w http.ResponseWriter, r *http.Request, c *consoleReq) {
	username := mux.Vars(r)["username"]
	reason := strings.TrimSpace(c.form.Get("reason"))
	s.confirmed(w, r, c, cpUsers, s.disableConfirm(username, reason), func(ctx context.Context) (string, string, error) {
		return "users", "user-disabled", s.deps.Admin.SetUserDisabled(ctx, c.actor, username, true, reason)
	})
}

// consoleEnable enables a user (not destructive: no confirmation).
func (s *Server) consoleEnable(w http.ResponseWriter, r *http.Request, c *consoleReq) {
	if err := s.deps.Admin.SetUserDisabled(r.Context(), c.actor, mux.Vars(r)["username"], false, ""); err != nil {
		s.usersActionError(w, r, c, err)
		return
	}
	s.done(w, "users", "user-enabled")
}

// consoleSetAdmin grants or takes away the admin flag (admin=true|false).
// It needs a fresh login like the destructive actions: it changes who may
// do them.
func (s *Server) consoleSetAdmin(w http.ResponseWriter, r *http.Request, c *consoleReq) {
	admin := c.form.Get("admin") == "true"
	if err := s.deps.Admin.SetUserAdmin(r.Context(), c.actor, mux.Vars(r)["username"], admin); err != nil {
		s.usersActionError(w, r, c, err)
		return
	}
	code := "admin-revoked"
	if admin {
		code = "admin-granted"
	}
	s.done(w, "users", code)
}

// usersActionError shows a failed row action on the Users page.
func (s *Server) usersActionError(w http.ResponseWriter, r *http.Request, c *consoleReq, err error) {
	if asAdminError(err) == nil {
		s.consoleFail(w, r, &c.user, "user action", err)
		return
	}
	s.listError(w, r, c, usersList, err, nil)
}

// consoleAddClient registers a client; a confidential client's secret is
// shown once on the result page (the response to this POST: never in a
// URL, never logged).
func (s *Server) consoleAddClient(w http.ResponseWriter, r *http.Request, c *consoleReq) {
	f := clientForm{
		ID:                   strings.TrimSpace(c.form.Get("id")),
		Name:                 strings.TrimSpace(c.form.Get("name")),
		Grants:               c.form.Get("grants"),
		Scopes:               c.form.Get("scopes"),
		Audiences:            c.form.Get("audiences"),
		RedirectURIs:         c.form.Get("redirect_uris"),
		PostLogoutURIs:       c.form.Get("post_logout_redirect_uris"),
		BackchannelLogoutURI: strings.TrimSpace(c.form.Get("backchannel_logout_uri")),
		TokenSigningAlg:      strings.TrimSpace(c.form.Get("token_signing_alg")),
		Public:               c.form.Get("public") == "true",
		FirstParty:           c.form.Get("first_party") == "true",
		IntrospectAny:        c.form.Get("introspect_any") == "true",
	}
	in := NewClient{
		ID: f.ID, Name: f.Name, Public: f.Public, FirstParty: f.FirstParty, IntrospectAny: f.IntrospectAny,
		Grants: strings.Fields(f.Grants), Scopes: strings.Fields(f.Scopes), Audiences: strings.Fields(f.Audiences),
		RedirectURIs: strings.Fields(f.RedirectURIs), PostLogoutURIs: strings.Fields(f.PostLogoutURIs),
		BackchannelLogoutURI: f.BackchannelLogoutURI, TokenSigningAlg: f.TokenSigningAlg,
	}
	cv, secret, err := s.deps.Admin.AddClient(r.Context(), c.actor, in)
	if err != nil {
		s.listError(w, r, c, clientsList, err, func(d *consoleData) { d.Clients.New = f })
		return
	}
	if secret == "" {
		s.done(w, "clients", "client-added")
		return
	}
	d := s.newConsoleData(&c.user, cpClients)
	d.Secret = &secretPage{ClientID: cv.ID, Secret: secret, Created: true}
	s.renderConsole(w, r, http.StatusOK, cpSecret, d)
}

func (s *Server) deleteConfirm(id, reason string) *confirmPage {
	return &confirmPage{
		Heading:    "Delete client " + id,
		Body:       "The client can no longer obtain or refresh tokens. This cannot be undone: registering it again gives it a new secret.",
		Action:     s.prefix + PathConsole + "clients/" + url.PathEscape(id) + "/delete",
		Button:     "Delete client",
		NeedReason: true,
		Reason:     reason,
		Danger:     true,
		Cancel:     s.prefix + PathConsole + "clients",
	}
}

// consoleDeleteForm is the confirmation step of deleting a client.
func (s *Server) consoleDeleteForm(w http.ResponseWriter, r *http.Request, c *consoleReq) {
	s.showConfirm(w, r, c, cpClients, s.deleteConfirm(mux.Vars(r)["id"], ""))
}

// consoleDelete deletes a client with the confirmed reason.
func (s *Server) consoleDelete(w http.ResponseWriter, r *http.Request, c *consoleReq) {
	id := mux.Vars(r)["id"]
	reason := strings.TrimSpace(c.form.Get("reason"))
	s.confirmed(w, r, c, cpClients, s.deleteConfirm(id, reason), func(ctx context.Context) (string, string, error) {
		return "clients", "client-deleted", s.deps.Admin.DeleteClient(ctx, c.actor, id, reason)
	})
}

func (s *Server) secretConfirm(id string) *confirmPage {
	return &confirmPage{
		Heading: "Rotate the secret of client " + id,
		Body:    "A new secret replaces the current one at once: the client must be configured with it before it can get tokens again. The new secret is shown once, on the next page.",
		Action:  s.prefix + PathConsole + "clients/" + url.PathEscape(id) + "/secret",
		Button:  "Rotate secret",
		Danger:  true,
		Cancel:  s.prefix + PathConsole + "clients",
	}
}

// consoleSecretForm is the confirmation step of rotating a client secret.
func (s *Server) consoleSecretForm(w http.ResponseWriter, r *http.Request, c *consoleReq) {
	s.showConfirm(w, r, c, cpClients, s.secretConfirm(mux.Vars(r)["id"]))
}

// consoleSecret rotates a client secret and shows the new one once.
func (s *Server) consoleSecret(w http.ResponseWriter, r *http.Request, c *consoleReq) {
	id := mux.Vars(r)["id"]
	secret, err := s.deps.Admin.RotateClientSecret(r.Context(), c.actor, id)
	if err != nil {
		d := s.newConsoleData(&c.user, cpClients)
		d.Confirm = s.secretConfirm(id)
		s.consoleError(w, r, c, err, d, cpConfirm)
		return
	}
	d := s.newConsoleData(&c.user, cpClients)
	d.Secret = &secretPage{ClientID: id, Secret: secret}
	s.renderConsole(w, r, http.StatusOK, cpSecret, d)
}
