package oauth

import (
	"context"
	"errors"
	"net/http"
	"net/netip"

	"github.com/sigilauth/sigil/storage"
)

// SimpleJWTPair is the body djangorestframework-simplejwt answers on obtain
// and refresh.
type SimpleJWTPair struct {
	Access  string `json:"access"`
	Refresh string `json:"refresh"`
}

// errSimpleJWTOff is returned by the SimpleJWT* methods when the profile is
// off.
var errSimpleJWTOff = errors.New("simplejwt compatibility is off")

// compatClient loads the client the simplejwt operations act as (through
// the client cache, as client authentication does). A missing
// client, or one without the password grant, is a configuration error (500,
// ReasonMisconfigured; the cause is logged, not shown).
func (s *Service) compatClient(ctx context.Context) (storage.Client, error) {
	if !s.cfg.SimpleJWT {
		return storage.Client{}, errServer("simplejwt", errSimpleJWTOff)
	}
	c, _, err := s.cachedClient(ctx, s.cfg.CompatClientID)
	if isNotFound(err) || (err == nil && !allowsGrant(c, GrantPassword)) {
		return storage.Client{}, &Error{
			Code:        CodeServerError,
			Status:      http.StatusInternalServerError,
			Description: "simplejwt client is not configured",
			Reason:      ReasonMisconfigured,
			cause:       errors.New("compat.client_id names no client registered with the password grant"),
		}
	}
	if err != nil {
		return storage.Client{}, storeErr("get client", err)
	}
	return c, nil
}

// SimpleJWTObtain is simplejwt's TokenObtainPairView: a password login as
// the compat client with its registered scopes. It always returns a refresh
// token (simplejwt has no way to ask for one). Failures are the password
// grant's (ReasonBadCredentials for every refused login, ReasonRateLimited,
// ReasonBusy, ReasonUnavailable) or ReasonMisconfigured.
func (s *Service) SimpleJWTObtain(ctx context.Context, username, pw string, ip netip.Addr) (*SimpleJWTPair, error) {
	client, err := s.compatClient(ctx)
	if err != nil {
		return nil, err
	}
	user, err := s.login(ctx, username, pw, ip)
	if err != nil {
		s.obs.TokenFailed(GrantPassword, errCode(err))
		return nil, err
	}
	resp, err := s.issueForLogin(ctx, client, user, client.Scopes, true)
	if err != nil {
		return nil, err
	}
	s.obs.TokenIssued(GrantPassword, resp.alg, resp.clientID)
	return &SimpleJWTPair{Access: resp.AccessToken, Refresh: resp.RefreshToken}, nil
}

// SimpleJWTRefresh is simplejwt's TokenRefreshView with rotation on: the
// refresh grant for the compat client, same rules (rotation, reuse
// detection, grace).
func (s *Service) SimpleJWTRefresh(ctx context.Context, refresh string) (*SimpleJWTPair, error) {
	client, err := s.compatClient(ctx)
	if err != nil {
		return nil, err
	}
	resp, err := s.refreshGrant(ctx, client, refresh, nil)
	if err != nil {
		s.obs.TokenFailed(GrantRefreshToken, errCode(err))
		return nil, err
	}
	s.obs.TokenIssued(GrantRefreshToken, resp.alg, resp.clientID)
	return &SimpleJWTPair{Access: resp.AccessToken, Refresh: resp.RefreshToken}, nil
}

// SimpleJWTVerify is simplejwt's TokenVerifyView: nil if token is a valid
// access token of this server (any client) or an exchangeable refresh
// token of the compat client. Failures carry ReasonTokenInvalid,
// ReasonTokenExpired, ReasonTokenRevoked, ReasonUserInactive,
// ReasonPasswordChanged, or ReasonUnavailable.
func (s *Service) SimpleJWTVerify(ctx context.Context, token string) error {
	if !s.cfg.SimpleJWT {
		return errServer("simplejwt", errSimpleJWTOff)
	}
	now := s.now()
	if looksLikeRefreshToken(token) {
		fam, _, err := s.activeRefresh(ctx, token, now)
		if err != nil {
			return err
		}
		if fam.ClientID != s.cfg.CompatClientID {
			return errInvalidGrant(ReasonTokenInvalid, "refresh token was issued to another client")
		}
		return nil
	}
	_, err := s.checkAccess(ctx, token, now)
	return err
}

// SimpleJWTBlacklist is simplejwt's TokenBlacklistView: it revokes the
// family of a refresh token of the compat client. A token already used or
// revoked answers ReasonTokenRevoked (simplejwt's "Token is blacklisted"),
// and a used one still revokes its family (it is reuse).
func (s *Service) SimpleJWTBlacklist(ctx context.Context, refresh string) error {
	if !s.cfg.SimpleJWT {
		return errServer("simplejwt", errSimpleJWTOff)
	}
	now := s.now()
	fam, current, err := s.lookupRefresh(ctx, refresh, now)
	if err != nil {
		return err
	}
	if fam.ClientID != s.cfg.CompatClientID {
		return errInvalidGrant(ReasonTokenInvalid, "refresh token was issued to another client")
	}
	if !current {
		return s.revokeForReuse(ctx, fam, now)
	}
	if err := s.store.RevokeFamily(ctx, fam.ID, now, revokeByClient); err != nil && !isNotFound(err) {
		return storeErr("revoke refresh family", err)
	}
	return nil
}

func errCode(err error) string {
	if e := AsError(err); e != nil {
		return e.Code
	}
	return CodeServerError
}
