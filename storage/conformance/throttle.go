package conformance

import (
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

var denyListTests = []subtest{
	{"DenyCheck", testDenyCheck},
	{"Expiry", testDenyExpiry},
}

var loginFailureTests = []subtest{
	{"RecordGetReset", testLoginFailures},
	{"ExpiredRestarts", testLoginFailuresExpired},
	{"Expiry", testLoginFailuresExpiry},
	{"AttemptLocks", testLoginAttempts},
}

func testDenyCheck(t *testing.T, s storage.Store) {
	denied, err := s.IsAccessTokenDenied(ctx(t), "jti-1", base)
	must(t, "IsAccessTokenDenied on empty store", err)
	if denied {
		t.Fatalf("IsAccessTokenDenied on empty store: true")
	}
	must(t, "DenyAccessToken", s.DenyAccessToken(ctx(t), "jti-1", at(5*time.Minute)))
	must(t, "DenyAccessToken again", s.DenyAccessToken(ctx(t), "jti-1", at(5*time.Minute)))

	tests := []struct {
		name string
		jti  string
		want bool
	}{
		{"Denied", "jti-1", true},
		{"Other", "jti-2", false},
		{"PrefixOfDenied", "jti-", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.IsAccessTokenDenied(ctx(t), tc.jti, at(time.Minute))
			must(t, "IsAccessTokenDenied", err)
			if got != tc.want {
				t.Fatalf("IsAccessTokenDenied(%q) = %v, want %v", tc.jti, got, tc.want)
			}
		})
	}
}

func testDenyExpiry(t *testing.T, s storage.Store) {
	must(t, "DenyAccessToken", s.DenyAccessToken(ctx(t), "jti-1", at(5*time.Minute)))
	tests := []struct {
		name string
		now  time.Time
		want bool
	}{
		{"Before", at(5*time.Minute - time.Millisecond), true},
		{"AtExpiry", at(5 * time.Minute), false},
		{"After", at(time.Hour), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.IsAccessTokenDenied(ctx(t), "jti-1", tc.now)
			must(t, "IsAccessTokenDenied", err)
			if got != tc.want {
				t.Fatalf("IsAccessTokenDenied at %v = %v, want %v", tc.now, got, tc.want)
			}
		})
	}
}

// wantFailures checks a LoginFailures record.
func wantFailures(t *testing.T, what string, got storage.LoginFailures, key string, count int, last time.Time, ttl time.Duration) {
	t.Helper()
	want := storage.LoginFailures{Key: key, Count: count, LastFailure: last, ExpiresAt: last.Add(ttl)}
	wantEqual(t, what, want, got)
	wantUTC(t, what+" LastFailure", got.LastFailure)
}

func testLoginFailures(t *testing.T, s storage.Store) {
	const ttl = 15 * time.Minute
	_, err := s.GetLoginFailures(ctx(t), "ada", base)
	wantErr(t, "GetLoginFailures on empty store", err, storage.ErrNotFound)

	for i := 1; i <= 3; i++ {
		now := at(time.Duration(i) * time.Minute)
		got, err := s.RecordLoginFailure(ctx(t), "ada", now, ttl)
		must(t, "RecordLoginFailure", err)
		wantFailures(t, "RecordLoginFailure", got, "ada", i, now, ttl)
	}
	// Counters are per key.
	got, err := s.RecordLoginFailure(ctx(t), "grace", at(3*time.Minute), ttl)
	must(t, "RecordLoginFailure grace", err)
	wantFailures(t, "RecordLoginFailure grace", got, "grace", 1, at(3*time.Minute), ttl)

	got, err = s.GetLoginFailures(ctx(t), "ada", at(4*time.Minute))
	must(t, "GetLoginFailures", err)
	wantFailures(t, "GetLoginFailures", got, "ada", 3, at(3*time.Minute), ttl)

	must(t, "ResetLoginFailures", s.ResetLoginFailures(ctx(t), "ada"))
	_, err = s.GetLoginFailures(ctx(t), "ada", at(4*time.Minute))
	wantErr(t, "GetLoginFailures after reset", err, storage.ErrNotFound)
	must(t, "ResetLoginFailures of absent key", s.ResetLoginFailures(ctx(t), "ada"))
	must(t, "ResetLoginFailures of never-seen key", s.ResetLoginFailures(ctx(t), "nobody"))

	// The other key survives the reset, and a new failure starts at 1.
	_, err = s.GetLoginFailures(ctx(t), "grace", at(4*time.Minute))
	must(t, "GetLoginFailures grace", err)
	got, err = s.RecordLoginFailure(ctx(t), "ada", at(5*time.Minute), ttl)
	must(t, "RecordLoginFailure after reset", err)
	wantFailures(t, "RecordLoginFailure after reset", got, "ada", 1, at(5*time.Minute), ttl)
}

func testLoginFailuresExpired(t *testing.T, s storage.Store) {
	const ttl = 10 * time.Minute
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
			got, err := s.RecordLoginFailure(ctx(t), "ada", tc.now, ttl)
			must(t, "RecordLoginFailure", err)
			wantFailures(t, "RecordLoginFailure", got, "ada", tc.count, tc.now, ttl)
		})
	}
}

func testLoginFailuresExpiry(t *testing.T, s storage.Store) {
	const ttl = 10 * time.Minute
	_, err := s.RecordLoginFailure(ctx(t), "ada", base, ttl)
	must(t, "RecordLoginFailure", err)
	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{"Before", at(ttl - time.Millisecond), nil},
		{"AtExpiry", at(ttl), storage.ErrNotFound},
		{"After", at(time.Hour), storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.GetLoginFailures(ctx(t), "ada", tc.now)
			wantErr(t, "GetLoginFailures", err, tc.want)
		})
	}
}

func testLoginAttempts(t *testing.T, s storage.Store) {
	const ttl = time.Hour
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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, admitted, err := s.RecordLoginAttempt(ctx(t), "ada", tc.now, ttl, lockFor)
			must(t, "RecordLoginAttempt", err)
			if admitted != tc.admitted {
				t.Fatalf("admitted = %v, want %v", admitted, tc.admitted)
			}
			want := tc.want
			want.Key = "ada"
			want.ExpiresAt = want.LastFailure.Add(ttl)
			wantEqual(t, "RecordLoginAttempt", want, got)
			stored, err := s.GetLoginFailures(ctx(t), "ada", tc.now)
			must(t, "GetLoginFailures", err)
			wantEqual(t, "stored counter", want, stored)
		})
	}
	// A reset unlocks at once.
	must(t, "ResetLoginFailures", s.ResetLoginFailures(ctx(t), "ada"))
	for range 3 {
		_, _, err := s.RecordLoginAttempt(ctx(t), "ada", at(2*ttl), ttl, lockFor)
		must(t, "RecordLoginAttempt", err)
	}
	must(t, "ResetLoginFailures", s.ResetLoginFailures(ctx(t), "ada"))
	got, admitted, err := s.RecordLoginAttempt(ctx(t), "ada", at(2*ttl), ttl, lockFor)
	must(t, "RecordLoginAttempt after reset", err)
	if !admitted || got.Count != 1 {
		t.Fatalf("after reset: admitted=%v count=%d, want admitted count 1", admitted, got.Count)
	}
}
