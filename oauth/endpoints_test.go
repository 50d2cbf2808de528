package oauth

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sigilauth/sigil/keys/keystest"
	"github.com/sigilauth/sigil/storage"
)

// forge builds tokens that must all be refused by userinfo and
// introspection.
func forge(t *testing.T, e *env, good string) map[string]string {
	t.Helper()
	_, claims := decodeJWT(t, good)
	payload, _ := json.Marshal(claims)
	hdr := func(m map[string]any) []byte { b, _ := json.Marshal(m); return b }
	sign := func(h map[string]any, alg string) string {
		tok, err := keystest.Sign(hdr(h), payload, alg)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	parts := strings.Split(good, ".")
	tampered := map[string]any{}
	for k, v := range claims {
		tampered[k] = v
	}
	tampered["sub"] = "1"
	tp, _ := json.Marshal(tampered)
	return map[string]string{
		"alg none":           sign(map[string]any{"alg": "none", "kid": keystest.KidEC, "typ": "at+jwt"}, "none"),
		"HS256 with pub key": sign(map[string]any{"alg": "HS256", "kid": keystest.KidEC, "typ": "at+jwt"}, "HS256"),
		"alg mismatch":       sign(map[string]any{"alg": "RS256", "kid": keystest.KidEC, "typ": "at+jwt"}, "RS256"),
		"unknown kid":        sign(map[string]any{"alg": "ES256", "kid": "other", "typ": "at+jwt"}, "ES256"),
		"no kid":             sign(map[string]any{"alg": "ES256", "typ": "at+jwt"}, "ES256"),
		"embedded jwk":       sign(map[string]any{"alg": "ES256", "kid": keystest.KidEC, "typ": "at+jwt", "jwk": map[string]string{"kty": "EC"}}, "ES256"),
		"jku":                sign(map[string]any{"alg": "ES256", "kid": keystest.KidEC, "typ": "at+jwt", "jku": "https://evil/jwks"}, "ES256"),
		"crit":               sign(map[string]any{"alg": "ES256", "kid": keystest.KidEC, "typ": "at+jwt", "crit": []string{"exp"}}, "ES256"),
		"id token typ":       sign(map[string]any{"alg": "ES256", "kid": keystest.KidEC, "typ": "JWT"}, "ES256"),
		"no typ":             sign(map[string]any{"alg": "ES256", "kid": keystest.KidEC}, "ES256"),
		"tampered payload":   parts[0] + "." + base64.RawURLEncoding.EncodeToString(tp) + "." + parts[2],
		"truncated":          parts[0] + "." + parts[1],
		"garbage":            "not.a.jwt",
		"huge":               strings.Repeat("a", 9000) + ".b.c",
	}
}

func TestUserInfo(t *testing.T) {
	e := newEnv(t, nil)
	r := e.login("openid profile")
	info, err := e.svc.UserInfo(e.ctx, r.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if info.Subject != "42" || info.Name != "Alice Liddell" || info.PreferredUsername != "alice" || info.Email != "" {
		t.Fatalf("userinfo %+v", info)
	}
	b, _ := json.Marshal(info)
	for _, k := range []string{`"iss"`, `"aud"`, `"exp"`} {
		if strings.Contains(string(b), k) {
			t.Fatalf("userinfo carries token claim %s: %s", k, b)
		}
	}

	for name, tok := range forge(t, e, r.AccessToken) {
		t.Run(name, func(t *testing.T) {
			_, err := e.svc.UserInfo(e.ctx, tok)
			got := wantErr(t, err, CodeInvalidToken, http.StatusUnauthorized)
			if !strings.HasPrefix(got.Challenge, `Bearer error="invalid_token"`) {
				t.Fatalf("challenge %q", got.Challenge)
			}
		})
	}
	t.Run("real id token", func(t *testing.T) {
		_, err := e.svc.UserInfo(e.ctx, r.IDToken)
		wantErr(t, err, CodeInvalidToken, 401)
	})
	t.Run("refresh token", func(t *testing.T) {
		_, err := e.svc.UserInfo(e.ctx, r.RefreshToken)
		wantErr(t, err, CodeInvalidToken, 401)
	})
	t.Run("missing", func(t *testing.T) {
		_, err := e.svc.UserInfo(e.ctx, "")
		got := wantErr(t, err, CodeInvalidRequest, 401)
		if got.Challenge != `Bearer realm="sigil"` {
			t.Fatalf("challenge %q", got.Challenge)
		}
	})
	t.Run("no openid scope", func(t *testing.T) {
		r := e.login("profile")
		_, err := e.svc.UserInfo(e.ctx, r.AccessToken)
		wantErr(t, err, CodeInsufficientScope, http.StatusForbidden)
	})
	t.Run("client credentials token", func(t *testing.T) {
		r, err := e.svc.Token(e.ctx, TokenRequest{GrantType: GrantClientCredentials, Client: basic(ccID, ccSecret)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.UserInfo(e.ctx, r.AccessToken)
		wantErr(t, err, CodeInsufficientScope, http.StatusForbidden)
	})
	t.Run("revoked key", func(t *testing.T) {
		r := e.login("openid")
		e.keys.Revoke(keystest.KidEC)
		defer e.keys.Restore(keystest.KidEC)
		_, err := e.svc.UserInfo(e.ctx, r.AccessToken)
		wantErr(t, err, CodeInvalidToken, 401)
	})
	t.Run("expired", func(t *testing.T) {
		r := e.login("openid")
		e.clock.Advance(5 * time.Minute)
		defer e.clock.Advance(-5 * time.Minute)
		_, err := e.svc.UserInfo(e.ctx, r.AccessToken)
		if got := wantErr(t, err, CodeInvalidToken, 401); got.Reason != ReasonTokenExpired {
			t.Fatalf("reason %s", got.Reason)
		}
	})
	t.Run("other issuer", func(t *testing.T) {
		other, err := New(Config{Issuer: "https://other.test"}, e.store, e.keys, e.hasher, WithClock(e.clock.Now))
		if err != nil {
			t.Fatal(err)
		}
		_, err = other.UserInfo(e.ctx, r.AccessToken)
		wantErr(t, err, CodeInvalidToken, 401)
	})
	t.Run("disabled user", func(t *testing.T) {
		r := e.login("openid")
		_ = e.store.Store.SetUserDisabled(e.ctx, "42", true, e.clock.Now())
		defer func() { _ = e.store.Store.SetUserDisabled(e.ctx, "42", false, e.clock.Now()) }()
		_, err := e.svc.UserInfo(e.ctx, r.AccessToken)
		wantErr(t, err, CodeInvalidToken, 401)
	})
	t.Run("RS256 token", func(t *testing.T) {
		if err := e.store.Store.CreateClient(e.ctx, withAlg(storageClient("rsa", true, "password"), "RS256")); err != nil {
			t.Fatal(err)
		}
		r, err := e.svc.Token(e.ctx, TokenRequest{GrantType: GrantPassword, Client: ClientCredentials{ID: "rsa"}, Username: "alice", Password: userPW, Scope: "openid"})
		if err != nil {
			t.Fatal(err)
		}
		if h, _ := decodeJWT(t, r.AccessToken); h["alg"] != "RS256" {
			t.Fatalf("alg %v", h["alg"])
		}
		if _, err := e.svc.UserInfo(e.ctx, r.AccessToken); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRevokeAndIntrospect(t *testing.T) {
	e := newEnv(t, nil)
	web := basic(confID, confSecret)
	r := e.login("openid api:read")

	in, err := e.svc.Introspect(e.ctx, IntrospectRequest{Client: web, Token: r.AccessToken})
	if err != nil {
		t.Fatal(err)
	}
	if !in.Active || in.Subject != "42" || in.ClientID != confID || in.Scope != "openid api:read" || in.TokenType != "Bearer" || in.JTI == "" {
		t.Fatalf("access introspection %+v", in)
	}
	in, err = e.svc.Introspect(e.ctx, IntrospectRequest{Client: web, Token: r.RefreshToken})
	if err != nil {
		t.Fatal(err)
	}
	if !in.Active || in.Subject != "42" || in.Username != "alice" || in.TokenType != "refresh_token" {
		t.Fatalf("refresh introspection %+v", in)
	}

	// Revoking the access token puts its jti on the deny list.
	if err := e.svc.Revoke(e.ctx, RevokeRequest{Client: web, Token: r.AccessToken}); err != nil {
		t.Fatal(err)
	}
	if in, _ := e.svc.Introspect(e.ctx, IntrospectRequest{Client: web, Token: r.AccessToken}); in.Active {
		t.Fatal("revoked access token still active")
	}
	if _, err := e.svc.UserInfo(e.ctx, r.AccessToken); AsError(err) == nil || AsError(err).Reason != ReasonTokenRevoked {
		t.Fatalf("userinfo with revoked token: %v", err)
	}
	// Revoking the refresh token ends the family.
	if err := e.svc.Revoke(e.ctx, RevokeRequest{Client: web, Token: r.RefreshToken, TokenTypeHint: "refresh_token"}); err != nil {
		t.Fatal(err)
	}
	if in, _ := e.svc.Introspect(e.ctx, IntrospectRequest{Client: web, Token: r.RefreshToken}); in.Active {
		t.Fatal("revoked refresh token still active")
	}
	_, err = e.refresh(r.RefreshToken)
	wantErr(t, err, CodeInvalidGrant, 400)

	tests := []struct {
		name   string
		req    RevokeRequest
		code   string
		status int
	}{
		{name: "unknown token", req: RevokeRequest{Client: web, Token: "whatever"}},
		{name: "unknown refresh-shaped token", req: RevokeRequest{Client: web, Token: mustNewRefresh()}},
		{name: "already revoked", req: RevokeRequest{Client: web, Token: r.RefreshToken}},
		{name: "missing token", req: RevokeRequest{Client: web}, code: CodeInvalidRequest, status: 400},
		{name: "bad client", req: RevokeRequest{Client: basic(confID, "x"), Token: "t"}, code: CodeInvalidClient, status: 401},
		{name: "other client's refresh token", req: RevokeRequest{Client: ClientCredentials{ID: pubID}, Token: e.login("").RefreshToken}, code: CodeUnauthorizedClient, status: 400},
		{name: "other client's access token", req: RevokeRequest{Client: ClientCredentials{ID: pubID}, Token: e.login("").AccessToken}, code: CodeUnauthorizedClient, status: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := e.svc.Revoke(e.ctx, tc.req)
			if tc.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, tc.code, tc.status)
		})
	}
}

func mustNewRefresh() string { t, _ := newRefreshToken(newFamilyID()); return t }

func withAlg(c storage.Client, alg string) storage.Client { c.TokenSigningAlg = alg; return c }

var ipv4 = netip.MustParseAddr("192.0.2.99")

func TestIntrospectRules(t *testing.T) {
	e := newEnv(t, nil)
	// The tokens' own client asks, so inactive answers come from the
	// tokens, not from introspection rights.
	cc := basic(confID, confSecret)
	r := e.login("openid")
	used := e.login("")
	if _, err := e.refresh(used.RefreshToken); err != nil {
		t.Fatal(err)
	}
	inactive := map[string]string{"garbage": "garbage", "id token": r.IDToken, "used refresh": used.RefreshToken, "unknown refresh": mustNewRefresh()}
	for name, tok := range forge(t, e, r.AccessToken) {
		inactive["forged "+name] = tok
	}
	for name, tok := range inactive {
		t.Run(name, func(t *testing.T) {
			in, err := e.svc.Introspect(e.ctx, IntrospectRequest{Client: cc, Token: tok})
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(in)
			if string(b) != `{"active":false}` {
				t.Fatalf("inactive token answered %s", b)
			}
		})
	}
	t.Run("public client refused", func(t *testing.T) {
		_, err := e.svc.Introspect(e.ctx, IntrospectRequest{Client: ClientCredentials{ID: pubID}, Token: r.AccessToken})
		if got := wantErr(t, err, CodeInvalidClient, 401); got.Description != clientAuthFailed {
			t.Fatalf("description %q, want the one %q", got.Description, clientAuthFailed)
		}
	})
	t.Run("missing token", func(t *testing.T) {
		_, err := e.svc.Introspect(e.ctx, IntrospectRequest{Client: cc})
		wantErr(t, err, CodeInvalidRequest, 400)
	})
	t.Run("storage down is 503 not inactive", func(t *testing.T) {
		e.store.failOnly.Store("IsAccessTokenDenied", true)
		e.store.failOnly.Store("GetFamily", true)
		e.store.failing.Store(true)
		defer e.store.failing.Store(false)
		for _, tok := range []string{r.AccessToken, r.RefreshToken} {
			_, err := e.svc.Introspect(e.ctx, IntrospectRequest{Client: cc, Token: tok})
			wantErr(t, err, CodeTemporarilyUnavailable, 503)
		}
	})
}

func TestRevokeStorageFailureIs503(t *testing.T) {
	for _, method := range []string{"GetFamily", "RevokeFamily", "DenyAccessToken"} {
		t.Run(method, func(t *testing.T) {
			e := newEnv(t, nil)
			r := e.login("")
			tok := r.RefreshToken
			if method == "DenyAccessToken" {
				tok = r.AccessToken
			}
			e.store.failOnly.Store(method, true)
			e.store.failing.Store(true)
			err := e.svc.Revoke(e.ctx, RevokeRequest{Client: basic(confID, confSecret), Token: tok})
			wantErr(t, err, CodeTemporarilyUnavailable, 503)
		})
	}
}

func TestSimpleJWTOperations(t *testing.T) {
	e := newEnv(t, nil)
	pair, err := e.svc.SimpleJWTObtain(e.ctx, "alice", userPW, ipv4)
	if err != nil {
		t.Fatal(err)
	}
	if pair.Access == "" || !looksLikeRefreshToken(pair.Refresh) {
		t.Fatalf("pair %+v", pair)
	}
	_, c := decodeJWT(t, pair.Access)
	if c["token_type"] != "access" || toString(c["user_id"]) != "42" || c["client_id"] != compatID {
		t.Fatalf("claims %v", c)
	}
	if err := e.svc.SimpleJWTVerify(e.ctx, pair.Access); err != nil {
		t.Fatalf("verify access: %v", err)
	}
	if err := e.svc.SimpleJWTVerify(e.ctx, pair.Refresh); err != nil {
		t.Fatalf("verify refresh: %v", err)
	}
	next, err := e.svc.SimpleJWTRefresh(e.ctx, pair.Refresh)
	if err != nil {
		t.Fatal(err)
	}
	reason := func(err error) Reason {
		if e := AsError(err); e != nil {
			return e.Reason
		}
		return "not an *Error"
	}
	if got := reason(e.svc.SimpleJWTVerify(e.ctx, pair.Refresh)); got != ReasonTokenRevoked {
		t.Fatalf("verify used refresh: %s", got)
	}
	if err := e.svc.SimpleJWTBlacklist(e.ctx, next.Refresh); err != nil {
		t.Fatal(err)
	}
	if got := reason(e.svc.SimpleJWTBlacklist(e.ctx, next.Refresh)); got != ReasonTokenRevoked {
		t.Fatalf("blacklist twice: %s", got)
	}
	if _, err := e.svc.SimpleJWTRefresh(e.ctx, next.Refresh); reason(err) != ReasonTokenRevoked {
		t.Fatalf("refresh blacklisted: %v", err)
	}
	if got := reason(e.svc.SimpleJWTVerify(e.ctx, "nonsense")); got != ReasonTokenInvalid {
		t.Fatalf("verify garbage: %s", got)
	}
	e.clock.Advance(10 * time.Minute)
	if got := reason(e.svc.SimpleJWTVerify(e.ctx, pair.Access)); got != ReasonTokenExpired {
		t.Fatalf("verify expired: %s", got)
	}
	if _, err := e.svc.SimpleJWTObtain(e.ctx, "alice", "nope", ipv4); reason(err) != ReasonBadCredentials {
		t.Fatalf("obtain bad password: %v", err)
	}
	// A refresh token of another client is not the compat client's.
	other := e.login("")
	if got := reason(e.svc.SimpleJWTBlacklist(e.ctx, other.RefreshToken)); got != ReasonTokenInvalid {
		t.Fatalf("blacklist other client's token: %s", got)
	}
	if _, err := e.svc.SimpleJWTRefresh(e.ctx, other.RefreshToken); reason(err) != ReasonTokenInvalid {
		t.Fatalf("refresh other client's token: %v", err)
	}
}

func TestSimpleJWTMisconfigured(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.CompatClientID = "missing" })
	_, err := e.svc.SimpleJWTObtain(e.ctx, "alice", userPW, ipv4)
	if got := wantErr(t, err, CodeServerError, 500); got.Reason != ReasonMisconfigured {
		t.Fatalf("reason %s", got.Reason)
	}
	off := newEnv(t, func(c *Config) { c.SimpleJWT = false })
	if _, err := off.svc.SimpleJWTObtain(off.ctx, "alice", userPW, ipv4); err == nil {
		t.Fatal("simplejwt obtain while off")
	}
}
