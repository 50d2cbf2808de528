// Package conformance is the test suite every storage backend must pass.
//
// A backend's test file calls RunTests with a factory that returns a fresh,
// empty store and registers its cleanup with t.Cleanup:
//
//	func TestConformance(t *testing.T) {
//		conformance.RunTests(t, func(t *testing.T) storage.Store {
//			s, err := bolt.Open(filepath.Join(t.TempDir(), "sigil.db"), bolt.Options{})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite checks the contract written in package storage: CRUD of every
// record, uniqueness, expiry at the caller's now, Purge, defensive copies, and
// the concurrency guarantees (one winner among racing refresh-token uses,
// authorization-code uses and key-set swaps, atomic login-failure counters
// and session client sets). It keeps round-trips few so
// that slow backends (FerretDB) finish quickly.
package conformance

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// base is the fixed, millisecond-aligned instant every test time is built
// from. It lies far in the future so that a backend's server-side expiry (a
// MongoDB TTL index compares expires_at with the wall clock) never deletes a
// record the test still expects to read.
var base = time.Date(2100, 1, 2, 3, 4, 5, 0, time.UTC)

// at returns base+d.
func at(d time.Duration) time.Time { return base.Add(d) }

// RunTests runs the whole conformance suite against the backend that newStore
// builds. newStore is called once per subtest and must return a fresh, empty
// store whose cleanup (Close, dropping a database, removing files) it has
// registered with t.Cleanup; it should call t.Fatal or t.Skip itself when the
// store cannot be built. RunTests never calls Close.
//
// Subtests do not call t.Parallel, so newStore need not be safe for
// concurrent use; the concurrency subtests call the store itself from many
// goroutines.
func RunTests(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Helper()
	groups := []struct {
		name  string
		tests []subtest
	}{
		{"Ping", []subtest{{"OK", testPing}}},
		{"Users", userTests},
		{"Clients", clientTests},
		{"KeySet", keySetTests},
		{"KeyEvents", keyEventTests},
		{"Families", familyTests},
		{"RefreshState", refreshStateTests},
		{"DenyList", denyListTests},
		{"LoginAdmission", loginAdmissionTests},
		{"Sessions", sessionTests},
		{"AuthCodes", authCodeTests},
		{"Consents", consentTests},
		{"FamilyRevocation", familyRevocationTests},
		{"Audit", auditTests},
		{"JWKSConsumers", consumerTests},
		{"Purge", purgeTests},
		{"Leases", leaseTests},
		{"Concurrency", concurrencyTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, st := range g.tests {
				t.Run(st.name, func(t *testing.T) {
					st.run(t, newStore(t))
				})
			}
		})
	}
}

// subtest is one named test run against a fresh store.
type subtest struct {
	name string
	run  func(t *testing.T, s storage.Store)
}

func testPing(t *testing.T, s storage.Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping on an open store: %v", err)
	}
}

// ctx returns the test's context.
func ctx(t *testing.T) context.Context { return t.Context() }

// EqualTime reports whether a and b denote the same instant at millisecond
// precision, the precision every backend must keep. Zero times are equal only
// to zero times.
func EqualTime(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() && b.IsZero()
	}
	return a.UTC().Truncate(time.Millisecond).Equal(b.UTC().Truncate(time.Millisecond))
}

// wantErr fails the test unless errors.Is(err, want); want nil means err must
// be nil.
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error: %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: got error %v, want errors.Is(err, %v)", what, err, want)
	}
}

// must fails the test if err is not nil.
func must(t *testing.T, what string, err error) {
	t.Helper()
	wantErr(t, what, err, nil)
}

// wantEqual fails the test unless want and got are equal after normalising
// both: times truncated to the millisecond and put in UTC, empty slices
// treated as nil.
func wantEqual(t *testing.T, what string, want, got any) {
	t.Helper()
	w, g := normalize(reflect.ValueOf(want)), normalize(reflect.ValueOf(got))
	if !reflect.DeepEqual(w.Interface(), g.Interface()) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

var timeType = reflect.TypeFor[time.Time]()

// normalize returns a deep copy of v in the canonical form wantEqual compares.
func normalize(v reflect.Value) reflect.Value {
	switch {
	case v.Type() == timeType:
		tm := v.Interface().(time.Time)
		if tm.IsZero() {
			return reflect.ValueOf(time.Time{})
		}
		return reflect.ValueOf(tm.UTC().Truncate(time.Millisecond))
	case v.Kind() == reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			out.Field(i).Set(normalize(v.Field(i)))
		}
		return out
	case v.Kind() == reflect.Slice:
		if v.Len() == 0 {
			return reflect.Zero(v.Type())
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			out.Index(i).Set(normalize(v.Index(i)))
		}
		return out
	default:
		return v
	}
}

// wantUTC fails the test unless tm is in UTC, as the storage contract
// requires of every returned time.
func wantUTC(t *testing.T, what string, tm time.Time) {
	t.Helper()
	if tm.Location() != time.UTC {
		t.Fatalf("%s: location %v, want UTC", what, tm.Location())
	}
}

// startTogether runs n goroutines, each calling f(i) once, released at the
// same moment by closing one channel, and waits for all of them.
func startTogether(n int, f func(i int)) {
	start := make(chan struct{})
	done := make(chan struct{}, n)
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			<-start
			f(i)
		}()
	}
	close(start)
	for range n {
		<-done
	}
}
