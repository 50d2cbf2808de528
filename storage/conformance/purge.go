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

	// Expired at now: expiry before now, or exactly now, by the absolute
	// expiry or the idle expiry of the current token.
	expiredFam := []string{"fam-old", "fam-now", "fam-idle-old", "fam-idle-now"}
	liveFam := []string{"fam-live", "fam-revoked-live", "fam-idle-live"}
	for id, exp := range map[string][2]time.Duration{
		"fam-old": {time.Minute, 0}, "fam-now": {time.Hour, 0},
		"fam-idle-old": {24 * time.Hour, 59 * time.Minute}, "fam-idle-now": {24 * time.Hour, time.Hour},
		"fam-live": {24 * time.Hour, 0}, "fam-revoked-live": {2 * time.Hour, 0},
		"fam-idle-live": {24 * time.Hour, time.Hour + time.Millisecond},
	} {
		f := newFamily(id)
		f.ExpiresAt = at(exp[0])
		f.CurrentExpiresAt = at(exp[0])
		if exp[1] > 0 {
			f.CurrentExpiresAt = at(exp[1])
		}
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
	for name, last := range map[string]time.Duration{
		"lf-old": 0, "lf-now": time.Hour - ttl, "lf-live": time.Hour - ttl + time.Millisecond,
	} {
		_, err := s.AdmitLogin(ctx(t), name, at(last), ttl, nil)
		must(t, "AdmitLogin "+name, err)
	}

	stats, err := s.Purge(ctx(t), now)
	must(t, "Purge", err)
	want := storage.PurgeStats{
		Families:      len(expiredFam),
		DeniedTokens:  len(expiredJTI),
		LoginFailures: len(expiredLF),
	}
	wantEqual(t, "PurgeStats", want, stats)

	// Purged records are gone even to a reader whose clock is behind, which
	// proves they were deleted and not only hidden; live ones stay readable.
	past := base
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

	// A second purge at the same instant finds nothing.
	stats, err = s.Purge(ctx(t), now)
	must(t, "second Purge", err)
	wantEqual(t, "second PurgeStats", storage.PurgeStats{}, stats)

	// A purged counter is gone: an attempt at a time it was still live
	// starts a new one. A live counter is kept: the next attempt is its
	// second.
	for _, name := range expiredLF {
		a, err := s.AdmitLogin(ctx(t), name, past, ttl, nil)
		must(t, "AdmitLogin of purged "+name, err)
		if a.Failures.Count != 1 {
			t.Fatalf("AdmitLogin(%q) at %v after purge: count %d, want 1 (a new counter)", name, past, a.Failures.Count)
		}
	}
	for _, name := range liveLF {
		a, err := s.AdmitLogin(ctx(t), name, now, ttl, nil)
		must(t, "AdmitLogin of live "+name, err)
		if a.Failures.Count != 2 {
			t.Fatalf("AdmitLogin(%q) after purge: count %d, want 2 (the kept counter's second)", name, a.Failures.Count)
		}
	}
}
