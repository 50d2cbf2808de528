package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"

	"github.com/sigilauth/sigil/keys/keystest"
)

// apiFakeAdmin records the calls of the admin API and answers with err
// when set.
type apiFakeAdmin struct {
	calls []string
	err   error
}

func (f *apiFakeAdmin) call(s string) error { f.calls = append(f.calls, s); return f.err }

func (f *apiFakeAdmin) Keys(ctx context.Context, now time.Time) (*KeyOverview, error) {
	if err := f.call("Keys"); err != nil {
		return nil, err
	}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	return &KeyOverview{Now: t0, Prepublish: time.Hour, MaxAge: time.Minute, Algorithms: []AlgorithmKeys{
		{Alg: "ES256", NextRotation: t0.Add(time.Hour), Keys: []KeyView{{KID: "k1", Alg: "ES256", State: "active", CreatedAt: t0}}},
	}}, nil
}
func (f *apiFakeAdmin) RotateKeys(ctx context.Context, a Actor, force bool, reason string) (*RotateOutcome, error) {
	if err := f.call("RotateKeys " + a.Username + " " + a.Via + " " + map[bool]string{true: "force", false: "wait"}[force] + " " + reason); err != nil {
		return nil, err
	}
	return &RotateOutcome{Promoted: []string{"k2"}}, nil
}
func (f *apiFakeAdmin) RevokeKey(ctx context.Context, a Actor, kid, reason string) error {
	return f.call("RevokeKey " + kid + " " + reason)
}
func (f *apiFakeAdmin) Users(ctx context.Context) ([]UserView, error) {
	return []UserView{{ID: "1", Username: "ada", Admin: true}}, f.call("Users")
}
func (f *apiFakeAdmin) AddUser(ctx context.Context, a Actor, in NewUser) (UserView, error) {
	return UserView{ID: "2", Username: in.Username, Admin: in.Admin}, f.call("AddUser " + in.Username + " " + in.Password)
}
func (f *apiFakeAdmin) SetUserDisabled(ctx context.Context, a Actor, u string, d bool, reason string) error {
	return f.call("SetUserDisabled " + u + " " + map[bool]string{true: "true", false: "false"}[d] + " " + reason)
}
func (f *apiFakeAdmin) SetUserPassword(ctx context.Context, a Actor, u, pw string) error {
	return f.call("SetUserPassword " + u + " " + pw)
}
func (f *apiFakeAdmin) SetUserAdmin(ctx context.Context, a Actor, u string, admin bool) error {
	return f.call("SetUserAdmin " + u + " " + map[bool]string{true: "true", false: "false"}[admin])
}
func (f *apiFakeAdmin) Clients(ctx context.Context) ([]ClientView, error) {
	return []ClientView{{ID: "web"}, {ID: "gw", IntrospectAny: true}}, f.call("Clients")
}
func (f *apiFakeAdmin) AddClient(ctx context.Context, a Actor, in NewClient) (ClientView, string, error) {
	call := "AddClient " + in.ID + " " + strings.Join(in.Grants, ",")
	if in.IntrospectAny {
		call += " introspect_any"
	}
	return ClientView{ID: in.ID, Grants: in.Grants, IntrospectAny: in.IntrospectAny}, "s3cret", f.call(call)
}
func (f *apiFakeAdmin) DeleteClient(ctx context.Context, a Actor, id, reason string) error {
	return f.call("DeleteClient " + id + " " + reason)
}
func (f *apiFakeAdmin) RotateClientSecret(ctx context.Context, a Actor, id string) (string, error) {
	return "n3w", f.call("RotateClientSecret " + id)
}
func (f *apiFakeAdmin) Audit(ctx context.Context, q AuditQuery) (*AuditPage, error) {
	if err := f.call("Audit " + q.Kind + " " + q.Before + " " + strings.Repeat("*", q.Limit)); err != nil {
		return nil, err
	}
	return &AuditPage{Entries: []AuditEntryView{{ID: "e1", Kind: "key", Action: "revoke"}}, Next: "e1"}, nil
}
func (f *apiFakeAdmin) Consumers(ctx context.Context, now time.Time) ([]ConsumerView, error) {
	return nil, f.call("Consumers")
}

// apiFakeTokens accepts "admin" (actor ops), refuses "user" as forbidden,
// "broken" as a server error and anything else as unauthenticated.
type apiFakeTokens struct{}

func (apiFakeTokens) VerifyAdminToken(ctx context.Context, bearer string) (string, error) {
	switch bearer {
	case "admin":
		return "ops", nil
	case "user":
		return "", ErrAdminForbidden
	case "broken":
		return "", errors.New("storage down")
	}
	return "", ErrAdminUnauthenticated
}

var _ ConsumerRecorder = nopRecorder{}

type nopRecorder struct{}

func (nopRecorder) RecordFetch(netip.Addr, string, string, time.Time) {}

func newAdminAPIServer(t *testing.T, issuer string) (*Server, *apiFakeAdmin) {
	t.Helper()
	fake := &apiFakeAdmin{}
	s, err := New(Config{Issuer: issuer}, &keystest.Ring{}, Deps{Admin: fake, AdminTokens: apiFakeTokens{}})
	if err != nil {
		t.Fatal(err)
	}
	return s, fake
}

func apiDo(s http.Handler, method, path, token, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	return w
}

func TestAdminAPIAuth(t *testing.T) {
	s, fake := newAdminAPIServer(t, "https://id.example.com")
	tests := []struct {
		name, auth string
		status     int
		wwwAuth    string
	}{
		{"NoHeader", "", 401, `Bearer realm="sigil-admin"`},
		{"Basic", "Basic YTpi", 401, `Bearer realm="sigil-admin"`},
		{"EmptyBearer", "Bearer ", 401, `Bearer realm="sigil-admin"`},
		{"Invalid", "Bearer nope", 401, `error="invalid_token"`},
		{"Forbidden", "Bearer user", 403, `error="insufficient_scope"`},
		{"ServerError", "Bearer broken", 503, ""},
		{"OK", "Bearer admin", 200, ""},
		{"SchemeCaseInsensitive", "bearer admin", 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake.calls = nil
			r := httptest.NewRequest(http.MethodGet, "/admin/api/v1/users", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if !strings.Contains(w.Header().Get("WWW-Authenticate"), tc.wwwAuth) {
				t.Fatalf("WWW-Authenticate %q, want %q", w.Header().Get("WWW-Authenticate"), tc.wwwAuth)
			}
			if tc.status != 200 {
				wantProblem(t, w, tc.status)
				if len(fake.calls) != 0 {
					t.Fatalf("service called without authorization: %v", fake.calls)
				}
			}
		})
	}
}

func wantProblem(t *testing.T, w *httptest.ResponseRecorder, status int) Problem {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Status != status || p.Title != http.StatusText(status) || p.Type == "" {
		t.Fatalf("problem %+v, want status %d", p, status)
	}
	return p
}

func TestAdminAPIVerbs(t *testing.T) {
	s, fake := newAdminAPIServer(t, "https://id.example.com/auth")
	const p = "/auth/admin/api/v1"
	tests := []struct {
		name, method, path, body string
		status                   int
		call                     string
		inBody                   string
	}{
		{"Keys", "GET", "/keys", "", 200, "Keys", `"kid":"k1"`},
		{"Rotate", "POST", "/keys/rotate", `{"reason":"drill"}`, 200, "RotateKeys ops api wait drill", `"promoted":["k2"]`},
		{"RotateForce", "POST", "/keys/rotate?force=true", "", 200, "RotateKeys ops api force ", `"promoted"`},
		{"RotateBadForce", "POST", "/keys/rotate?force=maybe", "", 400, "", "force"},
		{"Revoke", "POST", "/keys/revoke", `{"kid":"k1","reason":"leak"}`, 204, "RevokeKey k1 leak", ""},
		{"RevokeNoReason", "POST", "/keys/revoke", `{"kid":"k1"}`, 400, "", "reason"},
		{"RevokeNoKid", "POST", "/keys/revoke", `{"reason":"x"}`, 400, "", "kid"},
		{"RevokeNoBody", "POST", "/keys/revoke", ``, 400, "", "body"},
		{"RevokeBadJSON", "POST", "/keys/revoke", `{"kid":`, 400, "", "malformed"},
		{"RevokeUnknownField", "POST", "/keys/revoke", `{"kid":"k","reason":"r","x":1}`, 400, "", "unknown field"},
		{"Events", "GET", "/keys/events?limit=3", "", 200, "Audit key  ***", `"next":"e1"`},
		{"EventsOtherKind", "GET", "/keys/events?kind=user", "", 400, "", "kind"},
		{"Users", "GET", "/users", "", 200, "Users", `"admin":true`},
		{"AddUser", "POST", "/users", `{"username":"bob","password":"pw","admin":true}`, 201, "AddUser bob pw", `"username":"bob"`},
		{"AddUserWrongType", "POST", "/users", `{"username":1}`, 400, "", "wrong type"},
		{"Disable", "POST", "/users/bob/disable", `{"reason":"left"}`, 204, "SetUserDisabled bob true left", ""},
		{"DisableNoBody", "POST", "/users/bob/disable", ``, 204, "SetUserDisabled bob true ", ""},
		{"Enable", "POST", "/users/bob/enable", ``, 204, "SetUserDisabled bob false ", ""},
		{"Password", "POST", "/users/bob/password", `{"password":"new"}`, 204, "SetUserPassword bob new", ""},
		{"Admin", "POST", "/users/bob/admin", `{"admin":false}`, 204, "SetUserAdmin bob false", ""},
		{"AdminMissing", "POST", "/users/bob/admin", `{}`, 400, "", "admin"},
		{"Clients", "GET", "/clients", "", 200, "Clients", `"id":"web"`},
		{"AddClient", "POST", "/clients", `{"id":"ops","grants":["client_credentials"],"scopes":["sigil:admin"]}`, 201, "AddClient ops client_credentials", `"introspect_any":false`},
		{"AddClientSecret", "POST", "/clients", `{"id":"ops","grants":["client_credentials"],"scopes":["sigil:admin"]}`, 201, "AddClient ops client_credentials", `"client_secret":"s3cret"`},
		{"AddClientIntrospectAny", "POST", "/clients", `{"id":"gw","grants":["client_credentials"],"scopes":["api"],"introspect_any":true}`, 201, "AddClient gw client_credentials introspect_any", `"introspect_any":true`},
		{"AddClientIntrospectAnyWrongType", "POST", "/clients", `{"id":"gw","grants":["client_credentials"],"scopes":["api"],"introspect_any":"yes"}`, 400, "", "wrong type"},
		{"ClientsIntrospectAny", "GET", "/clients", "", 200, "Clients", `"id":"gw","public":false,"first_party":false,"introspect_any":true`},
		{"DeleteClient", "DELETE", "/clients/ops?reason=old", "", 204, "DeleteClient ops old", ""},
		{"DeleteClientBody", "DELETE", "/clients/ops", `{"reason":"gone"}`, 204, "DeleteClient ops gone", ""},
		{"ClientSecret", "POST", "/clients/ops/secret", "", 200, "RotateClientSecret ops", `"client_secret":"n3w"`},
		{"Audit", "GET", "/audit?kind=user&before=x&limit=2", "", 200, "Audit user x **", `"entries"`},
		{"AuditBadLimit", "GET", "/audit?limit=500", "", 400, "", "limit"},
		{"UnknownRoute", "GET", "/nothing", "", 404, "", ""},
		{"WrongMethod", "PUT", "/users", "", 405, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake.calls = nil
			w := apiDo(s, tc.method, p+tc.path, "admin", tc.body)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if w.Code >= 400 {
				wantProblem(t, w, tc.status)
			}
			if got := strings.Join(fake.calls, "|"); got != tc.call {
				t.Fatalf("calls %q, want %q", got, tc.call)
			}
			if !strings.Contains(w.Body.String(), tc.inBody) {
				t.Fatalf("body %s lacks %s", w.Body, tc.inBody)
			}
		})
	}
}

func TestAdminAPIErrors(t *testing.T) {
	s, fake := newAdminAPIServer(t, "https://id.example.com")
	tests := []struct {
		name   string
		err    error
		status int
		detail string
	}{
		{"Invalid", &AdminError{Kind: AdminInvalid, Message: "bad name"}, 400, "bad name"},
		{"NotFound", &AdminError{Kind: AdminNotFound, Message: "no user"}, 404, "no user"},
		{"Conflict", &AdminError{Kind: AdminConflict, Message: "next key too young"}, 409, "next key too young"},
		{"Unavailable", &AdminError{Kind: AdminUnavailable, Message: "later"}, 503, "later"},
		{"Wrapped", errors.Join(errors.New("x"), &AdminError{Kind: AdminConflict, Message: "taken"}), 409, "taken"},
		{"Server", errors.New("secret connection string"), 500, "internal error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake.err = tc.err
			w := apiDo(s, "POST", "/admin/api/v1/keys/rotate", "admin", "")
			p := wantProblem(t, w, tc.status)
			if p.Detail != tc.detail {
				t.Fatalf("detail %q, want %q", p.Detail, tc.detail)
			}
		})
	}
}

func TestAdminAPIUnregisteredWithoutDeps(t *testing.T) {
	s, err := New(Config{Issuer: "https://id.example.com"}, &keystest.Ring{}, Deps{})
	if err != nil {
		t.Fatal(err)
	}
	if w := apiDo(s, "GET", "/admin/api/v1/openapi.json", "", ""); w.Code != 404 {
		t.Fatalf("status %d without Deps.Admin, want 404", w.Code)
	}
}

// TestAdminAPIOpenAPIMatchesRoutes walks the routes registered under the
// admin API and the paths of the OpenAPI document and fails on any
// difference in either direction.
func TestAdminAPIOpenAPIMatchesRoutes(t *testing.T) {
	s, _ := newAdminAPIServer(t, "https://id.example.com/tenant")
	w := apiDo(s, "GET", "/tenant/admin/api/v1/openapi.json", "", "")
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("openapi.json: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Fatalf("openapi %q, want 3.1.x", doc.OpenAPI)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method := range ops {
			switch method {
			case "get", "post", "put", "patch", "delete", "head", "options":
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	const prefix = "/tenant" + AdminAPIPath
	var routed []string
	err := s.router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		tpl, err := route.GetPathTemplate()
		if err != nil || !strings.HasPrefix(tpl, prefix+"/") {
			return nil
		}
		methods, err := route.GetMethods()
		if err != nil {
			return nil // the subrouter's own prefix route
		}
		for _, m := range methods {
			routed = append(routed, m+" "+strings.TrimPrefix(tpl, prefix))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(documented)
	slices.Sort(routed)
	if len(routed) < 16 {
		t.Fatalf("only %d admin routes found: %v", len(routed), routed)
	}
	for _, r := range routed {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routed, d) {
			t.Errorf("openapi.json documents %s, which is not routed", d)
		}
	}
}

// TestAdminAPIOpenAPIMatchesTypes checks that each object schema of the
// OpenAPI document has exactly the JSON fields of the Go type the API reads
// or writes, so a field added to one (introspect_any) is added to the other.
func TestAdminAPIOpenAPIMatchesTypes(t *testing.T) {
	s, _ := newAdminAPIServer(t, "https://id.example.com")
	w := apiDo(s, "GET", AdminAPIPath+"/openapi.json", "", "")
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	tests := []struct {
		schema string
		typ    any
	}{
		{"Keys", APIKeys{}},
		{"Key", APIKey{}},
		{"Rotation", APIRotation{}},
		{"User", APIUser{}},
		{"NewUser", APINewUser{}},
		{"Client", APIClient{}},
		{"NewClient", APINewClient{}},
		{"AuditPage", APIAuditPage{}},
		{"AuditEntry", APIAuditEntry{}},
	}
	for _, tc := range tests {
		t.Run(tc.schema, func(t *testing.T) {
			sc, ok := doc.Components.Schemas[tc.schema]
			if !ok {
				t.Fatalf("no schema %s", tc.schema)
			}
			var documented, fields []string
			for p := range sc.Properties {
				documented = append(documented, p)
			}
			rt := reflect.TypeOf(tc.typ)
			for i := range rt.NumField() {
				name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
				if name != "" && name != "-" {
					fields = append(fields, name)
				}
			}
			slices.Sort(documented)
			slices.Sort(fields)
			if !slices.Equal(documented, fields) {
				t.Fatalf("schema %s documents %v; %T has %v", tc.schema, documented, tc.typ, fields)
			}
		})
	}
}
