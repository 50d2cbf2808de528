package oauth

import "time"

// Observer is the seam for metrics. The service calls it synchronously on
// the request path, so implementations must be cheap and safe for
// concurrent use. Labels are low-cardinality: grant types and error codes,
// never client or user ids.
type Observer interface {
	// TokenIssued counts a successful token response for grant ("password",
	// "refresh_token", "client_credentials").
	TokenIssued(grant string)
	// TokenFailed counts a failed token request by grant and error code.
	TokenFailed(grant, code string)
	// RefreshReuse counts a reuse detection that revoked a family.
	RefreshReuse()
	// RefreshGrace counts a reuse accepted within refresh_reuse_grace.
	RefreshGrace()
	// LoginRefused counts password logins refused before the password was
	// checked: "locked" (account backoff) or "rate_limited" (address
	// bucket).
	LoginRefused(reason string)
	// PasswordHash records how long a login waited for a hash slot and
	// whether it got one.
	PasswordHash(wait time.Duration, acquired bool)
}

// NopObserver ignores every event.
type NopObserver struct{}

// TokenIssued does nothing.
func (NopObserver) TokenIssued(string) {}

// TokenFailed does nothing.
func (NopObserver) TokenFailed(string, string) {}

// RefreshReuse does nothing.
func (NopObserver) RefreshReuse() {}

// RefreshGrace does nothing.
func (NopObserver) RefreshGrace() {}

// LoginRefused does nothing.
func (NopObserver) LoginRefused(string) {}

// PasswordHash does nothing.
func (NopObserver) PasswordHash(time.Duration, bool) {}

var _ Observer = NopObserver{}
