package conformance

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

var concurrencyTests = []subtest{
	{"RefreshTokenSwappedOnce", testRaceSwap},
	{"KeySetTwoWriters", func(t *testing.T, s storage.Store) { testRaceKeySet(t, s, 2, 20) }},
	{"KeySetTenWriters", func(t *testing.T, s storage.Store) { testRaceKeySet(t, s, 10, 3) }},
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
