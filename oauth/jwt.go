package oauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"time"
)

// maxJWTLen bounds tokens this server parses.
const maxJWTLen = 8 << 10

// jwsHeader is the protected header of tokens this server verifies. The
// key-carrying parameters are decoded only to refuse tokens that use them.
type jwsHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Typ  string          `json:"typ"`
	JWK  json.RawMessage `json:"jwk"`
	JKU  json.RawMessage `json:"jku"`
	X5U  json.RawMessage `json:"x5u"`
	X5C  json.RawMessage `json:"x5c"`
	Crit json.RawMessage `json:"crit"`
}

// verifyJWS checks a compact JWS against the server's published keys and
// decodes its payload into claims. Only ES256 and RS256 are accepted, the
// alg must equal the key's alg, and tokens naming their own keys (jwk, jku,
// x5u, x5c) or critical extensions are refused. typ must be one of typs
// (case-insensitive, with or without "application/"). It returns false for
// any failure; the reason is not worth telling a client.
func (s *Service) verifyJWS(raw string, typs []string, claims any) bool {
	if len(raw) > maxJWTLen || strings.Count(raw, ".") != 2 {
		return false
	}
	dot1 := strings.IndexByte(raw, '.')
	dot2 := dot1 + 1 + strings.IndexByte(raw[dot1+1:], '.')
	enc := base64.RawURLEncoding.Strict()
	hb, err := enc.DecodeString(raw[:dot1])
	if err != nil {
		return false
	}
	var h jwsHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return false
	}
	if h.JWK != nil || h.JKU != nil || h.X5U != nil || h.X5C != nil || h.Crit != nil {
		return false
	}
	if h.Alg != "ES256" && h.Alg != "RS256" {
		return false
	}
	if !typMatches(h.Typ, typs) {
		return false
	}
	alg, key, ok := s.keys.PublicKey(h.Kid)
	if !ok || h.Kid == "" || alg != h.Alg {
		return false
	}
	sig, err := enc.DecodeString(raw[dot2+1:])
	if err != nil {
		return false
	}
	if !verifySignature(h.Alg, key, []byte(raw[:dot2]), sig) {
		return false
	}
	pb, err := enc.DecodeString(raw[dot1+1 : dot2])
	if err != nil {
		return false
	}
	d := json.NewDecoder(bytes.NewReader(pb))
	return d.Decode(claims) == nil
}

func typMatches(typ string, want []string) bool {
	typ = strings.TrimPrefix(strings.ToLower(typ), "application/")
	for _, w := range want {
		if typ == strings.ToLower(w) {
			return true
		}
	}
	return false
}

// verifySignature checks sig over input for alg with key.
func verifySignature(alg string, key crypto.PublicKey, input, sig []byte) bool {
	digest := sha256.Sum256(input)
	switch k := key.(type) {
	case *ecdsa.PublicKey:
		if alg != "ES256" || len(sig) != 64 {
			return false
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(k, digest[:], r, s)
	case *rsa.PublicKey:
		return alg == "RS256" && rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig) == nil
	}
	return false
}

// parseAccess verifies an access token's signature, issuer, typ and times
// (exp strictly, nbf/iat with Leeway). It does not consult the deny list.
// The error is invalid_token with ReasonTokenInvalid or ReasonTokenExpired;
// claims are returned for an expired but otherwise valid token.
func (s *Service) parseAccess(raw string, now time.Time) (AccessClaims, error) {
	var c AccessClaims
	if !s.verifyJWS(raw, []string{TypAccessToken}, &c) {
		return AccessClaims{}, errInvalidToken(ReasonTokenInvalid, "token is invalid")
	}
	if c.Issuer != s.cfg.Issuer || c.JTI == "" || c.Subject == "" || c.ExpiresAt == 0 {
		return AccessClaims{}, errInvalidToken(ReasonTokenInvalid, "token is invalid")
	}
	leeway := int64(s.cfg.Leeway / time.Second)
	if c.NotBefore > now.Unix()+leeway || c.IssuedAt > now.Unix()+leeway {
		return AccessClaims{}, errInvalidToken(ReasonTokenInvalid, "token is not valid yet")
	}
	if now.Unix() >= c.ExpiresAt {
		return c, errInvalidToken(ReasonTokenExpired, "token is expired")
	}
	return c, nil
}

// checkAccess is parseAccess plus the deny list (revoked jti). Storage
// failures are 503.
func (s *Service) checkAccess(ctx context.Context, raw string, now time.Time) (AccessClaims, error) {
	c, err := s.parseAccess(raw, now)
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
