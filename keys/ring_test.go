package keys

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/sigilauth/sigil/oauth/verify"
	"github.com/sigilauth/sigil/storage"
)

// TestKeyRingIsVerifyKeySet checks the ring as the verifier's key set: its
// published keys verify the tokens it signs, a key that stays published
// keeps its *verify.Key across loads, and a revoked key is withdrawn at the
// Load that drops it, so even a token already in the verifier's cache is
// refused.
func TestKeyRingIsVerifyKeySet(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	f := newFixture(t, store, testSealer(t), ES256)
	if _, err := f.ring.Key(ctx, "any"); !errors.Is(err, verify.ErrUnknownKey) {
		t.Fatalf("unloaded ring: %v", err)
	}
	if _, err := f.rot.Reconcile(ctx, t0); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(time.Second)
	v, err := verify.New(ctx, "https://sigil.test", verify.WithKeySet(f.ring), verify.SkipAudienceCheck(),
		verify.WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"iss": "https://sigil.test", "sub": "u", "exp": now.Add(time.Minute).Unix()})
	tok, err := f.ring.SignJWT("", "at+jwt", payload)
	if err != nil {
		t.Fatal(err)
	}
	active := activeKID(mustSet(t, store), ES256)
	tests := []struct {
		name    string
		kid     string
		wantErr error
	}{
		{name: "active key", kid: active},
		{name: "next key", kid: nextKID(t, store)},
		{name: "unknown kid", kid: "nope", wantErr: verify.ErrUnknownKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := f.ring.Key(ctx, tc.kid)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || k != nil {
					t.Fatalf("Key = %v, %v; want %v", k, err, tc.wantErr)
				}
				return
			}
			if err != nil || k.ID() != tc.kid || k.Algorithm() != ES256 || k.Withdrawn() {
				t.Fatalf("Key = %+v, %v", k, err)
			}
		})
	}
	if c, err := v.Verify(ctx, tok); err != nil || c.KeyID != active {
		t.Fatalf("verify: %+v %v", c, err)
	}
	before, _ := f.ring.Key(ctx, active)

	// A reload that keeps the key keeps its *verify.Key, not withdrawn.
	if err := f.ring.Load(mustSet(t, store), now); err != nil {
		t.Fatal(err)
	}
	if after, _ := f.ring.Key(ctx, active); after != before || before.Withdrawn() {
		t.Fatal("a key still published was replaced or withdrawn by a reload")
	}

	// Revoking withdraws it: the cached token is refused too.
	if _, err := f.rot.Revoke(ctx, now, active, "operator", "leaked"); err != nil {
		t.Fatal(err)
	}
	if !before.Withdrawn() {
		t.Fatal("revoked key not withdrawn")
	}
	if _, err := v.Verify(ctx, tok); !errors.Is(err, verify.ErrUnknownKey) {
		t.Fatalf("token of a revoked key: %v", err)
	}
}

func nextKID(t *testing.T, s *memStore) string {
	t.Helper()
	for _, k := range mustSet(t, s).Keys {
		if k.State == storage.KeyNext {
			return k.KID
		}
	}
	t.Fatal("no next key")
	return ""
}

// TestKeyRingJWKSETag checks the ETag the web layer serves with the real
// ring: it changes whenever the published key set changes (rotation,
// revocation, expiry) and stays put when nothing changed.
func TestKeyRingJWKSETag(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	f := newFixture(t, store, testSealer(t), ES256)
	if _, err := f.rot.Reconcile(ctx, t0); err != nil {
		t.Fatal(err)
	}
	body, etag, err := f.ring.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []struct {
		name    string
		run     func() error
		changes bool
	}{
		{"nothing to do", func() error { _, err := f.rot.Reconcile(ctx, t0.Add(time.Second)); return err }, false},
		{"rotation publishes a new next key", func() error { _, err := f.rot.Reconcile(ctx, t0.Add(6*time.Second)); return err }, true},
		{"revocation withdraws a key", func() error {
			_, err := f.rot.Revoke(ctx, t0.Add(7*time.Second), activeKID(mustSet(t, store), ES256), "op", "test")
			return err
		}, true},
		{"retired key expires", func() error { _, err := f.rot.Reconcile(ctx, t0.Add(16*time.Second)); return err }, true},
	} {
		t.Run(st.name, func(t *testing.T) {
			if err := st.run(); err != nil {
				t.Fatal(err)
			}
			nb, ne, err := f.ring.JWKS()
			if err != nil {
				t.Fatal(err)
			}
			if bodyChanged := string(nb) != string(body); bodyChanged != st.changes {
				t.Fatalf("JWKS changed = %v, want %v", bodyChanged, st.changes)
			}
			if (ne != etag) != st.changes {
				t.Fatalf("ETag %s -> %s, want changed = %v", etag, ne, st.changes)
			}
			body, etag = nb, ne
		})
	}
}
