package oauth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// The authorization endpoint (RFC 6749 §4.1, RFC 7636, RFC 9207, OIDC Core
// §3.1). Every step (the first GET, the login POST, the consent POST)
// re-validates the whole request from its parameters: the pages carry no
// state of their own beyond the session cookie.

// GrantAuthorizationCode is the authorization code grant.
const GrantAuthorizationCode = "authorization_code"

// Authorization error codes (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).
const (
	CodeAccessDenied            = "access_denied"
	CodeUnsupportedResponseType = "unsupported_response_type"
	CodeLoginRequired           = "login_required"
	CodeConsentRequired         = "consent_required"
)

// Response modes.
const (
	ResponseModeQuery    = "query"
	ResponseModeFormPost = "form_post"
)

// Bounds on request parameters that end up in stored records and pages.
const (
	maxStateLen     = 2048
	maxNonceLen     = 512
	maxLoginHintLen = 256
	maxRedirectLen  = 2048
)

// loginFreshness is how recent a login must be for a consent submitted
// after it to satisfy prompt=login or max_age=0: the consent page is shown
// right after the login, and the login itself cannot be proven from the
// page's parameters.
const loginFreshness = 10 * time.Minute

// authRequest is a validated authorization request.
type authRequest struct {
	params      AuthorizeParams
	client      storage.Client
	redirectURI string
	mode        string
	scopes      []string
	prompt      map[string]bool
	maxAge      int64 // -1 when absent
}

// authSession is a live SSO session of an enabled user.
type authSession struct {
	rec  storage.Session
	user storage.User
}

// Authorize runs an authorization request (GET or POST /oauth2/authorize):
// it validates the request and, with the browser's session cookie ("" when
// none), decides the next step: StepLogin, StepConsent, or StepDone with a
// code. Failures are *AuthorizeError: Redirect false (error page, never a
// redirect) for an unknown client or a missing or unregistered
// redirect_uri; Redirect true for every other error, including
// login_required and consent_required under prompt=none.
func (s *Service) Authorize(ctx context.Context, p AuthorizeParams, sessionCookie string, _ AuthorizeOptions) (*AuthorizeResult, error) {
	now := s.now()
	req, sess, err := s.signedIn(ctx, p, sessionCookie, now, false)
	if err != nil {
		return nil, err
	}
	if sess == nil {
		return req.result(StepLogin), nil
	}
	return s.afterAuthentication(ctx, req, sess, now)
}

// signedIn validates an authorization request and finds the browser's
// session. The session is nil when the user must log in (again) first;
// under prompt=none that is login_required instead. afterPage is as for
// needsLogin. Errors are *AuthorizeError.
func (s *Service) signedIn(ctx context.Context, p AuthorizeParams, sessionCookie string, now time.Time, afterPage bool) (*authRequest, *authSession, error) {
	req, err := s.validateAuthorize(ctx, p)
	if err != nil {
		return nil, nil, err
	}
	sess, err := s.currentSession(ctx, sessionCookie, now)
	if err != nil {
		return nil, nil, req.fail(s, err)
	}
	if sess == nil || req.needsLogin(sess, now, afterPage) {
		if req.prompt["none"] {
			return nil, nil, req.errorf(s, CodeLoginRequired, "the user is not signed in")
		}
		return req, nil, nil
	}
	return req, sess, nil
}

// Login checks the login form of an authorization request with every
// password-grant throttle (address bucket, account lockout, bounded
// hashing) and starts a new SSO session. On bad credentials it returns
// *Error (ReasonBadCredentials 400, ReasonRateLimited 429, ReasonBusy or
// ReasonUnavailable 503, also when the session cannot be stored); an
// invalid request, and a failure after the session was started, is
// *AuthorizeError. The
// session in in.SessionCookie, if any, is deleted (session fixation). The
// fresh login satisfies prompt=login and max_age.
func (s *Service) Login(ctx context.Context, p AuthorizeParams, in LoginInput) (*LoginResult, error) {
	req, err := s.validateAuthorize(ctx, p)
	if err != nil {
		return nil, err
	}
	if in.Username == "" || in.Password == "" {
		return nil, badCredentials()
	}
	user, err := s.login(ctx, in.Username, in.Password, in.RemoteAddr)
	if err != nil {
		return nil, err
	}
	now := s.now()
	cookie, rec, err := s.startSession(ctx, user, in.SessionCookie, now)
	if err != nil {
		return nil, err
	}
	next, err := s.afterAuthentication(ctx, req, &authSession{rec: rec, user: *user}, now)
	if err != nil {
		return nil, err
	}
	return &LoginResult{SessionCookie: cookie, SessionExpires: rec.ExpiresAt, Next: next}, nil
}

// Consent records the user's answer on the consent page. Deny answers
// access_denied to the client. Allow remembers the union of the approved
// and the earlier scopes for the user and client (first-party clients
// store nothing) and issues the code. Without a valid session the next
// step is StepLogin again.
func (s *Service) Consent(ctx context.Context, p AuthorizeParams, sessionCookie string, allow bool) (*AuthorizeResult, error) {
	now := s.now()
	req, sess, err := s.signedIn(ctx, p, sessionCookie, now, true)
	if err != nil {
		return nil, err
	}
	if sess == nil {
		return req.result(StepLogin), nil
	}
	if !allow {
		return nil, req.errorf(s, CodeAccessDenied, "the user denied the request")
	}
	if !req.client.FirstParty {
		granted := slices.Clone(req.scopes)
		c, err := s.store.GetConsent(ctx, sess.user.ID, req.client.ID)
		switch {
		case err == nil:
			for _, sc := range c.Scopes {
				if !contains(granted, sc) {
					granted = append(granted, sc)
				}
			}
		case !isNotFound(err):
			return nil, req.fail(s, storeErr("get consent", err))
		}
		if err := s.store.SaveConsent(ctx, storage.Consent{UserID: sess.user.ID, ClientID: req.client.ID, Scopes: granted, GrantedAt: now}); err != nil {
			return nil, req.fail(s, storeErr("save consent", err))
		}
	}
	return s.issueCode(ctx, req, sess, now)
}

// afterAuthentication is the step after a valid session: consent if needed,
// else a code.
func (s *Service) afterAuthentication(ctx context.Context, req *authRequest, sess *authSession, now time.Time) (*AuthorizeResult, error) {
	need, err := s.needsConsent(ctx, req, sess.user.ID)
	if err != nil {
		return nil, req.fail(s, err)
	}
	if need {
		if req.prompt["none"] {
			return nil, req.errorf(s, CodeConsentRequired, "the user has not approved the requested scopes")
		}
		r := req.result(StepConsent)
		for _, sc := range req.scopes {
			r.ConsentScopes = append(r.ConsentScopes, ScopeInfo{Name: sc, Description: ScopeDescription(sc)})
		}
		return r, nil
	}
	return s.issueCode(ctx, req, sess, now)
}

// needsConsent: prompt=consent always asks; first-party clients never
// otherwise; other clients when the remembered consent does not cover
// every requested scope.
func (s *Service) needsConsent(ctx context.Context, req *authRequest, userID string) (bool, error) {
	if req.prompt["consent"] {
		return true, nil
	}
	if req.client.FirstParty {
		return false, nil
	}
	c, err := s.store.GetConsent(ctx, userID, req.client.ID)
	if isNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, storeErr("get consent", err)
	}
	for _, sc := range req.scopes {
		if !contains(c.Scopes, sc) {
			return true, nil
		}
	}
	return false, nil
}

// ScopeDescription describes a scope in words for the consent page.
func ScopeDescription(scope string) string {
	switch scope {
	case ScopeOpenID:
		return "Sign you in with your Sigil account"
	case ScopeProfile:
		return "Your name and username"
	case ScopeEmail:
		return "Your email address"
	case ScopeOfflineAccess:
		return "Stay signed in (refresh tokens)"
	}
	return "Access to " + scope
}

// issueCode stores a fresh code for the session and records the client on
// the session (for back-channel logout).
func (s *Service) issueCode(ctx context.Context, req *authRequest, sess *authSession, now time.Time) (*AuthorizeResult, error) {
	code := randomID(32)
	sum := sha256.Sum256([]byte(code))
	c := storage.AuthCode{
		Hash:          sum[:],
		ClientID:      req.client.ID,
		RedirectURI:   req.redirectURI,
		CodeChallenge: req.params.CodeChallenge,
		Scopes:        req.scopes,
		Nonce:         req.params.Nonce,
		SessionIDHash: sess.rec.IDHash,
		UserID:        sess.user.ID,
		AuthTime:      sess.rec.AuthTime,
		IssuedAt:      now,
		ExpiresAt:     now.Add(CodeTTL),
	}
	if err := s.store.AddSessionClient(ctx, sess.rec.IDHash, req.client.ID, now); err != nil {
		if isNotFound(err) { // ended meanwhile
			return nil, req.errorf(s, CodeLoginRequired, "the session has ended")
		}
		return nil, req.fail(s, storeErr("add session client", err))
	}
	if err := s.store.CreateAuthCode(ctx, c); err != nil {
		return nil, req.fail(s, storeErr("create authorization code", err))
	}
	r := req.result(StepDone)
	v := url.Values{}
	v.Set("code", code)
	if req.params.State != "" {
		v.Set("state", req.params.State)
	}
	v.Set("iss", s.cfg.Issuer)
	r.Response = &AuthorizationResponse{RedirectURI: req.redirectURI, ResponseMode: req.mode, Params: v}
	return r, nil
}

// startSession starts a new SSO session for user after a password login at
// now, deleting the session of oldCookie first ("" for none), so a session
// fixed before the login is not kept. It returns the new cookie value and
// the stored record; failures are storage *Error values.
func (s *Service) startSession(ctx context.Context, user *storage.User, oldCookie string, now time.Time) (string, storage.Session, error) {
	if oldCookie != "" {
		if _, err := s.store.DeleteSession(ctx, sessionHash(oldCookie), now); err != nil && !isNotFound(err) {
			return "", storage.Session{}, storeErr("delete session", err)
		}
	}
	cookie, lt := randomID(32), s.lifetimes()
	rec := storage.Session{
		IDHash:        sessionHash(cookie),
		UserID:        user.ID,
		AuthTime:      now,
		AMR:           []string{"pwd"},
		CreatedAt:     now,
		LastSeen:      now,
		ExpiresAt:     now.Add(lt.SessionTTL),
		IdleExpiresAt: now.Add(lt.SessionIdleTTL),
	}
	if err := s.store.CreateSession(ctx, rec); err != nil {
		return "", storage.Session{}, storeErr("create session", err)
	}
	return cookie, rec, nil
}

// currentSession returns the live session of the cookie, touched, or nil
// when there is none: no cookie, unknown or expired session, or a user who
// is gone, disabled or changed password since the login. Storage failures
// are errors.
func (s *Service) currentSession(ctx context.Context, cookie string, now time.Time) (*authSession, error) {
	if cookie == "" || len(cookie) > 128 {
		return nil, nil
	}
	h := sessionHash(cookie)
	rec, err := s.store.GetSession(ctx, h, now)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, storeErr("get session", err)
	}
	u, err := s.store.GetUser(ctx, rec.UserID)
	switch {
	case isNotFound(err):
		return nil, nil
	case err != nil:
		return nil, storeErr("get user", err)
	case u.Disabled, u.PasswordChangedAt.After(rec.AuthTime):
		return nil, nil
	}
	rec, err = s.store.TouchSession(ctx, h, now, s.lifetimes().SessionIdleTTL)
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, storeErr("touch session", err)
	}
	return &authSession{rec: rec, user: u}, nil
}

// sessionHash is the stored key of a session cookie value.
func sessionHash(cookie string) []byte {
	sum := sha256.Sum256([]byte(cookie))
	return sum[:]
}

// SessionSID is the sid claim of the session whose id hash is idHash:
// base64url(SHA-256("sid:" || idHash)). It is stable for the session, and
// reveals neither the cookie nor its stored hash.
func SessionSID(idHash []byte) string {
	sum := sha256.Sum256(append([]byte("sid:"), idHash...))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// needsLogin reports whether the session does not satisfy prompt=login or
// max_age. afterPage relaxes prompt=login and max_age=0 to a login within
// loginFreshness (the consent page follows the login).
func (r *authRequest) needsLogin(sess *authSession, now time.Time, afterPage bool) bool {
	age := now.Sub(sess.rec.AuthTime)
	if r.prompt["login"] || r.maxAge == 0 {
		return !afterPage || age > loginFreshness
	}
	return r.maxAge > 0 && age > time.Duration(r.maxAge)*time.Second
}

// result starts an AuthorizeResult for the request.
func (r *authRequest) result(step AuthorizeStep) *AuthorizeResult {
	res := &AuthorizeResult{
		Step:      step,
		Client:    clientInfo(r.client),
		LoginHint: r.params.LoginHint,
		Params:    r.params,
	}
	if r.mode == ResponseModeFormPost {
		if u, err := url.Parse(r.redirectURI); err == nil {
			res.FormPostOrigin = u.Scheme + "://" + u.Host
		}
	}
	return res
}

func clientInfo(c storage.Client) ClientInfo {
	name := c.Name
	if name == "" {
		name = c.ID
	}
	return ClientInfo{ID: c.ID, Name: name}
}

// errorf is an error sent to the verified redirect URI.
func (r *authRequest) errorf(s *Service, code, desc string) *AuthorizeError {
	v := url.Values{}
	v.Set("error", code)
	if desc != "" {
		v.Set("error_description", desc)
	}
	if r.params.State != "" {
		v.Set("state", r.params.State)
	}
	v.Set("iss", s.cfg.Issuer)
	return &AuthorizeError{
		Code: code, Description: desc, Redirect: true, Status: http.StatusBadRequest,
		Response: &AuthorizationResponse{RedirectURI: r.redirectURI, ResponseMode: r.mode, Params: v},
	}
}

// fail turns an internal failure (a storage *Error) into a redirected
// error: temporarily_unavailable for 503s, server_error otherwise. The
// cause is logged, never sent.
func (r *authRequest) fail(s *Service, err error) error {
	var ae *AuthorizeError
	if errors.As(err, &ae) {
		return ae
	}
	e := AsError(err)
	s.log.Warn("authorization request failed", "client_id", r.client.ID, "err", err)
	if e != nil && e.Code == CodeTemporarilyUnavailable {
		out := r.errorf(s, CodeTemporarilyUnavailable, e.Description)
		out.Status, out.RetryAfter = e.Status, e.RetryAfter
		return out
	}
	out := r.errorf(s, CodeServerError, "internal error")
	out.Status = http.StatusInternalServerError
	return out
}

// pageError is an error that must not be redirected.
func pageError(code, desc string) *AuthorizeError {
	return &AuthorizeError{Code: code, Description: desc, Status: http.StatusBadRequest}
}

// validateAuthorize checks the request. Until the client and redirect URI
// are verified, errors are page errors; after that they are redirected.
func (s *Service) validateAuthorize(ctx context.Context, p AuthorizeParams) (*authRequest, error) {
	if p.ClientID == "" {
		return nil, pageError(CodeInvalidRequest, "missing client_id")
	}
	if len(p.ClientID) > maxClientIDLen {
		return nil, pageError(CodeInvalidRequest, "unknown client")
	}
	client, err := s.store.GetClient(ctx, p.ClientID)
	if isNotFound(err) {
		return nil, pageError(CodeInvalidRequest, "unknown client")
	}
	if err != nil {
		s.log.Warn("authorization request: get client", "err", err)
		return nil, &AuthorizeError{Code: CodeTemporarilyUnavailable, Description: "storage is unavailable, retry later",
			Status: http.StatusServiceUnavailable, RetryAfter: unavailableRetry}
	}
	if p.RedirectURI == "" {
		return nil, pageError(CodeInvalidRequest, "missing redirect_uri")
	}
	if len(p.RedirectURI) > maxRedirectLen || !redirectURIRegistered(client.RedirectURIs, p.RedirectURI) {
		return nil, pageError(CodeInvalidRequest, "redirect_uri is not registered for this client")
	}
	r := &authRequest{params: p, client: client, redirectURI: p.RedirectURI, mode: ResponseModeQuery, maxAge: -1}

	// From here on the redirect URI is verified.
	switch p.ResponseMode {
	case "", ResponseModeQuery:
	case ResponseModeFormPost:
		r.mode = ResponseModeFormPost
	default:
		return nil, r.errorf(s, CodeInvalidRequest, "response_mode must be query or form_post")
	}
	if len(p.State) > maxStateLen {
		r.params.State = ""
		return nil, r.errorf(s, CodeInvalidRequest, "state is too long")
	}
	switch p.ResponseType {
	case "":
		return nil, r.errorf(s, CodeInvalidRequest, "missing response_type")
	case "code":
	default:
		return nil, r.errorf(s, CodeUnsupportedResponseType, "response_type must be code")
	}
	if !allowsGrant(client, GrantAuthorizationCode) {
		return nil, r.errorf(s, CodeUnauthorizedClient, "client may not use the authorization_code grant")
	}
	switch {
	case p.CodeChallenge == "":
		return nil, r.errorf(s, CodeInvalidRequest, "code_challenge is required (PKCE with S256)")
	case p.CodeChallengeMethod != "S256":
		return nil, r.errorf(s, CodeInvalidRequest, "code_challenge_method must be S256")
	case !validPKCEString(p.CodeChallenge):
		return nil, r.errorf(s, CodeInvalidRequest, "code_challenge must be 43 to 128 unreserved characters")
	}
	requested, err := parseScope(p.Scope)
	if err == nil {
		r.scopes, err = chooseScopes(requested, client.Scopes)
	}
	if err != nil {
		desc := "invalid scope"
		if e := AsError(err); e != nil {
			desc = e.Description
		}
		return nil, r.errorf(s, CodeInvalidScope, desc)
	}
	if len(r.scopes) == 0 {
		return nil, r.errorf(s, CodeInvalidScope, "no scope to grant")
	}
	r.prompt = map[string]bool{}
	for v := range strings.FieldsSeq(p.Prompt) {
		switch v {
		case "none", "login", "consent":
			r.prompt[v] = true
		default:
			return nil, r.errorf(s, CodeInvalidRequest, "prompt must be none, login or consent")
		}
	}
	if r.prompt["none"] && len(r.prompt) > 1 {
		return nil, r.errorf(s, CodeInvalidRequest, "prompt=none cannot be combined with other values")
	}
	if p.MaxAge != "" {
		n, err := strconv.ParseInt(p.MaxAge, 10, 64)
		if err != nil || n < 0 || p.MaxAge[0] == '+' {
			return nil, r.errorf(s, CodeInvalidRequest, "max_age must be a non-negative integer")
		}
		r.maxAge = n
	}
	if len(p.Nonce) > maxNonceLen {
		return nil, r.errorf(s, CodeInvalidRequest, "nonce is too long")
	}
	if len(p.LoginHint) > maxLoginHintLen {
		return nil, r.errorf(s, CodeInvalidRequest, "login_hint is too long")
	}
	return r, nil
}

// validPKCEString reports whether v is 43 to 128 characters of the RFC 7636
// §4.1 unreserved set (ALPHA / DIGIT / "-" / "." / "_" / "~"), as both the
// challenge and the verifier must be.
func validPKCEString(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// redirectURIRegistered reports whether uri equals a registered URI by
// string comparison, or differs from a registered loopback URI (http,
// 127.0.0.1, [::1] or localhost) only in the port (RFC 8252 §7.3).
func redirectURIRegistered(registered []string, uri string) bool {
	if slices.Contains(registered, uri) {
		return true
	}
	stripped, ok := withoutLoopbackPort(uri)
	if !ok {
		return false
	}
	for _, reg := range registered {
		if rs, ok := withoutLoopbackPort(reg); ok && rs == stripped {
			return true
		}
	}
	return false
}

// withoutLoopbackPort returns uri without its port when it is an http URI
// of a loopback host; ok is false otherwise.
func withoutLoopbackPort(uri string) (string, bool) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" || !isLoopbackHost(u.Hostname()) {
		return "", false
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	u.Host = host
	return u.String(), true
}

// isLoopbackHost: the loopback names RFC 8252 §7.3 (and localhost, as the
// issue allows) redirect to.
func isLoopbackHost(h string) bool {
	return h == "127.0.0.1" || h == "::1" || h == "localhost"
}
