package tests

import (
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
	"github.com/sigilauth/sigil/keys/audittest"
	"github.com/sigilauth/sigil/keys/keystest"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/backend"
	"github.com/sigilauth/sigil/storage/mongo/mongotest"
)

// replicaStores returns n stores that share one underlying database: one
// bolt handle shared in-process (bolt is one process by design), or n
// separate MongoDB connections to one database.
func replicaStores(t *testing.T, b Backend, n int) ([]storage.Store, storage.Store) {
	t.Helper()
	opts := backend.Options{Backend: string(b), BoltPath: filepath.Join(t.TempDir(), "sigil.db")}
	if b != Bolt {
		var rnd [6]byte
		_, _ = rand.Read(rnd[:])
		opts.MongoURI, opts.MongoDatabase = mongotest.URI(t), "sigil_replicas_"+hex.EncodeToString(rnd[:])
		t.Cleanup(func() { dropMongoDB(opts.MongoURI, opts.MongoDatabase) })
	}
	open := func() storage.Store {
		s, err := backend.Open(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	out := make([]storage.Store, n)
	for i := range out {
		if b == Bolt && i > 0 {
			out[i] = out[0]
		} else {
			out[i] = open()
		}
	}
	return out, out[0]
}

// TestReplicasRotateExactlyOnce runs three rotators on one store, fires
// them together at 100 successive due times, and checks that each due
// rotation happened exactly once and that all replicas serve one JWKS
// (keystest.ReplicaRace, which the keys unit tests run in memory).
func TestReplicasRotateExactlyOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b Backend) {
		t.Parallel()
		stores, shared := replicaStores(t, b, 3)
		ks := make([]keys.KeySetStore, len(stores))
		for i, s := range stores {
			ks[i] = s
		}
		keystest.ReplicaRace(t, shared, 100, ks...)
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
// the signing key published, and each transition in the audit log exactly
// once (audit events are committed with the key set, then flushed).
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
		for n := 0; n <= 14; n++ {
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
			evs, err := stores[0].ListKeyEvents(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := audittest.CheckAudit(set, evs); err != nil {
				t.Fatalf("crash after %d writes: %v", n, err)
			}
		}
	})
}
