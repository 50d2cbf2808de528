package web

import "github.com/sigilauth/sigil/oauth"

// Deps are the services the HTTP layer calls. The token-service routes add
// their fields here.
type Deps struct {
	// OAuth is the token service behind /oauth2/*, /userinfo and the
	// simplejwt routes. Nil leaves those routes unregistered (404).
	OAuth *oauth.Service
}
