package bolt

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// maxBatch bounds the write functions one group commit runs.
const maxBatch = 256

// maxLinger bounds how long a batch of writes that may wait
// (storage.WithSharedCommit) is held back for company: about one argon2id
// hash at Sigil's default cost, the time within which a login queue's next
// write arrives.
const maxLinger = 25 * time.Millisecond

// groupCommit is the store's single writer: it runs the write functions
// that queued while the previous commit was being flushed in one
// read-write transaction, so concurrent writes share one commit and its
// fsyncs. A batch grows while the disk is busy with the one before it; a
// lone write commits at once, unless every write of the batch may wait
// (storage.WithSharedCommit): such a batch is held back until a write
// that may not wait arrives, the batch is full or maxLinger has passed,
// and then commits with whatever arrived meanwhile.
//
// Each caller learns its result only after the transaction holding its
// write has committed (and been fsynced), so nothing is acknowledged before
// it is durable. If one function of a batch fails, the transaction is
// rolled back, that function is set aside and the rest are run again; the
// set-aside functions then run one transaction each, after the batch, so
// every result matches some serial order of the writes. Functions must
// therefore be safe to run more than once (each run starts from the
// transaction's state and must reset anything it returns through its
// closure).
type groupCommit struct {
	db   *bbolt.DB
	reqs chan *writeReq
	quit chan struct{}
	done chan struct{}

	// lingerTimer starts the wait of a batch that may wait: its channel
	// fires when the wait is over, and stop releases it (a timer of
	// maxLinger; tests replace it).
	lingerTimer func() (fire <-chan time.Time, stop func())

	// commits, writes and nanos are the running totals of CommitStats.
	commits, writes, nanos atomic.Uint64
}

// CommitStats are running totals of a Store's group commits since Open.
// Commits over time is the write rate the disk sees, Writes/Commits how
// well concurrent writes share a commit, and Time/Commits the latency of
// one commit, fsyncs included: on a slow disk it rises first.
type CommitStats struct {
	// Commits counts the read-write transactions that reached their
	// commit, whether it succeeded or not. A batch rolled back because one
	// of its writes failed is not counted: it runs again without that write.
	Commits uint64
	// Writes counts the write calls carried by the transactions that
	// committed.
	Writes uint64
	// Time is the wall time of the counted transactions, from the first
	// write function to the end of the last fsync.
	Time time.Duration
}

func (g *groupCommit) stats() CommitStats {
	return CommitStats{Commits: g.commits.Load(), Writes: g.writes.Load(), Time: time.Duration(g.nanos.Load())}
}

// update runs fn, which holds n write functions, in one transaction and
// counts the transaction if it reached its commit.
func (g *groupCommit) update(n int, fn func(*bbolt.Tx) error) error {
	start := time.Now()
	var fnErr error
	err := g.db.Update(func(tx *bbolt.Tx) error {
		fnErr = fn(tx)
		return fnErr
	})
	if fnErr != nil {
		return err // rolled back: nothing reached the disk
	}
	g.nanos.Add(uint64(time.Since(start)))
	g.commits.Add(1)
	if err == nil {
		g.writes.Add(uint64(n))
	}
	return err
}

type writeReq struct {
	fn  func(*bbolt.Tx) error
	res chan error
	// linger: the write may wait up to maxLinger for others to share its
	// commit (storage.WithSharedCommit).
	linger bool
}

// panicError carries a panic of a write function to its caller.
type panicError struct{ v any }

func (p panicError) Error() string { return fmt.Sprintf("panic in write: %v", p.v) }

func newGroupCommit(db *bbolt.DB) *groupCommit {
	g := &groupCommit{db: db, reqs: make(chan *writeReq, maxBatch), quit: make(chan struct{}), done: make(chan struct{}), lingerTimer: lingerTimer}
	go g.run()
	return g
}

// do runs fn in a committed transaction (shared with concurrent writes) and
// returns its error, or the commit's. With linger, fn may wait to share a
// later write's commit (see groupCommit). A panic in fn is re-raised here.
func (g *groupCommit) do(fn func(*bbolt.Tx) error, linger bool) error {
	r := &writeReq{fn: fn, res: make(chan error, 1), linger: linger}
	g.reqs <- r
	err := <-r.res
	var p panicError
	if errors.As(err, &p) {
		panic(p.v)
	}
	return err
}

// stop ends the writer; no do may be in flight or follow.
func (g *groupCommit) stop() {
	close(g.quit)
	<-g.done
}

func (g *groupCommit) run() {
	defer close(g.done)
	for {
		var first *writeReq
		select {
		case first = <-g.reqs:
		case <-g.quit:
			return
		}
		batch := []*writeReq{first}
		lingering := first.linger
	drain:
		for len(batch) < maxBatch {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
				lingering = lingering && r.linger
			default:
				break drain
			}
		}
		if lingering && len(batch) < maxBatch {
			batch = g.linger(batch)
		}
		g.commit(batch)
	}
}

// linger holds back a batch whose writes all may wait: it gathers the
// writes that arrive until one that may not wait arrives, the batch is
// full, the linger timer fires or the writer stops.
func (g *groupCommit) linger(batch []*writeReq) []*writeReq {
	fire, stop := g.lingerTimer()
	defer stop()
	for len(batch) < maxBatch {
		select {
		case r := <-g.reqs:
			batch = append(batch, r)
			if !r.linger {
				return batch
			}
		case <-fire:
			return batch
		case <-g.quit:
			return batch
		}
	}
	return batch
}

// lingerTimer is the default groupCommit.lingerTimer.
func lingerTimer() (<-chan time.Time, func()) {
	t := time.NewTimer(maxLinger)
	return t.C, func() { t.Stop() }
}

func (g *groupCommit) commit(batch []*writeReq) {
	var solo []*writeReq
	for len(batch) > 0 {
		failed := -1
		err := g.update(len(batch), func(tx *bbolt.Tx) error {
			for i, r := range batch {
				if err := runWrite(r.fn, tx); err != nil {
					failed = i
					return err
				}
			}
			return nil
		})
		if failed < 0 {
			for _, r := range batch {
				r.res <- err // nil, or the commit's error for all of them
			}
			break
		}
		solo = append(solo, batch[failed])
		batch = append(batch[:failed:failed], batch[failed+1:]...)
	}
	for _, r := range solo {
		r.res <- g.update(1, func(tx *bbolt.Tx) error { return runWrite(r.fn, tx) })
	}
}

// runWrite runs fn, turning a panic into a panicError.
func runWrite(fn func(*bbolt.Tx) error, tx *bbolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicError{p}
		}
	}()
	return fn(tx)
}
