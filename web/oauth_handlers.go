package web

import (
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/sigilauth/sigil/oauth"
)

// oauthRequest is the preamble of the form-encoded client endpoints (token,
// revocation, introspection): POST only, the RFC 6749 form (see
// readOAuthForm), and the client authentication it carries. On failure it
// has written the error and ok is false.
func (s *Server) oauthRequest(w http.ResponseWriter, r *http.Request) (form url.Values, cc oauth.ClientCredentials, ok bool) {
	if r.Method != http.MethodPost {
		s.writeOAuthError(w, r, methodError(w, r.Method, http.MethodPost))
		return nil, cc, false
	}
	form, err := readOAuthForm(w, r)
	if err == nil {
		cc, err = parseClientCredentials(r.Header.Get("Authorization"), form)
		cc.RemoteIP = s.clientAddr(r) // for the limit on failed client authentication
	}
	if err != nil {
		s.writeOAuthError(w, r, err)
		return nil, cc, false
	}
	return form, cc, true
}

// handleToken is POST /oauth2/token (RFC 6749 §3.2).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	form, cc, ok := s.oauthRequest(w, r)
	if !ok {
		return
	}
	resp, err := s.deps.OAuth.Token(r.Context(), oauth.TokenRequest{
		GrantType:    form.Get("grant_type"),
		Client:       cc,
		Scope:        form.Get("scope"),
		Username:     form.Get("username"),
		Password:     form.Get("password"),
		RefreshToken: form.Get("refresh_token"),
		Code:         form.Get("code"),
		RedirectURI:  form.Get("redirect_uri"),
		CodeVerifier: form.Get("code_verifier"),
		RemoteIP:     cc.RemoteIP, // the client address oauthRequest resolved
	})
	if err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	setLogClient(r, resp.ClientID())
	s.writeOAuthJSON(w, resp)
}

// handleRevoke is POST /oauth2/revoke (RFC 7009): 200 with an empty body on
// success, including for unknown tokens.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	form, cc, ok := s.oauthRequest(w, r)
	if !ok {
		return
	}
	err := s.deps.OAuth.Revoke(r.Context(), oauth.RevokeRequest{Client: cc, Token: form.Get("token"), TokenTypeHint: form.Get("token_type_hint")})
	if err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	setLogClient(r, cc.ID) // Revoke succeeded, so the client authenticated
	setNoStore(w.Header())
	w.WriteHeader(http.StatusOK)
}

// handleIntrospect is POST /oauth2/introspect (RFC 7662).
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	form, cc, ok := s.oauthRequest(w, r)
	if !ok {
		return
	}
	in, err := s.deps.OAuth.Introspect(r.Context(), oauth.IntrospectRequest{Client: cc, Token: form.Get("token"), TokenTypeHint: form.Get("token_type_hint")})
	if err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	setLogClient(r, cc.ID) // Introspect succeeded, so the client authenticated
	s.writeOAuthJSON(w, in)
}

// handleUserinfo is GET or POST /userinfo (OIDC Core §5.3). The access token
// comes in the Authorization header (RFC 6750 §2.1) or, for a POST, as the
// access_token form parameter (§2.2), not both. Query-string tokens are not
// accepted.
func (s *Server) handleUserinfo(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		s.writeOAuthError(w, r, methodError(w, r.Method, "GET, POST"))
		return
	}
	token, err := bearerToken(w, r)
	if err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	info, err := s.deps.OAuth.UserInfo(r.Context(), token)
	if err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	s.writeOAuthJSON(w, info)
}

// bearerToken extracts the RFC 6750 token of a userinfo request ("" if
// none).
func bearerToken(w http.ResponseWriter, r *http.Request) (string, error) {
	var token string
	if authz := r.Header.Get("Authorization"); authz != "" {
		scheme, rest, _ := strings.Cut(authz, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", &oauth.Error{Code: oauth.CodeInvalidRequest, Status: http.StatusUnauthorized,
				Description: "authorization scheme must be Bearer", Challenge: `Bearer realm="sigil"`}
		}
		token = strings.TrimSpace(rest)
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); r.Method == http.MethodPost && mt == contentTypeForm {
		form, err := readOAuthForm(w, r)
		if err != nil {
			return "", err
		}
		if form.Has("access_token") {
			if token != "" {
				return "", reqError(http.StatusBadRequest, "access token sent in both the header and the body")
			}
			token = form.Get("access_token")
		}
	}
	return token, nil
}
