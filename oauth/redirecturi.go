package oauth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ValidateRedirectURI checks a redirect URI before it is registered for a
// client (RFC 6749 §3.1.2, RFC 8252 §7, RFC 9700 §2.1): it must be absolute
// and have no fragment; its scheme must be https, or http with a loopback
// host (127.0.0.1, [::1], localhost), or a private-use scheme containing a
// dot such as com.example.app:/cb (RFC 8252 §7.1). An http(s) URI needs a
// host and no user information. The error says what is wrong, without
// repeating the URI.
func ValidateRedirectURI(uri string) error {
	if uri == "" {
		return errors.New("redirect URI is empty")
	}
	if len(uri) > maxRedirectLen {
		return fmt.Errorf("redirect URI is longer than %d bytes", maxRedirectLen)
	}
	if strings.ContainsAny(uri, " \t\r\n") {
		return errors.New("redirect URI contains white space")
	}
	u, err := url.Parse(uri)
	if err != nil {
		return errors.New("redirect URI is not a valid URI")
	}
	if !u.IsAbs() {
		return errors.New("redirect URI must be absolute")
	}
	if u.Fragment != "" || strings.Contains(uri, "#") {
		return errors.New("redirect URI must not have a fragment")
	}
	switch scheme := strings.ToLower(u.Scheme); {
	case scheme == "https", scheme == "http":
		if u.Host == "" || u.Hostname() == "" {
			return errors.New("redirect URI has no host")
		}
		if u.User != nil {
			return errors.New("redirect URI must not contain user information")
		}
		if scheme == "http" && !isLoopbackHost(u.Hostname()) {
			return errors.New("redirect URI must use https (http only for 127.0.0.1, [::1] or localhost)")
		}
	case strings.Contains(scheme, "."):
		// Private-use scheme (reverse domain name) of a native app.
		if u.Opaque != "" {
			return errors.New("private-use redirect URI must have a path, like com.example.app:/callback")
		}
	default:
		return fmt.Errorf("redirect URI scheme %q is not allowed: use https, loopback http or a private-use scheme with a dot", clipScheme(scheme))
	}
	return nil
}

func clipScheme(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
