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

var refreshTokenTests = []subtest{
	{"CreateGet", testRefreshCreateGet},
	{"MarkUsed", testRefreshMarkUsed},
	{"Duplicate", testRefreshDuplicate},
	{"Expiry", testRefreshExpiry},
	{"Copies", testRefreshCopies},
}

// newFamily returns a family that expires at base+24h.
func newFamily(id string) storage.RefreshFamily {
	return storage.RefreshFamily{
		ID:        id,
		ClientID:  "web",
		UserID:    "u1",
		Scopes:    []string{"openid", "offline_access"},
		AuthTime:  base,
		ExpiresAt: at(24 * time.Hour),
	}
}

// newRefreshToken returns an unused token of family fam that expires at
// base+exp.
func newRefreshToken(id, fam string, exp time.Duration) storage.RefreshToken {
	return storage.RefreshToken{
		ID:        id,
		FamilyID:  fam,
		ClientID:  "web",
		UserID:    "u1",
		Scopes:    []string{"openid", "offline_access"},
		IssuedAt:  base,
		ExpiresAt: at(exp),
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

func testRefreshCreateGet(t *testing.T, s storage.Store) {
	rt := newRefreshToken("rt1", "fam1", time.Hour)
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx(t), rt))
	got, err := s.GetRefreshToken(ctx(t), "rt1", base)
	must(t, "GetRefreshToken", err)
	wantEqual(t, "GetRefreshToken", rt, got)
	wantUTC(t, "GetRefreshToken ExpiresAt", got.ExpiresAt)
	if got.Used || !got.UsedAt.IsZero() || got.ChildID != "" {
		t.Fatalf("new token came back used: %+v", got)
	}
	_, err = s.GetRefreshToken(ctx(t), "nobody", base)
	wantErr(t, "GetRefreshToken unknown", err, storage.ErrNotFound)
}

func testRefreshMarkUsed(t *testing.T, s storage.Store) {
	rt := newRefreshToken("rt1", "fam1", time.Hour)
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx(t), rt))
	other := newRefreshToken("rt2", "fam1", time.Hour)
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx(t), other))

	usedAt := at(time.Minute)
	must(t, "MarkRefreshTokenUsed", s.MarkRefreshTokenUsed(ctx(t), "rt1", usedAt, "child-1"))
	got, err := s.GetRefreshToken(ctx(t), "rt1", usedAt)
	must(t, "GetRefreshToken", err)
	want := rt
	want.Used, want.UsedAt, want.ChildID = true, usedAt, "child-1"
	wantEqual(t, "used token", want, got)

	err = s.MarkRefreshTokenUsed(ctx(t), "rt1", at(2*time.Minute), "child-2")
	wantErr(t, "second MarkRefreshTokenUsed", err, storage.ErrConflict)
	got, err = s.GetRefreshToken(ctx(t), "rt1", usedAt)
	must(t, "GetRefreshToken", err)
	wantEqual(t, "used token after second mark", want, got)

	// The other token is untouched.
	got, err = s.GetRefreshToken(ctx(t), "rt2", usedAt)
	must(t, "GetRefreshToken rt2", err)
	wantEqual(t, "unrelated token", other, got)

	err = s.MarkRefreshTokenUsed(ctx(t), "nobody", usedAt, "child")
	wantErr(t, "MarkRefreshTokenUsed unknown", err, storage.ErrNotFound)
}

func testRefreshDuplicate(t *testing.T, s storage.Store) {
	orig := newRefreshToken("rt1", "fam1", time.Hour)
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx(t), orig))
	dup := newRefreshToken("rt1", "fam2", 2*time.Hour)
	dup.UserID = "impostor"
	wantErr(t, "CreateRefreshToken duplicate", s.CreateRefreshToken(ctx(t), dup), storage.ErrDuplicate)

	// A duplicate of a used token must not reset it either.
	must(t, "MarkRefreshTokenUsed", s.MarkRefreshTokenUsed(ctx(t), "rt1", at(time.Minute), "child"))
	wantErr(t, "CreateRefreshToken duplicate of used", s.CreateRefreshToken(ctx(t), dup), storage.ErrDuplicate)
	got, err := s.GetRefreshToken(ctx(t), "rt1", base)
	must(t, "GetRefreshToken", err)
	want := orig
	want.Used, want.UsedAt, want.ChildID = true, at(time.Minute), "child"
	wantEqual(t, "original token after duplicates", want, got)
}

func testRefreshExpiry(t *testing.T, s storage.Store) {
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx(t), newRefreshToken("rt1", "fam1", time.Hour)))
	tests := []struct {
		name string
		now  time.Time
		want error
	}{
		{"Before", at(time.Hour - time.Millisecond), nil},
		{"AtExpiry", at(time.Hour), storage.ErrNotFound},
		{"After", at(2 * time.Hour), storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run("Get"+tc.name, func(t *testing.T) {
			_, err := s.GetRefreshToken(ctx(t), "rt1", tc.now)
			wantErr(t, "GetRefreshToken", err, tc.want)
		})
	}

	// Marking an expired token fails with ErrNotFound and leaves it unused.
	for _, now := range []time.Time{at(time.Hour), at(2 * time.Hour)} {
		err := s.MarkRefreshTokenUsed(ctx(t), "rt1", now, "child")
		wantErr(t, "MarkRefreshTokenUsed on expired token", err, storage.ErrNotFound)
	}
	got, err := s.GetRefreshToken(ctx(t), "rt1", base)
	must(t, "GetRefreshToken", err)
	if got.Used || got.ChildID != "" {
		t.Fatalf("MarkRefreshTokenUsed on an expired token changed it: %+v", got)
	}
}

func testRefreshCopies(t *testing.T, s storage.Store) {
	rt := newRefreshToken("rt1", "fam1", time.Hour)
	must(t, "CreateRefreshToken", s.CreateRefreshToken(ctx(t), rt))
	rt.Scopes[0] = "mutated"
	got, err := s.GetRefreshToken(ctx(t), "rt1", base)
	must(t, "GetRefreshToken", err)
	wantEqual(t, "token after mutating the created record", newRefreshToken("rt1", "fam1", time.Hour), got)
	got.Scopes[0] = "mutated"
	again, err := s.GetRefreshToken(ctx(t), "rt1", base)
	must(t, "GetRefreshToken", err)
	wantEqual(t, "token after mutating a returned record", newRefreshToken("rt1", "fam1", time.Hour), again)
}
