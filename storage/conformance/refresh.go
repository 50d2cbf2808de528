package conformance

import (
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

var familyTests = []subtest{
	{"CreateGet", testFamilyCreateGet},
	{"Revoke", testFamilyRevoke},
	{"Duplicate", testFamilyDuplicate},
	{"Expiry", testFamilyExpiry},
	{"Copies", testFamilyCopies},
}

var refreshStateTests = []subtest{
	{"Swap", testRefreshSwap},
	{"SwapConditions", testRefreshSwapConditions},
}

// newFamily returns a family that expires at base+24h, whose current token
// "h0-"+id idles out at base+12h.
func newFamily(id string) storage.RefreshFamily {
	return storage.RefreshFamily{
		ID:        id,
		ClientID:  "web",
		UserID:    "u1",
		Scopes:    []string{"openid", "offline_access"},
		AuthTime:  base,
		ExpiresAt: at(24 * time.Hour),
		RefreshState: storage.RefreshState{
			CurrentHash:      "h0-" + id,
			CurrentIssuedAt:  base,
			CurrentExpiresAt: at(12 * time.Hour),
		},
	}
}

func testFamilyCreateGet(t *testing.T, s storage.Store) {
	f := newFamily("fam1")
	must(t, "CreateFamily", s.CreateFamily(ctx(t), f))
	got, err := s.GetFamily(ctx(t), "fam1", base)
	must(t, "GetFamily", err)
	wantEqual(t, "GetFamily", f, got)
	wantUTC(t, "GetFamily AuthTime", got.AuthTime)
	if !got.RevokedAt.IsZero() {
		t.Fatalf("GetFamily: RevokedAt = %v, want zero", got.RevokedAt)
	}
	_, err = s.GetFamily(ctx(t), "nobody", base)
	wantErr(t, "GetFamily unknown", err, storage.ErrNotFound)
}

func testFamilyRevoke(t *testing.T, s storage.Store) {
	f := newFamily("fam1")
	must(t, "CreateFamily", s.CreateFamily(ctx(t), f))
	must(t, "RevokeFamily", s.RevokeFamily(ctx(t), "fam1", at(time.Hour), "reuse detected"))
	// Idempotent: the first time and reason stay.
	must(t, "second RevokeFamily", s.RevokeFamily(ctx(t), "fam1", at(2*time.Hour), "logout"))

	got, err := s.GetFamily(ctx(t), "fam1", at(3*time.Hour))
	must(t, "GetFamily of revoked family", err)
	want := f
	want.Revoked = true
	want.RevokedAt = at(time.Hour)
	want.RevokeReason = "reuse detected"
	wantEqual(t, "revoked family", want, got)

	wantErr(t, "RevokeFamily unknown", s.RevokeFamily(ctx(t), "nobody", base, "x"), storage.ErrNotFound)
}

func testFamilyDuplicate(t *testing.T, s storage.Store) {
	orig := newFamily("fam1")
	must(t, "CreateFamily", s.CreateFamily(ctx(t), orig))
	dup := newFamily("fam1")
	dup.UserID, dup.ExpiresAt = "impostor", at(48*time.Hour)
	wantErr(t, "CreateFamily duplicate", s.CreateFamily(ctx(t), dup), storage.ErrDuplicate)
	got, err := s.GetFamily(ctx(t), "fam1", base)
	must(t, "GetFamily", err)
	wantEqual(t, "original family after duplicate", orig, got)
}

func testFamilyExpiry(t *testing.T, s storage.Store) {
	f := newFamily("fam1") // expires at base+24h
	must(t, "CreateFamily", s.CreateFamily(ctx(t), f))
	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{"Before", at(24*time.Hour - time.Millisecond), nil},
		{"AtExpiry", at(24 * time.Hour), storage.ErrNotFound},
		{"After", at(25 * time.Hour), storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.GetFamily(ctx(t), "fam1", tc.now)
			wantErr(t, "GetFamily", err, tc.want)
		})
	}
}

func testFamilyCopies(t *testing.T, s storage.Store) {
	f := newFamily("fam1")
	must(t, "CreateFamily", s.CreateFamily(ctx(t), f))
	f.Scopes[0] = "mutated"
	got, err := s.GetFamily(ctx(t), "fam1", base)
	must(t, "GetFamily", err)
	wantEqual(t, "family after mutating the created record", newFamily("fam1"), got)
	got.Scopes[0] = "mutated"
	again, err := s.GetFamily(ctx(t), "fam1", base)
	must(t, "GetFamily", err)
	wantEqual(t, "family after mutating a returned record", newFamily("fam1"), again)
}

// stateAt is the refresh state after a refresh at base+d to token h.
func stateAt(h, prev string, d time.Duration) storage.RefreshState {
	return storage.RefreshState{
		CurrentHash: h, CurrentIssuedAt: at(d), CurrentExpiresAt: at(d + 12*time.Hour),
		PreviousHash: prev, PreviousUsedAt: at(d),
	}
}

func testRefreshSwap(t *testing.T, s storage.Store) {
	f := newFamily("fam1")
	must(t, "CreateFamily", s.CreateFamily(ctx(t), f))
	must(t, "CreateFamily other", s.CreateFamily(ctx(t), newFamily("fam2")))

	next := stateAt("h1", "h0-fam1", time.Minute)
	before, err := s.SwapRefreshToken(ctx(t), "fam1", "web", "h0-fam1", next, at(time.Minute))
	must(t, "SwapRefreshToken", err)
	wantEqual(t, "family returned by SwapRefreshToken (as it was before)", f, before)
	wantUTC(t, "SwapRefreshToken CurrentExpiresAt", before.CurrentExpiresAt)

	want := f
	want.RefreshState = next
	got, err := s.GetFamily(ctx(t), "fam1", at(time.Minute))
	must(t, "GetFamily", err)
	wantEqual(t, "family after the swap", want, got)
	wantUTC(t, "GetFamily PreviousUsedAt", got.PreviousUsedAt)

	// The replaced token cannot be swapped again; the state stays.
	_, err = s.SwapRefreshToken(ctx(t), "fam1", "web", "h0-fam1", stateAt("h2", "h0-fam1", 2*time.Minute), at(2*time.Minute))
	wantErr(t, "second swap from the old token", err, storage.ErrConflict)
	got, err = s.GetFamily(ctx(t), "fam1", at(2*time.Minute))
	must(t, "GetFamily", err)
	wantEqual(t, "family after a lost swap", want, got)

	// The next one chains from the new current token.
	_, err = s.SwapRefreshToken(ctx(t), "fam1", "web", "h1", stateAt("h2", "h1", 3*time.Minute), at(3*time.Minute))
	must(t, "swap from the new token", err)

	// The other family is untouched.
	got, err = s.GetFamily(ctx(t), "fam2", at(3*time.Minute))
	must(t, "GetFamily fam2", err)
	wantEqual(t, "unrelated family", newFamily("fam2"), got)
}

func testRefreshSwapConditions(t *testing.T, s storage.Store) {
	must(t, "CreateFamily", s.CreateFamily(ctx(t), newFamily("fam1")))
	revoked := newFamily("revoked")
	must(t, "CreateFamily revoked", s.CreateFamily(ctx(t), revoked))
	must(t, "RevokeFamily", s.RevokeFamily(ctx(t), "revoked", base, "logout"))
	tests := []struct {
		name, id, client, old string
		now                   time.Time
	}{
		{"Absent", "nobody", "web", "h0-nobody", base},
		{"OtherClient", "fam1", "cli", "h0-fam1", base},
		{"NotCurrent", "fam1", "web", "h-other", base},
		{"EmptyHash", "fam1", "web", "", base},
		{"Revoked", "revoked", "web", "h0-revoked", base},
		{"IdleExpired", "fam1", "web", "h0-fam1", at(12 * time.Hour)},
		{"FamilyExpired", "fam1", "web", "h0-fam1", at(24 * time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.SwapRefreshToken(ctx(t), tc.id, tc.client, tc.old, stateAt("hx", tc.old, 0), tc.now)
			wantErr(t, "SwapRefreshToken", err, storage.ErrConflict)
		})
	}
	got, err := s.GetFamily(ctx(t), "fam1", base)
	must(t, "GetFamily", err)
	wantEqual(t, "family after refused swaps", newFamily("fam1"), got)
	// Just before the idle expiry the swap still works.
	_, err = s.SwapRefreshToken(ctx(t), "fam1", "web", "h0-fam1", stateAt("h1", "h0-fam1", time.Hour), at(12*time.Hour-time.Millisecond))
	must(t, "SwapRefreshToken before the idle expiry", err)
}
