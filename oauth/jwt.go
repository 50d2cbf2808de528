package oauth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sigilauth/sigil/oauth/verify"
	"github.com/sigilauth/sigil/storage"
)

// newVerifier builds the verifier with which the service checks its own
// access tokens: oauth/verify over the key ring's published keys, any
// audience (any client's token), the service's clock and Leeway. The
// library allows Leeway past exp too; parseAccess takes that back, so the
// service is strict on exp (see parseAccess).
//
// extra options adapt it to other tokens of the server (see hintVerifier).
func (s *Service) newVerifier(extra ...verify.Option) (*verify.Verifier, error) {
	opts := append([]verify.Option{
		verify.WithKeySet(s.keys),
		verify.SkipAudienceCheck(), // the server accepts its tokens for every client
		verify.WithLeeway(s.cfg.Leeway),
		verify.WithClock(func() time.Time { return s.now() }),
	}, extra...)
	v, err := verify.New(context.Background(), s.cfg.Issuer, opts...)
	if err != nil {
		return nil, fmt.Errorf("oauth: %w", err)
	}
	return v, nil
}

// parseAccess verifies an access token through the verifier (size cap,
// header, alg, key, signature, typ at+jwt, iss, nbf/iat with Leeway), then
// adds the server's own rules: jti and sub are required, and exp is strict:
// the token is expired from exp on, whatever the leeway (tokens are
// short-lived, and what the server says of its own token must not depend on
// skew it does not have). It does not consult the deny list. The error is
// invalid_token with ReasonTokenInvalid or ReasonTokenExpired.
func (s *Service) parseAccess(ctx context.Context, raw string, now time.Time) (AccessClaims, error) {
	vc, err := s.verifier.Verify(ctx, raw)
	switch {
	case errors.Is(err, verify.ErrExpired):
		return AccessClaims{}, errInvalidToken(ReasonTokenExpired, "token is expired")
	case errors.Is(err, verify.ErrNotYetValid):
		return AccessClaims{}, errInvalidToken(ReasonTokenInvalid, "token is not valid yet")
	case err != nil:
		return AccessClaims{}, errInvalidToken(ReasonTokenInvalid, "token is invalid")
	}
	var c AccessClaims
	if err := vc.Decode(&c); err != nil || c.JTI == "" || c.Subject == "" || c.ExpiresAt == 0 {
		return AccessClaims{}, errInvalidToken(ReasonTokenInvalid, "token is invalid")
	}
	if now.Unix() >= c.ExpiresAt {
		return AccessClaims{}, errInvalidToken(ReasonTokenExpired, "token is expired")
	}
	return c, nil
}

// checkAccess is parseAccess plus the deny list (revoked jti). Storage
// failures are 503.
func (s *Service) checkAccess(ctx context.Context, raw string, now time.Time) (AccessClaims, error) {
	c, err := s.parseAccess(ctx, raw, now)
	if err != nil {
		return AccessClaims{}, err
	}
	denied, err := s.store.IsAccessTokenDenied(ctx, c.JTI, now)
	if err != nil {
		return AccessClaims{}, storeErr("check access token deny list", err)
	}
	if denied {
		return AccessClaims{}, errInvalidToken(ReasonTokenRevoked, "token has been revoked")
	}
	return c, nil
}

// scopeList splits a scope claim.
func scopeList(scope string) []string {
	if scope == "" {
		return nil
	}
	return strings.Fields(scope)
}

// ScopeAdmin is the scope an access token needs for the admin API.
const ScopeAdmin = "sigil:admin"

// Errors of AdminActor.
var (
	// ErrAdminTokenInvalid: missing, malformed, expired or revoked token.
	ErrAdminTokenInvalid = errors.New("missing or invalid access token")
	// ErrAdminTokenForbidden: a valid token without the sigil:admin scope,
	// or of a user who is not an enabled admin.
	ErrAdminTokenForbidden = errors.New("token lacks the sigil:admin scope or its user is not an admin")
)

// AdminActor checks the access token of an admin API request with the
// service's own checks (checkAccess: signature, typ, iss, strict exp, deny
// list), then requires the scope sigil:admin and, for a user's token (one
// with auth_time; client_credentials tokens have none), that the user
// exists, is enabled and is an admin. It returns the actor: the username,
// or the client id of a client_credentials token. Failures wrap
// ErrAdminTokenInvalid or ErrAdminTokenForbidden; anything else is a
// storage failure.
func (s *Service) AdminActor(ctx context.Context, bearer string) (string, error) {
	if bearer == "" {
		return "", ErrAdminTokenInvalid
	}
	c, err := s.checkAccess(ctx, bearer, s.now())
	if err != nil {
		var oe *Error
		if errors.As(err, &oe) && oe.Code == CodeInvalidToken {
			return "", fmt.Errorf("%w: %s", ErrAdminTokenInvalid, oe.Description)
		}
		return "", err
	}
	if !containsScope(scopeList(c.Scope), ScopeAdmin) {
		return "", ErrAdminTokenForbidden
	}
	if c.AuthTime == 0 && c.Subject == c.ClientID {
		return c.ClientID, nil
	}
	u, err := s.store.GetUser(ctx, c.Subject)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return "", fmt.Errorf("%w: unknown user", ErrAdminTokenInvalid)
	case err != nil:
		return "", fmt.Errorf("look up admin user: %w", err)
	case u.Disabled || !u.Admin:
		return "", ErrAdminTokenForbidden
	}
	return u.Username, nil
}

func containsScope(scopes []string, want string) bool {
	for _, s := range scopes {
		if s == want {
			return true
		}
	}
	return false
}
