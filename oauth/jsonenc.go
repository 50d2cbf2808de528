package oauth

import (
	"encoding/json"
	"strconv"
	"sync"
	"unicode/utf8"
)

// The token endpoint encodes the same two shapes on every request (the
// access token's claims and the RFC 6749 §5.1 response), so they are
// appended by hand instead of through encoding/json's reflection. The
// output is byte for byte what json.Marshal produces for the same value
// (field order, omitempty, HTML-safe escaping), which jsonenc_test.go checks
// against json.Marshal.

// appendJSONString appends s as json.Marshal encodes a string. Strings of
// printable ASCII other than `"`, `\`, `<`, `>` and `&` (every claim the
// server mints in practice) are copied as they are; anything else goes
// through json.Marshal, so escaping is encoding/json's.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendAudience appends a as Audience.MarshalJSON encodes it.
func appendAudience(b []byte, a Audience) []byte {
	switch {
	case len(a) == 1:
		return appendJSONString(b, a[0])
	case a == nil:
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range a {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendJSON appends c as json.Marshal(&c) encodes it.
func (c *AccessClaims) appendJSON(b []byte) []byte {
	b = append(b, `{"iss":`...)
	b = appendJSONString(b, c.Issuer)
	b = append(b, `,"sub":`...)
	b = appendJSONString(b, c.Subject)
	b = append(b, `,"aud":`...)
	b = appendAudience(b, c.Audience)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, c.ExpiresAt, 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.IssuedAt, 10)
	b = append(b, `,"nbf":`...)
	b = strconv.AppendInt(b, c.NotBefore, 10)
	b = append(b, `,"jti":`...)
	b = appendJSONString(b, c.JTI)
	b = append(b, `,"client_id":`...)
	b = appendJSONString(b, c.ClientID)
	if c.Scope != "" {
		b = append(b, `,"scope":`...)
		b = appendJSONString(b, c.Scope)
	}
	if c.AuthTime != 0 {
		b = append(b, `,"auth_time":`...)
		b = strconv.AppendInt(b, c.AuthTime, 10)
	}
	if c.TokenType != "" {
		b = append(b, `,"token_type":`...)
		b = appendJSONString(b, c.TokenType)
	}
	if len(c.UserID) != 0 {
		// simpleJWTUserID's output: a decimal number or a json.Marshal'd
		// string, compact and HTML-safe already.
		b = append(b, `,"user_id":`...)
		b = append(b, c.UserID...)
	}
	return append(b, '}')
}

// AppendJSON appends r as json.Marshal(r) encodes it (the unexported
// labels are never encoded) and returns the extended buffer.
func (r *TokenResponse) AppendJSON(b []byte) []byte {
	b = append(b, `{"access_token":`...)
	b = appendJSONString(b, r.AccessToken)
	b = append(b, `,"token_type":`...)
	b = appendJSONString(b, r.TokenType)
	b = append(b, `,"expires_in":`...)
	b = strconv.AppendInt(b, r.ExpiresIn, 10)
	if r.RefreshToken != "" {
		b = append(b, `,"refresh_token":`...)
		b = appendJSONString(b, r.RefreshToken)
	}
	if r.Scope != "" {
		b = append(b, `,"scope":`...)
		b = appendJSONString(b, r.Scope)
	}
	if r.IDToken != "" {
		b = append(b, `,"id_token":`...)
		b = appendJSONString(b, r.IDToken)
	}
	return append(b, '}')
}

// claimBufs recycles the buffers access-token claims are encoded in (the
// signer copies them into the token).
var claimBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// maxPooledClaims bounds the buffers kept in claimBufs.
const maxPooledClaims = 8 << 10
