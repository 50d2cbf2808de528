package main

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage/bolt"
)

// TestPurgeUnderLease runs two replicas' purgers on one store with an
// injected clock: only the lease holder purges (and logs what it
// deleted); the other takes over once the holder stops renewing.
func TestPurgeUnderLease(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "sigil.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	t0 := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, b := newPurger(st, clock, logger.With("replica", "a")), newPurger(st, clock, logger.With("replica", "b"))
	if a.owner == b.owner {
		t.Fatal("two purgers share an owner")
	}
	for _, jti := range []string{"j1", "j2"} {
		if err := st.DenyAccessToken(t.Context(), jti, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		name    string
		at      time.Duration
		p       *purger
		wantRan bool
	}{
		{"a takes the free lease", 5 * time.Minute, a, true},
		{"b skips while a holds it", 6 * time.Minute, b, false},
		{"a renews at its next round", 15 * time.Minute, a, true},
		{"b still skips", 25 * time.Minute, b, false},
		// a stops (dies) after 15m: its lease ends at 15m + 1.5 intervals.
		{"b takes over after expiry", 30 * time.Minute, b, true},
		{"a is now refused", 31 * time.Minute, a, false},
	}
	for i, s := range steps {
		now = t0.Add(s.at)
		ran, err := s.p.once(t.Context())
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if ran != s.wantRan {
			t.Fatalf("%s: ran = %v, want %v", s.name, ran, s.wantRan)
		}
		if i == 0 && !strings.Contains(logs.String(), "purged expired records") || !strings.Contains(logs.String(), "denied_tokens=2") {
			t.Fatalf("%s: log lacks the deleted counts:\n%s", s.name, logs.String())
		}
	}
	if n := strings.Count(logs.String(), "purged expired records"); n != 3 {
		t.Errorf("%d purges logged, want 3:\n%s", n, logs.String())
	}
}
