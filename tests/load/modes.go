package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Client identifiers and credentials of the deployment Provision creates.
const (
	ClientES256  = "svc-es256" // client_credentials, tokens signed ES256
	ClientRS256  = "svc-rs256" // client_credentials, tokens signed RS256
	ClientApp    = "app"       // confidential: password, refresh_token
	ClientCompat = "simplejwt" // public: the simplejwt routes
	ClientWeb    = "web"       // confidential, first-party: authorization_code, refresh_token
	appSecret    = "app-secret-0123456789abcdef0123456789"
	// UserPassword is every load user's password.
	UserPassword = "load-test correct horse battery"
	// Audience of the access tokens.
	Audience = "https://api.example.com"
	// WebRedirectURI is ClientWeb's redirect URI: loopback, and never
	// contacted (the soak reads the code from the redirect's Location).
	WebRedirectURI = "http://127.0.0.1/soak/callback"
)

// Deployment is a provisioned Sigil: its URL and client secrets.
type Deployment struct {
	URL     string
	Secrets map[string]string
	Users   []string
}

// Provision registers the load clients and users users (load-0, load-1, ...)
// through the CLI. The server need not run (on bolt it must not).
func Provision(s *Sigil, users int) (*Deployment, error) {
	d := &Deployment{URL: s.URL, Secrets: map[string]string{ClientApp: appSecret}}
	for _, c := range []struct{ id, alg string }{{ClientES256, "ES256"}, {ClientRS256, "RS256"}} {
		sec, err := s.AddClient(c.id, "--grants", "client_credentials", "--scopes", "api", "--audience", Audience, "--signing-alg", c.alg)
		if err != nil {
			return nil, err
		}
		d.Secrets[c.id] = sec
	}
	if _, err := s.CLI(appSecret+"\n", "clients", "add", ClientApp, "--secret-stdin", "--grants", "password,refresh_token",
		"--scopes", "openid,api", "--audience", Audience); err != nil {
		return nil, err
	}
	sec, err := s.AddClient(ClientWeb, "--name", "Soak Web", "--grants", "authorization_code,refresh_token", "--scopes", "openid,api",
		"--audience", Audience, "--redirect-uri", WebRedirectURI, "--first-party")
	if err != nil {
		return nil, err
	}
	d.Secrets[ClientWeb] = sec
	if _, err := s.AddClient(ClientCompat, "--public", "--grants", "password,refresh_token", "--scopes", "api", "--audience", Audience); err != nil {
		return nil, err
	}
	for i := range users {
		name := fmt.Sprintf("load-%d", i)
		if err := s.AddUser(name, UserPassword); err != nil {
			return nil, err
		}
		d.Users = append(d.Users, name)
	}
	return d, nil
}

// User returns the user worker id logs in as.
func (d *Deployment) User(id int) string { return d.Users[id%len(d.Users)] }

// do sends req and decodes a JSON answer into out (if non-nil), failing on
// any status but want.
func do(c *http.Client, req *http.Request, want int, out any) error {
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		msg := string(body)
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return fmt.Errorf("%s %s: status %d: %s", req.Method, req.URL.Path, resp.StatusCode, msg)
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// TokenResponse is the part of an RFC 6749 token response the modes use.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

// Token POSTs form to the token endpoint as client id (with secret when
// non-empty, else as a public client).
func (d *Deployment) Token(ctx context.Context, c *http.Client, id string, form url.Values) (TokenResponse, error) {
	secret := d.Secrets[id]
	if secret == "" {
		form.Set("client_id", id)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return TokenResponse{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	var tr TokenResponse
	if err := do(c, req, http.StatusOK, &tr); err != nil {
		return TokenResponse{}, err
	}
	if tr.AccessToken == "" {
		return TokenResponse{}, fmt.Errorf("token response without access_token")
	}
	return tr, nil
}

// Login runs the password grant for user as ClientApp.
func (d *Deployment) Login(ctx context.Context, c *http.Client, user string) (TokenResponse, error) {
	return d.Token(ctx, c, ClientApp, url.Values{"grant_type": {"password"}, "username": {user}, "password": {UserPassword}, "scope": {"api"}})
}

// Refresh runs the refresh_token grant as ClientApp.
func (d *Deployment) Refresh(ctx context.Context, c *http.Client, rt string) (TokenResponse, error) {
	tr, err := d.Token(ctx, c, ClientApp, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
	if err == nil && tr.RefreshToken == "" {
		err = fmt.Errorf("refresh response without refresh_token")
	}
	return tr, err
}

// ClientCredentials gets a token for client id.
func (d *Deployment) ClientCredentials(ctx context.Context, c *http.Client, id string) (TokenResponse, error) {
	return d.Token(ctx, c, id, url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}})
}

// SimpleJWTPair is the answer of /api/token/ and /api/token/refresh/.
type SimpleJWTPair struct {
	Access  string `json:"access"`
	Refresh string `json:"refresh"`
}

func (d *Deployment) postJSON(ctx context.Context, c *http.Client, path string, in, out any) error {
	b, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.URL+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	return do(c, req, http.StatusOK, out)
}

// SimpleJWTObtain is POST /api/token/.
func (d *Deployment) SimpleJWTObtain(ctx context.Context, c *http.Client, user string) (SimpleJWTPair, error) {
	var p SimpleJWTPair
	err := d.postJSON(ctx, c, "/api/token/", map[string]string{"username": user, "password": UserPassword}, &p)
	if err == nil && (p.Access == "" || p.Refresh == "") {
		err = fmt.Errorf("simplejwt obtain: incomplete pair")
	}
	return p, err
}

// SimpleJWTRefresh is POST /api/token/refresh/.
func (d *Deployment) SimpleJWTRefresh(ctx context.Context, c *http.Client, refresh string) (SimpleJWTPair, error) {
	var p SimpleJWTPair
	err := d.postJSON(ctx, c, "/api/token/refresh/", map[string]string{"refresh": refresh}, &p)
	if err == nil && (p.Access == "" || p.Refresh == "") {
		err = fmt.Errorf("simplejwt refresh: incomplete pair")
	}
	return p, err
}

// SimpleJWTVerify is POST /api/token/verify/.
func (d *Deployment) SimpleJWTVerify(ctx context.Context, c *http.Client, token string) error {
	return d.postJSON(ctx, c, "/api/token/verify/", map[string]string{"token": token}, nil)
}

// JWKS fetches the JWKS; with etag set it expects 304.
func (d *Deployment) JWKS(ctx context.Context, c *http.Client, etag string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL+"/.well-known/jwks.json", nil)
	if err != nil {
		return "", err
	}
	want := http.StatusOK
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
		want = http.StatusNotModified
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return "", fmt.Errorf("GET jwks: status %d, want %d", resp.StatusCode, want)
	}
	return resp.Header.Get("ETag"), nil
}

// Mode is one kind of request the bench measures.
type Mode struct {
	Name string
	// Floor names the floor its server CPU is compared with (see Floors).
	Floor string
	// Bracket: the floor is measured again just before and just after
	// the mode, and the ratio uses their mean instead of the floor of the
	// start of the run (for a mode whose ratio has a goal close to 1).
	Bracket bool
	Setup   func(ctx context.Context, w *Worker) error
	Op      Op
}

// Modes returns every bench mode against d.
func Modes(d *Deployment) []Mode {
	var etag string
	chain := func(ctx context.Context, w *Worker) error {
		tr, err := d.Login(ctx, w.Client, d.User(w.ID))
		w.State = tr.RefreshToken
		return err
	}
	sjChain := func(ctx context.Context, w *Worker) error {
		p, err := d.SimpleJWTObtain(ctx, w.Client, d.User(w.ID))
		w.State = p
		return err
	}
	return []Mode{
		{Name: "jwks 200", Floor: FloorGET, Op: func(ctx context.Context, w *Worker) error {
			_, err := d.JWKS(ctx, w.Client, "")
			return err
		}},
		{Name: "jwks 304", Floor: FloorGET,
			Setup: func(ctx context.Context, w *Worker) (err error) {
				if etag == "" {
					etag, err = d.JWKS(ctx, w.Client, "")
				}
				return err
			},
			Op: func(ctx context.Context, w *Worker) error {
				_, err := d.JWKS(ctx, w.Client, etag)
				return err
			}},
		{Name: "client_credentials ES256", Floor: FloorPOSTP256, Bracket: true, Op: func(ctx context.Context, w *Worker) error {
			_, err := d.ClientCredentials(ctx, w.Client, ClientES256)
			return err
		}},
		{Name: "client_credentials RS256", Floor: FloorPOSTRSA, Op: func(ctx context.Context, w *Worker) error {
			_, err := d.ClientCredentials(ctx, w.Client, ClientRS256)
			return err
		}},
		{Name: "password", Floor: FloorArgon2, Op: func(ctx context.Context, w *Worker) error {
			_, err := d.Login(ctx, w.Client, d.User(w.ID))
			return err
		}},
		{Name: "refresh", Floor: FloorPOSTP256, Setup: chain, Op: func(ctx context.Context, w *Worker) error {
			tr, err := d.Refresh(ctx, w.Client, w.State.(string))
			if err != nil {
				_ = chain(ctx, w) // start a new session so the run goes on
				return err
			}
			w.State = tr.RefreshToken
			return nil
		}},
		{Name: "simplejwt obtain", Floor: FloorArgon2, Op: func(ctx context.Context, w *Worker) error {
			_, err := d.SimpleJWTObtain(ctx, w.Client, d.User(w.ID))
			return err
		}},
		{Name: "simplejwt refresh", Floor: FloorPOSTP256, Setup: sjChain, Op: func(ctx context.Context, w *Worker) error {
			p, err := d.SimpleJWTRefresh(ctx, w.Client, w.State.(SimpleJWTPair).Refresh)
			if err != nil {
				_ = sjChain(ctx, w)
				return err
			}
			w.State = p
			return nil
		}},
		{Name: "simplejwt verify", Floor: FloorPOSTP256v, Setup: sjChain, Op: func(ctx context.Context, w *Worker) error {
			return d.SimpleJWTVerify(ctx, w.Client, w.State.(SimpleJWTPair).Access)
		}},
	}
}
