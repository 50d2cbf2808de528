package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"math/big"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigilauth/sigil/keys/keystest"
	"github.com/sigilauth/sigil/storage"
)

const (
	appID      = "app" // public, not first-party, back-channel
	firstID    = "first"
	firstSec   = "0123456789abcdef0123456789abcdef-first"
	nocodeID   = "nocode"
	appCB      = "https://app.test/cb"
	appLoop    = "http://127.0.0.1:5555/cb"
	appBye     = "https://app.test/bye"
	firstCB    = "https://first.test/cb"
	testVerif  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-verifier"
	loginAddr  = "192.0.2.1"
	appBCURI   = "https://app.test/backchannel"
	firstBCURI = "https://first.test/backchannel"
)

func challengeOf(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// notifier records logout tokens.
type notifier struct {
	ch chan [2]string
}

func (n *notifier) Notify(_ context.Context, uri, tok string) error {
	n.ch <- [2]string{uri, tok}
	return nil
}

// newSSOEnv is newEnv plus code-flow clients and a recording notifier.
func newSSOEnv(t *testing.T) (*env, *notifier) {
	t.Helper()
	e := newEnv(t, nil)
	n := &notifier{ch: make(chan [2]string, 16)}
	e.svc.notifier = n
	for _, c := range []storage.Client{
		{ID: appID, Name: "The App", Public: true, Grants: []string{"authorization_code", "refresh_token"},
			Scopes: []string{"openid", "profile", "email", "api:read"}, RedirectURIs: []string{appCB, appLoop},
			PostLogoutRedirectURIs: []string{appBye}, BackchannelLogoutURI: appBCURI},
		{ID: firstID, SecretHash: secretHash(firstSec), Grants: []string{"authorization_code"}, FirstParty: true,
			Scopes: []string{"openid", "profile"}, RedirectURIs: []string{firstCB}, BackchannelLogoutURI: firstBCURI},
		{ID: nocodeID, Public: true, Grants: []string{"password"}, Scopes: []string{"openid"}, RedirectURIs: []string{"https://nocode.test/cb"}},
	} {
		if err := e.store.Store.CreateClient(e.ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	return e, n
}

func appParams() AuthorizeParams {
	return AuthorizeParams{ClientID: appID, RedirectURI: appCB, ResponseType: "code", Scope: "openid profile",
		State: "st<ate>", Nonce: "n-0S6", CodeChallenge: challengeOf(testVerif), CodeChallengeMethod: "S256"}
}

func firstParams() AuthorizeParams {
	p := appParams()
	p.ClientID, p.RedirectURI, p.Scope = firstID, firstCB, "openid"
	return p
}

// signIn logs alice in through the login form and returns the cookie and
// the next step.
func (e *env) signIn(p AuthorizeParams) (string, *AuthorizeResult) {
	e.t.Helper()
	r, err := e.svc.Login(e.ctx, p, LoginInput{Username: "alice", Password: userPW, RemoteAddr: netip.MustParseAddr(loginAddr)})
	if err != nil {
		e.t.Fatalf("Login: %v", err)
	}
	return r.SessionCookie, r.Next
}

// codeOf returns the code of a StepDone result.
func codeOf(t *testing.T, r *AuthorizeResult) string {
	t.Helper()
	if r == nil || r.Step != StepDone || r.Response == nil {
		t.Fatalf("result = %+v, want StepDone", r)
	}
	if r.Response.Params.Get("iss") != testIssuer {
		t.Fatalf("iss = %q", r.Response.Params.Get("iss"))
	}
	return r.Response.Params.Get("code")
}

func (e *env) exchange(cc ClientCredentials, code, redirect, verifier string) (*TokenResponse, error) {
	return e.svc.Token(e.ctx, TokenRequest{GrantType: GrantAuthorizationCode, Client: cc, Code: code, RedirectURI: redirect, CodeVerifier: verifier})
}

// appCode runs the app's flow to a code (login, consent allowed).
func (e *env) appCode(p AuthorizeParams) (cookie, code string) {
	e.t.Helper()
	cookie, next := e.signIn(p)
	if next.Step != StepConsent {
		e.t.Fatalf("after login: step %d, want consent", next.Step)
	}
	r, err := e.svc.Consent(e.ctx, p, cookie, true)
	if err != nil {
		e.t.Fatalf("Consent: %v", err)
	}
	return cookie, codeOf(e.t, r)
}

func wantAuthErr(t *testing.T, err error, code string, redirect bool) *AuthorizeError {
	t.Helper()
	var ae *AuthorizeError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want *AuthorizeError %s", err, code)
	}
	if ae.Code != code || ae.Redirect != redirect {
		t.Fatalf("error = %s redirect=%v (%v), want %s redirect=%v", ae.Code, ae.Redirect, ae, code, redirect)
	}
	if redirect {
		if ae.Response == nil || ae.Response.Params.Get("error") != code || ae.Response.Params.Get("iss") != testIssuer {
			t.Fatalf("redirected error response = %+v", ae.Response)
		}
	} else if ae.Response != nil {
		t.Fatalf("page error carries a response: %+v", ae.Response)
	}
	return ae
}

func TestAuthorizeValidation(t *testing.T) {
	e, _ := newSSOEnv(t)
	tests := []struct {
		name     string
		mod      func(*AuthorizeParams)
		code     string // "" = StepLogin
		redirect bool
	}{
		{"Valid", func(*AuthorizeParams) {}, "", false},
		{"UnknownClient", func(p *AuthorizeParams) { p.ClientID = "nobody" }, CodeInvalidRequest, false},
		{"MissingClient", func(p *AuthorizeParams) { p.ClientID = "" }, CodeInvalidRequest, false},
		{"MissingRedirect", func(p *AuthorizeParams) { p.RedirectURI = "" }, CodeInvalidRequest, false},
		{"UnregisteredRedirect", func(p *AuthorizeParams) { p.RedirectURI = "https://evil.test/cb" }, CodeInvalidRequest, false},
		{"RedirectTrailingSlash", func(p *AuthorizeParams) { p.RedirectURI = appCB + "/" }, CodeInvalidRequest, false},
		{"RedirectExtraQuery", func(p *AuthorizeParams) { p.RedirectURI = appCB + "?x=1" }, CodeInvalidRequest, false},
		{"HTTPSPortNotExempt", func(p *AuthorizeParams) { p.RedirectURI = "https://app.test:8443/cb" }, CodeInvalidRequest, false},
		{"LoopbackOtherPort", func(p *AuthorizeParams) { p.RedirectURI = "http://127.0.0.1:61234/cb" }, "", false},
		{"LoopbackNoPort", func(p *AuthorizeParams) { p.RedirectURI = "http://127.0.0.1/cb" }, "", false},
		{"LoopbackOtherPath", func(p *AuthorizeParams) { p.RedirectURI = "http://127.0.0.1:61234/other" }, CodeInvalidRequest, false},
		{"LoopbackOtherHost", func(p *AuthorizeParams) { p.RedirectURI = "http://localhost:5555/cb" }, CodeInvalidRequest, false},
		{"PKCEMissing", func(p *AuthorizeParams) { p.CodeChallenge, p.CodeChallengeMethod = "", "" }, CodeInvalidRequest, true},
		{"PKCEPlain", func(p *AuthorizeParams) { p.CodeChallengeMethod = "plain" }, CodeInvalidRequest, true},
		{"PKCEMethodOmitted", func(p *AuthorizeParams) { p.CodeChallengeMethod = "" }, CodeInvalidRequest, true},
		{"PKCEShort", func(p *AuthorizeParams) { p.CodeChallenge = "abc" }, CodeInvalidRequest, true},
		{"PKCEBadChars", func(p *AuthorizeParams) { p.CodeChallenge = strings.Repeat("a", 42) + "+" }, CodeInvalidRequest, true},
		{"ResponseTypeToken", func(p *AuthorizeParams) { p.ResponseType = "token" }, CodeUnsupportedResponseType, true},
		{"ResponseTypeMissing", func(p *AuthorizeParams) { p.ResponseType = "" }, CodeInvalidRequest, true},
		{"FragmentMode", func(p *AuthorizeParams) { p.ResponseMode = "fragment" }, CodeInvalidRequest, true},
		{"ClientWithoutCodeGrant", func(p *AuthorizeParams) { p.ClientID, p.RedirectURI = nocodeID, "https://nocode.test/cb" }, CodeUnauthorizedClient, true},
		{"ScopeNotAllowed", func(p *AuthorizeParams) { p.Scope = "openid admin" }, CodeInvalidScope, true},
		{"PromptNoneCombined", func(p *AuthorizeParams) { p.Prompt = "none login" }, CodeInvalidRequest, true},
		{"PromptUnknown", func(p *AuthorizeParams) { p.Prompt = "select_account" }, CodeInvalidRequest, true},
		{"MaxAgeNegative", func(p *AuthorizeParams) { p.MaxAge = "-1" }, CodeInvalidRequest, true},
		{"MaxAgeNotNumber", func(p *AuthorizeParams) { p.MaxAge = "1h" }, CodeInvalidRequest, true},
		{"PromptNoneNoSession", func(p *AuthorizeParams) { p.Prompt = "none" }, CodeLoginRequired, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := appParams()
			tc.mod(&p)
			r, err := e.svc.Authorize(e.ctx, p, "", AuthorizeOptions{})
			if tc.code == "" {
				if err != nil || r.Step != StepLogin {
					t.Fatalf("Authorize = %+v, %v; want StepLogin", r, err)
				}
				return
			}
			ae := wantAuthErr(t, err, tc.code, tc.redirect)
			if tc.redirect && (ae.Response.Params.Get("state") != p.State || ae.Response.RedirectURI != p.RedirectURI) {
				t.Fatalf("redirected error lost state or redirect URI: %+v", ae.Response)
			}
		})
	}
}

func TestAuthorizeLoginHintAndFormPost(t *testing.T) {
	e, _ := newSSOEnv(t)
	p := appParams()
	p.LoginHint, p.ResponseMode = "alice", "form_post"
	r, err := e.svc.Authorize(e.ctx, p, "", AuthorizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if r.LoginHint != "alice" || r.FormPostOrigin != "https://app.test" || r.Client.Name != "The App" || r.Params != p {
		t.Fatalf("result = %+v", r)
	}
}

func TestCodeFlowAndSSO(t *testing.T) {
	e, _ := newSSOEnv(t)
	p := appParams()
	cookie, code := e.appCode(p)
	resp, err := e.exchange(ClientCredentials{ID: appID}, code, appCB, testVerif)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if resp.IDToken == "" || resp.RefreshToken == "" {
		t.Fatalf("response lacks id or refresh token: %+v", resp)
	}
	_, idc := decodeJWT(t, resp.IDToken)
	sid, _ := idc["sid"].(string)
	if idc["nonce"] != p.Nonce || idc["auth_time"] == nil || idc["at_hash"] == nil || sid == "" || idc["aud"] != appID {
		t.Fatalf("id token claims = %v", idc)
	}
	hash := sessionHash(cookie)
	if sid == base64.RawURLEncoding.EncodeToString(hash) || sid == cookie || sid != SessionSID(hash) {
		t.Fatalf("sid %q reveals the session or is not the session's", sid)
	}
	if fam := e.family(resp.RefreshToken); string(fam.SessionIDHash) != string(hash) || fam.CurrentHash != refreshTokenID(resp.RefreshToken) {
		t.Fatalf("family = %+v; want it tied to the session, with the token current", fam)
	}

	steps := []struct {
		name string
		p    func() AuthorizeParams
		want AuthorizeStep
		err  string
	}{
		{"ConsentRemembered", appParams, StepDone, ""},
		{"FirstPartySkipsConsent", firstParams, StepDone, ""},
		{"WiderScopeAsksAgain", func() AuthorizeParams { p := appParams(); p.Scope = "openid profile email"; return p }, StepConsent, ""},
		{"PromptNoneConsentMissing", func() AuthorizeParams { p := appParams(); p.Scope = "openid email"; p.Prompt = "none"; return p }, 0, CodeConsentRequired},
		{"PromptNoneWithSession", func() AuthorizeParams { p := appParams(); p.Prompt = "none"; return p }, StepDone, ""},
		{"MaxAgeZero", func() AuthorizeParams { p := appParams(); p.MaxAge = "0"; return p }, StepLogin, ""},
		{"MaxAgeZeroPromptNone", func() AuthorizeParams { p := appParams(); p.MaxAge = "0"; p.Prompt = "none"; return p }, 0, CodeLoginRequired},
		{"PromptLogin", func() AuthorizeParams { p := appParams(); p.Prompt = "login"; return p }, StepLogin, ""},
		{"PromptConsent", func() AuthorizeParams { p := firstParams(); p.Prompt = "consent"; return p }, StepConsent, ""},
	}
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.p()
			r, err := e.svc.Authorize(e.ctx, p, cookie, AuthorizeOptions{})
			if tc.err != "" {
				wantAuthErr(t, err, tc.err, true)
				return
			}
			if err != nil || r.Step != tc.want {
				t.Fatalf("Authorize = %+v, %v; want step %d", r, err, tc.want)
			}
			if tc.name == "WiderScopeAsksAgain" {
				var names []string
				for _, s := range r.ConsentScopes {
					names = append(names, s.Name+"="+s.Description)
				}
				want := "openid=Sign you in with your Sigil account,profile=Your name and username,email=Your email address"
				if strings.Join(names, ",") != want {
					t.Fatalf("consent scopes = %v", names)
				}
			}
		})
	}

	t.Run("MaxAgeOld", func(t *testing.T) {
		e.clock.Advance(2 * time.Minute)
		p := appParams()
		p.MaxAge = "60"
		if r, err := e.svc.Authorize(e.ctx, p, cookie, AuthorizeOptions{}); err != nil || r.Step != StepLogin {
			t.Fatalf("Authorize = %+v, %v; want StepLogin", r, err)
		}
		p.MaxAge = "600"
		if r, err := e.svc.Authorize(e.ctx, p, cookie, AuthorizeOptions{}); err != nil || r.Step != StepDone {
			t.Fatalf("Authorize = %+v, %v; want StepDone", r, err)
		}
	})

	t.Run("WiderScopeUnionSaved", func(t *testing.T) {
		p := appParams()
		p.Scope = "email"
		if _, err := e.svc.Consent(e.ctx, p, cookie, true); err != nil {
			t.Fatal(err)
		}
		c, err := e.store.GetConsent(e.ctx, "42", appID)
		if err != nil || strings.Join(c.Scopes, " ") != "email openid profile" {
			t.Fatalf("consent = %+v, %v", c, err)
		}
	})

	t.Run("LoginReplacesSession", func(t *testing.T) {
		r, err := e.svc.Login(e.ctx, appParams(), LoginInput{Username: "alice", Password: userPW,
			RemoteAddr: netip.MustParseAddr(loginAddr), SessionCookie: cookie})
		if err != nil || r.SessionCookie == cookie || r.Next.Step != StepDone {
			t.Fatalf("Login = %+v, %v", r, err)
		}
		if _, err := e.store.GetSession(e.ctx, hash, e.clock.Now()); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("old session still there: %v", err)
		}
	})
}

func TestLoginFailures(t *testing.T) {
	e, _ := newSSOEnv(t)
	_, err := e.svc.Login(e.ctx, appParams(), LoginInput{Username: "alice", Password: "wrong", RemoteAddr: netip.MustParseAddr(loginAddr)})
	if e := wantErr(t, err, CodeInvalidGrant, 400); e.Reason != ReasonBadCredentials {
		t.Fatalf("reason = %q", e.Reason)
	}
	p := appParams()
	p.RedirectURI = "https://evil.test/cb"
	_, err = e.svc.Login(e.ctx, p, LoginInput{Username: "alice", Password: userPW, RemoteAddr: netip.MustParseAddr(loginAddr)})
	wantAuthErr(t, err, CodeInvalidRequest, false)
}

func TestConsentDeny(t *testing.T) {
	e, _ := newSSOEnv(t)
	p := appParams()
	cookie, next := e.signIn(p)
	if next.Step != StepConsent {
		t.Fatalf("step %d", next.Step)
	}
	_, err := e.svc.Consent(e.ctx, p, cookie, false)
	ae := wantAuthErr(t, err, CodeAccessDenied, true)
	if ae.Response.Params.Get("state") != p.State || ae.Response.Params.Get("code") != "" {
		t.Fatalf("response = %v", ae.Response.Params)
	}
	if _, err := e.store.GetConsent(e.ctx, "42", appID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("deny saved a consent: %v", err)
	}
	// Without a session the consent form leads back to the login.
	if r, err := e.svc.Consent(e.ctx, p, "", true); err != nil || r.Step != StepLogin {
		t.Fatalf("Consent without session = %+v, %v", r, err)
	}
}

func TestCodeExchangeFailures(t *testing.T) {
	tests := []struct {
		name     string
		cc       ClientCredentials
		redirect string
		verifier string
		advance  time.Duration
		code     string
	}{
		{"WrongVerifier", ClientCredentials{ID: appID}, appCB, strings.Repeat("x", 43), 0, CodeInvalidGrant},
		{"MissingVerifier", ClientCredentials{ID: appID}, appCB, "", 0, CodeInvalidRequest},
		{"ShortVerifier", ClientCredentials{ID: appID}, appCB, "abc", 0, CodeInvalidRequest},
		{"AnotherClient", basic(firstID, firstSec), appCB, testVerif, 0, CodeInvalidGrant},
		{"OtherRedirect", ClientCredentials{ID: appID}, appLoop, testVerif, 0, CodeInvalidGrant},
		{"MissingRedirect", ClientCredentials{ID: appID}, "", testVerif, 0, CodeInvalidRequest},
		{"Expired", ClientCredentials{ID: appID}, appCB, testVerif, 61 * time.Second, CodeInvalidGrant},
		{"JustInTime", ClientCredentials{ID: appID}, appCB, testVerif, 59 * time.Second, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newSSOEnv(t)
			_, code := e.appCode(appParams())
			e.clock.Advance(tc.advance)
			resp, err := e.exchange(tc.cc, code, tc.redirect, tc.verifier)
			if tc.code == "" {
				if err != nil || resp.AccessToken == "" {
					t.Fatalf("exchange = %v", err)
				}
				return
			}
			wantErr(t, err, tc.code, 400)
		})
	}
}

func TestCodeReuseRevokesTokens(t *testing.T) {
	e, _ := newSSOEnv(t)
	_, code := e.appCode(appParams())
	resp, err := e.exchange(ClientCredentials{ID: appID}, code, appCB, testVerif)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.UserInfo(e.ctx, resp.AccessToken); err != nil {
		t.Fatalf("userinfo before reuse: %v", err)
	}
	_, err = e.exchange(ClientCredentials{ID: appID}, code, appCB, testVerif)
	if e := wantErr(t, err, CodeInvalidGrant, 400); e.Reason != ReasonTokenRevoked {
		t.Fatalf("reason = %q", e.Reason)
	}
	if _, err := e.svc.UserInfo(e.ctx, resp.AccessToken); err == nil {
		t.Fatal("access token from a reused code still works")
	}
	_, err = e.svc.Token(e.ctx, TokenRequest{GrantType: GrantRefreshToken, Client: ClientCredentials{ID: appID}, RefreshToken: resp.RefreshToken})
	wantErr(t, err, CodeInvalidGrant, 400)
}

// verifyLogoutToken checks a logout token's ES256 signature and returns its
// header and claims.
func verifyLogoutToken(t *testing.T, tok string) (map[string]any, map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		t.Fatalf("bad signature encoding")
	}
	d := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(&keystest.ECKey().PublicKey, d[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("logout token signature does not verify")
	}
	return decodeJWT(t, tok)
}

func TestLogout(t *testing.T) {
	e, n := newSSOEnv(t)
	cookie, code := e.appCode(appParams())
	resp, err := e.exchange(ClientCredentials{ID: appID}, code, appCB, testVerif)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.svc.Authorize(e.ctx, firstParams(), cookie, AuthorizeOptions{})
	if err != nil || r.Step != StepDone {
		t.Fatalf("second client: %+v, %v", r, err)
	}
	_, idc := decodeJWT(t, resp.IDToken)

	prep := []struct {
		name    string
		p       LogoutParams
		confirm bool
		errCode string
	}{
		{"NoHint", LogoutParams{}, true, ""},
		{"Hint", LogoutParams{IDTokenHint: resp.IDToken}, false, ""},
		{"HintAndMatchingClient", LogoutParams{IDTokenHint: resp.IDToken, ClientID: appID}, false, ""},
		{"HintOtherClient", LogoutParams{IDTokenHint: resp.IDToken, ClientID: firstID}, false, CodeInvalidRequest},
		{"HintNotAnIDToken", LogoutParams{IDTokenHint: resp.AccessToken}, false, CodeInvalidRequest},
		{"HintTampered", LogoutParams{IDTokenHint: resp.IDToken[:len(resp.IDToken)-4] + "AAAA"}, false, CodeInvalidRequest},
		{"RedirectUnregistered", LogoutParams{ClientID: appID, PostLogoutRedirectURI: "https://evil.test/"}, false, CodeInvalidRequest},
		{"RedirectWithoutClient", LogoutParams{PostLogoutRedirectURI: appBye}, false, CodeInvalidRequest},
	}
	for _, tc := range prep {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := e.svc.PrepareLogout(e.ctx, tc.p, cookie)
			if tc.errCode != "" {
				wantAuthErr(t, err, tc.errCode, false)
				return
			}
			if err != nil || plan.NeedsConfirmation != tc.confirm {
				t.Fatalf("plan = %+v, %v", plan, err)
			}
		})
	}

	t.Run("ExpiredHintAccepted", func(t *testing.T) {
		e.clock.Advance(2 * time.Hour) // past the ID token's exp, within the session
		defer e.clock.Advance(-2 * time.Hour)
		if plan, err := e.svc.PrepareLogout(e.ctx, LogoutParams{IDTokenHint: resp.IDToken}, ""); err != nil || plan.Client.ID != appID {
			t.Fatalf("plan = %+v, %v", plan, err)
		}
	})

	plan, err := e.svc.Logout(e.ctx, LogoutParams{IDTokenHint: resp.IDToken, PostLogoutRedirectURI: appBye, State: "a b"}, cookie)
	if err != nil || plan.RedirectURI != appBye+"?state=a+b" {
		t.Fatalf("Logout = %+v, %v", plan, err)
	}
	got := map[string]string{}
	for range 2 {
		select {
		case m := <-n.ch:
			got[m[0]] = m[1]
		case <-time.After(5 * time.Second):
			t.Fatalf("back-channel notifications: got %d, want 2", len(got))
		}
	}
	for uri, client := range map[string]string{appBCURI: appID, firstBCURI: firstID} {
		h, c := verifyLogoutToken(t, got[uri])
		ev, _ := c["events"].(map[string]any)
		if _, ok := ev[BackchannelLogoutEvent]; h["typ"] != TypLogoutToken || c["sid"] != idc["sid"] || c["sub"] != "42" ||
			c["aud"] != client || c["iss"] != testIssuer || c["jti"] == nil || !ok {
			t.Fatalf("logout token for %s: header %v claims %v", client, h, c)
		}
		if _, has := c["nonce"]; has {
			t.Fatal("logout token carries a nonce")
		}
	}
	_, err = e.svc.Token(e.ctx, TokenRequest{GrantType: GrantRefreshToken, Client: ClientCredentials{ID: appID}, RefreshToken: resp.RefreshToken})
	wantErr(t, err, CodeInvalidGrant, 400)
	if r, err := e.svc.Authorize(e.ctx, appParams(), cookie, AuthorizeOptions{}); err != nil || r.Step != StepLogin {
		t.Fatalf("after logout: %+v, %v", r, err)
	}
	// Idempotent.
	if _, err := e.svc.Logout(e.ctx, LogoutParams{}, cookie); err != nil {
		t.Fatalf("second logout: %v", err)
	}
}

func TestCodeAfterLogoutRefused(t *testing.T) {
	e, _ := newSSOEnv(t)
	cookie, code := e.appCode(appParams())
	if _, err := e.svc.Logout(e.ctx, LogoutParams{}, cookie); err != nil {
		t.Fatal(err)
	}
	_, err := e.exchange(ClientCredentials{ID: appID}, code, appCB, testVerif)
	wantErr(t, err, CodeInvalidGrant, 400)
}

func TestSessionOfInactiveUser(t *testing.T) {
	tests := []struct {
		name   string
		change func(e *env) error
	}{
		{"Disabled", func(e *env) error { return e.store.SetUserDisabled(e.ctx, "42", true, e.clock.Now()) }},
		{"PasswordChanged", func(e *env) error {
			e.clock.Advance(time.Second)
			return e.store.SetUserPassword(e.ctx, "42", "x", e.clock.Now())
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newSSOEnv(t)
			cookie, _ := e.signIn(firstParams())
			if err := tc.change(e); err != nil {
				t.Fatal(err)
			}
			if r, err := e.svc.Authorize(e.ctx, firstParams(), cookie, AuthorizeOptions{}); err != nil || r.Step != StepLogin {
				t.Fatalf("Authorize = %+v, %v; want StepLogin", r, err)
			}
		})
	}
}

func TestEndUserSessions(t *testing.T) {
	e, _ := newSSOEnv(t)
	cookie, code := e.appCode(appParams())
	resp, err := e.exchange(ClientCredentials{ID: appID}, code, appCB, testVerif)
	if err != nil {
		t.Fatal(err)
	}
	pw := e.login("openid") // a password-grant family too
	sessions, families, err := EndUserSessions(e.ctx, e.store, "42", e.clock.Now(), RevokeUserDisabled)
	if err != nil || sessions != 1 || families != 2 {
		t.Fatalf("EndUserSessions = %d, %d, %v; want 1, 2", sessions, families, err)
	}
	if _, err := e.store.GetSession(e.ctx, sessionHash(cookie), e.clock.Now()); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("session survived: %v", err)
	}
	for _, rt := range []string{resp.RefreshToken} {
		_, err := e.svc.Token(e.ctx, TokenRequest{GrantType: GrantRefreshToken, Client: ClientCredentials{ID: appID}, RefreshToken: rt})
		wantErr(t, err, CodeInvalidGrant, 400)
	}
	if _, err := e.refresh(pw.RefreshToken); err == nil {
		t.Fatal("password-grant refresh token survived")
	}
}

// slowNotifier blocks until released, to show Logout does not wait.
type slowNotifier struct {
	release chan struct{}
	wg      sync.WaitGroup
}

func (n *slowNotifier) Notify(ctx context.Context, _, _ string) error {
	defer n.wg.Done()
	select {
	case <-n.release:
	case <-ctx.Done():
	}
	return errors.New("receiver down")
}

func TestLogoutDoesNotWaitForBackchannel(t *testing.T) {
	e, _ := newSSOEnv(t)
	sn := &slowNotifier{release: make(chan struct{})}
	sn.wg.Add(1)
	e.svc.notifier = sn
	cookie, _ := e.appCode(appParams())
	ctx, cancel := context.WithCancel(e.ctx)
	if _, err := e.svc.Logout(ctx, LogoutParams{}, cookie); err != nil {
		t.Fatal(err)
	}
	cancel() // the request ends; the notification goes on
	close(sn.release)
	sn.wg.Wait()
}

func TestValidateRedirectURI(t *testing.T) {
	tests := []struct {
		name string
		uri  string
		ok   bool
	}{
		{"HTTPS", "https://app.example.com/cb", true},
		{"HTTPSWithQuery", "https://app.example.com/cb?x=1", true},
		{"LoopbackV4", "http://127.0.0.1:8080/cb", true},
		{"LoopbackV6", "http://[::1]/cb", true},
		{"Localhost", "http://localhost:3000/cb", true},
		{"PrivateUse", "com.example.app:/cb", true},
		{"PrivateUseSlashes", "com.example.app://cb", true},
		{"Empty", "", false},
		{"Relative", "/cb", false},
		{"Fragment", "https://app.example.com/cb#x", false},
		{"EmptyFragment", "https://app.example.com/cb#", false},
		{"PlainHTTP", "http://app.example.com/cb", false},
		{"HTTPLoopbackLookalike", "http://127.0.0.1.evil.test/cb", false},
		{"NoHost", "https:///cb", false},
		{"UserInfo", "https://user@app.example.com/cb", false},
		{"CustomSchemeWithoutDot", "myapp:/cb", false},
		{"JavaScript", "javascript:alert(1)", false},
		{"Opaque", "com.example.app:cb", false},
		{"Space", "https://app.example.com/c b", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidateRedirectURI(tc.uri)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidateRedirectURI(%q) = %v, want ok=%v", tc.uri, err, tc.ok)
			}
		})
	}
}
