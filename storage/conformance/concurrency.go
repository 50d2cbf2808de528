package conformance

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

var concurrencyTests = []subtest{
	{"RefreshTokenSwappedOnce", testRaceSwap},
	{"KeySetTwoWriters", func(t *testing.T, s storage.Store) { testRaceKeySet(t, s, 2, 20) }},
	{"KeySetTenWriters", func(t *testing.T, s storage.Store) { testRaceKeySet(t, s, 10, 3) }},
	{"LoginFailureCounter", testRaceLoginFailures},
	{"LoginAttemptsAllCounted", testRaceLoginAttemptsCounted},
	{"LoginAttemptsStopAtLock", testRaceLoginAttemptsLock},
	{"UniqueUsername", testRaceUsername},
	{"AuthCodeUsedOnce", testRaceConsumeAuthCode},
	{"SessionClients", testRaceAddSessionClient},
}

// oneWinner checks that exactly one of errs is nil and every other one is
// want, and returns the winner's index.
func oneWinner(t *testing.T, what string, errs []error, want error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("%s: callers %d and %d both succeeded", what, winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, want):
			t.Fatalf("%s: caller %d got %v, want errors.Is(err, %v)", what, i, err, want)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: no caller succeeded", what)
	}
	return winner
}

func testRaceSwap(t *testing.T, s storage.Store) {
	const n = 50
	must(t, "CreateFamily", s.CreateFamily(ctx(t), newFamily("fam1")))
	errs := make([]error, n)
	startTogether(n, func(i int) {
		_, errs[i] = s.SwapRefreshToken(ctx(t), "fam1", "web", "h0-fam1", stateAt(fmt.Sprintf("child-%d", i), "h0-fam1", time.Minute), at(time.Minute))
	})
	winner := oneWinner(t, "SwapRefreshToken", errs, storage.ErrConflict)
	got, err := s.GetFamily(ctx(t), "fam1", at(time.Minute))
	must(t, "GetFamily", err)
	if want := fmt.Sprintf("child-%d", winner); got.CurrentHash != want || got.PreviousHash != "h0-fam1" {
		t.Fatalf("stored state current %q previous %q, want the winner's %q after h0-fam1", got.CurrentHash, got.PreviousHash, want)
	}
}

// testRaceKeySet races writers replicas swapping from the same version, for
// rounds rounds; the first round starts from an empty store (version 0), as
// replicas do on first start.
func testRaceKeySet(t *testing.T, s storage.Store, writers, rounds int) {
	var version int64
	for round := range rounds {
		errs := make([]error, writers)
		versions := make([]int64, writers)
		startTogether(writers, func(i int) {
			ks := newKeySet(fmt.Sprintf("round-%d-writer-%d", round, i))
			ks.UpdatedAt = at(time.Duration(round) * time.Minute)
			versions[i], errs[i] = s.CompareAndSwapKeySet(ctx(t), version, ks)
		})
		what := fmt.Sprintf("round %d: CompareAndSwapKeySet from %d", round, version)
		winner := oneWinner(t, what, errs, storage.ErrConflict)
		if versions[winner] != version+1 {
			t.Fatalf("%s: winner got version %d, want %d", what, versions[winner], version+1)
		}
		got, err := s.GetKeySet(ctx(t))
		must(t, "GetKeySet", err)
		if want := fmt.Sprintf("round-%d-writer-%d", round, winner); got.Version != version+1 || got.UpdatedBy != want {
			t.Fatalf("%s: stored version %d by %q, want %d by %q", what, got.Version, got.UpdatedBy, version+1, want)
		}
		version++
	}
}

func testRaceLoginFailures(t *testing.T, s storage.Store) {
	const n = 20
	const ttl = time.Hour
	counts := make([]int, n)
	errs := make([]error, n)
	startTogether(n, func(i int) {
		var lf storage.LoginFailures
		lf, errs[i] = s.RecordLoginFailure(ctx(t), "ada", at(time.Second), ttl)
		counts[i] = lf.Count
	})
	for i, err := range errs {
		must(t, fmt.Sprintf("RecordLoginFailure %d", i), err)
	}
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("returned counts %v, want a permutation of 1..%d", counts, n)
		}
	}
	got, err := s.GetLoginFailures(ctx(t), "ada", at(time.Second))
	must(t, "GetLoginFailures", err)
	if got.Count != n {
		t.Fatalf("final count %d, want %d", got.Count, n)
	}
}

func testRaceUsername(t *testing.T, s storage.Store) {
	const n = 10
	errs := make([]error, n)
	startTogether(n, func(i int) {
		errs[i] = s.CreateUser(ctx(t), newUser(fmt.Sprintf("u%d", i), "ada"))
	})
	winner := oneWinner(t, "CreateUser with one username", errs, storage.ErrDuplicate)
	got, err := s.GetUserByUsername(ctx(t), "ada")
	must(t, "GetUserByUsername", err)
	if want := fmt.Sprintf("u%d", winner); got.ID != want {
		t.Fatalf("username belongs to %q, want the winner %q", got.ID, want)
	}
	list, err := s.ListUsers(ctx(t))
	must(t, "ListUsers", err)
	if len(list) != 1 {
		t.Fatalf("ListUsers: %d users after the race, want 1", len(list))
	}
}

func testRaceLoginAttemptsCounted(t *testing.T, s storage.Store) {
	const n = 20
	never := func(int) time.Duration { return 0 }
	counts := make([]int, n)
	errs := make([]error, n)
	startTogether(n, func(i int) {
		lf, admitted, err := s.RecordLoginAttempt(ctx(t), "ada", at(time.Second), time.Hour, never)
		if err == nil && !admitted {
			err = fmt.Errorf("attempt not admitted without a lock: %+v", lf)
		}
		counts[i], errs[i] = lf.Count, err
	})
	for i, err := range errs {
		must(t, fmt.Sprintf("RecordLoginAttempt %d", i), err)
	}
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("returned counts %v, want a permutation of 1..%d", counts, n)
		}
	}
	got, err := s.GetLoginFailures(ctx(t), "ada", at(time.Second))
	must(t, "GetLoginFailures", err)
	if got.Count != n {
		t.Fatalf("final count %d, want %d", got.Count, n)
	}
}

// testRaceLoginAttemptsLock sends bursts of parallel attempts at a counter
// that locks from the fifth attempt on: the first burst admits exactly five,
// and a burst right after the lock ends admits exactly one.
func testRaceLoginAttemptsLock(t *testing.T, s storage.Store) {
	const n, free = 20, 5
	lockFor := func(c int) time.Duration {
		if c < free {
			return 0
		}
		return time.Minute
	}
	burst := func(now time.Time) []int {
		var admittedCounts []int
		var mu sync.Mutex
		errs := make([]error, n)
		startTogether(n, func(i int) {
			lf, admitted, err := s.RecordLoginAttempt(ctx(t), "ada", now, time.Hour, lockFor)
			errs[i] = err
			if admitted {
				mu.Lock()
				admittedCounts = append(admittedCounts, lf.Count)
				mu.Unlock()
			}
		})
		for i, err := range errs {
			must(t, fmt.Sprintf("RecordLoginAttempt %d", i), err)
		}
		slices.Sort(admittedCounts)
		return admittedCounts
	}
	if got := burst(at(time.Second)); !slices.Equal(got, []int{1, 2, 3, 4, 5}) {
		t.Fatalf("first burst admitted counts %v, want [1 2 3 4 5]", got)
	}
	lf, err := s.GetLoginFailures(ctx(t), "ada", at(time.Second))
	must(t, "GetLoginFailures", err)
	wantEqual(t, "counter after the first burst", storage.LoginFailures{
		Key: "ada", Count: free, LastFailure: at(time.Second), ExpiresAt: at(time.Second + time.Hour),
		LockedUntil: at(time.Second + time.Minute),
	}, lf)
	if got := burst(at(time.Second + time.Minute)); !slices.Equal(got, []int{6}) {
		t.Fatalf("burst after the lock admitted counts %v, want [6]", got)
	}
}
