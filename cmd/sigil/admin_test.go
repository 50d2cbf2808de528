package main

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sigilauth/sigil/oauth"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/web"
)

// newTestAdminService builds the server on a bolt temp store and returns
// its admin service with a settable clock.
func newTestAdminService(t *testing.T) (*adminService, storage.Store, *time.Time) {
	t.Helper()
	srv, store, cfg := newBoltServer(t, nil)
	now := time.Now()
	svc := &adminService{
		admin: oauth.NewAdmin(store, oauth.Argon2id(argon2Params(cfg)), oauth.AdminConfig{Replica: "test", Now: func() time.Time { return now }}),
		rot:   srv.rotator, store: store, algorithms: cfg.Keys.Algorithms,
		prepublish: cfg.Keys.Prepublish, maxAge: cfg.JWKS.MaxAge, now: func() time.Time { return now },
	}
	return svc, store, &now
}

func nextKey(t *testing.T, s storage.Store) storage.Key {
	t.Helper()
	set, err := s.GetKeySet(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range set.Keys {
		if k.State == storage.KeyNext {
			return k
		}
	}
	t.Fatal("no next key")
	return storage.Key{}
}

func TestAdminServiceRotateMaxAge(t *testing.T) {
	svc, store, now := newTestAdminService(t)
	ctx := context.Background()
	actor := web.Actor{Username: "ops", Via: "api"}
	next := nextKey(t, store)
	tests := []struct {
		name     string
		at       time.Duration // after the next key's publication
		force    bool
		conflict bool
	}{
		{"TooYoung", svc.maxAge - time.Second, false, true},
		{"Forced", svc.maxAge - time.Second, true, false},
		{"NewNextTooYoung", svc.maxAge - time.Second, false, true},
		{"OldEnough", 2*svc.maxAge - time.Second, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			*now = next.PublishedAt.Add(tc.at)
			promoting := nextKey(t, store).KID
			out, err := svc.RotateKeys(ctx, actor, tc.force, "drill")
			var ae *web.AdminError
			if tc.conflict {
				if !errors.As(err, &ae) || ae.Kind != web.AdminConflict || !strings.Contains(ae.Message, "max_age") {
					t.Fatalf("RotateKeys = %v, %v; want a max_age conflict", out, err)
				}
				return
			}
			if err != nil || len(out.Promoted) != 1 || out.Promoted[0] != promoting {
				t.Fatalf("RotateKeys = %+v, %v; want %s promoted", out, err, promoting)
			}
			// The rotation is in the admin audit, with the actor.
			page, err := svc.Audit(ctx, web.AuditQuery{Kind: "key"})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, e := range page.Entries {
				found = found || (e.Action == "rotate" && e.Target == promoting && e.Actor == "ops" && e.Reason == "drill" && e.Replica == "test")
			}
			if !found {
				t.Fatalf("no rotate entry in %+v", page.Entries)
			}
		})
	}
}

func TestAdminServiceKeysAndConsumers(t *testing.T) {
	svc, store, now := newTestAdminService(t)
	ctx := context.Background()
	next := nextKey(t, store)
	*now = next.PublishedAt.Add(time.Minute)
	ov, err := svc.Keys(ctx, *now)
	if err != nil {
		t.Fatal(err)
	}
	if len(ov.Algorithms) != 1 || len(ov.Algorithms[0].Keys) != 2 || !ov.Algorithms[0].NextPublishedAt.Equal(next.PublishedAt) ||
		ov.Algorithms[0].NextRotation.IsZero() || ov.Algorithms[0].Keys[0].Actor == "" {
		t.Fatalf("overview %+v", ov)
	}
	for _, c := range []storage.JWKSConsumer{
		{ID: "stale", Address: "192.0.2.1", LastFetch: next.PublishedAt.Add(-time.Second), ExpiresAt: next.PublishedAt.Add(time.Hour)},
		{ID: "fresh", Address: "192.0.2.2", LastFetch: next.PublishedAt, ExpiresAt: next.PublishedAt.Add(time.Hour)},
	} {
		if err := store.RecordJWKSConsumer(ctx, c, 10); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := svc.Consumers(ctx, *now)
	if err != nil {
		t.Fatal(err)
	}
	has := map[string]bool{}
	for _, c := range cs {
		has[c.Address] = c.HasNextKey
	}
	if len(cs) != 2 || !has["192.0.2.2"] || has["192.0.2.1"] {
		t.Fatalf("consumers %+v", cs)
	}
	if err := svc.RevokeKey(ctx, web.Actor{Username: "ops"}, "nope", "x"); !isAdminKind(err, web.AdminNotFound) {
		t.Fatalf("RevokeKey unknown = %v", err)
	}
	if err := svc.RevokeKey(ctx, web.Actor{Username: "ops"}, next.KID, " "); !isAdminKind(err, web.AdminInvalid) {
		t.Fatalf("RevokeKey without reason = %v", err)
	}
	if _, err := svc.AddUser(ctx, web.Actor{Username: "ops"}, web.NewUser{Username: "a b", Password: "x"}); !isAdminKind(err, web.AdminInvalid) {
		t.Fatalf("AddUser bad name = %v", err)
	}
}

func isAdminKind(err error, kind web.AdminErrorKind) bool {
	var ae *web.AdminError
	return errors.As(err, &ae) && ae.Kind == kind
}

// recordingStore counts consumer writes; gate, when set, blocks them.
type recordingStore struct {
	mu     sync.Mutex
	writes []storage.JWKSConsumer
	gate   chan struct{}
}

func (r *recordingStore) RecordJWKSConsumer(ctx context.Context, c storage.JWKSConsumer, limit int) error {
	if r.gate != nil {
		select {
		case <-r.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes = append(r.writes, c)
	return nil
}

func (r *recordingStore) count() int { r.mu.Lock(); defer r.mu.Unlock(); return len(r.writes) }

func TestConsumerRecorderThrottles(t *testing.T) {
	st := &recordingStore{}
	rec := newConsumerRecorder(st, time.Hour)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	a := netip.MustParseAddr("192.0.2.1")
	long := strings.Repeat("é", 150) // 300 bytes
	steps := []struct {
		name  string
		addr  netip.Addr
		ua    string
		at    time.Duration
		total int
	}{
		{"First", a, "rs/1", 0, 1},
		{"SameWithinAMinute", a, "rs/1", 59 * time.Second, 1},
		{"OtherAgent", a, "rs/2", 10 * time.Second, 2},
		{"OtherAddress", netip.MustParseAddr("2001:db8::1"), "rs/1", 10 * time.Second, 3},
		{"SameAfterAMinute", a, "rs/1", time.Minute, 4},
		{"LongAgent", a, long, 0, 5},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			rec.RecordFetch(s.addr, s.ua, `"etag"`, t0.Add(s.at))
			rec.wg.Wait()
			if got := st.count(); got != s.total {
				t.Fatalf("%d writes, want %d", got, s.total)
			}
		})
	}
	last := st.writes[len(st.writes)-1]
	if len(last.UserAgent) > storage.MaxUserAgentLen || !strings.HasPrefix(long, last.UserAgent) || len(last.UserAgent) < 190 {
		t.Fatalf("user agent kept as %d bytes", len(last.UserAgent))
	}
	if !last.ExpiresAt.Equal(t0.Add(time.Hour)) || last.ETag != `"etag"` || last.ID != consumerID("192.0.2.1", last.UserAgent) {
		t.Fatalf("record %+v", last)
	}
}

func TestConsumerRecorderNeverBlocks(t *testing.T) {
	st := &recordingStore{gate: make(chan struct{})}
	rec := newConsumerRecorder(st, time.Hour)
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	for i := range 100 {
		rec.RecordFetch(netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}), "rs", "", t0)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("100 fetches took %s with a blocked store", d)
	}
	close(st.gate)
	rec.wg.Wait()
	if got := st.count(); got != consumerWriters {
		t.Fatalf("%d writes, want %d (the rest dropped while the writers were busy)", got, consumerWriters)
	}
	// A dropped consumer is written on its next fetch.
	rec.RecordFetch(netip.AddrFrom4([4]byte{10, 0, 0, 99}), "rs", "", t0.Add(time.Second))
	rec.wg.Wait()
	if got := st.count(); got != consumerWriters+1 {
		t.Fatalf("%d writes after a retry, want %d", got, consumerWriters+1)
	}
}

// TestAdminServiceAddClientIntrospectAny: the flag of the API and console
// reaches the stored client and comes back in the client list.
func TestAdminServiceAddClientIntrospectAny(t *testing.T) {
	svc, store, _ := newTestAdminService(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		any  bool
	}{{"gw-any", true}, {"gw-own", false}} {
		t.Run(tc.name, func(t *testing.T) {
			cv, _, err := svc.AddClient(ctx, web.Actor{Username: "ops"}, web.NewClient{ID: tc.name, IntrospectAny: tc.any,
				Grants: []string{oauth.GrantClientCredentials}, Scopes: []string{"api"}})
			if err != nil || cv.IntrospectAny != tc.any {
				t.Fatalf("AddClient = %+v, %v", cv, err)
			}
			stored, err := store.GetClient(ctx, tc.name)
			if err != nil || stored.IntrospectAny != tc.any {
				t.Fatalf("stored %+v, %v", stored, err)
			}
			list, err := svc.Clients(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range list {
				if c.ID == tc.name && c.IntrospectAny != tc.any {
					t.Fatalf("listed %+v", c)
				}
			}
		})
	}
}
