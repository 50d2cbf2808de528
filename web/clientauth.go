package web

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/sigilauth/sigil/oauth"
)

// parseClientCredentials extracts client authentication from the
// Authorization header value (may be "") and the client_id/client_secret
// form parameters. Basic credentials are form-urlencoded before base64
// (RFC 6749 §2.3.1) and are decoded accordingly. Using Basic and a
// client_secret parameter together, or a client_id parameter that differs
// from the Basic user, is invalid_request; a malformed Basic header is
// invalid_client with a Basic challenge.
func parseClientCredentials(authorization string, form url.Values) (oauth.ClientCredentials, error) {
	formID, formSecret := form.Get("client_id"), form.Get("client_secret")
	if authorization == "" {
		return oauth.ClientCredentials{ID: formID, Secret: formSecret}, nil
	}
	scheme, rest, _ := strings.Cut(authorization, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return oauth.ClientCredentials{}, reqError(http.StatusBadRequest, "unsupported authorization scheme; use Basic or client_secret_post")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return oauth.ClientCredentials{}, badBasic()
	}
	user, pass, ok := strings.Cut(string(raw), ":")
	if !ok {
		return oauth.ClientCredentials{}, badBasic()
	}
	id, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	if err1 != nil || err2 != nil {
		return oauth.ClientCredentials{}, badBasic()
	}
	if form.Has("client_secret") {
		return oauth.ClientCredentials{}, reqError(http.StatusBadRequest, "client authenticated with more than one method")
	}
	if form.Has("client_id") && formID != id {
		return oauth.ClientCredentials{}, reqError(http.StatusBadRequest, "client_id does not match the authorization header")
	}
	return oauth.ClientCredentials{ID: id, Secret: secret, Basic: true}, nil
}

// badBasic is the invalid_client answer to an unreadable Basic header.
func badBasic() *oauth.Error {
	return &oauth.Error{Code: oauth.CodeInvalidClient, Status: http.StatusUnauthorized,
		Description: "malformed basic credentials", Challenge: oauth.ChallengeBasic}
}
