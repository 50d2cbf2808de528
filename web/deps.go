package web

import (
	"context"
	"net/netip"

	"github.com/sigilauth/sigil/oauth"
)

// TokenService is what the token-service routes (/oauth2/*, /userinfo and
// the simplejwt routes) need from the token service. Requests arrive typed:
// the HTTP layer has already parsed forms, client authentication and the
// client address. Failures the client should hear about are *oauth.Error;
// anything else is answered 500. *oauth.Service implements it; handler tests
// use a fake.
type TokenService interface {
	Token(ctx context.Context, req oauth.TokenRequest) (*oauth.TokenResponse, error)
	Revoke(ctx context.Context, req oauth.RevokeRequest) error
	Introspect(ctx context.Context, req oauth.IntrospectRequest) (*oauth.Introspection, error)
	UserInfo(ctx context.Context, bearer string) (*oauth.IDClaims, error)

	// SimpleJWTEnabled reports whether the simplejwt routes are served:
	// the one switch for the profile lives in the service's configuration.
	SimpleJWTEnabled() bool
	SimpleJWTObtain(ctx context.Context, username, password string, ip netip.Addr) (*oauth.SimpleJWTPair, error)
	SimpleJWTRefresh(ctx context.Context, refresh string) (*oauth.SimpleJWTPair, error)
	SimpleJWTVerify(ctx context.Context, token string) error
	SimpleJWTBlacklist(ctx context.Context, refresh string) error
}

var _ TokenService = (*oauth.Service)(nil)

// Deps are the services the HTTP layer calls.
type Deps struct {
	// OAuth is the token service behind /oauth2/*, /userinfo and the
	// simplejwt routes. Nil leaves those routes unregistered (404).
	OAuth TokenService
	// SSO is the single-sign-on flow behind /oauth2/authorize,
	// /oauth2/logout and the pages' stylesheet. Nil leaves those routes
	// unregistered (404).
	SSO SSOService

	// Admin is behind the admin API (and the console). The admin API is
	// served only when both Admin and AdminTokens are set.
	Admin AdminService
	// AdminTokens checks the Bearer tokens of the admin API.
	AdminTokens AdminTokenVerifier
	// Consumers, when set, counts JWKS fetches by consumer.
	Consumers ConsumerRecorder

	// Console is the console's sign-in and session lookup. With Admin it
	// serves /login and /console/; nil leaves them unregistered (404).
	Console ConsoleAuth
}
