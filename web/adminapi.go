package web

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
)

// The admin API: /admin/api/v1/ under the issuer path, JSON in and out,
// Bearer access tokens with the scope sigil:admin (AdminTokenVerifier),
// RFC 9457 problem JSON for every error. Handlers decode, call
// AdminService, encode; the rules live behind the interface.

// AdminAPIPath is the admin API's path under the issuer.
const AdminAPIPath = "/admin/api/v1"

// maxAdminBody bounds an admin API request body.
const maxAdminBody = 64 << 10

//go:embed adminapi/openapi.json
var adminOpenAPI []byte

// AdminOpenAPI returns the OpenAPI 3.1 document of the admin API (shared,
// read-only).
func AdminOpenAPI() []byte { return adminOpenAPI }

// registerAdminAPIRoutes serves the admin API when Deps.Admin and
// Deps.AdminTokens are set.
func (s *Server) registerAdminAPIRoutes(r *mux.Router) {
	if s.deps.Admin == nil || s.deps.AdminTokens == nil {
		return
	}
	api := r.PathPrefix(AdminAPIPath).Subrouter()
	// gorilla/mux 1.8.1 loses a method mismatch inside a subrouter whose
	// routes carry the parent's prefix matcher, so the not-found handler
	// tells 405 from 404 itself by trying the other methods.
	api.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			alt := r.Clone(r.Context())
			alt.Method = m
			var am mux.RouteMatch
			if m != r.Method && api.Match(alt, &am) && am.MatchErr == nil {
				writeProblem(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
				return
			}
		}
		writeProblem(w, http.StatusNotFound, "no such admin API endpoint")
	})
	api.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, http.StatusMethodNotAllowed, "method "+r.Method+" not allowed")
	})
	api.HandleFunc("/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(adminOpenAPI)
	}).Methods(http.MethodGet)
	for _, rt := range []struct {
		method, path string
		h            func(w http.ResponseWriter, r *http.Request, actor Actor) error
	}{
		{http.MethodGet, "/keys", s.apiKeys},
		{http.MethodPost, "/keys/rotate", s.apiRotate},
		{http.MethodPost, "/keys/revoke", s.apiRevoke},
		{http.MethodGet, "/keys/events", s.apiKeyEvents},
		{http.MethodGet, "/users", s.apiUsers},
		{http.MethodPost, "/users", s.apiAddUser},
		{http.MethodPost, "/users/{username}/disable", s.apiDisableUser(true)},
		{http.MethodPost, "/users/{username}/enable", s.apiDisableUser(false)},
		{http.MethodPost, "/users/{username}/password", s.apiUserPassword},
		{http.MethodPost, "/users/{username}/admin", s.apiUserAdmin},
		{http.MethodGet, "/clients", s.apiClients},
		{http.MethodPost, "/clients", s.apiAddClient},
		{http.MethodDelete, "/clients/{id}", s.apiDeleteClient},
		{http.MethodPost, "/clients/{id}/secret", s.apiClientSecret},
		{http.MethodGet, "/audit", s.apiAudit},
	} {
		api.Handle(rt.path, s.adminAuth(rt.h)).Methods(rt.method)
	}
}

// adminAuth checks the Bearer token, then runs h with the actor and maps
// its error to a problem.
func (s *Server) adminAuth(h func(w http.ResponseWriter, r *http.Request, actor Actor) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		bearer, ok := adminBearer(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sigil-admin"`)
			writeProblem(w, http.StatusUnauthorized, "an access token with the sigil:admin scope is required")
			return
		}
		name, err := s.deps.AdminTokens.VerifyAdminToken(r.Context(), bearer)
		switch {
		case errors.Is(err, ErrAdminUnauthenticated):
			w.Header().Set("WWW-Authenticate", `Bearer realm="sigil-admin", error="invalid_token"`)
			writeProblem(w, http.StatusUnauthorized, "the access token is invalid, expired or revoked")
			return
		case errors.Is(err, ErrAdminForbidden):
			w.Header().Set("WWW-Authenticate", `Bearer realm="sigil-admin", error="insufficient_scope", scope="sigil:admin"`)
			writeProblem(w, http.StatusForbidden, "the token lacks the sigil:admin scope or its user is not an admin")
			return
		case err != nil:
			s.log.Error("admin api: verify token", "err", err)
			writeProblem(w, http.StatusServiceUnavailable, "the token could not be checked; try again")
			return
		}
		if err := h(w, r, Actor{Username: name, Via: "api"}); err != nil {
			s.adminFailure(w, r, err)
		}
	})
}

// adminBearer returns the token of an "Authorization: Bearer" header.
func adminBearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// adminFailure writes the problem for an error of a handler: an
// *AdminError with its status and message, anything else a logged 500.
func (s *Server) adminFailure(w http.ResponseWriter, r *http.Request, err error) {
	var ae *AdminError
	if errors.As(err, &ae) {
		status := map[AdminErrorKind]int{
			AdminInvalid: http.StatusBadRequest, AdminNotFound: http.StatusNotFound,
			AdminConflict: http.StatusConflict, AdminUnavailable: http.StatusServiceUnavailable,
		}[ae.Kind]
		if status == 0 {
			status = http.StatusBadRequest
		}
		writeProblem(w, status, ae.Message)
		return
	}
	s.log.Error("admin api", "method", r.Method, "path", r.URL.Path, "err", err)
	writeProblem(w, http.StatusInternalServerError, "internal error")
}

// Problem is an RFC 9457 problem details object, the body of every admin
// API error.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// writeProblem writes an application/problem+json response.
func writeProblem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail})
}

func writeAdminJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	return json.NewEncoder(w).Encode(v)
}

func invalid(format string, args ...any) error {
	return &AdminError{Kind: AdminInvalid, Message: fmt.Sprintf(format, args...)}
}

// decodeAdminBody decodes a JSON object body into v; an empty body leaves v
// alone when optional.
func decodeAdminBody(r *http.Request, v any, optional bool) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
	if err != nil {
		return invalid("could not read the request body")
	}
	if len(body) > maxAdminBody {
		return invalid("request body larger than %d bytes", maxAdminBody)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		if optional {
			return nil
		}
		return invalid("a JSON request body is required")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("invalid JSON body: %s", jsonProblem(err))
	}
	if dec.More() {
		return invalid("invalid JSON body: trailing data")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the body.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q has the wrong type", te.Field)
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "json: unknown field ") {
		return "unknown field " + strings.TrimPrefix(msg, "json: unknown field ")
	}
	return "malformed JSON"
}

// Wire types of the admin API. The CLI decodes the same types.

// APIKeys is the body of GET keys.
type APIKeys struct {
	Now               time.Time      `json:"now"`
	PrepublishSeconds int64          `json:"prepublish_seconds"`
	MaxAgeSeconds     int64          `json:"max_age_seconds"`
	Algorithms        []APIAlgorithm `json:"algorithms"`
}

// APIAlgorithm is one algorithm's keys.
type APIAlgorithm struct {
	Alg             string     `json:"alg"`
	NextRotation    *time.Time `json:"next_rotation,omitempty"`
	NextPublishedAt *time.Time `json:"next_published_at,omitempty"`
	Keys            []APIKey   `json:"keys"`
}

// APIKey is one key.
type APIKey struct {
	KID          string     `json:"kid"`
	Alg          string     `json:"alg"`
	State        string     `json:"state"`
	CreatedAt    *time.Time `json:"created_at,omitempty"`
	PublishedAt  *time.Time `json:"published_at,omitempty"`
	ActivatedAt  *time.Time `json:"activated_at,omitempty"`
	RetiredAt    *time.Time `json:"retired_at,omitempty"`
	VerifyUntil  *time.Time `json:"verify_until,omitempty"`
	RevokedAt    *time.Time `json:"revoked_at,omitempty"`
	RevokeReason string     `json:"revoke_reason,omitempty"`
	Actor        string     `json:"actor,omitempty"`
}

// APIRotation is the body of POST keys/rotate.
type APIRotation struct {
	Promoted []string             `json:"promoted"`
	Waiting  map[string]time.Time `json:"waiting"`
}

// APIUser is a user.
type APIUser struct {
	ID        string    `json:"id"`
	Username  string    `json:"username"`
	Email     string    `json:"email,omitempty"`
	Name      string    `json:"name,omitempty"`
	Admin     bool      `json:"admin"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
}

// APINewUser is the body of POST users.
type APINewUser struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Email    string `json:"email,omitempty"`
	Name     string `json:"name,omitempty"`
	Admin    bool   `json:"admin,omitempty"`
}

// APIClient is a client; ClientSecret is set only in the answer to POST
// clients (confidential clients).
type APIClient struct {
	ID                     string    `json:"id"`
	Name                   string    `json:"name,omitempty"`
	Public                 bool      `json:"public"`
	FirstParty             bool      `json:"first_party"`
	IntrospectAny          bool      `json:"introspect_any"`
	Grants                 []string  `json:"grants"`
	Scopes                 []string  `json:"scopes"`
	Audiences              []string  `json:"audiences"`
	RedirectURIs           []string  `json:"redirect_uris"`
	PostLogoutRedirectURIs []string  `json:"post_logout_redirect_uris"`
	BackchannelLogoutURI   string    `json:"backchannel_logout_uri,omitempty"`
	TokenSigningAlg        string    `json:"token_signing_alg,omitempty"`
	CreatedAt              time.Time `json:"created_at,omitzero"`
	ClientSecret           string    `json:"client_secret,omitempty"`
}

// APINewClient is the body of POST clients.
type APINewClient struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name,omitempty"`
	Public                 bool     `json:"public,omitempty"`
	FirstParty             bool     `json:"first_party,omitempty"`
	IntrospectAny          bool     `json:"introspect_any,omitempty"`
	Grants                 []string `json:"grants"`
	Scopes                 []string `json:"scopes"`
	Audiences              []string `json:"audiences,omitempty"`
	RedirectURIs           []string `json:"redirect_uris,omitempty"`
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`
	BackchannelLogoutURI   string   `json:"backchannel_logout_uri,omitempty"`
	TokenSigningAlg        string   `json:"token_signing_alg,omitempty"`
}

// APISecret is the body of POST clients/{id}/secret.
type APISecret struct {
	ClientSecret string `json:"client_secret"`
}

// APIAuditPage is a page of the audit trail.
type APIAuditPage struct {
	Entries []APIAuditEntry `json:"entries"`
	Next    string          `json:"next,omitempty"`
}

// APIAuditEntry is one audit entry.
type APIAuditEntry struct {
	ID      string    `json:"id"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Action  string    `json:"action"`
	Target  string    `json:"target,omitempty"`
	Actor   string    `json:"actor,omitempty"`
	Replica string    `json:"replica,omitempty"`
	Reason  string    `json:"reason,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Server) apiKeys(w http.ResponseWriter, r *http.Request, _ Actor) error {
	ov, err := s.deps.Admin.Keys(r.Context(), time.Now())
	if err != nil {
		return err
	}
	out := APIKeys{Now: ov.Now.UTC(), PrepublishSeconds: int64(ov.Prepublish / time.Second),
		MaxAgeSeconds: int64(ov.MaxAge / time.Second), Algorithms: []APIAlgorithm{}}
	for _, a := range ov.Algorithms {
		aa := APIAlgorithm{Alg: a.Alg, NextRotation: optTime(a.NextRotation), NextPublishedAt: optTime(a.NextPublishedAt), Keys: []APIKey{}}
		for _, k := range a.Keys {
			aa.Keys = append(aa.Keys, APIKey{KID: k.KID, Alg: k.Alg, State: k.State,
				CreatedAt: optTime(k.CreatedAt), PublishedAt: optTime(k.PublishedAt), ActivatedAt: optTime(k.ActivatedAt),
				RetiredAt: optTime(k.RetiredAt), VerifyUntil: optTime(k.VerifyUntil), RevokedAt: optTime(k.RevokedAt),
				RevokeReason: k.RevokeReason, Actor: k.Actor})
		}
		out.Algorithms = append(out.Algorithms, aa)
	}
	return writeAdminJSON(w, http.StatusOK, out)
}

func (s *Server) apiRotate(w http.ResponseWriter, r *http.Request, actor Actor) error {
	force := false
	if v := r.URL.Query().Get("force"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return invalid("force must be true or false")
		}
		force = b
	}
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decodeAdminBody(r, &in, true); err != nil {
		return err
	}
	out, err := s.deps.Admin.RotateKeys(r.Context(), actor, force, in.Reason)
	if err != nil {
		return err
	}
	res := APIRotation{Promoted: nonNilStrings(out.Promoted), Waiting: map[string]time.Time{}}
	for alg, at := range out.Waiting {
		res.Waiting[alg] = at.UTC()
	}
	return writeAdminJSON(w, http.StatusOK, res)
}

func (s *Server) apiRevoke(w http.ResponseWriter, r *http.Request, actor Actor) error {
	var in struct {
		KID    string `json:"kid"`
		Reason string `json:"reason"`
	}
	if err := decodeAdminBody(r, &in, false); err != nil {
		return err
	}
	if in.KID == "" {
		return invalid("kid is required")
	}
	if strings.TrimSpace(in.Reason) == "" {
		return invalid("reason is required (it goes into the audit trail)")
	}
	if err := s.deps.Admin.RevokeKey(r.Context(), actor, in.KID, in.Reason); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// auditQuery reads kind, before and limit.
func auditQuery(r *http.Request) (AuditQuery, error) {
	q := r.URL.Query()
	aq := AuditQuery{Kind: q.Get("kind"), Before: q.Get("before")}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 200 {
			return aq, invalid("limit must be a number from 1 to 200")
		}
		aq.Limit = n
	}
	return aq, nil
}

func (s *Server) writeAudit(ctx context.Context, w http.ResponseWriter, q AuditQuery) error {
	page, err := s.deps.Admin.Audit(ctx, q)
	if err != nil {
		return err
	}
	out := APIAuditPage{Entries: []APIAuditEntry{}, Next: page.Next}
	for _, e := range page.Entries {
		out.Entries = append(out.Entries, APIAuditEntry{ID: e.ID, Time: e.Time.UTC(), Kind: e.Kind, Action: e.Action,
			Target: e.Target, Actor: e.Actor, Replica: e.Replica, Reason: e.Reason})
	}
	return writeAdminJSON(w, http.StatusOK, out)
}

func (s *Server) apiKeyEvents(w http.ResponseWriter, r *http.Request, _ Actor) error {
	q, err := auditQuery(r)
	if err != nil {
		return err
	}
	if q.Kind != "" && q.Kind != "key" {
		return invalid("keys/events lists kind key only")
	}
	q.Kind = "key"
	return s.writeAudit(r.Context(), w, q)
}

func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request, _ Actor) error {
	q, err := auditQuery(r)
	if err != nil {
		return err
	}
	return s.writeAudit(r.Context(), w, q)
}

func apiUser(u UserView) APIUser {
	return APIUser{ID: u.ID, Username: u.Username, Email: u.Email, Name: u.Name, Admin: u.Admin,
		Disabled: u.Disabled, CreatedAt: u.CreatedAt.UTC()}
}

func (s *Server) apiUsers(w http.ResponseWriter, r *http.Request, _ Actor) error {
	users, err := s.deps.Admin.Users(r.Context())
	if err != nil {
		return err
	}
	out := make([]APIUser, 0, len(users))
	for _, u := range users {
		out = append(out, apiUser(u))
	}
	return writeAdminJSON(w, http.StatusOK, out)
}

func (s *Server) apiAddUser(w http.ResponseWriter, r *http.Request, actor Actor) error {
	var in APINewUser
	if err := decodeAdminBody(r, &in, false); err != nil {
		return err
	}
	u, err := s.deps.Admin.AddUser(r.Context(), actor, NewUser(in))
	if err != nil {
		return err
	}
	return writeAdminJSON(w, http.StatusCreated, apiUser(u))
}

func (s *Server) apiDisableUser(disable bool) func(w http.ResponseWriter, r *http.Request, actor Actor) error {
	return func(w http.ResponseWriter, r *http.Request, actor Actor) error {
		var in struct {
			Reason string `json:"reason"`
		}
		if err := decodeAdminBody(r, &in, true); err != nil {
			return err
		}
		if err := s.deps.Admin.SetUserDisabled(r.Context(), actor, mux.Vars(r)["username"], disable, in.Reason); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (s *Server) apiUserPassword(w http.ResponseWriter, r *http.Request, actor Actor) error {
	var in struct {
		Password string `json:"password"`
	}
	if err := decodeAdminBody(r, &in, false); err != nil {
		return err
	}
	if err := s.deps.Admin.SetUserPassword(r.Context(), actor, mux.Vars(r)["username"], in.Password); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiUserAdmin(w http.ResponseWriter, r *http.Request, actor Actor) error {
	var in struct {
		Admin *bool `json:"admin"`
	}
	if err := decodeAdminBody(r, &in, false); err != nil {
		return err
	}
	if in.Admin == nil {
		return invalid("admin (true or false) is required")
	}
	if err := s.deps.Admin.SetUserAdmin(r.Context(), actor, mux.Vars(r)["username"], *in.Admin); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func apiClient(c ClientView) APIClient {
	return APIClient{ID: c.ID, Name: c.Name, Public: c.Public, FirstParty: c.FirstParty, IntrospectAny: c.IntrospectAny,
		Grants: nonNilStrings(c.Grants), Scopes: nonNilStrings(c.Scopes), Audiences: nonNilStrings(c.Audiences),
		RedirectURIs: nonNilStrings(c.RedirectURIs), PostLogoutRedirectURIs: nonNilStrings(c.PostLogoutURIs),
		BackchannelLogoutURI: c.BackchannelLogoutURI, TokenSigningAlg: c.TokenSigningAlg, CreatedAt: c.CreatedAt.UTC()}
}

func (s *Server) apiClients(w http.ResponseWriter, r *http.Request, _ Actor) error {
	clients, err := s.deps.Admin.Clients(r.Context())
	if err != nil {
		return err
	}
	out := make([]APIClient, 0, len(clients))
	for _, c := range clients {
		out = append(out, apiClient(c))
	}
	return writeAdminJSON(w, http.StatusOK, out)
}

func (s *Server) apiAddClient(w http.ResponseWriter, r *http.Request, actor Actor) error {
	var in APINewClient
	if err := decodeAdminBody(r, &in, false); err != nil {
		return err
	}
	c, secret, err := s.deps.Admin.AddClient(r.Context(), actor, NewClient{ID: in.ID, Name: in.Name, Public: in.Public,
		FirstParty: in.FirstParty, IntrospectAny: in.IntrospectAny, Grants: in.Grants, Scopes: in.Scopes, Audiences: in.Audiences,
		RedirectURIs: in.RedirectURIs, PostLogoutURIs: in.PostLogoutRedirectURIs,
		BackchannelLogoutURI: in.BackchannelLogoutURI, TokenSigningAlg: in.TokenSigningAlg})
	if err != nil {
		return err
	}
	out := apiClient(c)
	out.ClientSecret = secret
	return writeAdminJSON(w, http.StatusCreated, out)
}

func (s *Server) apiDeleteClient(w http.ResponseWriter, r *http.Request, actor Actor) error {
	var in struct {
		Reason string `json:"reason"`
	}
	if err := decodeAdminBody(r, &in, true); err != nil {
		return err
	}
	if in.Reason == "" {
		in.Reason = r.URL.Query().Get("reason")
	}
	if err := s.deps.Admin.DeleteClient(r.Context(), actor, mux.Vars(r)["id"], in.Reason); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) apiClientSecret(w http.ResponseWriter, r *http.Request, actor Actor) error {
	secret, err := s.deps.Admin.RotateClientSecret(r.Context(), actor, mux.Vars(r)["id"])
	if err != nil {
		return err
	}
	return writeAdminJSON(w, http.StatusOK, APISecret{ClientSecret: secret})
}
