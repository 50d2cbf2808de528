package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

var auditTests = []subtest{
	{"AppendListPaged", testAuditList},
	{"Duplicate", testAuditDuplicate},
}

var consumerTests = []subtest{
	{"Upsert", testConsumerUpsert},
	{"Expiry", testConsumerExpiry},
	{"Bounded", testConsumerBounded},
}

func auditEntry(n int, kind string) storage.AuditEntry {
	return storage.AuditEntry{
		ID: fmt.Sprintf("%019d-%06d-aa", n, n), Time: at(time.Duration(n) * time.Second),
		Kind: kind, Action: "act", Target: fmt.Sprintf("t%d", n), Actor: "admin", Replica: "r1", Reason: "why",
	}
}

func auditIDs(es []storage.AuditEntry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func testAuditList(t *testing.T, s storage.Store) {
	got, err := s.ListAudit(ctx(t), "", "", 10)
	must(t, "ListAudit on empty store", err)
	if len(got) != 0 {
		t.Fatalf("ListAudit on empty store: %d entries", len(got))
	}
	kinds := []string{"user", "key", "client", "user", "key", "user"}
	var all []storage.AuditEntry
	// Appended out of order: the store sorts by ID.
	for _, n := range []int{3, 1, 5, 2, 6, 4} {
		e := auditEntry(n, kinds[n-1])
		must(t, "AppendAudit", s.AppendAudit(ctx(t), e))
	}
	for n := 1; n <= 6; n++ {
		all = append(all, auditEntry(n, kinds[n-1]))
	}
	tests := []struct {
		name         string
		kind, before string
		limit        int
		want         []storage.AuditEntry
	}{
		{"AllNewestFirst", "", "", 10, []storage.AuditEntry{all[5], all[4], all[3], all[2], all[1], all[0]}},
		{"FirstPage", "", "", 2, []storage.AuditEntry{all[5], all[4]}},
		{"SecondPage", "", all[4].ID, 2, []storage.AuditEntry{all[3], all[2]}},
		{"LastPage", "", all[2].ID, 2, []storage.AuditEntry{all[1], all[0]}},
		{"PastTheEnd", "", all[0].ID, 2, nil},
		{"CursorNotAnID", "", all[3].ID + "z", 10, []storage.AuditEntry{all[3], all[2], all[1], all[0]}},
		{"CursorAfterAll", "", "9", 1, []storage.AuditEntry{all[5]}},
		{"Kind", "user", "", 10, []storage.AuditEntry{all[5], all[3], all[0]}},
		{"KindPaged", "user", all[5].ID, 1, []storage.AuditEntry{all[3]}},
		{"KindNone", "nothing", "", 10, nil},
		{"ZeroLimit", "", "", 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListAudit(ctx(t), tc.kind, tc.before, tc.limit)
			must(t, "ListAudit", err)
			wantEqual(t, "ListAudit ids", auditIDs(tc.want), auditIDs(got))
			if len(tc.want) > 0 {
				wantEqual(t, "ListAudit", tc.want, got)
				wantUTC(t, "Time", got[0].Time)
			}
		})
	}
}

func testAuditDuplicate(t *testing.T, s storage.Store) {
	e := auditEntry(1, "user")
	must(t, "AppendAudit", s.AppendAudit(ctx(t), e))
	dup := e
	dup.Actor = "impostor"
	wantErr(t, "AppendAudit duplicate", s.AppendAudit(ctx(t), dup), storage.ErrDuplicate)
	got, err := s.ListAudit(ctx(t), "", "", 10)
	must(t, "ListAudit", err)
	wantEqual(t, "ListAudit after duplicate", []storage.AuditEntry{e}, got)
}

func newConsumer(id string, fetch time.Duration) storage.JWKSConsumer {
	return storage.JWKSConsumer{
		ID: id, Address: "192.0.2.1", UserAgent: "rs/1.0 " + id,
		FirstSeen: at(fetch), LastFetch: at(fetch), ETag: `"e1"`, ExpiresAt: at(fetch + time.Hour),
	}
}

func testConsumerUpsert(t *testing.T, s storage.Store) {
	c := newConsumer("c1", 0)
	must(t, "RecordJWKSConsumer", s.RecordJWKSConsumer(ctx(t), c, 10))
	got, err := s.ListJWKSConsumers(ctx(t), base)
	must(t, "ListJWKSConsumers", err)
	wantEqual(t, "consumers after first fetch", []storage.JWKSConsumer{c}, got)

	// A second fetch keeps FirstSeen and updates the rest.
	again := newConsumer("c1", 10*time.Minute)
	again.ETag, again.Address = `"e2"`, "2001:db8::1"
	must(t, "RecordJWKSConsumer again", s.RecordJWKSConsumer(ctx(t), again, 10))
	other := newConsumer("c0", 5*time.Minute)
	must(t, "RecordJWKSConsumer other", s.RecordJWKSConsumer(ctx(t), other, 10))
	got, err = s.ListJWKSConsumers(ctx(t), at(10*time.Minute))
	must(t, "ListJWKSConsumers", err)
	want := again
	want.FirstSeen = c.FirstSeen
	wantEqual(t, "consumers after second fetch (ordered by id)", []storage.JWKSConsumer{other, want}, got)
}

func testConsumerExpiry(t *testing.T, s storage.Store) {
	must(t, "RecordJWKSConsumer", s.RecordJWKSConsumer(ctx(t), newConsumer("old", 0), 10))
	must(t, "RecordJWKSConsumer", s.RecordJWKSConsumer(ctx(t), newConsumer("live", 30*time.Minute), 10))
	got, err := s.ListJWKSConsumers(ctx(t), at(time.Hour))
	must(t, "ListJWKSConsumers", err)
	wantEqual(t, "consumers at the first one's expiry", []string{"live"}, consumerIDs(got))

	// Seen again after expiry: a new record, FirstSeen restarts.
	back := newConsumer("old", 2*time.Hour)
	back.ExpiresAt = at(5 * time.Hour)
	must(t, "RecordJWKSConsumer after expiry", s.RecordJWKSConsumer(ctx(t), back, 10))
	got, err = s.ListJWKSConsumers(ctx(t), at(2*time.Hour))
	must(t, "ListJWKSConsumers", err)
	wantEqual(t, "consumer seen again after expiry", []storage.JWKSConsumer{back}, got)

	stats, err := s.Purge(ctx(t), at(2*time.Hour))
	must(t, "Purge", err)
	if stats.JWKSConsumers != 1 {
		t.Fatalf("Purge deleted %d consumers, want 1 (live)", stats.JWKSConsumers)
	}
	got, err = s.ListJWKSConsumers(ctx(t), at(2*time.Hour))
	must(t, "ListJWKSConsumers after purge", err)
	wantEqual(t, "consumers after purge", []storage.JWKSConsumer{back}, got)
}

func testConsumerBounded(t *testing.T, s storage.Store) {
	for _, id := range []string{"a", "b"} {
		must(t, "RecordJWKSConsumer "+id, s.RecordJWKSConsumer(ctx(t), newConsumer(id, 0), 2))
	}
	wantErr(t, "RecordJWKSConsumer beyond the limit", s.RecordJWKSConsumer(ctx(t), newConsumer("c", 0), 2), storage.ErrFull)
	// Known consumers are still updated.
	upd := newConsumer("a", time.Minute)
	upd.ETag = `"e9"`
	must(t, "RecordJWKSConsumer of a known consumer at the limit", s.RecordJWKSConsumer(ctx(t), upd, 2))
	got, err := s.ListJWKSConsumers(ctx(t), at(time.Minute))
	must(t, "ListJWKSConsumers", err)
	wantEqual(t, "consumers at the limit", []string{"a", "b"}, consumerIDs(got))
	if got[0].ETag != `"e9"` {
		t.Fatalf("known consumer not updated at the limit: etag %s", got[0].ETag)
	}
	// Expired consumers do not count.
	must(t, "RecordJWKSConsumer once the others expired", s.RecordJWKSConsumer(ctx(t), newConsumer("c", 61*time.Minute+time.Second), 2))
}

func consumerIDs(cs []storage.JWKSConsumer) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}
