package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sigilauth/sigil/oauth"
)

// Endpoint paths, relative to the issuer.
const (
	PathOpenIDConfig = "/.well-known/openid-configuration"
	PathOAuthMeta    = "/.well-known/oauth-authorization-server"
	PathJWKS         = "/.well-known/jwks.json"
	PathToken        = "/oauth2/token"
	PathRevoke       = "/oauth2/revoke"
	PathIntrospect   = "/oauth2/introspect"
	PathUserinfo     = "/userinfo"
	PathAuthorize    = "/oauth2/authorize"
	PathLogout       = "/oauth2/logout"
)

// discovery is the OpenID Provider / RFC 8414 metadata document.
type discovery struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	IntrospectionEndpoint             string   `json:"introspection_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	AuthorizationResponseISSSupported bool     `json:"authorization_response_iss_parameter_supported"`
	BackchannelLogoutSupported        bool     `json:"backchannel_logout_supported"`
	BackchannelLogoutSessionSupported bool     `json:"backchannel_logout_session_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethods          []string `json:"token_endpoint_auth_methods_supported"`
	RevocationEndpointAuthMethods     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpointAuthMethods  []string `json:"introspection_endpoint_auth_methods_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	AccessTokenSigningAlgValues       []string `json:"access_token_signing_alg_values_supported"`
	UserinfoSigningAlgValuesSupported []string `json:"userinfo_signing_alg_values_supported,omitempty"`
}

// discoveryDocument renders the metadata once; it only changes with config.
func discoveryDocument(issuer string, algs []string) ([]byte, error) {
	if issuer == "" {
		return nil, fmt.Errorf("discovery: empty issuer")
	}
	d := discovery{
		Issuer:                issuer,
		AuthorizationEndpoint: issuer + PathAuthorize,
		EndSessionEndpoint:    issuer + PathLogout,
		JWKSURI:               issuer + PathJWKS,
		TokenEndpoint:         issuer + PathToken,
		RevocationEndpoint:    issuer + PathRevoke,
		IntrospectionEndpoint: issuer + PathIntrospect,
		UserinfoEndpoint:      issuer + PathUserinfo,
		GrantTypesSupported:   oauth.Grants(),
		// The code flow with PKCE S256 only (RFC 9700 §2.1); no implicit or
		// hybrid response types.
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query", "form_post"},
		CodeChallengeMethodsSupported:     []string{"S256"},
		AuthorizationResponseISSSupported: true,
		BackchannelLogoutSupported:        true,
		BackchannelLogoutSessionSupported: true,
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  algs,
		AccessTokenSigningAlgValues:       algs,
		TokenEndpointAuthMethods:          []string{"client_secret_basic", "client_secret_post", "none"},
		RevocationEndpointAuthMethods:     []string{"client_secret_basic", "client_secret_post", "none"},
		IntrospectionEndpointAuthMethods:  []string{"client_secret_basic", "client_secret_post"},
		ScopesSupported:                   oauth.UserScopes(),
		ClaimsSupported: []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "sid", "at_hash", "name", "given_name",
			"family_name", "preferred_username", "email", "email_verified"},
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	return append(b, '\n'), nil
}

// discoveryMaxAge is how long clients may cache the discovery document.
const discoveryMaxAge = time.Hour

func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(discoveryMaxAge/time.Second)))
	h.Set("Access-Control-Allow-Origin", "*")
	_, _ = w.Write(s.discov)
}
