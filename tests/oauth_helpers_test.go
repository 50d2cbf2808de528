package tests

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/backend"
)

// Clients and users every token-service test starts with.
const (
	webSecret  = "web-secret-0123456789abcdef0123456789"
	alicePW    = "alice's correct horse"
	bobPW      = "bob's battery staple"
	apiAud     = "https://api.example.com"
	oauthAlgs  = "[ES256]"
	webID      = "web"
	publicID   = "cli"
	compatName = "simplejwt"
)

// oauthEnv is a deployment with clients web (confidential: password,
// refresh_token; scopes openid profile email api), cli (public: password,
// refresh_token; openid profile) and simplejwt (public: password), and
// users alice and bob.
type oauthEnv struct {
	*Env
	srv *Server
}

// newOAuthEnv prepares (but does not start) an environment. overrides are
// merged over the defaults (ES256 only, simplejwt on).
func newOAuthEnv(t *testing.T, b Backend, overrides map[string]string) *oauthEnv {
	t.Helper()
	v := map[string]string{
		"keys.algorithms":  oauthAlgs,
		"compat.simplejwt": "true",
		"compat.client_id": compatName,
	}
	for k, val := range overrides {
		v[k] = val
	}
	e := &oauthEnv{Env: NewEnv(t, b, v)}
	e.MustCLI(webSecret+"\n", "clients", "add", webID, "--secret-stdin", "--grants", "password,refresh_token",
		"--scopes", "openid,profile,email,api", "--audience", apiAud)
	e.MustCLI("", "clients", "add", publicID, "--public", "--grants", "password,refresh_token", "--scopes", "openid,profile")
	e.MustCLI("", "clients", "add", compatName, "--public", "--grants", "password,refresh_token", "--scopes", "api")
	e.MustCLI(alicePW+"\n", "users", "add", "alice", "--password-stdin", "--email", "alice@example.com", "--name", "Alice Liddell")
	e.MustCLI(bobPW+"\n", "users", "add", "bob", "--password-stdin")
	return e
}

// start starts (or restarts) the server.
func (e *oauthEnv) start() *Server {
	e.t.Helper()
	e.srv = e.Start()
	return e.srv
}

// offline runs fn with the server stopped (bolt allows one process at a
// time), then restarts it.
func (e *oauthEnv) offline(t *testing.T, fn func()) {
	t.Helper()
	e.srv.Stop(t)
	fn()
	e.start()
}

// store opens the deployment's storage directly. For bolt the server must
// be stopped.
func (e *oauthEnv) store(t *testing.T) storage.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := e.OpenStore(ctx)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// OpenStore opens the deployment's storage directly, through the opener the
// CLI uses. For bolt the server must be stopped (it waits up to 5 s for the
// file lock). The caller closes the store.
func (e *Env) OpenStore(ctx context.Context) (storage.Store, error) {
	return backend.Open(ctx, backend.Options{
		Backend:         string(e.Backend),
		BoltPath:        e.values["storage.bolt_path"],
		BoltLockTimeout: 5 * time.Second,
		MongoURI:        e.values["storage.mongo_uri"],
		MongoDatabase:   e.values["storage.mongo_database"],
	})
}

// response is a decoded HTTP answer.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r response) str(k string) string { s, _ := r.body[k].(string); return s }

// call sends a request and decodes a JSON answer (body is nil otherwise).
func call(t *testing.T, method, u, contentType, body string, hdr map[string]string) response {
	t.Helper()
	r, err := send(method, u, contentType, body, hdr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// send is call without a test: an error building or sending the request is
// returned. The body is what could be read, even if reading it failed.
func send(method, u, contentType, body string, hdr map[string]string) (response, error) {
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	_ = json.Unmarshal(raw, &r.body)
	return r, nil
}

// post sends a form to path with optional Basic client credentials
// (id "" for none).
func (e *oauthEnv) post(t *testing.T, path string, form url.Values, id, secret string) response {
	t.Helper()
	hdr := map[string]string{}
	if id != "" {
		hdr["Authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	}
	return call(t, http.MethodPost, e.srv.URL+path, "application/x-www-form-urlencoded", form.Encode(), hdr)
}

// postJSON sends a JSON body.
func (e *oauthEnv) postJSON(t *testing.T, path string, v any) response {
	t.Helper()
	b, _ := json.Marshal(v)
	return call(t, http.MethodPost, e.srv.URL+path, "application/json", string(b), nil)
}

// login runs the password grant for user as the web client.
func (e *oauthEnv) login(t *testing.T, user, pw, scope string) response {
	t.Helper()
	r := e.post(t, "/oauth2/token", url.Values{"grant_type": {"password"}, "username": {user}, "password": {pw}, "scope": {scope}}, webID, webSecret)
	if r.status != 200 {
		t.Fatalf("login %s: %d %s", user, r.status, r.raw)
	}
	return r
}

// refresh runs the refresh grant as the web client.
func (e *oauthEnv) refresh(t *testing.T, rt string) response {
	t.Helper()
	return e.post(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, webID, webSecret)
}

// wantOAuthError checks an RFC 6749 error answer.
func wantOAuthError(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status || r.str("error") != code {
		t.Fatalf("got %d %s, want %d %s", r.status, r.raw, status, code)
	}
	if r.header.Get("Cache-Control") != "no-store" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("error headers %v", r.header)
	}
}

// verifyJWT checks tok's signature against the server's JWKS and returns
// its header and claims.
func (e *oauthEnv) verifyJWT(t *testing.T, tok string) (jose.Header, map[string]any) {
	t.Helper()
	status, _, body := get(t, e.srv.URL+"/.well-known/jwks.json", nil)
	if status != 200 {
		t.Fatalf("JWKS status %d", status)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	h := jws.Signatures[0].Protected
	keys := set.Key(h.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in JWKS", h.KeyID)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		t.Fatalf("signature: %v", err)
	}
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	var claims map[string]any
	if err := d.Decode(&claims); err != nil {
		t.Fatal(err)
	}
	return h, claims
}
