package web

// Deps are the services the HTTP layer calls. The token-service routes add
// their fields here.
type Deps struct{}
