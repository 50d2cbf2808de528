package oauth

import (
	"net/netip"
	"net/url"
	"time"
)

// AuthorizeParams are the raw parameters of an authorization request
// (RFC 6749 §4.1.1, RFC 7636 §4.3, OIDC Core §3.1.2.1), as the browser sent
// them in the query string or a form body. The pages of the flow carry them
// along as hidden fields, so every step re-validates the same request.
type AuthorizeParams struct {
	ClientID            string
	RedirectURI         string
	ResponseType        string
	ResponseMode        string
	Scope               string
	State               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	Prompt              string
	MaxAge              string
	LoginHint           string
}

// Values returns the non-empty parameters under their protocol names, for
// hidden form fields.
func (p AuthorizeParams) Values() url.Values {
	v := url.Values{}
	for _, kv := range [...]struct{ k, v string }{
		{"client_id", p.ClientID},
		{"redirect_uri", p.RedirectURI},
		{"response_type", p.ResponseType},
		{"response_mode", p.ResponseMode},
		{"scope", p.Scope},
		{"state", p.State},
		{"nonce", p.Nonce},
		{"code_challenge", p.CodeChallenge},
		{"code_challenge_method", p.CodeChallengeMethod},
		{"prompt", p.Prompt},
		{"max_age", p.MaxAge},
		{"login_hint", p.LoginHint},
	} {
		if kv.v != "" {
			v.Set(kv.k, kv.v)
		}
	}
	return v
}

// AuthorizeParamsFrom reads the authorization parameters out of v (a query
// string or a form body); unknown parameters are ignored (RFC 6749 §3.1).
func AuthorizeParamsFrom(v url.Values) AuthorizeParams {
	return AuthorizeParams{
		ClientID:            v.Get("client_id"),
		RedirectURI:         v.Get("redirect_uri"),
		ResponseType:        v.Get("response_type"),
		ResponseMode:        v.Get("response_mode"),
		Scope:               v.Get("scope"),
		State:               v.Get("state"),
		Nonce:               v.Get("nonce"),
		CodeChallenge:       v.Get("code_challenge"),
		CodeChallengeMethod: v.Get("code_challenge_method"),
		Prompt:              v.Get("prompt"),
		MaxAge:              v.Get("max_age"),
		LoginHint:           v.Get("login_hint"),
	}
}

// AuthorizeOptions is reserved for per-call options of Authorize; pass the
// zero value.
type AuthorizeOptions struct{}

// AuthorizeStep is what the browser must do next in an authorization flow.
type AuthorizeStep int

// The steps of the flow.
const (
	// StepLogin: show the login page.
	StepLogin AuthorizeStep = iota + 1
	// StepConsent: show the consent page.
	StepConsent
	// StepDone: send Response to the client.
	StepDone
)

// ClientInfo is what pages may show about a client. Name falls back to ID.
type ClientInfo struct {
	ID   string
	Name string
}

// ScopeInfo is one requested scope, in words for the consent page.
type ScopeInfo struct {
	Name        string
	Description string
}

// AuthorizeResult is the next step of a valid authorization request.
type AuthorizeResult struct {
	Step   AuthorizeStep
	Client ClientInfo
	// LoginHint pre-fills the username on the login page.
	LoginHint string
	// ConsentScopes are the scopes to approve (StepConsent).
	ConsentScopes []ScopeInfo
	// Response is what goes back to the client (StepDone).
	Response *AuthorizationResponse
	// Params are the validated request's parameters, for hidden fields.
	Params AuthorizeParams
	// FormPostOrigin is the origin (scheme://host[:port]) of the redirect
	// URI when response_mode is form_post, for the page's CSP form-action;
	// "" otherwise.
	FormPostOrigin string
}

// AuthorizationResponse is an authorization response (success or an error
// that may be redirected) addressed to a verified redirect URI.
type AuthorizationResponse struct {
	// RedirectURI is the request's redirect_uri, verified against the
	// client's registration (exact match, loopback port exception).
	RedirectURI string
	// ResponseMode is "query" or "form_post".
	ResponseMode string
	// Params are code, state and iss; or error, error_description, state
	// and iss (RFC 9207).
	Params url.Values
}

// AuthorizeError is a failed authorization request. When Redirect is false
// the redirect URI could not be verified (unknown client, missing or
// unregistered redirect_uri): show an error page with Status and never
// redirect. When Redirect is true, Response carries the error to the client.
type AuthorizeError struct {
	Code        string
	Description string
	Redirect    bool
	Response    *AuthorizationResponse
	// Status is the HTTP status of the error page (400; 429 or 503 with
	// RetryAfter when the server is busy or storage fails).
	Status     int
	RetryAfter time.Duration
}

// Error implements error.
func (e *AuthorizeError) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// LoginInput is a submitted login form.
type LoginInput struct {
	Username string
	// Password is never logged.
	Password string
	// RemoteAddr is the client address (trusted proxies applied by web).
	RemoteAddr netip.Addr
	// SessionCookie is the session cookie the browser presented ("" if
	// none); that session is deleted on a successful login, which starts a
	// new one (session fixation). Never logged.
	SessionCookie string
}

// LoginResult is a successful login inside an authorization flow.
type LoginResult struct {
	// SessionCookie is the new session's opaque id (256 random bits,
	// base64url) for the session cookie. Never logged.
	SessionCookie string
	// SessionExpires is the session's absolute expiry.
	SessionExpires time.Time
	// Next is the flow's next step (StepConsent or StepDone).
	Next *AuthorizeResult
}

// LogoutParams are the parameters of an RP-Initiated Logout request.
type LogoutParams struct {
	IDTokenHint           string
	ClientID              string
	PostLogoutRedirectURI string
	State                 string
}

// LogoutParamsFrom reads the logout parameters out of v.
func LogoutParamsFrom(v url.Values) LogoutParams {
	return LogoutParams{
		IDTokenHint:           v.Get("id_token_hint"),
		ClientID:              v.Get("client_id"),
		PostLogoutRedirectURI: v.Get("post_logout_redirect_uri"),
		State:                 v.Get("state"),
	}
}

// Values returns the non-empty parameters under their protocol names.
func (p LogoutParams) Values() url.Values {
	v := url.Values{}
	for _, kv := range [...]struct{ k, v string }{
		{"id_token_hint", p.IDTokenHint},
		{"client_id", p.ClientID},
		{"post_logout_redirect_uri", p.PostLogoutRedirectURI},
		{"state", p.State},
	} {
		if kv.v != "" {
			v.Set(kv.k, kv.v)
		}
	}
	return v
}

// LogoutPlan says how a logout proceeds.
type LogoutPlan struct {
	// NeedsConfirmation is true when the request carried no valid
	// id_token_hint: ask the user before ending the session.
	NeedsConfirmation bool
	// Client is the relying party, when known.
	Client ClientInfo
	// RedirectURI is the verified post_logout_redirect_uri with state added,
	// or "" to show the signed-out page.
	RedirectURI string
}
