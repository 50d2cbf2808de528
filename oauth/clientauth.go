package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/netip"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// ClientCredentials are the client authentication one request carried, as
// the HTTP layer decoded it (client_secret_basic or client_secret_post).
type ClientCredentials struct {
	// ID is the client_id ("" if the request named no client).
	ID string
	// Secret is the client secret ("" if none was sent). Never logged.
	Secret string
	// Basic reports that the credentials came from an Authorization: Basic
	// header (client_secret_basic); a failed authentication then answers
	// with a Basic challenge.
	Basic bool
	// RemoteIP is the address the request came from (the HTTP layer
	// resolves proxies), for the per-address limit on failed client
	// authentication. The zero Addr is not limited.
	RemoteIP netip.Addr
}

// maxClientIDLen bounds client ids looked up in storage.
const maxClientIDLen = 256

// clientAuthFailed is the one description of every failed client
// authentication: no client, unknown client, wrong or missing secret, a
// public client sending a secret, a public client where a confidential one
// is required. A different answer per case would tell an attacker which
// client ids exist and what kind they are.
const clientAuthFailed = "client authentication failed"

// errClientAuth is the invalid_client answer of every failed client
// authentication; with basic it challenges for Basic credentials.
func errClientAuth(basic bool) *Error { return errInvalidClient(basic, clientAuthFailed) }

// authenticateClient authenticates the client of a request (see
// checkClient), limited per address: while the address's
// client-authentication bucket (Config.ClientAuthLimit) is empty, the
// answer is 429 temporarily_unavailable with Retry-After, before any
// lookup; each failed authentication spends a token. Successes spend
// nothing, so a busy client is never limited by its own traffic; parallel
// failures can overshoot the burst by at most the number in flight.
func (s *Service) authenticateClient(ctx context.Context, cc ClientCredentials) (storage.Client, error) {
	if s.clientBuckets == nil {
		return s.checkClient(ctx, cc)
	}
	if wait := s.clientBuckets.wait(cc.RemoteIP, s.now()); wait > 0 {
		return storage.Client{}, &Error{
			Code:        CodeTemporarilyUnavailable,
			Status:      http.StatusTooManyRequests,
			Description: "too many failed client authentications from this address, retry later",
			RetryAfter:  max(wait.Round(time.Second), time.Second),
			Reason:      ReasonRateLimited,
		}
	}
	c, err := s.checkClient(ctx, cc)
	if e := AsError(err); e != nil && e.Code == CodeInvalidClient {
		s.clientBuckets.take(cc.RemoteIP, s.now())
	}
	return c, err
}

// checkClient loads the client (through the short-lived client cache, see
// clientCache) and checks its credentials. Public
// clients authenticate with their id alone and must not send a secret
// (an empty Basic password is accepted: some libraries always send Basic);
// confidential clients must send the secret whose SHA-256 is stored,
// compared in constant time. Every failure is errClientAuth.
func (s *Service) checkClient(ctx context.Context, cc ClientCredentials) (storage.Client, error) {
	if cc.ID == "" {
		return storage.Client{}, errClientAuth(cc.Basic)
	}
	sum := sha256.Sum256([]byte(cc.Secret))
	if len(cc.ID) > maxClientIDLen {
		return storage.Client{}, errClientAuth(cc.Basic)
	}
	c, cached, err := s.cachedClient(ctx, cc.ID)
	if isNotFound(err) {
		return storage.Client{}, errClientAuth(cc.Basic)
	}
	if err != nil {
		return storage.Client{}, storeErr("get client", err)
	}
	if cached && !credentialsMatch(c, cc, sum) {
		// The registration may have changed since it was cached (a new
		// secret): check against the stored one before refusing.
		s.clients.forget(cc.ID)
		c, _, err = s.cachedClient(ctx, cc.ID)
		if isNotFound(err) {
			return storage.Client{}, errClientAuth(cc.Basic)
		}
		if err != nil {
			return storage.Client{}, storeErr("get client", err)
		}
	}
	if !credentialsMatch(c, cc, sum) {
		return storage.Client{}, errClientAuth(cc.Basic)
	}
	return c, nil
}

// credentialsMatch reports whether the request's credentials authenticate
// client c; sum is the SHA-256 of the secret sent.
func credentialsMatch(c storage.Client, cc ClientCredentials, sum [sha256.Size]byte) bool {
	if c.Public {
		return cc.Secret == ""
	}
	return cc.Secret != "" && len(c.SecretHash) == sha256.Size && subtle.ConstantTimeCompare(sum[:], c.SecretHash) == 1
}

// allowsGrant reports whether the client registered the grant.
func allowsGrant(c storage.Client, grant string) bool {
	for _, g := range c.Grants {
		if g == grant {
			return true
		}
	}
	return false
}
