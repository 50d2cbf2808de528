package oauth

import "time"

// Login results, the values Observer.Login receives.
const (
	// LoginSuccess: the password matched an enabled account.
	LoginSuccess = "success"
	// LoginBadCredentials: unknown user, wrong password or disabled account.
	LoginBadCredentials = "bad_credentials"
	// LoginLocked: the account's backoff refused the login before the
	// password was checked.
	LoginLocked = "locked"
	// LoginThrottled: the address bucket was empty.
	LoginThrottled = "throttled"
)

// Observer is the seam for metrics. The service calls it synchronously on
// the request path, so implementations must be cheap and safe for
// concurrent use. Every argument comes from a bounded set: grant types,
// error codes, algorithms, login results, and client ids only of clients
// that authenticated (registered clients), never raw input or user ids.
type Observer interface {
	// TokenIssued counts a successful token response for grant ("password",
	// "refresh_token", "client_credentials") signed with alg, for the
	// authenticated (hence registered) client.
	TokenIssued(grant, alg, client string)
	// TokenFailed counts a failed token request by grant (or "other") and
	// error code.
	TokenFailed(grant, code string)
	// RefreshReuse counts a reuse detection that revoked a family.
	RefreshReuse()
	// RefreshGrace counts a reuse accepted within refresh_reuse_grace.
	RefreshGrace()
	// Login counts a password login by result: LoginSuccess,
	// LoginBadCredentials, LoginLocked or LoginThrottled. Logins that fail
	// for other reasons (no hash slot, storage down) are not counted here.
	Login(result string)
	// PasswordHash records how long a login waited for a hash slot and
	// whether it got one.
	PasswordHash(wait time.Duration, acquired bool)
}

// NopObserver ignores every event.
type NopObserver struct{}

// TokenIssued does nothing.
func (NopObserver) TokenIssued(string, string, string) {}

// TokenFailed does nothing.
func (NopObserver) TokenFailed(string, string) {}

// RefreshReuse does nothing.
func (NopObserver) RefreshReuse() {}

// RefreshGrace does nothing.
func (NopObserver) RefreshGrace() {}

// Login does nothing.
func (NopObserver) Login(string) {}

// PasswordHash does nothing.
func (NopObserver) PasswordHash(time.Duration, bool) {}

var _ Observer = NopObserver{}
