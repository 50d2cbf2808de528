package keys

import (
	"context"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// TestSetRetainFor: a longer retention applies to the next retirement at
// once; a shorter one never lets a key retired after the change leave the
// JWKS before tokens signed under the old retention expire (the floor),
// and applies fully after that; an invalid one changes nothing. The
// fixture retains for 10s and rotates every 6s (t0+6s, t0+12s).
func TestSetRetainFor(t *testing.T) {
	for _, tc := range []struct {
		name    string
		retain  time.Duration
		at      time.Duration
		wantErr bool
		// wantUntil is the verify_until of the keys retired at t0+6s and
		// t0+12s, from t0.
		wantUntil [2]time.Duration
	}{
		{"unchanged", 10 * time.Second, time.Second, false, [2]time.Duration{16 * time.Second, 22 * time.Second}},
		{"longer applies at once", 20 * time.Second, time.Second, false, [2]time.Duration{26 * time.Second, 32 * time.Second}},
		{"shorter keeps the old retention until its floor", 4 * time.Second, time.Second, false, [2]time.Duration{11 * time.Second, 16 * time.Second}},
		{"shorter set later moves the floor", 4 * time.Second, 5 * time.Second, false, [2]time.Duration{15 * time.Second, 16 * time.Second}},
		{"zero refused", 0, time.Second, true, [2]time.Duration{16 * time.Second, 22 * time.Second}},
		{"negative refused", -time.Second, time.Second, true, [2]time.Duration{16 * time.Second, 22 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			store := &memStore{}
			f := newFixture(t, store, testSealer(t))
			if _, err := f.rot.Reconcile(ctx, t0); err != nil {
				t.Fatal(err)
			}
			err := f.rot.SetRetainFor(tc.retain, t0.Add(tc.at))
			if (err != nil) != tc.wantErr {
				t.Fatalf("SetRetainFor(%s) = %v, want error %v", tc.retain, err, tc.wantErr)
			}
			if want := tc.retain; tc.wantErr {
				if got := f.rot.RetainFor(); got != 10*time.Second {
					t.Fatalf("RetainFor after a refused set = %s, want 10s", got)
				}
			} else if got := f.rot.RetainFor(); got != want {
				t.Fatalf("RetainFor = %s, want %s", got, want)
			}
			for i, at := range []time.Duration{6 * time.Second, 12 * time.Second} {
				retiring := activeKID(mustSet(t, store), ES256)
				res, err := f.rot.Reconcile(ctx, t0.Add(at))
				if err != nil || !res.Changed {
					t.Fatalf("rotation at +%s: %+v %v", at, res, err)
				}
				var got time.Time
				for _, k := range mustSet(t, store).Keys {
					if k.KID == retiring && k.State == storage.KeyRetired {
						got = k.VerifyUntil
					}
				}
				if want := t0.Add(tc.wantUntil[i]); !got.Equal(want) {
					t.Fatalf("key retired at +%s: verify_until %s, want +%s", at, got.Sub(t0), tc.wantUntil[i])
				}
			}
		})
	}
}
