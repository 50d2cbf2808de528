package bolt

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	bbolt "go.etcd.io/bbolt"
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
