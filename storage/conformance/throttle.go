package conformance

import (
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

var denyListTests = []subtest{
	{"DenyCheck", testDenyCheck},
	{"Expiry", testDenyExpiry},
}

func testDenyCheck(t *testing.T, s storage.Store) {
	denied, err := s.IsAccessTokenDenied(ctx(t), "jti-1", base)
	must(t, "IsAccessTokenDenied on empty store", err)
	if denied {
		t.Fatalf("IsAccessTokenDenied on empty store: true")
	}
	must(t, "DenyAccessToken", s.DenyAccessToken(ctx(t), "jti-1", at(5*time.Minute)))
	must(t, "DenyAccessToken again", s.DenyAccessToken(ctx(t), "jti-1", at(5*time.Minute)))

	tests := []struct {
		name string
		jti  string
		want bool
	}{
		{"Denied", "jti-1", true},
		{"Other", "jti-2", false},
		{"PrefixOfDenied", "jti-", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.IsAccessTokenDenied(ctx(t), tc.jti, at(time.Minute))
			must(t, "IsAccessTokenDenied", err)
			if got != tc.want {
				t.Fatalf("IsAccessTokenDenied(%q) = %v, want %v", tc.jti, got, tc.want)
			}
		})
	}
}

func testDenyExpiry(t *testing.T, s storage.Store) {
	must(t, "DenyAccessToken", s.DenyAccessToken(ctx(t), "jti-1", at(5*time.Minute)))
	tests := []struct {
		name string
		now  time.Time
		want bool
	}{
		{"Before", at(5*time.Minute - time.Millisecond), true},
		{"AtExpiry", at(5 * time.Minute), false},
		{"After", at(time.Hour), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.IsAccessTokenDenied(ctx(t), "jti-1", tc.now)
			must(t, "IsAccessTokenDenied", err)
			if got != tc.want {
				t.Fatalf("IsAccessTokenDenied at %v = %v, want %v", tc.now, got, tc.want)
			}
		})
	}
}
