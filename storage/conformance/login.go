package conformance

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// loginAdmissionTests run AdmitLogin and ResetLogin for a name a user holds
// and for one no user holds: both count the same way.
var loginAdmissionTests = []subtest{
	{"KnownLocks", func(t *testing.T, s storage.Store) { testAdmitLogin(t, s, true) }},
	{"UnknownLocks", func(t *testing.T, s storage.Store) { testAdmitLogin(t, s, false) }},
	{"PerAccount", testAdmitLoginPerAccount},
	{"RacingAttemptsStopAtLockKnown", func(t *testing.T, s storage.Store) { testRaceAdmitLogin(t, s, true) }},
	{"RacingAttemptsStopAtLockUnknown", func(t *testing.T, s storage.Store) { testRaceAdmitLogin(t, s, false) }},
	{"ExpiryKnown", func(t *testing.T, s storage.Store) { testAdmitLoginExpiry(t, s, true) }},
	{"ExpiryUnknown", func(t *testing.T, s storage.Store) { testAdmitLoginExpiry(t, s, false) }},
	{"RacingAttemptsAllCountedKnown", func(t *testing.T, s storage.Store) { testRaceAdmitLoginCounted(t, s, true, false) }},
	{"RacingAttemptsAllCountedUnknown", func(t *testing.T, s storage.Store) { testRaceAdmitLoginCounted(t, s, false, false) }},
	{"RacingRestartKnown", func(t *testing.T, s storage.Store) { testRaceAdmitLoginCounted(t, s, true, true) }},
	{"RacingRestartUnknown", func(t *testing.T, s storage.Store) { testRaceAdmitLoginCounted(t, s, false, true) }},
}

// admitUser creates user ada when known and returns the user AdmitLogin
// must return (the zero user when not known).
func admitUser(t *testing.T, s storage.Store, known bool) storage.User {
	t.Helper()
	if !known {
		return storage.User{}
	}
	u := newUser("u1", "ada")
	must(t, "CreateUser", s.CreateUser(ctx(t), u))
	return u
}

// wantAdmission checks one AdmitLogin result.
func wantAdmission(t *testing.T, what string, got storage.LoginAdmission, admitted bool, failures storage.LoginFailures, user storage.User, known bool) {
	t.Helper()
	if got.Admitted != admitted {
		t.Fatalf("%s: admitted = %v, want %v", what, got.Admitted, admitted)
	}
	if got.Found != known {
		t.Fatalf("%s: found = %v, want %v", what, got.Found, known)
	}
	wantEqual(t, what+" user", user, got.User)
	wantEqual(t, what+" counter", failures, got.Failures)
}

func testAdmitLogin(t *testing.T, s storage.Store, known bool) {
	const ttl = time.Hour
	user := admitUser(t, s, known)
	// Locks for 10s from the third attempt on.
	lockFor := func(c int) time.Duration {
		if c < 3 {
			return 0
		}
		return 10 * time.Second
	}
	tests := []struct {
		name     string
		now      time.Time
		admitted bool
		want     storage.LoginFailures
	}{
		{"First", at(0), true, storage.LoginFailures{Count: 1, LastFailure: at(0)}},
		{"Second", at(time.Second), true, storage.LoginFailures{Count: 2, LastFailure: at(time.Second)}},
		{"ThirdLocks", at(2 * time.Second), true, storage.LoginFailures{Count: 3, LastFailure: at(2 * time.Second), LockedUntil: at(12 * time.Second)}},
		{"Locked", at(5 * time.Second), false, storage.LoginFailures{Count: 3, LastFailure: at(2 * time.Second), LockedUntil: at(12 * time.Second)}},
		{"JustBeforeUnlock", at(12*time.Second - time.Millisecond), false, storage.LoginFailures{Count: 3, LastFailure: at(2 * time.Second), LockedUntil: at(12 * time.Second)}},
		{"AtUnlock", at(12 * time.Second), true, storage.LoginFailures{Count: 4, LastFailure: at(12 * time.Second), LockedUntil: at(22 * time.Second)}},
		{"ExpiredRestarts", at(12*time.Second + ttl), true, storage.LoginFailures{Count: 1, LastFailure: at(12*time.Second + ttl)}},
		{"AfterRestart", at(13*time.Second + ttl), true, storage.LoginFailures{Count: 2, LastFailure: at(13*time.Second + ttl)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.AdmitLogin(ctx(t), "ada", tc.now, ttl, lockFor)
			must(t, "AdmitLogin", err)
			want := tc.want
			want.Key = storage.LoginKey("ada")
			want.ExpiresAt = want.LastFailure.Add(ttl)
			wantAdmission(t, "AdmitLogin", got, tc.admitted, want, user, known)
			wantUTC(t, "LastFailure", got.Failures.LastFailure)
		})
	}
	// A reset unlocks at once; a reset with nothing to reset is no error.
	later := at(3 * ttl)
	for range 3 {
		_, err := s.AdmitLogin(ctx(t), "ada", later, ttl, lockFor)
		must(t, "AdmitLogin", err)
	}
	if got, err := s.AdmitLogin(ctx(t), "ada", later, ttl, lockFor); err != nil || got.Admitted {
		t.Fatalf("fourth attempt at one instant: %+v, %v; want a lock", got, err)
	}
	must(t, "ResetLogin", s.ResetLogin(ctx(t), "ada", user.ID))
	if !known {
		return // only a user's login succeeds, so only its counter is reset
	}
	must(t, "ResetLogin again", s.ResetLogin(ctx(t), "ada", user.ID))
	got, err := s.AdmitLogin(ctx(t), "ada", later, ttl, lockFor)
	must(t, "AdmitLogin after reset", err)
	wantAdmission(t, "AdmitLogin after reset", got, true,
		storage.LoginFailures{Key: storage.LoginKey("ada"), Count: 1, LastFailure: later, ExpiresAt: later.Add(ttl)}, user, true)
	// The counter is not part of the user.
	u, err := s.GetUser(ctx(t), user.ID)
	must(t, "GetUser", err)
	wantEqual(t, "GetUser after AdmitLogin", user, u)
}

func testAdmitLoginPerAccount(t *testing.T, s storage.Store) {
	const ttl = time.Hour
	ada := admitUser(t, s, true)
	grace := newUser("u2", "grace")
	must(t, "CreateUser grace", s.CreateUser(ctx(t), grace))
	for range 2 {
		_, err := s.AdmitLogin(ctx(t), "ada", base, ttl, nil)
		must(t, "AdmitLogin ada", err)
	}
	for _, c := range []struct {
		name  string
		user  storage.User
		found bool
	}{{"grace", grace, true}, {"nobody", storage.User{}, false}, {"Ada", storage.User{}, false}} {
		got, err := s.AdmitLogin(ctx(t), c.name, base, ttl, nil)
		must(t, "AdmitLogin "+c.name, err)
		wantAdmission(t, "AdmitLogin "+c.name, got, true,
			storage.LoginFailures{Key: storage.LoginKey(c.name), Count: 1, LastFailure: base, ExpiresAt: base.Add(ttl)}, c.user, c.found)
	}
	// A reset with nothing to reset is no error.
	must(t, "ResetLogin of a name never seen", s.ResetLogin(ctx(t), "nobody-at-all", ""))
	hopper := newUser("u3", "hopper")
	must(t, "CreateUser hopper", s.CreateUser(ctx(t), hopper))
	must(t, "ResetLogin of a user never counted", s.ResetLogin(ctx(t), "hopper", hopper.ID))
	got, err := s.AdmitLogin(ctx(t), "hopper", base, ttl, nil)
	must(t, "AdmitLogin hopper", err)
	wantAdmission(t, "AdmitLogin hopper", got, true,
		storage.LoginFailures{Key: storage.LoginKey("hopper"), Count: 1, LastFailure: base, ExpiresAt: base.Add(ttl)}, hopper, true)
	// Resetting grace leaves ada's counter alone.
	must(t, "ResetLogin grace", s.ResetLogin(ctx(t), "grace", grace.ID))
	got, err = s.AdmitLogin(ctx(t), "ada", base, ttl, nil)
	must(t, "AdmitLogin ada", err)
	wantAdmission(t, "AdmitLogin ada", got, true,
		storage.LoginFailures{Key: storage.LoginKey("ada"), Count: 3, LastFailure: base, ExpiresAt: base.Add(ttl)}, ada, true)
}

// testRaceAdmitLogin sends bursts of parallel attempts at an account that
// locks from the fifth attempt on: the first burst admits exactly counts
// 1..5, and a burst right after the lock ends admits exactly one.
func testRaceAdmitLogin(t *testing.T, s storage.Store, known bool) {
	const n, free = 20, 5
	admitUser(t, s, known)
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
			a, err := s.AdmitLogin(ctx(t), "ada", now, time.Hour, lockFor)
			errs[i] = err
			if err == nil && a.Found != known {
				errs[i] = fmt.Errorf("found = %v, want %v", a.Found, known)
			}
			if a.Admitted {
				mu.Lock()
				admittedCounts = append(admittedCounts, a.Failures.Count)
				mu.Unlock()
			}
		})
		for i, err := range errs {
			must(t, fmt.Sprintf("AdmitLogin %d", i), err)
		}
		slices.Sort(admittedCounts)
		return admittedCounts
	}
	if got := burst(at(time.Second)); !slices.Equal(got, []int{1, 2, 3, 4, 5}) {
		t.Fatalf("first burst admitted counts %v, want [1 2 3 4 5]", got)
	}
	// The counter as the fifth attempt left it, locked for a minute.
	a, err := s.AdmitLogin(ctx(t), "ada", at(time.Second), time.Hour, lockFor)
	must(t, "AdmitLogin after the first burst", err)
	if a.Admitted {
		t.Fatalf("attempt after the first burst admitted: %+v", a)
	}
	wantEqual(t, "counter after the first burst", storage.LoginFailures{
		Key: storage.LoginKey("ada"), Count: free, LastFailure: at(time.Second), ExpiresAt: at(time.Second + time.Hour),
		LockedUntil: at(time.Second + time.Minute),
	}, a.Failures)
	if got := burst(at(time.Second + time.Minute)); !slices.Equal(got, []int{6}) {
		t.Fatalf("burst after the lock admitted counts %v, want [6]", got)
	}
}

// testAdmitLoginExpiry checks where a counter expires: an attempt at or
// after its ExpiresAt restarts it at 1, one just before continues it.
func testAdmitLoginExpiry(t *testing.T, s storage.Store, known bool) {
	const ttl = 10 * time.Minute
	user := admitUser(t, s, known)
	tests := []struct {
		name  string
		now   time.Time
		count int
	}{
		{"First", base, 1}, // expires at base+ttl
		{"JustBeforeExpiry", at(ttl - time.Millisecond), 2}, // now expires at base+2ttl-1ms
		{"AtExpiry", at(2*ttl - time.Millisecond), 1},       // expired exactly at now: restart
		{"AfterRestart", at(2 * ttl), 2},                    // the new counter is live
		{"LongAfter", at(24 * time.Hour), 1},                // long expired: restart
		{"SameInstant", at(24 * time.Hour), 2},              // same now twice counts twice
		{"JustBeforeExpiryAgain", at(24*time.Hour + ttl - time.Millisecond), 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.AdmitLogin(ctx(t), "ada", tc.now, ttl, nil)
			must(t, "AdmitLogin", err)
			wantAdmission(t, "AdmitLogin", got, true, storage.LoginFailures{
				Key: storage.LoginKey("ada"), Count: tc.count, LastFailure: tc.now, ExpiresAt: tc.now.Add(ttl),
			}, user, known)
			wantUTC(t, "LastFailure", got.Failures.LastFailure)
		})
	}
}

// testRaceAdmitLoginCounted sends n parallel attempts that cannot lock:
// each is admitted with a distinct count 1..n, and the next attempt gets
// n+1. restart first leaves a counter that has expired when the attempts
// come, so that every one of them first finds it expired.
func testRaceAdmitLoginCounted(t *testing.T, s storage.Store, known, restart bool) {
	const n = 20
	const ttl = time.Minute
	admitUser(t, s, known)
	now := at(time.Second)
	if restart {
		for range 5 {
			_, err := s.AdmitLogin(ctx(t), "ada", base, ttl, nil)
			must(t, "AdmitLogin before expiry", err)
		}
		now = at(time.Hour)
	}
	counts := make([]int, n)
	errs := make([]error, n)
	startTogether(n, func(i int) {
		a, err := s.AdmitLogin(ctx(t), "ada", now, ttl, nil)
		switch {
		case err != nil:
		case !a.Admitted:
			err = fmt.Errorf("attempt not admitted without a lock: %+v", a.Failures)
		case a.Found != known:
			err = fmt.Errorf("found = %v, want %v", a.Found, known)
		}
		counts[i], errs[i] = a.Failures.Count, err
	})
	for i, err := range errs {
		must(t, fmt.Sprintf("AdmitLogin %d", i), err)
	}
	slices.Sort(counts)
	for i, c := range counts {
		if c != i+1 {
			t.Fatalf("returned counts %v, want a permutation of 1..%d", counts, n)
		}
	}
	a, err := s.AdmitLogin(ctx(t), "ada", now, ttl, nil)
	must(t, "AdmitLogin after the race", err)
	if a.Failures.Count != n+1 {
		t.Fatalf("count after the race %d, want %d", a.Failures.Count, n+1)
	}
}
