package keys

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// TestRotationClockSkew runs two replicas on one store, one clock 5 minutes
// ahead of real time and the other 5 minutes behind (each reconciles with
// its own "now"), through six hours of a 1 h rotation schedule, taking
// turns in both orders every simulated minute. Skew is tested here, at the
// rotator level, because the server has no clock override: the rotator
// takes its now as an argument, so the skew is exact. Invariants, in real
// time:
//   - exactly one active key at every step;
//   - no double rotation: one activation per due time, so successive
//     activations are at least the period minus twice the skew apart, and
//     six hours give at most seven active keys;
//   - a next key is published for its prepublication time (minus twice the
//     skew) before it signs;
//   - no early removal: a key leaves the set only once the fastest clock
//     has passed its VerifyUntil, which is at least its retirement plus
//     RetainFor, and at least RetainFor less twice the skew after it last
//     signed in real time; keys do leave (so the check can fail).
func TestRotationClockSkew(t *testing.T) {
	const (
		skew   = 5 * time.Minute
		step   = time.Minute
		period = time.Hour
		pre    = 20 * time.Minute
		retain = 30 * time.Minute
	)
	sched, err := ParseSchedule("@every 1h")
	if err != nil {
		t.Fatal(err)
	}
	store := &memStore{}
	sealer := testSealer(t)
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	type replica struct {
		rot    *Rotator
		offset time.Duration
	}
	var reps []replica
	for i, off := range []time.Duration{skew, -skew} {
		ring := NewKeyRing(sealer, []string{ES256})
		rot, err := NewRotator(store, sealer, ring, Policy{Algorithms: []string{ES256}, Schedule: sched, Prepublish: pre, RetainFor: retain},
			WithActor([]string{"fast", "slow"}[i]), WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, replica{rot, off})
	}

	firstSeen := map[string]time.Time{}
	activated := map[string]time.Time{}
	lastActive := map[string]time.Time{}
	var activations []time.Time
	removed := 0
	var prev storage.KeySet
	for now, i := t0, 0; now.Before(t0.Add(6 * time.Hour)); now, i = now.Add(step), i+1 {
		order := reps
		if i%2 == 1 {
			order = []replica{reps[1], reps[0]}
		}
		for _, r := range order {
			if _, err := r.rot.Reconcile(ctx, now.Add(r.offset)); err != nil && !errors.Is(err, ErrLostRace) {
				t.Fatalf("%s: reconcile: %v", now, err)
			}
		}
		set, err := store.GetKeySet(ctx)
		if err != nil {
			t.Fatal(err)
		}
		present := map[string]storage.Key{}
		active := 0
		for _, k := range set.Keys {
			present[k.KID] = k
			if _, ok := firstSeen[k.KID]; !ok {
				firstSeen[k.KID] = now
			}
			if k.State == storage.KeyActive {
				active++
				lastActive[k.KID] = now
				if _, ok := activated[k.KID]; !ok {
					activated[k.KID] = now
					if n := len(activations); n > 0 && now.Sub(activations[n-1]) < period-2*skew-step {
						t.Errorf("%s: key %s activated %s after the previous one: double rotation", now, k.KID, now.Sub(activations[n-1]))
					}
					if now.Sub(firstSeen[k.KID]) < pre-2*skew-step && len(activations) > 0 {
						t.Errorf("%s: key %s signs %s after it was published, want %s", now, k.KID, now.Sub(firstSeen[k.KID]), pre)
					}
					activations = append(activations, now)
				}
			}
		}
		if active != 1 {
			t.Fatalf("%s: %d active keys", now, active)
		}
		for _, k := range prev.Keys {
			if _, ok := present[k.KID]; ok {
				continue
			}
			removed++
			if k.State == storage.KeyActive || k.State == storage.KeyNext {
				t.Errorf("%s: %s key %s removed", now, k.State, k.KID)
			}
			if k.State == storage.KeyRetired {
				if k.VerifyUntil.Before(k.RetiredAt.Add(retain)) {
					t.Errorf("key %s: verify_until %s before retirement %s + %s", k.KID, k.VerifyUntil, k.RetiredAt, retain)
				}
				// In real time a replica with a slow clock may retire and one
				// with a fast clock remove, so the bound is RetainFor less
				// twice the skew: clock_leeway must cover the skew.
				if signed := now.Sub(lastActive[k.KID]); signed < retain-2*skew {
					t.Errorf("%s: key %s removed %s after it last signed, want at least %s", now, k.KID, signed, retain-2*skew)
				}
				if now.Add(skew).Before(k.VerifyUntil) {
					t.Errorf("%s: key %s removed before the fastest clock reached its verify_until %s", now, k.KID, k.VerifyUntil)
				}
			}
		}
		prev = set
	}
	if len(activations) < 6 || len(activations) > 7 {
		t.Errorf("%d activations in six hours of a 1 h schedule", len(activations))
	}
	t.Logf("%d activations, %d keys removed", len(activations), removed)
	if removed == 0 {
		t.Error("no key was ever removed: the early-removal check never ran")
	}
}
