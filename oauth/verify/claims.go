package verify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Claims are the verified claims of a Sigil access token (RFC 9068, plus the
// simplejwt profile's token_type and user_id).
//
// A *Claims returned by Verify may be shared with other callers that present
// the same token (it comes from the verified-token cache): treat it, and its
// Audience slice, as read-only.
type Claims struct {
	// Issuer is the iss claim; it always equals the verifier's issuer.
	Issuer string
	// Subject is the sub claim: the user id, or the client id for the
	// client_credentials grant.
	Subject string
	// Audience is the aud claim, a single string becoming one element.
	Audience []string
	// Expiry is the exp claim (always present).
	Expiry time.Time
	// NotBefore is the nbf claim, zero if absent.
	NotBefore time.Time
	// IssuedAt is the iat claim, zero if absent.
	IssuedAt time.Time
	// ID is the jti claim.
	ID string
	// ClientID is the client_id claim.
	ClientID string
	// Scope is the scope claim, scopes separated by spaces.
	Scope string
	// TokenType is the simplejwt token_type claim ("access"), empty if
	// absent.
	TokenType string
	// UserID is the simplejwt user_id claim, empty if absent. A numeric
	// user_id keeps its JSON text.
	UserID string
	// KeyID is the kid of the key that verified the token.
	KeyID string

	payload string    // the decoded JSON claims set
	aud1    [1]string // backing array for a single-string aud
	exp     int64     // exp, nbf, iat in Unix seconds
	nbf     int64
	iat     int64
	has     uint16 // claimBit set for each claim present
}

// Bits of Claims.has, one per known claim (also used to refuse duplicates).
const (
	hasIss uint16 = 1 << iota
	hasSub
	hasAud
	hasExp
	hasNbf
	hasIat
	hasJti
	hasClientID
	hasScope
	hasTokenType
	hasUserID
)

// HasScope reports whether the space-separated scope claim contains s. It
// does not allocate.
func (c *Claims) HasScope(s string) bool {
	if s == "" {
		return false
	}
	rest := c.Scope
	for rest != "" {
		var tok string
		tok, rest, _ = strings.Cut(rest, " ")
		if tok == s {
			return true
		}
	}
	return false
}

// Scopes returns the scope claim split on spaces, in a new slice.
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }

// Decode unmarshals the whole claims set with encoding/json into v (a pointer
// to a struct or map), for claims Claims has no field for. It fails only if
// v cannot hold the claims.
func (c *Claims) Decode(v any) error {
	if err := json.Unmarshal([]byte(c.payload), v); err != nil {
		return fmt.Errorf("decode claims: %w", err)
	}
	return nil
}

var errClaims = fmt.Errorf("%w: bad claims set", ErrMalformed)

// parseClaims reads the claims set payload into c. Known claims of the wrong
// JSON type, duplicated known claims, and invalid JSON are ErrMalformed;
// unknown claims are skipped (and available through Decode).
func parseClaims(payload string, c *Claims) error {
	c.payload = payload
	p := scanner{s: payload}
	if !p.consume('{') {
		return errClaims
	}
	if !p.consume('}') {
		for {
			name, ok := p.str()
			if !ok || !p.consume(':') {
				return errClaims
			}
			var bit uint16
			switch name {
			case "iss":
				bit = hasIss
				c.Issuer, ok = p.str()
			case "sub":
				bit = hasSub
				c.Subject, ok = p.str()
			case "aud":
				bit = hasAud
				ok = c.parseAudience(&p)
			case "exp":
				bit = hasExp
				c.exp, ok = p.numericDate()
			case "nbf":
				bit = hasNbf
				c.nbf, ok = p.numericDate()
			case "iat":
				bit = hasIat
				c.iat, ok = p.numericDate()
			case "jti":
				bit = hasJti
				c.ID, ok = p.str()
			case "client_id":
				bit = hasClientID
				c.ClientID, ok = p.str()
			case "scope":
				bit = hasScope
				c.Scope, ok = p.str()
			case "token_type":
				bit = hasTokenType
				c.TokenType, ok = p.str()
			case "user_id":
				bit = hasUserID
				if p.peek() == '"' {
					c.UserID, ok = p.str()
				} else {
					c.UserID, ok = p.number()
				}
			default:
				ok = p.skip(0)
			}
			if !ok {
				if bit != 0 {
					return fmt.Errorf("%w: claim %s has the wrong type", ErrMalformed, name)
				}
				return errClaims
			}
			if c.has&bit != 0 {
				return fmt.Errorf("%w: duplicate claim %s", ErrMalformed, name)
			}
			c.has |= bit
			if p.consume(',') {
				continue
			}
			if p.consume('}') {
				break
			}
			return errClaims
		}
	}
	if !p.end() {
		return errClaims
	}
	if c.has&hasExp == 0 {
		return fmt.Errorf("%w: no exp claim", ErrMalformed)
	}
	c.Expiry = time.Unix(c.exp, 0)
	if c.has&hasNbf != 0 {
		c.NotBefore = time.Unix(c.nbf, 0)
	}
	if c.has&hasIat != 0 {
		c.IssuedAt = time.Unix(c.iat, 0)
	}
	return nil
}

// parseAudience reads aud as a string or an array of strings.
func (c *Claims) parseAudience(p *scanner) bool {
	if p.peek() == '"' {
		s, ok := p.str()
		c.aud1[0] = s
		c.Audience = c.aud1[:]
		return ok
	}
	if !p.consume('[') {
		return false
	}
	c.Audience = c.aud1[:0]
	if p.consume(']') {
		return true
	}
	for {
		s, ok := p.str()
		if !ok {
			return false
		}
		if len(c.Audience) == 0 {
			c.aud1[0] = s
			c.Audience = c.aud1[:]
		} else {
			if len(c.Audience) == 1 {
				c.Audience = append(make([]string, 0, 4), c.aud1[0])
			}
			c.Audience = append(c.Audience, s)
		}
		if p.consume(',') {
			continue
		}
		return p.consume(']')
	}
}

// hasAudience reports whether aud is among the audience claim's values.
func (c *Claims) hasAudience(aud string) bool {
	for _, a := range c.Audience {
		if a == aud {
			return true
		}
	}
	return false
}
