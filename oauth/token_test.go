package oauth

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sigilauth/sigil/keys/keystest"
)

func TestTokenClientAuthentication(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name          string
		client        ClientCredentials
		wantCode      string
		wantChallenge bool
	}{
		{name: "basic", client: basic(confID, confSecret)},
		{name: "post", client: ClientCredentials{ID: confID, Secret: confSecret}},
		{name: "public none", client: ClientCredentials{ID: pubID}},
		{name: "public basic empty secret", client: basic(pubID, "")},
		{name: "wrong secret basic", client: basic(confID, confSecret+"x"), wantCode: CodeInvalidClient, wantChallenge: true},
		{name: "wrong secret post", client: ClientCredentials{ID: confID, Secret: "nope"}, wantCode: CodeInvalidClient},
		{name: "missing secret", client: ClientCredentials{ID: confID}, wantCode: CodeInvalidClient},
		{name: "unknown client", client: basic("ghost", confSecret), wantCode: CodeInvalidClient, wantChallenge: true},
		{name: "no client", client: ClientCredentials{}, wantCode: CodeInvalidClient},
		{name: "public with secret", client: ClientCredentials{ID: pubID, Secret: "x"}, wantCode: CodeInvalidClient},
		{name: "huge client id", client: ClientCredentials{ID: strings.Repeat("a", 300)}, wantCode: CodeInvalidClient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Token(e.ctx, TokenRequest{GrantType: GrantPassword, Client: tc.client, Username: "alice", Password: userPW, Scope: "openid"})
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			er := wantErr(t, err, tc.wantCode, http.StatusUnauthorized)
			// One description for every failure: nothing tells which ids
			// exist or what kind of client they are.
			if er.Description != clientAuthFailed {
				t.Fatalf("description %q, want the one %q", er.Description, clientAuthFailed)
			}
			if got := er.Challenge != ""; got != tc.wantChallenge {
				t.Fatalf("challenge %q, want present=%v", er.Challenge, tc.wantChallenge)
			}
		})
	}
}

func TestTokenRequestValidation(t *testing.T) {
	e := newEnv(t, nil)
	web := basic(confID, confSecret)
	tests := []struct {
		name string
		req  TokenRequest
		code string
	}{
		{name: "missing grant_type", req: TokenRequest{Client: web}, code: CodeInvalidRequest},
		{name: "unknown grant_type", req: TokenRequest{GrantType: "urn:ietf:params:oauth:grant-type:device_code", Client: web}, code: CodeUnsupportedGrantType},
		{name: "grant not registered", req: TokenRequest{GrantType: GrantClientCredentials, Client: web}, code: CodeUnauthorizedClient},
		{name: "password grant not registered", req: TokenRequest{GrantType: GrantPassword, Client: basic(ccID, ccSecret), Username: "alice", Password: userPW}, code: CodeUnauthorizedClient},
		{name: "scope not registered", req: TokenRequest{GrantType: GrantPassword, Client: web, Username: "alice", Password: userPW, Scope: "openid admin"}, code: CodeInvalidScope},
		{name: "scope bad characters", req: TokenRequest{GrantType: GrantPassword, Client: web, Username: "alice", Password: userPW, Scope: `open"id`}, code: CodeInvalidScope},
		{name: "missing username", req: TokenRequest{GrantType: GrantPassword, Client: web, Password: userPW}, code: CodeInvalidRequest},
		{name: "missing password", req: TokenRequest{GrantType: GrantPassword, Client: web, Username: "alice"}, code: CodeInvalidRequest},
		{name: "missing refresh_token", req: TokenRequest{GrantType: GrantRefreshToken, Client: web}, code: CodeInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Token(e.ctx, tc.req)
			wantErr(t, err, tc.code, http.StatusBadRequest)
		})
	}
}

func TestParseScope(t *testing.T) {
	tests := []struct {
		name    string
		raw     string
		want    []string
		wantErr bool
	}{
		{name: "empty", raw: "", want: nil},
		{name: "one", raw: "openid", want: []string{"openid"}},
		{name: "dedupe keeps order", raw: "b a b", want: []string{"b", "a"}},
		{name: "extra spaces", raw: " a  b ", want: []string{"a", "b"}},
		{name: "colon and slash", raw: "api:read https://x/y", want: []string{"api:read", "https://x/y"}},
		{name: "quote", raw: `a"b`, wantErr: true},
		{name: "backslash", raw: `a\b`, wantErr: true},
		{name: "tab", raw: "a\tb", wantErr: true},
		{name: "non-ascii", raw: "é", wantErr: true},
		{name: "too many", raw: manyScopes(65), wantErr: true},
		{name: "64 is fine", raw: manyScopes(64), want: strings.Fields(manyScopes(64))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseScope(tc.raw)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func manyScopes(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("s")
		b.WriteString(strings.Repeat("x", i+1))
		b.WriteString(" ")
	}
	return b.String()
}

func TestPasswordGrantIssuesTokens(t *testing.T) {
	e := newEnv(t, nil)
	now := e.clock.Now()
	r := e.login("openid profile email api:read")
	if r.TokenType != "Bearer" || r.ExpiresIn != 300 || r.Scope != "openid profile email api:read" {
		t.Fatalf("response %+v", r)
	}
	if !strings.HasPrefix(r.RefreshToken, "sgl_rt_") || len(r.RefreshToken) != 73 || !looksLikeRefreshToken(r.RefreshToken) {
		t.Fatalf("refresh token shape %q", r.RefreshToken[:7])
	}
	// Only the hash is stored: the family record holds no part of the
	// token's secret.
	rec := e.family(r.RefreshToken)
	secret := r.RefreshToken[strings.IndexByte(r.RefreshToken, '.')+1:]
	if strings.Contains(fmt.Sprintf("%+v", rec), secret) || rec.CurrentHash != refreshTokenID(r.RefreshToken) {
		t.Fatalf("stored family %+v holds the token or not its hash", rec)
	}
	if rec.ClientID != confID || rec.UserID != "42" || !rec.ExpiresAt.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("stored refresh family %+v", rec)
	}

	h, c := decodeJWT(t, r.AccessToken)
	if h["typ"] != "at+jwt" || h["alg"] != "ES256" || h["kid"] != keystest.KidEC {
		t.Fatalf("access header %v", h)
	}
	want := map[string]string{
		"iss": testIssuer, "sub": "42", "aud": "https://api.test", "client_id": confID,
		"scope": "openid profile email api:read", "token_type": "access", "user_id": "42",
		"exp": jsonInt(now.Add(5 * time.Minute).Unix()), "iat": jsonInt(now.Unix()), "nbf": jsonInt(now.Unix()),
	}
	for k, v := range want {
		if got := toString(c[k]); got != v {
			t.Errorf("access claim %s = %q, want %q", k, got, v)
		}
	}
	if _, isNum := c["user_id"].(json.Number); !isNum {
		t.Errorf("user_id %v is not a JSON number for a numeric user id", c["user_id"])
	}
	if jti, _ := c["jti"].(string); len(jti) < 16 {
		t.Errorf("jti %q too short", jti)
	}

	h, c = decodeJWT(t, r.IDToken)
	if h["typ"] != "JWT" {
		t.Fatalf("id token typ %v", h["typ"])
	}
	atSum := sha256.Sum256([]byte(r.AccessToken))
	if c["at_hash"] != base64.RawURLEncoding.EncodeToString(atSum[:16]) || c["azp"] != confID {
		t.Fatalf("at_hash %v azp %v", c["at_hash"], c["azp"])
	}
	wantID := map[string]string{
		"iss": testIssuer, "sub": "42", "aud": confID, "auth_time": jsonInt(now.Unix()),
		"exp": jsonInt(now.Add(time.Hour).Unix()), "name": "Alice Liddell", "given_name": "Alice",
		"family_name": "Liddell", "preferred_username": "alice", "email": "alice@example.com", "email_verified": "true",
	}
	for k, v := range wantID {
		if got := toString(c[k]); got != v {
			t.Errorf("id claim %s = %q, want %q", k, got, v)
		}
	}
}

func jsonInt(v int64) string { return strconv.FormatInt(v, 10) }

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	case nil:
		return ""
	}
	return string(mustJSON(v))
}

func TestIDTokenClaimsFollowScope(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name    string
		scope   string
		present []string
		absent  []string
		noID    bool
	}{
		{name: "openid only", scope: "openid", absent: []string{"name", "email", "preferred_username"}},
		{name: "profile", scope: "openid profile", present: []string{"name", "given_name", "family_name", "preferred_username"}, absent: []string{"email"}},
		{name: "email", scope: "openid email", present: []string{"email", "email_verified"}, absent: []string{"name"}},
		{name: "no openid", scope: "profile api:read", noID: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.login(tc.scope)
			if tc.noID {
				if r.IDToken != "" {
					t.Fatal("id_token without openid scope")
				}
				return
			}
			_, c := decodeJWT(t, r.IDToken)
			for _, k := range tc.present {
				if _, ok := c[k]; !ok {
					t.Errorf("claim %s missing", k)
				}
			}
			for _, k := range tc.absent {
				if _, ok := c[k]; ok {
					t.Errorf("claim %s present", k)
				}
			}
		})
	}
}

func TestDefaultScopesAndAlgorithm(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SimpleJWT = false; c.CompatClientID = "" })
	r, err := e.svc.Token(e.ctx, TokenRequest{GrantType: GrantPassword, Client: ClientCredentials{ID: pubID}, Username: "alice", Password: userPW})
	if err != nil {
		t.Fatal(err)
	}
	if r.Scope != "openid profile" || r.IDToken == "" {
		t.Fatalf("default scopes: %q, id_token %v", r.Scope, r.IDToken != "")
	}
	_, c := decodeJWT(t, r.AccessToken)
	if _, ok := c["token_type"]; ok {
		t.Error("token_type claim without the simplejwt profile")
	}
	if _, ok := c["user_id"]; ok {
		t.Error("user_id claim without the simplejwt profile")
	}
	if c["aud"] != pubID {
		t.Errorf("aud %v, want the client id when no audience is registered", c["aud"])
	}
}

func TestSimpleJWTUserID(t *testing.T) {
	tests := []struct{ id, want string }{
		{"1", `1`}, {"0", `0`}, {"9007199254740993", `9007199254740993`},
		{"007", `"007"`}, {"-1", `"-1"`}, {"abc", `"abc"`},
		{"550e8400-e29b-41d4-a716-446655440000", `"550e8400-e29b-41d4-a716-446655440000"`},
		{"99999999999999999999", `"99999999999999999999"`}, {"", `""`},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			if got := string(simpleJWTUserID(tc.id)); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestClientCredentialsGrant(t *testing.T) {
	e := newEnv(t, nil)
	svc := basic(ccID, ccSecret)
	r, err := e.svc.Token(e.ctx, TokenRequest{GrantType: GrantClientCredentials, Client: svc})
	if err != nil {
		t.Fatal(err)
	}
	if r.RefreshToken != "" || r.IDToken != "" || r.Scope != "api:read api:write" {
		t.Fatalf("response %+v", r)
	}
	h, c := decodeJWT(t, r.AccessToken)
	if h["alg"] != "RS256" || c["sub"] != ccID || c["client_id"] != ccID {
		t.Fatalf("header %v claims %v", h, c)
	}
	if _, ok := c["user_id"]; ok {
		t.Fatal("user_id on a client token")
	}

	_, err = e.svc.Token(e.ctx, TokenRequest{GrantType: GrantClientCredentials, Client: svc, Scope: "openid"})
	wantErr(t, err, CodeInvalidScope, 400)
	r, err = e.svc.Token(e.ctx, TokenRequest{GrantType: GrantClientCredentials, Client: svc, Scope: "api:write"})
	if err != nil || r.Scope != "api:write" {
		t.Fatalf("narrowed scope: %v %v", r, err)
	}
}

func TestClientCredentialsRefusesPublicClient(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.store.Store.CreateClient(e.ctx, storageClient("pubcc", true, "client_credentials")); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Token(e.ctx, TokenRequest{GrantType: GrantClientCredentials, Client: ClientCredentials{ID: "pubcc"}})
	wantErr(t, err, CodeUnauthorizedClient, 400)
}

func TestNoRefreshTokenWithoutRefreshGrant(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.store.Store.CreateClient(e.ctx, storageClient("norefresh", true, "password")); err != nil {
		t.Fatal(err)
	}
	r, err := e.svc.Token(e.ctx, TokenRequest{GrantType: GrantPassword, Client: ClientCredentials{ID: "norefresh"}, Username: "alice", Password: userPW})
	if err != nil {
		t.Fatal(err)
	}
	if r.RefreshToken != "" {
		t.Fatal("refresh token issued to a client without the refresh_token grant")
	}
}
