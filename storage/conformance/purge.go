package conformance

import (
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

var purgeTests = []subtest{
	{"DeletesExactlyExpired", testPurge},
	{"Empty", testPurgeEmpty},
	{"SessionsAndCodes", testPurgeSSO},
}

func testPurgeEmpty(t *testing.T, s storage.Store) {
	stats, err := s.Purge(ctx(t), base)
	must(t, "Purge on empty store", err)
	wantEqual(t, "PurgeStats on empty store", storage.PurgeStats{}, stats)
}

func testPurge(t *testing.T, s storage.Store) {
	now := at(time.Hour)
	const ttl = 10 * time.Minute

	// Expired at now: expiry before now, or exactly now.
	expiredRT := []string{"rt-old", "rt-now", "rt-used-old"}
	liveRT := []string{"rt-live", "rt-used-live"}
	for id, exp := range map[string]time.Duration{
		"rt-old": 30 * time.Minute, "rt-now": time.Hour, "rt-used-old": 59 * time.Minute,
		"rt-live": time.Hour + time.Millisecond, "rt-used-live": 2 * time.Hour,
	} {
		must(t, "CreateRefreshToken "+id, s.CreateRefreshToken(ctx(t), newRefreshToken(id, "fam", exp)))
	}
	must(t, "MarkRefreshTokenUsed", s.MarkRefreshTokenUsed(ctx(t), "rt-used-old", base, "rt-now"))
	must(t, "MarkRefreshTokenUsed", s.MarkRefreshTokenUsed(ctx(t), "rt-used-live", base, "rt-live"))

	expiredFam := []string{"fam-old", "fam-now"}
	liveFam := []string{"fam-live", "fam-revoked-live"}
	for id, exp := range map[string]time.Duration{
		"fam-old": time.Minute, "fam-now": time.Hour,
		"fam-live": 24 * time.Hour, "fam-revoked-live": 2 * time.Hour,
	} {
		f := newFamily(id)
		f.ExpiresAt = at(exp)
		must(t, "CreateFamily "+id, s.CreateFamily(ctx(t), f))
	}
	must(t, "RevokeFamily", s.RevokeFamily(ctx(t), "fam-revoked-live", base, "logout"))

	expiredJTI := []string{"jti-old", "jti-now"}
	liveJTI := []string{"jti-live"}
	for jti, exp := range map[string]time.Duration{
		"jti-old": 5 * time.Minute, "jti-now": time.Hour, "jti-live": 61 * time.Minute,
	} {
		must(t, "DenyAccessToken "+jti, s.DenyAccessToken(ctx(t), jti, at(exp)))
	}

	// Counters expire at their last failure + ttl.
	expiredLF := []string{"lf-old", "lf-now"}
	liveLF := []string{"lf-live"}
	for key, last := range map[string]time.Duration{
		"lf-old": 0, "lf-now": time.Hour - ttl, "lf-live": time.Hour - ttl + time.Millisecond,
	} {
		_, err := s.RecordLoginFailure(ctx(t), key, at(last), ttl)
		must(t, "RecordLoginFailure "+key, err)
	}

	stats, err := s.Purge(ctx(t), now)
	must(t, "Purge", err)
	want := storage.PurgeStats{
		RefreshTokens: len(expiredRT),
		Families:      len(expiredFam),
		DeniedTokens:  len(expiredJTI),
		LoginFailures: len(expiredLF),
	}
	wantEqual(t, "PurgeStats", want, stats)

	// Purged records are gone even to a reader whose clock is behind, which
	// proves they were deleted and not only hidden; live ones stay readable.
	past := base
	for _, id := range expiredRT {
		_, err := s.GetRefreshToken(ctx(t), id, past)
		wantErr(t, "GetRefreshToken of purged "+id, err, storage.ErrNotFound)
	}
	for _, id := range liveRT {
		_, err := s.GetRefreshToken(ctx(t), id, now)
		wantErr(t, "GetRefreshToken of live "+id, err, nil)
	}
	got, err := s.GetRefreshToken(ctx(t), "rt-used-live", now)
	must(t, "GetRefreshToken", err)
	if !got.Used || got.ChildID != "rt-live" {
		t.Fatalf("Purge changed a live used token: %+v", got)
	}
	for _, id := range expiredFam {
		_, err := s.GetFamily(ctx(t), id, past)
		wantErr(t, "GetFamily of purged "+id, err, storage.ErrNotFound)
	}
	for _, id := range liveFam {
		_, err := s.GetFamily(ctx(t), id, now)
		wantErr(t, "GetFamily of live "+id, err, nil)
	}
	fam, err := s.GetFamily(ctx(t), "fam-revoked-live", now)
	must(t, "GetFamily", err)
	if !fam.Revoked || fam.RevokeReason != "logout" {
		t.Fatalf("Purge changed a live revoked family: %+v", fam)
	}
	for _, jti := range expiredJTI {
		denied, err := s.IsAccessTokenDenied(ctx(t), jti, past)
		must(t, "IsAccessTokenDenied", err)
		if denied {
			t.Fatalf("IsAccessTokenDenied(%q) after purge = true", jti)
		}
	}
	for _, jti := range liveJTI {
		denied, err := s.IsAccessTokenDenied(ctx(t), jti, now)
		must(t, "IsAccessTokenDenied", err)
		if !denied {
			t.Fatalf("IsAccessTokenDenied(%q) of live entry = false", jti)
		}
	}
	for _, key := range expiredLF {
		_, err := s.GetLoginFailures(ctx(t), key, past)
		wantErr(t, "GetLoginFailures of purged "+key, err, storage.ErrNotFound)
	}
	for _, key := range liveLF {
		lf, err := s.GetLoginFailures(ctx(t), key, now)
		must(t, "GetLoginFailures of live "+key, err)
		if lf.Count != 1 {
			t.Fatalf("GetLoginFailures(%q).Count = %d after purge, want 1", key, lf.Count)
		}
	}

	// A second purge at the same instant finds nothing.
	stats, err = s.Purge(ctx(t), now)
	must(t, "second Purge", err)
	wantEqual(t, "second PurgeStats", storage.PurgeStats{}, stats)
}
