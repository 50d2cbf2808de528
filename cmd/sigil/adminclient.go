package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/oauth"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/web"
)

// Environment variables holding the admin API client's credentials for
// --server (a client registered with client_credentials and sigil:admin).
const (
	adminClientIDEnv     = "SIGIL_ADMIN_CLIENT_ID"
	adminClientSecretEnv = "SIGIL_ADMIN_CLIENT_SECRET"
)

// adminHTTPTimeout bounds each request of the CLI to a server.
const adminHTTPTimeout = 30 * time.Second

// adminClient calls the admin API of the running server named by --server
// with an access token from the client_credentials grant.
type adminClient struct {
	base  string // the issuer URL, without a trailing slash
	http  *http.Client
	token string
}

// remote reports whether --server was given.
func (a *app) remote() bool { return a.server != "" }

// adminClient checks --server and the credentials and gets a token. Missing
// credentials or a bad URL are bad input (exit 2).
func (a *app) adminClient(ctx context.Context) (*adminClient, error) {
	u, err := url.Parse(a.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, usagef("--server must be the server's issuer URL (http or https), got %q", a.server)
	}
	id, secret := a.getenv(adminClientIDEnv), a.getenv(adminClientSecretEnv)
	if id == "" || secret == "" {
		return nil, usagef("--server needs %s and %s (a client with client_credentials and the sigil:admin scope)", adminClientIDEnv, adminClientSecretEnv)
	}
	c := &adminClient{base: strings.TrimSuffix(a.server, "/"), http: &http.Client{Timeout: adminHTTPTimeout}}
	form := url.Values{"grant_type": {oauth.GrantClientCredentials}, "scope": {oauth.ScopeAdmin}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/oauth2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, usageError(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, failure(fmt.Errorf("get an admin token from %s: %w", c.base, err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		var oe struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(body, &oe)
		msg := fmt.Sprintf("get an admin token from %s: %d %s %s", c.base, resp.StatusCode, oe.Error, oe.Description)
		if resp.StatusCode >= 500 {
			return nil, failure(errors.New(msg))
		}
		return nil, usagef("%s", msg)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return nil, failure(fmt.Errorf("get an admin token from %s: malformed answer", c.base))
	}
	c.token = tr.AccessToken
	return c, nil
}

// do calls the admin API: method on path (relative to /admin/api/v1) with
// in as the JSON body (nil: none), decoding a 2xx answer into out (nil:
// ignored). A 4xx answer is bad input (exit 2), anything else a failure
// (exit 1); the message is the problem's detail.
func (c *adminClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return failure(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+web.AdminAPIPath+path, body)
	if err != nil {
		return usageError(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return failure(fmt.Errorf("%s %s: %w", method, path, err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return failure(fmt.Errorf("%s %s: %w", method, path, err))
	}
	if resp.StatusCode >= 300 {
		var p web.Problem
		detail := ""
		if json.Unmarshal(data, &p) == nil {
			detail = p.Detail
		}
		if detail == "" {
			detail = http.StatusText(resp.StatusCode)
		}
		msg := fmt.Errorf("server answered %d: %s", resp.StatusCode, detail)
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			return usageError(msg)
		}
		return failure(msg)
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(data, out); err != nil {
			return failure(fmt.Errorf("%s %s: malformed answer: %w", method, path, err))
		}
	}
	return nil
}

// adminPath escapes a path segment.
func adminPath(format string, segments ...string) string {
	args := make([]any, len(segments))
	for i, s := range segments {
		args[i] = url.PathEscape(s)
	}
	return fmt.Sprintf(format, args...)
}

// addServerFlag adds the persistent --server flag to a command group.
func addServerFlag(a *app, cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&a.server, "server", "",
		"issuer URL of a running server: act through its admin API with the client in $"+adminClientIDEnv+" and $"+adminClientSecretEnv+" instead of opening storage")
}

// localAdmin returns the account operations over s, acting as the
// operator, with the configured password hasher.
func localAdmin(cfg configs.Config, s storage.Store, now func() time.Time) *oauth.Admin {
	return oauth.NewAdmin(s, oauth.Argon2id(argon2Params(cfg)), oauth.AdminConfig{
		Replica: replicaName(), Algorithms: cfg.Keys.Algorithms, Now: now,
	})
}

// adminFailure classifies an error of oauth.Admin: a refusal is bad input
// (exit 2), anything else a failure (exit 1).
func adminFailure(err error) error {
	var ae *oauth.AdminError
	if errors.As(err, &ae) {
		return usageError(err)
	}
	return failure(err)
}

// notRemote refuses a verb that works on storage only when --server is
// given.
func (a *app) notRemote(verb string) error {
	if a.remote() {
		return usagef("%s works on storage directly; it has no --server form", verb)
	}
	return nil
}
