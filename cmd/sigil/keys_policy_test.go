package main

import (
	"testing"
	"time"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/oauth/verify"
)

// TestRotationPolicyRetainFor: a retired key stays published (verify_until)
// for the longest token lifetime it could have signed plus the clock
// leeway. The lifetimes differ in each case, so dropping either lifetime or
// the leeway from the sum fails one.
func TestRotationPolicyRetainFor(t *testing.T) {
	tests := []struct {
		name             string
		access, id, skew time.Duration
		want             time.Duration
	}{
		{"id token outlives access token", 5 * time.Minute, time.Hour, 2 * time.Minute, 62 * time.Minute},
		{"access token outlives id token", 90 * time.Minute, 10 * time.Minute, 3 * time.Minute, 93 * time.Minute},
		{"no leeway", 15 * time.Minute, 20 * time.Minute, 0, 20 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := configs.Default()
			cfg.Tokens.AccessTTL, cfg.Tokens.IDTokenTTL, cfg.Keys.ClockLeeway = tc.access, tc.id, tc.skew
			pol, err := rotationPolicy(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if pol.RetainFor != tc.want {
				t.Fatalf("RetainFor = %s, want %s", pol.RetainFor, tc.want)
			}
		})
	}
}

// TestMinPrepublishIsVerifyRefetchInterval: configs (a leaf) mirrors
// oauth/verify's MinRefetchInterval as the least keys.prepublish; the two
// must not drift apart.
func TestMinPrepublishIsVerifyRefetchInterval(t *testing.T) {
	if configs.MinPrepublish != verify.MinRefetchInterval {
		t.Fatalf("configs.MinPrepublish = %s, oauth/verify.MinRefetchInterval = %s", configs.MinPrepublish, verify.MinRefetchInterval)
	}
}
