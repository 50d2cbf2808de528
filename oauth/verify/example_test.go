package verify_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"

	"github.com/sigilauth/sigil/oauth/verify"
)

// A net/http API whose GET /orders needs a Sigil access token for the
// audience "orders-api" with the scope "orders:read".
func Example() {
	v, err := verify.New(context.Background(), "https://sigil.example.com", verify.WithAudience("orders-api"))
	if err != nil {
		log.Fatal(err) // discovery or JWKS unreachable, or issuer mismatch
	}
	orders := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, _ := verify.ClaimsFromContext(r.Context())
		fmt.Fprintf(w, "orders of %s\n", claims.Subject)
	})
	http.Handle("GET /orders", v.Middleware(verify.RequireScope("orders:read")(orders)))
	log.Fatal(http.ListenAndServe(":8000", nil))
}

// Verifying without network access, with the issuer's JWKS shipped out of
// band, and telling the errors apart.
func ExampleVerifier_Verify() {
	jwks := []byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","use":"sig","alg":"ES256",
		"x":"xbCYq7bTfivNgnffIZnLPFGBiARrQMetmWD5F8vCQ-Y","y":"14OIKuXa5ie36gP0meGcFLesUNlLnwyMZKoY-m8BTcs"}]}`)
	keys, err := verify.ParseJWKS(jwks)
	if err != nil {
		log.Fatal(err)
	}
	set, err := verify.NewStaticKeySet(keys...)
	if err != nil {
		log.Fatal(err)
	}
	v, err := verify.New(context.Background(), "https://sigil.example.com",
		verify.WithKeySet(set), verify.WithAudience("orders-api"))
	if err != nil {
		log.Fatal(err)
	}

	_, err = v.Verify(context.Background(), "eyJhbGciOiJFUzI1NiJ9.e30.c2ln")
	var expired *verify.ExpiredError
	switch {
	case err == nil:
		fmt.Println("valid")
	case errors.As(err, &expired):
		fmt.Println("expired at", expired.Expiry)
	case errors.Is(err, verify.ErrTokenType):
		fmt.Println("not an access token:", err)
	default:
		fmt.Println("invalid:", err)
	}
	// Output: not an access token: wrong token type: no typ header, want at+jwt
}
