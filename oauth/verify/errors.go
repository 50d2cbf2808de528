package verify

import (
	"errors"
	"time"
)

// Errors returned by Verify, each wrapped with detail (never the token
// itself). Tell them apart with errors.Is; ExpiredError and NotYetValidError
// also carry the relevant time for errors.As.
var (
	// ErrMalformed reports a token that is not a JWS compact serialization
	// Sigil could have produced: wrong number of parts, bad base64url, bad
	// JSON, a missing or mistyped claim, larger than MaxTokenSize, or a header
	// that would name its own key (jwk, jku, x5u, x5c) or critical extensions.
	ErrMalformed = errors.New("malformed token")
	// ErrTokenType reports a typ header other than at+jwt (RFC 9068), such
	// as an ID token's "JWT".
	ErrTokenType = errors.New("wrong token type")
	// ErrAlgorithm reports an alg outside the accepted algorithms (none and
	// HMAC are never accepted) or one that differs from the key's alg.
	ErrAlgorithm = errors.New("token algorithm not accepted")
	// ErrUnknownKey reports a kid that is not in the key set, even after the
	// refetch an unknown kid triggers.
	ErrUnknownKey = errors.New("unknown signing key")
	// ErrKeySetUnavailable reports that the key set had to be fetched to
	// verify the token and the fetch failed. It is a server-side condition
	// (the Middleware answers 503), not a fault of the token; it is wrapped
	// together with ErrUnknownKey.
	ErrKeySetUnavailable = errors.New("key set unavailable")
	// ErrSignature reports a signature that does not verify with the key the
	// token names. It is reported before any claim check, so a token that is
	// both expired and badly signed reports ErrSignature.
	ErrSignature = errors.New("invalid token signature")
	// ErrExpired reports a token at or past exp (plus leeway); the error is
	// an *ExpiredError.
	ErrExpired = errors.New("token expired")
	// ErrNotYetValid reports a token whose nbf or iat is later than now plus
	// leeway; the error is a *NotYetValidError.
	ErrNotYetValid = errors.New("token not yet valid")
	// ErrIssuer reports an iss claim that is missing or differs from the
	// verifier's issuer (exact, case-sensitive comparison).
	ErrIssuer = errors.New("wrong token issuer")
	// ErrAudience reports an aud claim that does not contain the verifier's
	// audience.
	ErrAudience = errors.New("wrong token audience")
)

// ExpiredError is the error for an expired token. errors.Is(err, ErrExpired)
// holds for it.
type ExpiredError struct {
	// Expiry is the token's exp claim.
	Expiry time.Time
}

// Error implements error.
func (e *ExpiredError) Error() string {
	return "token expired at " + e.Expiry.UTC().Format(time.RFC3339)
}

// Is reports whether target is ErrExpired.
func (e *ExpiredError) Is(target error) bool { return target == ErrExpired }

// NotYetValidError is the error for a token used before its nbf, or whose iat
// lies in the future, beyond the leeway. errors.Is(err, ErrNotYetValid) holds
// for it.
type NotYetValidError struct {
	// ValidFrom is the nbf claim, or the iat claim when that is the later
	// offending one.
	ValidFrom time.Time
}

// Error implements error.
func (e *NotYetValidError) Error() string {
	return "token not valid before " + e.ValidFrom.UTC().Format(time.RFC3339)
}

// Is reports whether target is ErrNotYetValid.
func (e *NotYetValidError) Is(target error) bool { return target == ErrNotYetValid }

// tokenFault reports whether err blames the token (answer 401) rather than
// the key set or the request context (answer 503).
func tokenFault(err error) bool {
	if errors.Is(err, ErrKeySetUnavailable) {
		return false
	}
	for _, e := range []error{ErrMalformed, ErrTokenType, ErrAlgorithm, ErrUnknownKey,
		ErrSignature, ErrExpired, ErrNotYetValid, ErrIssuer, ErrAudience} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// describe returns a fixed, token-free description of err for the
// WWW-Authenticate header.
func describe(err error) string {
	for _, e := range []error{ErrMalformed, ErrTokenType, ErrAlgorithm, ErrUnknownKey,
		ErrSignature, ErrExpired, ErrNotYetValid, ErrIssuer, ErrAudience} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return "invalid token"
}
