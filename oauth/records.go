package oauth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sigilauth/sigil/storage"
)

// This file is the one home of the rules for user and client records: the
// CLI, the Django import, discovery and the coming admin API all call it, so
// a record that one of them accepts every other accepts too. Every
// Validate... function returns nil or an error whose message names the
// field and is fit to show to the operator; none of them quotes a secret.

// Limits on record fields.
const (
	// MaxUsernameLen is the longest username in characters (Django's limit).
	MaxUsernameLen = 150
	// MaxDisplayNameLen is the longest display name in characters.
	MaxDisplayNameLen = 256
	// MaxClientIDLen is the longest client id in bytes.
	MaxClientIDLen = 255
)

// Grants lists the grant types a client may be registered with, in the order
// discovery advertises them.
func Grants() []string {
	return []string{GrantAuthorizationCode, GrantPassword, GrantRefreshToken, GrantClientCredentials}
}

// UserScopes lists the scopes that need a resource owner (client_credentials
// may not ask for them), which discovery advertises as scopes_supported.
func UserScopes() []string {
	return []string{ScopeOpenID, ScopeProfile, ScopeEmail, ScopeOfflineAccess}
}

// ValidateUsername accepts 1 to 150 characters of valid UTF-8 without spaces
// or control characters (every Django username fits).
func ValidateUsername(s string) error {
	switch {
	case s == "":
		return errors.New("empty user name")
	case !utf8.ValidString(s):
		return errors.New("user name is not valid UTF-8")
	case utf8.RuneCountInString(s) > MaxUsernameLen:
		return fmt.Errorf("user name longer than %d characters", MaxUsernameLen)
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return fmt.Errorf("user name %q contains spaces or control characters", truncate(s))
	}
	return nil
}

// ValidateEmail accepts "" (no address) or a bare RFC 5322 address such as
// alice@example.com: no display name, no angle brackets, no spaces.
func ValidateEmail(s string) error {
	if s == "" {
		return nil
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return fmt.Errorf("invalid email address %q", truncate(s))
	}
	return nil
}

// ValidateDisplayName accepts valid UTF-8 of at most 256 characters without
// control characters; "" is allowed.
func ValidateDisplayName(s string) error {
	switch {
	case !utf8.ValidString(s):
		return errors.New("name is not valid UTF-8")
	case utf8.RuneCountInString(s) > MaxDisplayNameLen:
		return fmt.Errorf("name longer than %d characters", MaxDisplayNameLen)
	case strings.ContainsFunc(s, unicode.IsControl):
		return errors.New("name contains control characters")
	}
	return nil
}

// ValidateUserID accepts a non-empty id of valid UTF-8 without control
// characters: a generated UUID or an imported Django primary key.
func ValidateUserID(id string) error {
	if id == "" || !utf8.ValidString(id) || strings.ContainsFunc(id, unicode.IsControl) {
		return errors.New("id contains invalid characters")
	}
	return nil
}

// NewUserID returns a random (version 4) UUID, the id of users created by
// Sigil itself.
func NewUserID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate user id: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// Kinds of principal whose id becomes a token's sub.
const (
	SubjectUser   = "user"
	SubjectClient = "client"
)

// ErrSubjectTaken reports that an id is already held by a principal of the
// other kind (see CheckSubjectFree).
var ErrSubjectTaken = errors.New("id already names a principal of the other kind")

// SubjectLookup finds users and clients by id; every storage.Store and the
// token service's Store satisfy it.
type SubjectLookup interface {
	GetUser(ctx context.Context, id string) (storage.User, error)
	GetClient(ctx context.Context, id string) (storage.Client, error)
}

// CheckSubjectFree is the one rule that keeps sub unambiguous (RFC 9068
// §5): a user's tokens carry sub = user id, a client_credentials token
// carries sub = client id, so no user id may equal a client id. kind is
// SubjectUser or SubjectClient, the kind about to be created with id; the
// function looks id up among the other kind and returns nil when it is
// free, an error wrapping ErrSubjectTaken (fit for the operator) when it is
// taken, or the storage error. The CLI (users add, clients add), the user
// import and the admin API call it before creating a record. Users and
// clients live in separate collections, so a concurrent creation of the
// other kind with the same id is not excluded.
func CheckSubjectFree(ctx context.Context, st SubjectLookup, kind, id string) error {
	var err error
	other := SubjectClient
	switch kind {
	case SubjectUser:
		_, err = st.GetClient(ctx, id)
	case SubjectClient:
		other = SubjectUser
		_, err = st.GetUser(ctx, id)
	default:
		return fmt.Errorf("unknown principal kind %q", kind)
	}
	switch {
	case err == nil:
		return fmt.Errorf("%w: %q is the id of a %s; a user and a client may not share an id, their tokens' sub would be the same", ErrSubjectTaken, truncate(id), other)
	case errors.Is(err, storage.ErrNotFound):
		return nil
	default:
		return fmt.Errorf("look up %s %q: %w", other, truncate(id), err)
	}
}

// ValidateClientID accepts 1 to 255 printable ASCII characters other than
// space (RFC 6749 VSCHAR) and ':' (which client_secret_basic uses as its
// separator).
func ValidateClientID(id string) error {
	if id == "" {
		return errors.New("empty client id")
	}
	if len(id) > MaxClientIDLen {
		return fmt.Errorf("client id longer than %d characters", MaxClientIDLen)
	}
	for _, r := range id {
		if r <= 0x20 || r >= 0x7f || r == ':' {
			return fmt.Errorf("client id %q may contain only printable ASCII characters other than space and ':'", truncate(id))
		}
	}
	return nil
}

// ValidScopeToken reports whether s is an RFC 6749 §3.3 scope-token:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func ValidScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}

// ValidateScopes requires at least one scope, each an RFC 6749 scope-token.
func ValidateScopes(scopes []string) error {
	if len(scopes) == 0 {
		return errors.New("no scopes (want one or more scope names)")
	}
	for _, s := range scopes {
		if !ValidScopeToken(s) {
			return fmt.Errorf("invalid scope %q (RFC 6749: no spaces, quotes or backslashes)", truncate(s))
		}
	}
	return nil
}

// ValidateGrants requires at least one grant, each one of Grants(); a public
// client may not have client_credentials.
func ValidateGrants(grants []string, public bool) error {
	known := Grants()
	if len(grants) == 0 {
		return fmt.Errorf("no grants (want one or more of %s)", strings.Join(known, ", "))
	}
	for _, g := range grants {
		if !slices.Contains(known, g) {
			return fmt.Errorf("unknown grant %q (want %s)", truncate(g), strings.Join(known, ", "))
		}
	}
	if public && slices.Contains(grants, GrantClientCredentials) {
		return errors.New("a public client may not use the client_credentials grant")
	}
	return nil
}

// ValidateAudience accepts a non-blank value of printable characters without
// spaces, the aud of a client's access tokens.
func ValidateAudience(aud string) error {
	if strings.TrimSpace(aud) == "" || strings.ContainsFunc(aud, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		return fmt.Errorf("invalid audience %q", truncate(aud))
	}
	return nil
}

// ValidateSigningAlg accepts "" (the server's default) or an algorithm Sigil
// signs with, ES256 or RS256.
func ValidateSigningAlg(alg string) error {
	switch alg {
	case "", "ES256", "RS256":
		return nil
	}
	return fmt.Errorf("unsupported signing algorithm %q (want ES256 or RS256)", truncate(alg))
}

// truncate shortens s for an error message.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// ValidateUser checks the fields of u that need no storage: id, username,
// email and names. It does not look at the password hash.
func ValidateUser(u storage.User) error {
	if err := ValidateUserID(u.ID); err != nil {
		return err
	}
	if err := ValidateUsername(u.Username); err != nil {
		return err
	}
	if err := ValidateEmail(u.Email); err != nil {
		return err
	}
	for _, n := range []string{u.Name, u.GivenName, u.FamilyName} {
		if err := ValidateDisplayName(n); err != nil {
			return err
		}
	}
	return nil
}

// ValidateClient checks the fields of c that need no storage: id, grants
// (and that a public client has no client_credentials), scopes, audiences,
// signing algorithm, display name, and the browser-flow URIs: at least one
// redirect URI when the client holds authorization_code (and none when it
// does not), each redirect and post-logout redirect URI by
// ValidateRedirectURI, and the back-channel logout URI as an absolute https
// (or loopback http) URI without a fragment. It does not look at the
// secret hash.
func ValidateClient(c storage.Client) error {
	if err := ValidateClientID(c.ID); err != nil {
		return err
	}
	if err := ValidateGrants(c.Grants, c.Public); err != nil {
		return err
	}
	if err := ValidateScopes(c.Scopes); err != nil {
		return err
	}
	for _, aud := range c.Audiences {
		if err := ValidateAudience(aud); err != nil {
			return err
		}
	}
	if err := ValidateSigningAlg(c.TokenSigningAlg); err != nil {
		return err
	}
	if err := validateClientURIs(c); err != nil {
		return err
	}
	return ValidateDisplayName(c.Name)
}

// validateClientURIs checks the URIs of the authorization code flow and of
// logout.
func validateClientURIs(c storage.Client) error {
	code := slices.Contains(c.Grants, GrantAuthorizationCode)
	switch {
	case code && len(c.RedirectURIs) == 0:
		return errors.New("a client with the authorization_code grant needs at least one redirect URI")
	case !code && len(c.RedirectURIs) > 0:
		return errors.New("redirect URIs are only used by the authorization_code grant")
	}
	for _, u := range c.RedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			return err
		}
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if err := ValidateRedirectURI(u); err != nil {
			return fmt.Errorf("post-logout %w", err)
		}
	}
	if c.BackchannelLogoutURI != "" {
		if err := ValidateRedirectURI(c.BackchannelLogoutURI); err != nil {
			return fmt.Errorf("back-channel logout URI: %w", err)
		}
		if u, _ := url.Parse(c.BackchannelLogoutURI); u.Scheme != "https" && u.Scheme != "http" {
			return errors.New("back-channel logout URI must be an https (or loopback http) URL")
		}
	}
	return nil
}
