// Package verify lets a resource server verify Sigil access tokens offline.
//
// A Verifier reads the issuer's discovery document once, keeps the issuer's
// JWKS in memory (honouring its Cache-Control max-age, refreshing it in the
// background, refetching at once for an unknown kid and surviving an issuer
// outage), and verifies each token by itself: RFC 9068 JWT access tokens
// (typ at+jwt) signed with RS256 or ES256. Verified tokens are cached until
// they expire, so the common case, the same token on every request of a
// session, costs a hash lookup.
//
//	v, err := verify.New(ctx, "https://sigil.example.com", verify.WithAudience("orders-api"))
//	...
//	mux.Handle("GET /orders", v.Middleware(verify.RequireScope("orders:read")(orders)))
//
// and in the handler:
//
//	claims, _ := verify.ClaimsFromContext(r.Context())
//
// The package imports nothing of the Sigil server and only the standard
// library. Tokens never appear in its errors or responses.
//
// Security rules Verify applies: typ must be at+jwt (or application/at+jwt);
// alg must be one of the accepted algorithms (never none or HMAC) and match
// the key's alg; the key comes only from the key set, never from the token's
// jwk, jku, x5u or x5c headers (tokens carrying them, or crit, are refused);
// iss must equal the issuer exactly; aud must contain the audience; exp is
// required; exp, nbf and iat are checked with a leeway; tokens larger than
// MaxTokenSize are refused before any decoding; the signature is checked
// before any claim, so a badly signed expired token reports ErrSignature.
package verify
