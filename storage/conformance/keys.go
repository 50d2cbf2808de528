package conformance

import (
	"bytes"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

var keySetTests = []subtest{
	{"NotFoundBeforeFirstSwap", testKeySetNotFound},
	{"RoundTrip", testKeySetRoundTrip},
	{"VersionsIncrement", testKeySetVersions},
	{"StaleSwapConflicts", testKeySetStale},
	{"Copies", testKeySetCopies},
}

var keyEventTests = []subtest{
	{"AppendList", testKeyEventsAppendList},
	{"Duplicate", testKeyEventsDuplicate},
}

// newKeySet returns a key set with one key in each state and every field of
// Key exercised, including zero times that must stay zero.
func newKeySet(updatedBy string) storage.KeySet {
	return storage.KeySet{
		Keys: []storage.Key{
			{
				KID: "es-active", Alg: "ES256", State: storage.KeyActive,
				PublicJWK:     []byte(`{"kty":"EC","crv":"P-256","x":"eA","y":"eQ"}`),
				SealedPrivate: []byte{0x00, 0x01, 0xfe, 0xff, 0x80, 0x7f, 0x00},
				KEKID:         "kek-1",
				CreatedAt:     at(-30 * 24 * time.Hour), PublishedAt: at(-30 * 24 * time.Hour),
				ActivatedAt: at(-29 * 24 * time.Hour),
			},
			{
				KID: "es-next", Alg: "ES256", State: storage.KeyNext,
				PublicJWK:     []byte(`{"kty":"EC"}`),
				SealedPrivate: []byte("sealed-next"), KEKID: "kek-1",
				CreatedAt: at(-time.Hour), PublishedAt: at(-time.Hour),
			},
			{
				KID: "rs-retired", Alg: "RS256", State: storage.KeyRetired,
				PublicJWK: []byte(`{"kty":"RSA","n":"AQAB","e":"AQAB"}`),
				CreatedAt: at(-90 * 24 * time.Hour), PublishedAt: at(-90 * 24 * time.Hour),
				ActivatedAt: at(-89 * 24 * time.Hour), RetiredAt: at(-2 * time.Hour),
				VerifyUntil: at(time.Hour),
			},
			{
				KID: "rs-revoked", Alg: "RS256", State: storage.KeyRevoked,
				PublicJWK: []byte(`{"kty":"RSA"}`),
				CreatedAt: at(-10 * 24 * time.Hour), PublishedAt: at(-10 * 24 * time.Hour),
				ActivatedAt: at(-9 * 24 * time.Hour), RevokedAt: at(-3 * time.Hour),
				RevokeReason: "leaked in a build log",
			},
		},
		LastRotation: at(-29 * 24 * time.Hour),
		UpdatedAt:    base,
		UpdatedBy:    updatedBy,
		PendingEvents: []storage.KeyEvent{{
			ID: "0001-pending", Time: at(-time.Hour), KID: "es-next", Alg: "ES256",
			Action: "generate", To: storage.KeyNext, Actor: "replica-1", Reason: "pre-publish next key",
		}},
	}
}

func testKeySetNotFound(t *testing.T, s storage.Store) {
	_, err := s.GetKeySet(ctx(t))
	wantErr(t, "GetKeySet on empty store", err, storage.ErrNotFound)
	// A swap from a version other than 0 cannot create the record.
	_, err = s.CompareAndSwapKeySet(ctx(t), 1, newKeySet("r1"))
	wantErr(t, "CompareAndSwapKeySet from 1 on empty store", err, storage.ErrConflict)
	_, err = s.GetKeySet(ctx(t))
	wantErr(t, "GetKeySet after failed swap", err, storage.ErrNotFound)
}

func testKeySetRoundTrip(t *testing.T, s storage.Store) {
	ks := newKeySet("replica-1")
	ks.Version = 42 // ignored: the stored version is oldVersion+1
	v, err := s.CompareAndSwapKeySet(ctx(t), 0, ks)
	must(t, "CompareAndSwapKeySet from 0", err)
	if v != 1 {
		t.Fatalf("CompareAndSwapKeySet from 0 returned version %d, want 1", v)
	}
	got, err := s.GetKeySet(ctx(t))
	must(t, "GetKeySet", err)
	want := ks
	want.Version = 1
	wantEqual(t, "GetKeySet", want, got)

	if len(got.Keys) != len(ks.Keys) {
		t.Fatalf("GetKeySet: %d keys, want %d", len(got.Keys), len(ks.Keys))
	}
	for i, k := range got.Keys {
		w := ks.Keys[i]
		if !bytes.Equal(k.SealedPrivate, w.SealedPrivate) || !bytes.Equal(k.PublicJWK, w.PublicJWK) {
			t.Fatalf("key %s: key bytes do not round-trip", w.KID)
		}
		times := []struct {
			name      string
			got, want time.Time
		}{
			{"CreatedAt", k.CreatedAt, w.CreatedAt},
			{"PublishedAt", k.PublishedAt, w.PublishedAt},
			{"ActivatedAt", k.ActivatedAt, w.ActivatedAt},
			{"RetiredAt", k.RetiredAt, w.RetiredAt},
			{"VerifyUntil", k.VerifyUntil, w.VerifyUntil},
			{"RevokedAt", k.RevokedAt, w.RevokedAt},
		}
		for _, tm := range times {
			if tm.want.IsZero() != tm.got.IsZero() || !EqualTime(tm.got, tm.want) {
				t.Fatalf("key %s %s: got %v, want %v", w.KID, tm.name, tm.got, tm.want)
			}
			if !tm.got.IsZero() {
				wantUTC(t, "key "+w.KID+" "+tm.name, tm.got)
			}
		}
	}
}

func testKeySetVersions(t *testing.T, s storage.Store) {
	for want := int64(1); want <= 3; want++ {
		ks := newKeySet("replica")
		ks.UpdatedAt = at(time.Duration(want) * time.Minute)
		ks.Keys = ks.Keys[:want]
		v, err := s.CompareAndSwapKeySet(ctx(t), want-1, ks)
		must(t, "CompareAndSwapKeySet", err)
		if v != want {
			t.Fatalf("CompareAndSwapKeySet from %d returned %d, want %d", want-1, v, want)
		}
		got, err := s.GetKeySet(ctx(t))
		must(t, "GetKeySet", err)
		ks.Version = want
		wantEqual(t, "GetKeySet", ks, got)
	}
}

func testKeySetStale(t *testing.T, s storage.Store) {
	first := newKeySet("first")
	_, err := s.CompareAndSwapKeySet(ctx(t), 0, first)
	must(t, "CompareAndSwapKeySet 0→1", err)
	second := newKeySet("second")
	second.Keys = second.Keys[:1]
	_, err = s.CompareAndSwapKeySet(ctx(t), 1, second)
	must(t, "CompareAndSwapKeySet 1→2", err)
	second.Version = 2

	tests := []struct {
		name string
		from int64
	}{
		{"FromZeroWhenStored", 0},
		{"FromStaleVersion", 1},
		{"FromFutureVersion", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			loser := newKeySet("loser")
			loser.Keys = nil
			_, err := s.CompareAndSwapKeySet(ctx(t), tc.from, loser)
			wantErr(t, "CompareAndSwapKeySet", err, storage.ErrConflict)
			got, err := s.GetKeySet(ctx(t))
			must(t, "GetKeySet", err)
			wantEqual(t, "key set after a lost swap", second, got)
		})
	}
}

func testKeySetCopies(t *testing.T, s storage.Store) {
	ks := newKeySet("r")
	_, err := s.CompareAndSwapKeySet(ctx(t), 0, ks)
	must(t, "CompareAndSwapKeySet", err)
	want := newKeySet("r")
	want.Version = 1

	ks.Keys[0].SealedPrivate[0] ^= 0xff
	ks.Keys[0].KID = "mutated"
	got, err := s.GetKeySet(ctx(t))
	must(t, "GetKeySet", err)
	wantEqual(t, "key set after mutating the swapped record", want, got)

	got.Keys[0].SealedPrivate[0] ^= 0xff
	got.Keys[0].PublicJWK[0] = 'X'
	got.Keys[1].State = storage.KeyRevoked
	again, err := s.GetKeySet(ctx(t))
	must(t, "GetKeySet", err)
	wantEqual(t, "key set after mutating a returned record", want, again)
}

func testKeyEventsAppendList(t *testing.T, s storage.Store) {
	got, err := s.ListKeyEvents(ctx(t))
	must(t, "ListKeyEvents on empty store", err)
	if len(got) != 0 {
		t.Fatalf("ListKeyEvents on empty store: got %d events", len(got))
	}
	events := []storage.KeyEvent{
		{ID: "21000102T030405.000-0003", Time: at(3 * time.Second), KID: "k2", Alg: "ES256", Action: "promote", From: storage.KeyNext, To: storage.KeyActive, Actor: "replica-a"},
		{ID: "21000102T030405.000-0001", Time: at(time.Second), KID: "k1", Alg: "ES256", Action: "create", To: storage.KeyActive, Actor: "replica-a"},
		{ID: "21000102T030405.000-0004", Time: at(4 * time.Second), KID: "k1", Alg: "ES256", Action: "revoke", From: storage.KeyRetired, To: storage.KeyRevoked, Actor: "operator:alice", Reason: "compromised"},
		{ID: "21000102T030405.000-0002", Time: at(2 * time.Second), KID: "k2", Alg: "ES256", Action: "create", To: storage.KeyNext, Actor: "replica-b"},
	}
	for _, e := range events {
		must(t, "AppendKeyEvent "+e.ID, s.AppendKeyEvent(ctx(t), e))
	}
	got, err = s.ListKeyEvents(ctx(t))
	must(t, "ListKeyEvents", err)
	want := []storage.KeyEvent{events[1], events[3], events[0], events[2]}
	wantEqual(t, "ListKeyEvents", want, got)
}

func testKeyEventsDuplicate(t *testing.T, s storage.Store) {
	orig := storage.KeyEvent{ID: "e1", Time: base, KID: "k1", Alg: "RS256", Action: "create", To: storage.KeyNext, Actor: "r1"}
	must(t, "AppendKeyEvent", s.AppendKeyEvent(ctx(t), orig))
	dup := orig
	dup.Action, dup.Actor = "revoke", "impostor"
	wantErr(t, "AppendKeyEvent duplicate", s.AppendKeyEvent(ctx(t), dup), storage.ErrDuplicate)
	got, err := s.ListKeyEvents(ctx(t))
	must(t, "ListKeyEvents", err)
	wantEqual(t, "ListKeyEvents after duplicate", []storage.KeyEvent{orig}, got)
}
