package oauth

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// RevokeRequest is a decoded RFC 7009 revocation request.
type RevokeRequest struct {
	Client ClientCredentials
	// Token is the token to revoke (access or refresh).
	Token string
	// TokenTypeHint is accepted and ignored: both kinds are recognised by
	// their form.
	TokenTypeHint string
}

// Revoke implements RFC 7009 for an authenticated client. A refresh token
// revokes its whole family; an access token's jti goes on the deny list
// until its exp (introspection and userinfo then refuse it; offline
// verifiers only see it expire). Unknown, malformed and expired tokens
// succeed without effect. A token issued to another client is refused with
// unauthorized_client. Storage failures are 503, never a false success.
func (s *Service) Revoke(ctx context.Context, req RevokeRequest) error {
	client, err := s.authenticateClient(ctx, req.Client)
	if err != nil {
		return err
	}
	if req.Token == "" {
		return errInvalidRequest("missing token")
	}
	return s.revoke(ctx, client.ID, req.Token, s.now())
}

func (s *Service) revoke(ctx context.Context, clientID, raw string, now time.Time) error {
	if famID, ok := refreshFamilyID(raw); ok {
		fam, err := s.store.GetFamily(ctx, famID, now)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return storeErr("get refresh family", err)
		}
		// Only the family's current or previous token revokes it; any other
		// token is unknown here (at the token endpoint it would be reuse).
		if h := refreshTokenID(raw); h != fam.CurrentHash && h != fam.PreviousHash {
			return nil
		}
		if fam.ClientID != clientID {
			return errUnauthorizedClient("token was issued to another client")
		}
		if err := s.store.RevokeFamily(ctx, fam.ID, now, revokeByClient); err != nil && !isNotFound(err) {
			return storeErr("revoke refresh family", err)
		}
		return nil
	}
	c, err := s.parseAccess(ctx, raw, now)
	if err != nil {
		return nil // unknown or expired: nothing to revoke
	}
	if c.ClientID != clientID {
		return errUnauthorizedClient("token was issued to another client")
	}
	if err := s.store.DenyAccessToken(ctx, c.JTI, time.Unix(c.ExpiresAt, 0)); err != nil {
		return storeErr("deny access token", err)
	}
	return nil
}

// IntrospectRequest is a decoded RFC 7662 request.
type IntrospectRequest struct {
	Client        ClientCredentials
	Token         string
	TokenTypeHint string
}

// Introspection is the RFC 7662 response. Inactive tokens carry only
// Active=false.
type Introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	Username  string   `json:"username,omitempty"`
	TokenType string   `json:"token_type,omitempty"`
	ExpiresAt int64    `json:"exp,omitempty"`
	IssuedAt  int64    `json:"iat,omitempty"`
	NotBefore int64    `json:"nbf,omitempty"`
	Subject   string   `json:"sub,omitempty"`
	Audience  Audience `json:"aud,omitempty"`
	Issuer    string   `json:"iss,omitempty"`
	JTI       string   `json:"jti,omitempty"`
}

// Introspect implements RFC 7662. The caller must be a confidential client
// (public clients cannot authenticate: invalid_client). A client sees only
// tokens issued to it, access tokens whose audience it is, or, if
// registered with IntrospectAny, every token; any other token answers
// {"active": false}, exactly as an invalid one. An access token is active
// when its signature, issuer and times check out, its jti is not denied
// and, for a user's token, the user still exists, is enabled and has not
// changed password since auth_time (token_type "Bearer"); a refresh token
// is active when it is unused and unexpired, its family is not revoked,
// and its user passes the same checks against the login (token_type
// "refresh_token"). Storage failures are 503.
func (s *Service) Introspect(ctx context.Context, req IntrospectRequest) (*Introspection, error) {
	client, err := s.authenticateClient(ctx, req.Client)
	if err != nil {
		return nil, err
	}
	if client.Public {
		return nil, errClientAuth(req.Client.Basic) // no hint that the id is a public client
	}
	if req.Token == "" {
		return nil, errInvalidRequest("missing token")
	}
	now := s.now()
	if looksLikeRefreshToken(req.Token) {
		return s.introspectRefresh(ctx, client, req.Token, now)
	}
	c, err := s.checkAccess(ctx, req.Token, now)
	if err == nil && !mayIntrospect(client, c.ClientID, c.Audience) {
		return &Introspection{}, nil
	}
	if err == nil {
		_, err = s.checkAccessUser(ctx, c)
	}
	if err != nil {
		if e := AsError(err); e != nil && e.Code == CodeInvalidToken {
			return &Introspection{}, nil
		}
		return nil, err
	}
	return &Introspection{
		Active:    true,
		Scope:     c.Scope,
		ClientID:  c.ClientID,
		TokenType: TokenTypeBearer,
		ExpiresAt: c.ExpiresAt,
		IssuedAt:  c.IssuedAt,
		NotBefore: c.NotBefore,
		Subject:   c.Subject,
		Audience:  c.Audience,
		Issuer:    c.Issuer,
		JTI:       c.JTI,
	}, nil
}

// mayIntrospect reports whether client may learn about a token issued to
// issuedTo for audience.
func mayIntrospect(client storage.Client, issuedTo string, audience []string) bool {
	return client.IntrospectAny || issuedTo == client.ID || contains(audience, client.ID)
}

// checkAccessUser applies the user-state checks to a valid access token:
// a user's token (one with auth_time; client_credentials tokens have none)
// is refused with invalid_token when the user no longer exists, is
// disabled, or changed password in a second after auth_time. It returns
// the user (zero for a client's token). Storage failures are 503.
func (s *Service) checkAccessUser(ctx context.Context, c AccessClaims) (storage.User, error) {
	if c.AuthTime == 0 {
		return storage.User{}, nil
	}
	u, err := s.store.GetUser(ctx, c.Subject)
	switch {
	case isNotFound(err):
		return u, errInvalidToken(ReasonUserInactive, "user no longer exists")
	case err != nil:
		return u, storeErr("get user", err)
	case u.Disabled:
		return u, errInvalidToken(ReasonUserInactive, "user is disabled")
	case u.PasswordChangedAt.Unix() > c.AuthTime:
		// auth_time has whole seconds: a change within the login's second
		// cannot be told apart from one just before it.
		return u, errInvalidToken(ReasonPasswordChanged, "password changed since login")
	}
	return u, nil
}

func (s *Service) introspectRefresh(ctx context.Context, client storage.Client, raw string, now time.Time) (*Introspection, error) {
	fam, u, err := s.activeRefresh(ctx, raw, now)
	if err == nil && !mayIntrospect(client, fam.ClientID, nil) {
		return &Introspection{}, nil
	}
	if err != nil {
		if e := AsError(err); e != nil && e.Reason != ReasonUnavailable {
			return &Introspection{}, nil
		}
		return nil, err
	}
	return &Introspection{
		Active:    true,
		Scope:     strings.Join(fam.Scopes, " "),
		ClientID:  fam.ClientID,
		Username:  u.Username,
		TokenType: "refresh_token",
		ExpiresAt: refreshExpiresAt(fam).Unix(),
		IssuedAt:  fam.CurrentIssuedAt.Unix(),
		Subject:   fam.UserID,
		Issuer:    s.cfg.Issuer,
	}, nil
}

// activeRefresh returns the family and user of a refresh token that could
// be exchanged now (the family's current token), without changing anything.
// Failures are invalid_grant with a Reason, or 503.
func (s *Service) activeRefresh(ctx context.Context, raw string, now time.Time) (storage.RefreshFamily, storage.User, error) {
	fam, current, err := s.lookupRefresh(ctx, raw, now)
	if err != nil {
		return fam, storage.User{}, err
	}
	if !current {
		if refreshTokenID(raw) == fam.PreviousHash {
			return fam, storage.User{}, errInvalidGrant(ReasonTokenRevoked, "refresh token was already used")
		}
		return fam, storage.User{}, errInvalidGrant(ReasonTokenInvalid, "refresh token is invalid or expired")
	}
	u, err := s.store.GetUser(ctx, fam.UserID)
	switch {
	case isNotFound(err):
		return fam, u, errInvalidGrant(ReasonUserInactive, "user no longer exists")
	case err != nil:
		return fam, u, storeErr("get user", err)
	case u.Disabled:
		return fam, u, errInvalidGrant(ReasonUserInactive, "user is disabled")
	case u.PasswordChangedAt.After(fam.AuthTime):
		return fam, u, errInvalidGrant(ReasonPasswordChanged, "password changed since login")
	}
	return fam, u, nil
}

// UserInfo implements the OIDC userinfo endpoint for a Bearer access token
// (the raw token, "" if the request had none). It refuses anything but a
// valid, unrevoked access token of this server (ID tokens, other typs,
// alg none or HS256, other issuers) with 401 invalid_token, a token without
// the openid scope with 403 insufficient_scope, and a token whose user is
// gone, disabled or changed password since auth_time with 401
// invalid_token (the checks introspection applies too). The result holds
// sub and the profile and email claims the token's scopes allow.
func (s *Service) UserInfo(ctx context.Context, bearer string) (*IDClaims, error) {
	if bearer == "" {
		return nil, &Error{
			Code:        CodeInvalidRequest,
			Status:      http.StatusUnauthorized,
			Description: "missing bearer access token",
			Challenge:   `Bearer realm="sigil"`,
		}
	}
	now := s.now()
	c, err := s.checkAccess(ctx, bearer, now)
	if err != nil {
		return nil, err
	}
	scopes := scopeList(c.Scope)
	if !contains(scopes, ScopeOpenID) {
		return nil, &Error{
			Code:        CodeInsufficientScope,
			Status:      http.StatusForbidden,
			Description: "token lacks the openid scope",
			Challenge:   `Bearer error="insufficient_scope", scope="openid"`,
		}
	}
	if c.AuthTime == 0 {
		// A client_credentials token has openid refused at issuance; one
		// that has it anyway names no user.
		return nil, errInvalidToken(ReasonUserInactive, "token names no user")
	}
	u, err := s.checkAccessUser(ctx, c)
	if err != nil {
		return nil, err
	}
	out := &IDClaims{Subject: u.ID}
	profileClaims(out, &u, scopes)
	return out, nil
}
