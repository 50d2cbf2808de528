package oauth

import "strings"

// Scopes with a meaning to the server itself.
const (
	ScopeOpenID        = "openid"
	ScopeProfile       = "profile"
	ScopeEmail         = "email"
	ScopeOfflineAccess = "offline_access"
)

// maxScopes bounds the number of scope tokens in one request.
const maxScopes = 64

// parseScope splits the scope parameter (RFC 6749 §3.3): scope tokens
// separated by spaces, each made of %x21 / %x23-5B / %x5D-7E. Duplicates are
// dropped, order is kept. An empty parameter gives nil.
func parseScope(raw string) ([]string, error) {
	if raw == "" {
		return nil, nil
	}
	var out []string
	for tok := range strings.SplitSeq(raw, " ") {
		if tok == "" {
			continue
		}
		if !ValidScopeToken(tok) {
			return nil, errInvalidScope("scope contains characters RFC 6749 does not allow")
		}
		if !contains(out, tok) {
			if len(out) == maxScopes {
				return nil, errInvalidScope("too many scopes")
			}
			out = append(out, tok)
		}
	}
	return out, nil
}

// userScopes need a resource owner; client_credentials may not ask for them.
func userScope(s string) bool {
	switch s {
	case ScopeOpenID, ScopeProfile, ScopeEmail, ScopeOfflineAccess:
		return true
	}
	return false
}

// chooseScopes returns the scopes to grant: requested, each of which must be
// in allowed (else invalid_scope naming it), or all of allowed when nothing
// was requested.
func chooseScopes(requested, allowed []string) ([]string, error) {
	if requested == nil {
		return allowed, nil
	}
	for _, s := range requested {
		if !contains(allowed, s) {
			return nil, errInvalidScope("scope %q is not allowed", s)
		}
	}
	return requested, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// intersect returns the elements of a that are in b, in a's order.
func intersect(a, b []string) []string {
	out := make([]string, 0, len(a))
	for _, s := range a {
		if contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}
