package oauth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// JWT typ header values.
const (
	TypAccessToken = "at+jwt" // RFC 9068
	TypIDToken     = "JWT"
)

// TokenTypeBearer is the token_type of every access token response.
const TokenTypeBearer = "Bearer"

// RefreshTokenPrefix starts every refresh token, so that secret scanners can
// recognise leaked ones.
const RefreshTokenPrefix = "sgl_rt_"

// A refresh token is RefreshTokenPrefix, the id of its family (base64url
// of 16 random bytes), a dot, and its secret (base64url of 32 random bytes):
// the family id lets a refresh find its one family record by key; only the
// SHA-256 of the whole token is stored. The format may change before 1.0.
const (
	familyIDLen     = 22
	refreshTokenLen = len(RefreshTokenPrefix) + familyIDLen + 1 + 43
)

// Audience is the aud claim: one string is encoded as a JSON string, several
// as an array (RFC 7519 §4.1.3); decoding accepts both.
type Audience []string

// MarshalJSON implements json.Marshaler.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON implements json.Unmarshaler.
func (a *Audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = Audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

// Contains reports whether aud lists s.
func (a Audience) Contains(s string) bool { return contains(a, s) }

// AccessClaims are the claims of an access token (RFC 9068 plus the
// simplejwt profile).
type AccessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  Audience `json:"aud"`
	ExpiresAt int64    `json:"exp"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	JTI       string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope,omitempty"`
	AuthTime  int64    `json:"auth_time,omitempty"`
	// TokenType is "access" under the simplejwt profile.
	TokenType string `json:"token_type,omitempty"`
	// UserID is simplejwt's user_id: a JSON number when the user id is a
	// decimal integer (an imported Django pk), else a string.
	UserID json.RawMessage `json:"user_id,omitempty"`
}

// IDClaims are the claims of an ID token, and of a userinfo response (which
// leaves out the token-only ones).
type IDClaims struct {
	Issuer            string `json:"iss,omitempty"`
	Subject           string `json:"sub"`
	Audience          string `json:"aud,omitempty"`
	ExpiresAt         int64  `json:"exp,omitempty"`
	IssuedAt          int64  `json:"iat,omitempty"`
	AuthTime          int64  `json:"auth_time,omitempty"`
	AuthorizedParty   string `json:"azp,omitempty"`
	AccessTokenHash   string `json:"at_hash,omitempty"`
	Name              string `json:"name,omitempty"`
	GivenName         string `json:"given_name,omitempty"`
	FamilyName        string `json:"family_name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Email             string `json:"email,omitempty"`
	EmailVerified     *bool  `json:"email_verified,omitempty"`
	// Nonce is the authorization request's nonce (ID tokens only).
	Nonce string `json:"nonce,omitempty"`
	// SessionID is the sid of the SSO session (ID tokens of the
	// authorization code grant; Back-Channel Logout 1.0 §2.1).
	SessionID string `json:"sid,omitempty"`
}

// profileClaims fills the profile and email claims the scopes allow.
func profileClaims(c *IDClaims, u *storage.User, scopes []string) {
	if contains(scopes, ScopeProfile) {
		c.Name = u.Name
		c.GivenName = u.GivenName
		c.FamilyName = u.FamilyName
		c.PreferredUsername = u.Username
	}
	if contains(scopes, ScopeEmail) && u.Email != "" {
		c.Email = u.Email
		v := u.EmailVerified
		c.EmailVerified = &v
	}
}

// simpleJWTUserID renders id as simplejwt would: a number for an integer
// primary key, else a string.
func simpleJWTUserID(id string) json.RawMessage {
	if id != "" && len(id) <= 18 && (id == "0" || id[0] != '0') {
		if _, err := strconv.ParseUint(id, 10, 63); err == nil {
			return json.RawMessage(id)
		}
	}
	b, _ := json.Marshal(id)
	return b
}

// issued is what a successful grant mints.
type issued struct {
	client   storage.Client
	user     *storage.User // nil for client_credentials
	scopes   []string
	authTime time.Time
	// jti, when set, is the access token's jti (chosen before an
	// authorization code is consumed); else a fresh one.
	jti string
	// nonce and sid go into the ID token (authorization code grant).
	nonce, sid string
	// life is the lifetimes snapshot the grant read (so that what it
	// stored and what it signs agree); nil: the current lifetimes.
	life *Lifetimes
}

// signAccess mints the access token, valid for is.life.AccessTTL.
func (s *Service) signAccess(now time.Time, is issued) (string, error) {
	c := AccessClaims{
		Issuer:    s.cfg.Issuer,
		Audience:  Audience(is.client.Audiences),
		ExpiresAt: now.Add(is.life.AccessTTL).Unix(),
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		JTI:       is.jti,
		ClientID:  is.client.ID,
		Scope:     strings.Join(is.scopes, " "),
	}
	if c.JTI == "" {
		c.JTI = randomID(16)
	}
	if len(c.Audience) == 0 {
		c.Audience = Audience{is.client.ID}
	}
	if is.user != nil {
		c.Subject = is.user.ID
		c.AuthTime = is.authTime.Unix()
		if s.cfg.SimpleJWT {
			c.TokenType = "access"
			c.UserID = simpleJWTUserID(is.user.ID)
		}
	} else {
		c.Subject = is.client.ID
	}
	bp := claimBufs.Get().(*[]byte)
	payload := c.appendJSON((*bp)[:0])
	tok, err := s.keys.SignJWT(is.client.TokenSigningAlg, TypAccessToken, payload)
	if cap(payload) <= maxPooledClaims {
		*bp = payload
	}
	claimBufs.Put(bp)
	if err != nil {
		return "", errServer("sign access token", err)
	}
	return tok, nil
}

// signID mints the ID token for a user grant with the openid scope, bound
// to accessToken by at_hash (OIDC Core §3.1.3.6; both algorithms hash with
// SHA-256).
func (s *Service) signID(now time.Time, is issued, accessToken string) (string, error) {
	sum := sha256.Sum256([]byte(accessToken))
	c := IDClaims{
		Issuer:          s.cfg.Issuer,
		Subject:         is.user.ID,
		Audience:        is.client.ID,
		ExpiresAt:       now.Add(is.life.IDTokenTTL).Unix(),
		IssuedAt:        now.Unix(),
		AuthTime:        is.authTime.Unix(),
		AuthorizedParty: is.client.ID,
		AccessTokenHash: base64.RawURLEncoding.EncodeToString(sum[:sha256.Size/2]),
		Nonce:           is.nonce,
		SessionID:       is.sid,
	}
	profileClaims(&c, is.user, is.scopes)
	payload, err := json.Marshal(&c)
	if err != nil {
		return "", errServer("encode id token", err)
	}
	tok, err := s.keys.SignJWT(is.client.TokenSigningAlg, TypIDToken, payload)
	if err != nil {
		return "", errServer("sign id token", err)
	}
	return tok, nil
}

// TokenResponse is the RFC 6749 §5.1 success body.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
	IDToken      string `json:"id_token,omitempty"`

	// alg and clientID label the issuance for the Observer; unexported, so
	// never encoded.
	alg, clientID string
}

// ClientID returns the id of the authenticated client the tokens were
// issued to (for the access log); "" for a response not built by Service.
func (r *TokenResponse) ClientID() string { return r.clientID }

// signResponse signs the access token and, for a user with openid, the ID
// token, under is.life (the current lifetimes when nil).
func (s *Service) signResponse(now time.Time, is issued) (*TokenResponse, error) {
	if is.life == nil {
		is.life = s.lifetimes()
	}
	at, err := s.signAccess(now, is)
	if err != nil {
		return nil, err
	}
	r := &TokenResponse{
		AccessToken: at,
		TokenType:   TokenTypeBearer,
		ExpiresIn:   int64(is.life.AccessTTL / time.Second),
		Scope:       strings.Join(is.scopes, " "),
		alg:         is.client.TokenSigningAlg,
		clientID:    is.client.ID,
	}
	if r.alg == "" {
		r.alg = s.keys.DefaultAlg()
	}
	if is.user != nil && contains(is.scopes, ScopeOpenID) {
		if r.IDToken, err = s.signID(now, is, at); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// randomID returns n random bytes, base64url without padding.
func randomID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newFamilyID returns the random id of a new refresh family.
func newFamilyID() string { return randomID(16) }

// newRefreshToken returns a fresh refresh token of family famID and its
// hash (what storage keeps).
func newRefreshToken(famID string) (token, hash string) {
	token = RefreshTokenPrefix + famID + "." + randomID(32)
	return token, refreshTokenID(token)
}

// refreshTokenID is the storage id of a refresh token: base64url (no
// padding) of its SHA-256.
func refreshTokenID(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// looksLikeRefreshToken reports whether raw has the shape of a refresh token
// this server issues (prefix, length, family id, dot, base64url secret).
func looksLikeRefreshToken(raw string) bool {
	_, ok := refreshFamilyID(raw)
	return ok
}

// refreshFamilyID returns the family id a refresh token carries, and
// whether raw has the shape of one.
func refreshFamilyID(raw string) (string, bool) {
	if len(raw) != refreshTokenLen || !strings.HasPrefix(raw, RefreshTokenPrefix) {
		return "", false
	}
	dot := len(RefreshTokenPrefix) + familyIDLen
	for i := len(RefreshTokenPrefix); i < len(raw); i++ {
		c := raw[i]
		if i == dot {
			if c != '.' {
				return "", false
			}
			continue
		}
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", false
		}
	}
	return raw[len(RefreshTokenPrefix):dot], true
}
