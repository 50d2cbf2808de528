package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sigilauth/sigil/keys"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/bolt"
	"github.com/sigilauth/sigil/storage/mongo"
	"github.com/sigilauth/sigil/storage/mongo/mongotest"
)

// replicaStores returns n stores that share one underlying database: one
// bolt handle shared in-process (bolt is one process by design), or n
// separate MongoDB connections to one database.
func replicaStores(t *testing.T, b Backend, n int) ([]storage.Store, storage.Store) {
	t.Helper()
	switch b {
	case Bolt:
		s, err := bolt.Open(filepath.Join(t.TempDir(), "sigil.db"), bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		out := make([]storage.Store, n)
		for i := range out {
			out[i] = s
		}
		return out, s
	default:
		uri := mongotest.URI(t)
		var rnd [6]byte
		_, _ = rand.Read(rnd[:])
		db := "sigil_replicas_" + hex.EncodeToString(rnd[:])
		t.Cleanup(func() { dropMongoDB(uri, db) })
		out := make([]storage.Store, n)
		for i := range out {
			s, err := mongo.Open(context.Background(), uri, db)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Close() })
			out[i] = s
		}
		return out, out[0]
	}
}

// TestReplicasRotateExactlyOnce runs three rotators on one store, fires
// them together at 100 successive due times, and checks that each due
// rotation happened exactly once and that all replicas serve one JWKS.
func TestReplicasRotateExactlyOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		ctx := context.Background()
		stores, shared := replicaStores(t, b, 3)
		kek := make([]byte, keys.KEKSize)
		_, _ = rand.Read(kek)
		sched, err := keys.ParseSchedule("@every 6s")
		if err != nil {
			t.Fatal(err)
		}
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		type replica struct {
			rot  *keys.Rotator
			ring *keys.KeyRing
		}
		var reps []replica
		for i, st := range stores {
			sealer, _ := keys.NewSealer(kek)
			ring := keys.NewKeyRing(sealer, []string{keys.ES256})
			rot, err := keys.NewRotator(st, sealer, ring, keys.Policy{
				Algorithms: []string{keys.ES256}, Schedule: sched,
				Prepublish: 3 * time.Second, RetainFor: 10 * time.Second,
			}, keys.WithActor("replica-"+string(rune('a'+i))), keys.WithLogger(quiet))
			if err != nil {
				t.Fatal(err)
			}
			reps = append(reps, replica{rot, ring})
		}
		t0 := time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC)
		const rounds = 100
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
					_, errs[j] = r.rot.Reconcile(ctx, now)
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
			// Every replica now sees the committed set: another pass changes
			// nothing, and all serve identical JWKS bytes.
			var first []byte
			for j, r := range reps {
				if res, err := r.rot.Reconcile(ctx, now); err != nil || res.Changed {
					t.Fatalf("round %d replica %d: second pass %+v %v", i, j, res, err)
				}
				body, _, err := r.ring.JWKS()
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
		if set.Version != rounds {
			t.Fatalf("key set version %d after %d rounds, want one commit per round", set.Version, rounds)
		}
	})
}

// crashingStore fails every key-set write after the first `after` writes,
// as if the process died there.
type crashingStore struct {
	storage.Store
	mu     sync.Mutex
	writes int
	after  int
}

var errInjected = errors.New("injected crash")

func (c *crashingStore) write() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.after >= 0 && c.writes >= c.after {
		return errInjected
	}
	c.writes++
	return nil
}

func (c *crashingStore) CompareAndSwapKeySet(ctx context.Context, old int64, next storage.KeySet) (int64, error) {
	if err := c.write(); err != nil {
		return 0, err
	}
	return c.Store.CompareAndSwapKeySet(ctx, old, next)
}

func (c *crashingStore) AppendKeyEvent(ctx context.Context, e storage.KeyEvent) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.Store.AppendKeyEvent(ctx, e)
}

// TestCrashMidRotationConverges injects a crash after each storage write of
// a rotation plus a revocation, on each backend; a fresh replica's next
// Reconcile must converge: one active and one next key per algorithm, and
// the signing key published.
func TestCrashMidRotationConverges(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		ctx := context.Background()
		kek := make([]byte, keys.KEKSize)
		_, _ = rand.Read(kek)
		sched, _ := keys.ParseSchedule("@every 6s")
		quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
		algs := []string{keys.ES256, keys.RS256}
		newReplica := func(st keys.KeySetStore) (*keys.Rotator, *keys.KeyRing) {
			sealer, _ := keys.NewSealer(kek)
			ring := keys.NewKeyRing(sealer, algs)
			rot, err := keys.NewRotator(st, sealer, ring, keys.Policy{
				Algorithms: algs, RSABits: 2048, Schedule: sched,
				Prepublish: 3 * time.Second, RetainFor: 10 * time.Second,
			}, keys.WithLogger(quiet))
			if err != nil {
				t.Fatal(err)
			}
			return rot, ring
		}
		t0 := time.Date(2026, 5, 4, 3, 0, 0, 0, time.UTC)
		for n := 0; n <= 10; n++ {
			stores, _ := replicaStores(t, b, 1)
			cs := &crashingStore{Store: stores[0], after: -1}
			rot, _ := newReplica(cs)
			if _, err := rot.Reconcile(ctx, t0); err != nil {
				t.Fatal(err)
			}
			cs.mu.Lock()
			cs.after = cs.writes + n
			cs.mu.Unlock()
			_, _ = rot.Reconcile(ctx, t0.Add(6*time.Second))
			set, err := stores[0].GetKeySet(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range set.Keys {
				if k.State == storage.KeyActive && k.Alg == keys.RS256 {
					_, _ = rot.Revoke(ctx, t0.Add(7*time.Second), k.KID, "op", "crash test")
				}
			}
			// The process "restarts": a fresh replica on the real store.
			fresh, ring := newReplica(stores[0])
			if _, err := fresh.Reconcile(ctx, t0.Add(8*time.Second)); err != nil {
				t.Fatalf("crash after %d writes: reconcile: %v", n, err)
			}
			set, err = stores[0].GetKeySet(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, alg := range algs {
				active, next := 0, 0
				for _, k := range set.Keys {
					if k.Alg != alg {
						continue
					}
					switch k.State {
					case storage.KeyActive:
						active++
						if _, _, ok := ring.PublicKey(k.KID); !ok {
							t.Fatalf("crash after %d writes: %s signing key not published", n, alg)
						}
					case storage.KeyNext:
						next++
					}
				}
				if active != 1 || next != 1 {
					t.Fatalf("crash after %d writes: %s has %d active, %d next", n, alg, active, next)
				}
				if _, err := ring.SignJWT(alg, "at+jwt", []byte(`{}`)); err != nil {
					t.Fatalf("crash after %d writes: %v", n, err)
				}
			}
		}
	})
}
