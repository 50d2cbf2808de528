package keystest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sigilauth/sigil/oauth/verify"
)

// TestRing checks the fake against the real verifier: what SignJWT signs
// verifies over Key, a revoked kid is withdrawn and unknown until
// restored, forgeries from Sign are refused, and a failing ring signs
// nothing.
func TestRing(t *testing.T) {
	const iss = "https://ring.test"
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	r := &Ring{}
	v, err := verify.New(context.Background(), iss, verify.WithKeySet(r), verify.SkipAudienceCheck(),
		verify.WithAlgorithms("ES256", "RS256"), verify.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"iss": iss, "sub": "42", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	hdr := func(alg, kid string) []byte {
		b, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid, "typ": "at+jwt"})
		return b
	}
	sign := func(alg string) func() (string, error) {
		return func() (string, error) { return r.SignJWT(alg, "at+jwt", payload) }
	}
	forge := func(alg, kid, as string) func() (string, error) {
		return func() (string, error) { return Sign(hdr(alg, kid), payload, as) }
	}
	tests := []struct {
		name string
		tok  func() (string, error)
		want error // nil: verifies
	}{
		{"default alg", sign(""), nil},
		{"ES256", sign("ES256"), nil},
		{"RS256", sign("RS256"), nil},
		{"forged with Sign", forge("ES256", KidEC, "ES256"), nil},
		{"alg none", forge("none", KidEC, "none"), verify.ErrAlgorithm},
		{"unknown kid", forge("ES256", "other", "ES256"), verify.ErrUnknownKey},
		{"alg mismatch", forge("RS256", KidEC, "RS256"), verify.ErrAlgorithm},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := tc.tok()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(context.Background(), tok); !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}

	t.Run("revoke and restore", func(t *testing.T) {
		k, err := r.Key(context.Background(), KidEC)
		if err != nil {
			t.Fatal(err)
		}
		r.Revoke(KidEC)
		if !k.Withdrawn() {
			t.Fatal("revoked key not withdrawn")
		}
		if _, err := r.Key(context.Background(), KidEC); !errors.Is(err, verify.ErrUnknownKey) {
			t.Fatalf("Key after Revoke = %v, want ErrUnknownKey", err)
		}
		r.Restore(KidEC)
		again, err := r.Key(context.Background(), KidEC)
		if err != nil || again == k || again.Withdrawn() {
			t.Fatalf("Key after Restore = %p (withdrawn %v), %v; want a new live key", again, again != nil && again.Withdrawn(), err)
		}
	})
	t.Run("failing", func(t *testing.T) {
		r.SetFailing(true)
		defer r.SetFailing(false)
		if _, err := r.SignJWT("", "at+jwt", payload); !errors.Is(err, ErrSigning) {
			t.Fatalf("SignJWT while failing = %v, want ErrSigning", err)
		}
	})
	t.Run("no key for alg", func(t *testing.T) {
		if _, err := r.SignJWT("PS256", "at+jwt", payload); !errors.Is(err, ErrSigning) {
			t.Fatalf("SignJWT PS256 = %v, want ErrSigning", err)
		}
	})
}
