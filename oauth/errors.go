package oauth

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// Error codes of RFC 6749 §5.2, RFC 6750 §3.1 and RFC 7009 §2.2.1.
const (
	CodeInvalidRequest         = "invalid_request"
	CodeInvalidClient          = "invalid_client"
	CodeInvalidGrant           = "invalid_grant"
	CodeUnauthorizedClient     = "unauthorized_client"
	CodeUnsupportedGrantType   = "unsupported_grant_type"
	CodeInvalidScope           = "invalid_scope"
	CodeInvalidToken           = "invalid_token"
	CodeInsufficientScope      = "insufficient_scope"
	CodeServerError            = "server_error"
	CodeTemporarilyUnavailable = "temporarily_unavailable"
)

// Reason refines an Error for callers that speak another dialect (the
// simplejwt routes) or count failures. It never reaches an OAuth response.
type Reason string

// Reasons.
const (
	// ReasonNone is an ordinary protocol error.
	ReasonNone Reason = ""
	// ReasonBadCredentials: unknown user, wrong password, disabled or locked
	// account (indistinguishable on purpose).
	ReasonBadCredentials Reason = "bad_credentials"
	// ReasonTokenInvalid: a token that is malformed, unknown, of another
	// client, or badly signed.
	ReasonTokenInvalid Reason = "token_invalid"
	// ReasonTokenExpired: a well-formed, correctly signed token past its exp.
	ReasonTokenExpired Reason = "token_expired"
	// ReasonTokenRevoked: a refresh token already used (reuse detected),
	// whose family was revoked, or an access token on the deny list.
	ReasonTokenRevoked Reason = "token_revoked"
	// ReasonUserInactive: the token's user is disabled or no longer exists.
	ReasonUserInactive Reason = "user_inactive"
	// ReasonPasswordChanged: the user changed password after the login.
	ReasonPasswordChanged Reason = "password_changed"
	// ReasonRateLimited: the per-address login bucket is empty.
	ReasonRateLimited Reason = "rate_limited"
	// ReasonBusy: every password-hash slot stayed taken for the wait.
	ReasonBusy Reason = "busy"
	// ReasonUnavailable: storage failed.
	ReasonUnavailable Reason = "unavailable"
	// ReasonMisconfigured: the server is configured inconsistently (for
	// example the simplejwt client is not registered).
	ReasonMisconfigured Reason = "misconfigured"
)

// Error is a protocol error: an RFC 6749 error code, a description safe to
// show the client, and the HTTP status to answer with. Service methods
// return it (as error) for every failure the client should hear about; any
// other error is a bug or an unexpected failure, which the HTTP layer logs
// and answers as 500 server_error.
//
// Descriptions never contain tokens, passwords or secrets. The wrapped cause
// (Unwrap) is for logs only.
type Error struct {
	// Code is the RFC 6749 "error" value.
	Code string
	// Description is the "error_description" value.
	Description string
	// Status is the HTTP status code.
	Status int
	// RetryAfter, when positive, is sent as a Retry-After header.
	RetryAfter time.Duration
	// Challenge, when set, is sent as the WWW-Authenticate header.
	Challenge string
	// Reason refines the error for other dialects; see Reason.
	Reason Reason
	cause  error
}

// Error implements error. It includes the cause, so it is meant for logs.
func (e *Error) Error() string {
	s := e.Code
	if e.Description != "" {
		s += ": " + e.Description
	}
	if e.cause != nil {
		s += ": " + e.cause.Error()
	}
	return s
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.cause }

func newError(code string, status int, desc string) *Error {
	return &Error{Code: code, Status: status, Description: desc}
}

func errInvalidRequest(format string, args ...any) *Error {
	return newError(CodeInvalidRequest, http.StatusBadRequest, fmt.Sprintf(format, args...))
}

func errInvalidGrant(reason Reason, desc string) *Error {
	e := newError(CodeInvalidGrant, http.StatusBadRequest, desc)
	e.Reason = reason
	return e
}

func errInvalidScope(format string, args ...any) *Error {
	return newError(CodeInvalidScope, http.StatusBadRequest, fmt.Sprintf(format, args...))
}

func errUnauthorizedClient(format string, args ...any) *Error {
	return newError(CodeUnauthorizedClient, http.StatusBadRequest, fmt.Sprintf(format, args...))
}

// ChallengeBasic is the WWW-Authenticate of an invalid_client answer to a
// client that authenticated with Basic (RFC 6749 §5.2).
const ChallengeBasic = `Basic realm="sigil", charset="UTF-8"`

// errInvalidClient is 401; with basic, it challenges for Basic credentials.
func errInvalidClient(basic bool, desc string) *Error {
	e := newError(CodeInvalidClient, http.StatusUnauthorized, desc)
	if basic {
		e.Challenge = ChallengeBasic
	}
	return e
}

// errInvalidToken is the RFC 6750 401 for a bad bearer token.
func errInvalidToken(reason Reason, desc string) *Error {
	e := newError(CodeInvalidToken, http.StatusUnauthorized, desc)
	e.Reason = reason
	e.Challenge = `Bearer error="invalid_token", error_description="` + desc + `"`
	return e
}

// unavailableRetry is the Retry-After sent when storage fails.
const unavailableRetry = 2 * time.Second

// errUnavailable wraps a storage failure as 503 temporarily_unavailable.
func errUnavailable(op string, err error) *Error {
	return &Error{
		Code:        CodeTemporarilyUnavailable,
		Status:      http.StatusServiceUnavailable,
		Description: "storage is unavailable, retry later",
		RetryAfter:  unavailableRetry,
		Reason:      ReasonUnavailable,
		cause:       fmt.Errorf("%s: %w", op, err),
	}
}

// errServer is a 500 whose cause is logged by the HTTP layer.
func errServer(op string, err error) *Error {
	return &Error{
		Code:        CodeServerError,
		Status:      http.StatusInternalServerError,
		Description: "internal error",
		cause:       fmt.Errorf("%s: %w", op, err),
	}
}

// storeErr maps an unexpected storage error (anything but the sentinels the
// caller handles itself) to 503.
func storeErr(op string, err error) error {
	return errUnavailable(op, err)
}

// isNotFound reports storage.ErrNotFound.
func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }

// AsError returns err as *Error, or nil if it is not one.
func AsError(err error) *Error {
	if err == nil {
		return nil // the common case, without errors.As's allocation
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
