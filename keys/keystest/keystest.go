// Package keystest holds the key helpers the tests share: the one fake key
// ring (Ring, with the private keys behind it to forge tokens), the
// three-replica rotation race, which runs once, here, over whatever store
// the caller gives it, and a self-signed TLS certificate (SelfSignedCert).
package keystest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sigilauth/sigil/keys"
	"github.com/sigilauth/sigil/keys/audittest"
	"github.com/sigilauth/sigil/storage"
)

// Store is what the replica race reads to check its outcome: the key set and
// the audit trail.
type Store interface {
	keys.KeySetStore
	ListKeyEvents(ctx context.Context) ([]storage.KeyEvent, error)
}

// Replica is one rotator and the key ring it keeps loaded.
type Replica struct {
	Rotator *keys.Rotator
	Ring    *keys.KeyRing
}

// NewReplicas builds one replica per store, all sharing one random
// key-encryption key and an ES256 policy that rotates every 6 s with 3 s of
// prepublication. Give the same store several times for replicas of one
// process, or separate connections to one database for separate processes.
func NewReplicas(t testing.TB, stores ...keys.KeySetStore) []Replica {
	t.Helper()
	kek := make([]byte, keys.KEKSize)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	sched, err := keys.ParseSchedule("@every 6s")
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	reps := make([]Replica, 0, len(stores))
	for i, st := range stores {
		sealer, err := keys.NewSealer(kek)
		if err != nil {
			t.Fatal(err)
		}
		ring := keys.NewKeyRing(sealer, []string{keys.ES256})
		rot, err := keys.NewRotator(st, sealer, ring, keys.Policy{
			Algorithms: []string{keys.ES256}, RSABits: 2048, Schedule: sched,
			Prepublish: 3 * time.Second, RetainFor: 10 * time.Second,
		}, keys.WithActor("replica-"+string(rune('a'+i))), keys.WithLogger(quiet))
		if err != nil {
			t.Fatal(err)
		}
		reps = append(reps, Replica{Rotator: rot, Ring: ring})
	}
	return reps
}

// ReplicaRace runs one replica per store (see NewReplicas), fires them
// together at rounds successive due times 6 s apart, and checks after each
// round that at least one won and the others lost the race cleanly
// (keys.ErrLostRace), that a second pass changes nothing, that the stored set
// has exactly one active and one next key, and that every replica has loaded
// that version and serves identical JWKS bytes. At the end each due rotation
// must have been promoted exactly once, the set committed once per round,
// and the audit trail must hold each transition exactly once (audittest.CheckAudit).
// shared reads the outcome: one of the stores, or another handle on the
// same database.
func ReplicaRace(t testing.TB, shared Store, rounds int, stores ...keys.KeySetStore) {
	t.Helper()
	ctx := context.Background()
	reps := NewReplicas(t, stores...)
	t0 := time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC)
	for i := range rounds {
		now := t0.Add(time.Duration(i) * 6 * time.Second)
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, len(reps))
		for j, r := range reps {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[j] = r.Rotator.Reconcile(ctx, now)
			}()
		}
		close(start)
		wg.Wait()
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, keys.ErrLostRace):
				t.Fatalf("round %d: %v", i, err)
			}
		}
		if wins == 0 {
			t.Fatalf("round %d: every replica lost", i)
		}
		// Losers reloaded; any replica that ran after the winner saw nothing
		// to do. Run everyone once more: nothing may change.
		for j, r := range reps {
			if res, err := r.Rotator.Reconcile(ctx, now); err != nil || res.Changed {
				t.Fatalf("round %d replica %d: second pass changed the set: %+v %v", i, j, res, err)
			}
		}
		set, err := shared.GetKeySet(ctx)
		if err != nil {
			t.Fatal(err)
		}
		states := map[storage.KeyState]int{}
		for _, k := range set.Keys {
			states[k.State]++
		}
		if states[storage.KeyActive] != 1 || states[storage.KeyNext] != 1 {
			t.Fatalf("round %d: states %v", i, states)
		}
		var first []byte
		for j, r := range reps {
			if snap := r.Ring.Snapshot(); snap == nil || snap.Version != set.Version {
				t.Fatalf("round %d replica %d: not converged to version %d", i, j, set.Version)
			}
			body, _, err := r.Ring.JWKS()
			if err != nil {
				t.Fatal(err)
			}
			if j == 0 {
				first = body
			} else if !bytes.Equal(body, first) {
				t.Fatalf("round %d: replicas serve different JWKS", i)
			}
		}
	}
	evs, err := shared.ListKeyEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	promotions := map[string]int{}
	for _, e := range evs {
		if e.Action == "promote" {
			promotions[e.Time.UTC().Format(time.RFC3339)]++
		}
	}
	// Round 0 bootstraps; rounds 1.. each rotate once.
	if len(promotions) != rounds-1 {
		t.Fatalf("%d distinct promotion times over %d due rotations", len(promotions), rounds-1)
	}
	for at, n := range promotions {
		if n != 1 {
			t.Fatalf("%d promotions at %s", n, at)
		}
	}
	set, err := shared.GetKeySet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Each round commits once, then once more to drop the audit events it
	// flushed from the record.
	if set.Version != int64(2*rounds) {
		t.Fatalf("key set version %d after %d rounds, want one commit (and one drop of flushed audit events) per round", set.Version, rounds)
	}
	if err := audittest.CheckAudit(set, evs); err != nil {
		t.Fatal(err)
	}
}
