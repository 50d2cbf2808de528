package bolt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/sigilauth/sigil/storage"
)

// TestGroupCommitCoalesces: writes that queue while a commit is running share
// the next transaction, and each caller sees its own result: a failing write
// is rolled back alone, the others commit.
func TestGroupCommitCoalesces(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "sigil.db"))
	ctx := context.Background()
	const n = 20
	const failing = 7
	errFail := errors.New("refused")

	txIDs := make([]int, n)
	stats0 := s.CommitStats()

	hold, held := make(chan struct{}), make(chan struct{})
	holdDone := make(chan error, 1)
	go func() {
		holdDone <- s.update(ctx, "hold", func(tx *bbolt.Tx) error {
			close(held)
			<-hold
			return nil
		})
	}()
	<-held
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.update(ctx, "write", func(tx *bbolt.Tx) error {
				txIDs[i] = tx.ID()
				if err := tx.Bucket(bucketMeta).Put([]byte(fmt.Sprintf("k%02d", i)), []byte("v")); err != nil {
					return err
				}
				if i == failing {
					return errFail
				}
				return nil
			})
		}()
	}
	// The writer is busy with the held write: wait until all n writes are
	// queued behind it.
	for len(s.writes.reqs) < n {
		runtime.Gosched()
	}
	close(hold)
	if err := <-holdDone; err != nil {
		t.Fatal(err)
	}
	wg.Wait()

	shared := map[int]int{}
	for i, err := range errs {
		if i == failing {
			if !errors.Is(err, errFail) {
				t.Fatalf("failing write: %v, want its own error", err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		shared[txIDs[i]]++
	}
	if len(shared) != 1 {
		t.Fatalf("the %d queued writes committed in %d transactions (%v), want 1", n-1, len(shared), shared)
	}
	// Counted: the held write's commit and the batch's, with 1 + n-1
	// writes; not the batch rolled back for the failing write, nor that
	// write's own rolled-back run.
	stats := s.CommitStats()
	if c, w := stats.Commits-stats0.Commits, stats.Writes-stats0.Writes; c != 2 || w != n {
		t.Errorf("CommitStats counted %d commits and %d writes, want 2 and %d", c, w, n)
	}
	if stats.Time <= stats0.Time {
		t.Errorf("CommitStats.Time did not grow: %v then %v", stats0.Time, stats.Time)
	}
	_ = s.db.View(func(tx *bbolt.Tx) error {
		for i := range n {
			got := tx.Bucket(bucketMeta).Get([]byte(fmt.Sprintf("k%02d", i)))
			if (got != nil) != (i != failing) {
				t.Errorf("key %d stored=%v, want %v", i, got != nil, i != failing)
			}
		}
		return nil
	})
}

// TestGroupCommitPanic: a panic in a write reaches its caller, and the
// store keeps working.
func TestGroupCommitPanic(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "sigil.db"))
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Fatalf("recovered %v, want the write's panic", p)
			}
		}()
		_ = s.update(context.Background(), "panic", func(*bbolt.Tx) error { panic("boom") })
	}()
	if err := s.update(context.Background(), "after", func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
}

// stuck is how long a test waits for the writer before calling it stuck (a
// bound on a hang, not a measurement).
const stuck = 10 * time.Second

// TestGroupCommitLinger: writes that may wait (storage.WithSharedCommit)
// are held back until a write that may not wait arrives, or the linger
// timer fires, and then share one commit; a write that may not wait never
// waits for the timer.
func TestGroupCommitLinger(t *testing.T) {
	for _, tc := range []struct {
		name string
		// lingering writes first, then (flush) one that may not wait, or
		// (!flush) the linger timer fires.
		lingering int
		flush     bool
	}{
		{"a write that may not wait takes the waiting ones along", 2, true},
		{"the timer ends the wait", 3, false},
		{"a write that may not wait alone does not wait", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openTemp(t, filepath.Join(t.TempDir(), "sigil.db"))
			ctx := context.Background()
			fire := make(chan time.Time)
			t.Cleanup(func() { close(fire) }) // a failed test leaves no write waiting (Close waits for them)
			started := make(chan struct{}, 1)
			s.writes.lingerTimer = func() (<-chan time.Time, func()) {
				started <- struct{}{}
				return fire, func() {}
			}
			type result struct {
				tx  int
				err error
			}
			results := make(chan result, tc.lingering+1)
			write := func(ctx context.Context, key string) {
				var id int
				err := s.update(ctx, "write", func(tx *bbolt.Tx) error {
					id = tx.ID()
					return tx.Bucket(bucketMeta).Put([]byte(key), []byte("v"))
				})
				results <- result{id, err}
			}

			// Queue the waiting writes behind a held one, so that the
			// writer takes them as one batch once it is released.
			hold, held := make(chan struct{}), make(chan struct{})
			holdDone := make(chan error, 1)
			go func() {
				holdDone <- s.update(ctx, "hold", func(*bbolt.Tx) error {
					close(held)
					<-hold
					return nil
				})
			}()
			<-held
			shared := storage.WithSharedCommit(ctx)
			for i := range tc.lingering {
				go write(shared, fmt.Sprintf("l%d", i))
			}
			for len(s.writes.reqs) < tc.lingering {
				runtime.Gosched()
			}
			close(hold)
			if err := <-holdDone; err != nil {
				t.Fatal(err)
			}
			stats0 := s.CommitStats()
			if tc.lingering > 0 {
				select {
				case <-started: // the writer holds the batch back
				case <-time.After(stuck):
					t.Fatal("the writer did not hold back a batch of writes that may wait")
				}
				select {
				case r := <-results:
					t.Fatalf("a waiting write returned before the wait ended: %+v", r)
				default:
				}
			}
			if tc.flush {
				go write(ctx, "now")
			} else {
				fire <- time.Now()
			}
			n := tc.lingering
			if tc.flush {
				n++
			}
			txs := map[int]int{}
			for range n {
				var r result
				select {
				case r = <-results:
				case <-time.After(stuck):
					t.Fatalf("%d of %d writes still waiting after %v", n-len(txs), n, stuck)
				}
				if r.err != nil {
					t.Fatal(r.err)
				}
				txs[r.tx]++
			}
			if len(txs) != 1 {
				t.Errorf("%d writes committed in %d transactions (%v), want 1", n, len(txs), txs)
			}
			if c, w := s.CommitStats().Commits-stats0.Commits, s.CommitStats().Writes-stats0.Writes; c != 1 || w != uint64(n) {
				t.Errorf("%d commits of %d writes, want 1 of %d", c, w, n)
			}
			if len(started) > 0 {
				t.Errorf("a write that may not wait started the linger timer")
			}
		})
	}
}
