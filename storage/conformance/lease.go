package conformance

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

var leaseTests = []subtest{
	{"Lifecycle", testLeaseLifecycle},
	{"TwoOwnersRacing", func(t *testing.T, s storage.Store) { testLeaseRace(t, s, 2, 20) }},
	{"TenOwnersRacing", func(t *testing.T, s storage.Store) { testLeaseRace(t, s, 10, 3) }},
	{"ExpiredLeaseRace", testLeaseExpiredRace},
}

// testLeaseLifecycle walks one lease through taking, refusing, renewing,
// expiring and handing over, step by step on the caller's clock.
func testLeaseLifecycle(t *testing.T, s storage.Store) {
	const ttl = 10 * time.Minute
	steps := []struct {
		name  string
		lease string
		owner string
		at    time.Duration
		want  bool
	}{
		{"free lease is taken", "purge", "a", 0, true},
		{"held lease refuses another owner", "purge", "b", time.Minute, false},
		{"other names are independent", "other", "b", time.Minute, true},
		{"holder renews", "purge", "a", 9 * time.Minute, true}, // now until 19m
		{"renewed lease still refuses at the old expiry", "purge", "b", 10 * time.Minute, false},
		{"just before expiry refuses", "purge", "b", 19*time.Minute - time.Millisecond, false},
		{"expired at now hands over", "purge", "b", 19 * time.Minute, true},
		{"the previous holder is refused", "purge", "a", 20 * time.Minute, false},
		{"the new holder renews", "purge", "b", 21 * time.Minute, true},
	}
	for _, st := range steps {
		got, err := s.AcquireLease(ctx(t), st.lease, st.owner, at(st.at), ttl)
		must(t, st.name, err)
		if got != st.want {
			t.Fatalf("%s: AcquireLease(%s, %s, +%s) = %v, want %v", st.name, st.lease, st.owner, st.at, got, st.want)
		}
	}
	if _, err := s.AcquireLease(ctx(t), "purge", "", at(0), ttl); err == nil {
		t.Error("AcquireLease with an empty owner succeeded")
	}
	if _, err := s.AcquireLease(ctx(t), "purge", "a", at(0), 0); err == nil {
		t.Error("AcquireLease with a zero ttl succeeded")
	}
}

// testLeaseRace has n owners race for a free lease, rounds times (a fresh
// lease name each round): exactly one wins each round.
func testLeaseRace(t *testing.T, s storage.Store, n, rounds int) {
	for r := range rounds {
		name := fmt.Sprintf("race-%d", r)
		wins := raceLease(t, s, name, n, at(0))
		if wins != 1 {
			t.Fatalf("round %d: %d of %d owners won a free lease, want exactly 1", r, wins, n)
		}
	}
}

// testLeaseExpiredRace lets an owner's lease expire, then n others race
// for it: exactly one takes it over.
func testLeaseExpiredRace(t *testing.T, s storage.Store) {
	ok, err := s.AcquireLease(ctx(t), "purge", "old", at(0), time.Minute)
	must(t, "AcquireLease", err)
	if !ok {
		t.Fatal("free lease refused")
	}
	if wins := raceLease(t, s, "purge", 8, at(time.Minute)); wins != 1 {
		t.Fatalf("%d owners took over the expired lease, want exactly 1", wins)
	}
}

// raceLease starts n owners at once on name and returns how many won.
func raceLease(t *testing.T, s storage.Store, name string, n int, now time.Time) int {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	won := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			won[i], errs[i] = s.AcquireLease(ctx(t), name, fmt.Sprintf("owner-%d", i), now, time.Minute)
		}()
	}
	close(start)
	wg.Wait()
	wins := 0
	for i := range n {
		must(t, "AcquireLease", errs[i])
		if won[i] {
			wins++
		}
	}
	return wins
}
