package conformance

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

var sessionTests = []subtest{
	{"CreateGet", testSessionCreateGet},
	{"Expiry", testSessionExpiry},
	{"Touch", testSessionTouch},
	{"AddClient", testSessionAddClient},
	{"Delete", testSessionDelete},
	{"DeleteUserSessions", testDeleteUserSessions},
	{"Copies", testSessionCopies},
}

var authCodeTests = []subtest{
	{"CreateConsume", testAuthCodeCreateConsume},
	{"Consume", testAuthCodeConsume},
	{"SetIssued", testAuthCodeSetIssued},
}

var consentTests = []subtest{
	{"SaveGet", testConsentSaveGet},
	{"List", testConsentList},
	{"Delete", testConsentDelete},
}

var familyRevocationTests = []subtest{
	{"SessionIDHashRoundTrip", testFamilySessionRoundTrip},
	{"BySession", testRevokeSessionFamilies},
	{"ByUser", testRevokeUserFamilies},
}

// hash returns the SHA-256 of s, as sessions and codes are keyed.
func hash(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// newSession returns a session of user u1 that expires absolutely at
// base+24h and idly at base+8h.
func newSession(id string) storage.Session {
	return storage.Session{
		IDHash:        hash(id),
		UserID:        "u1",
		AuthTime:      base,
		AMR:           []string{"pwd"},
		CreatedAt:     base,
		LastSeen:      base,
		ExpiresAt:     at(24 * time.Hour),
		IdleExpiresAt: at(8 * time.Hour),
	}
}

// newAuthCode returns an unused code of session s1 that expires at
// base+60s.
func newAuthCode(code string) storage.AuthCode {
	return storage.AuthCode{
		Hash:          hash(code),
		ClientID:      "web",
		RedirectURI:   "https://web.example.com/cb",
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		Scopes:        []string{"openid", "profile"},
		Nonce:         "n-0S6_WzA2Mj",
		SessionIDHash: hash("s1"),
		UserID:        "u1",
		AuthTime:      base,
		IssuedAt:      base,
		ExpiresAt:     at(time.Minute),
	}
}

func testSessionCreateGet(t *testing.T, s storage.Store) {
	tests := []struct {
		name string
		sess storage.Session
	}{
		{"Full", func() storage.Session {
			ss := newSession("s1")
			ss.Clients = []string{"web", "spa"}
			return ss
		}()},
		{"NoIdleLimit", func() storage.Session {
			ss := newSession("s2")
			ss.IdleExpiresAt, ss.AMR = time.Time{}, nil
			return ss
		}()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			must(t, "CreateSession", s.CreateSession(ctx(t), tc.sess))
			got, err := s.GetSession(ctx(t), tc.sess.IDHash, base)
			must(t, "GetSession", err)
			wantEqual(t, "GetSession", tc.sess, got)
			wantUTC(t, "GetSession AuthTime", got.AuthTime)
			wantUTC(t, "GetSession ExpiresAt", got.ExpiresAt)
		})
	}
	dup := newSession("s1")
	dup.UserID = "impostor"
	wantErr(t, "CreateSession duplicate", s.CreateSession(ctx(t), dup), storage.ErrDuplicate)
	got, err := s.GetSession(ctx(t), hash("s1"), base)
	must(t, "GetSession after duplicate", err)
	if got.UserID != "u1" {
		t.Fatalf("duplicate CreateSession changed the session: user %q", got.UserID)
	}
	_, err = s.GetSession(ctx(t), hash("nobody"), base)
	wantErr(t, "GetSession unknown", err, storage.ErrNotFound)
}

func testSessionExpiry(t *testing.T, s storage.Store) {
	must(t, "CreateSession", s.CreateSession(ctx(t), newSession("idle8h")))
	absOnly := newSession("abs2h")
	absOnly.ExpiresAt, absOnly.IdleExpiresAt = at(2*time.Hour), at(8*time.Hour)
	must(t, "CreateSession", s.CreateSession(ctx(t), absOnly))
	noIdle := newSession("noidle")
	noIdle.IdleExpiresAt = time.Time{}
	must(t, "CreateSession", s.CreateSession(ctx(t), noIdle))

	tests := []struct {
		name string
		id   string
		now  time.Time
		want error
	}{
		{"BeforeIdle", "idle8h", at(8*time.Hour - time.Millisecond), nil},
		{"AtIdle", "idle8h", at(8 * time.Hour), storage.ErrNotFound},
		{"BeforeAbsolute", "abs2h", at(2*time.Hour - time.Millisecond), nil},
		{"AtAbsoluteBeforeIdle", "abs2h", at(2 * time.Hour), storage.ErrNotFound},
		{"NoIdleLimitLate", "noidle", at(24*time.Hour - time.Millisecond), nil},
		{"NoIdleLimitAtAbsolute", "noidle", at(24 * time.Hour), storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.GetSession(ctx(t), hash(tc.id), tc.now)
			wantErr(t, "GetSession", err, tc.want)
			if tc.want != nil {
				wantErr(t, "AddSessionClient", s.AddSessionClient(ctx(t), hash(tc.id), "web", tc.now), tc.want)
				_, err := s.TouchSession(ctx(t), hash(tc.id), tc.now, time.Hour)
				wantErr(t, "TouchSession", err, tc.want)
			}
		})
	}
}

func testSessionTouch(t *testing.T, s storage.Store) {
	sess := newSession("s1")
	must(t, "CreateSession", s.CreateSession(ctx(t), sess))
	now := at(7 * time.Hour)
	got, err := s.TouchSession(ctx(t), sess.IDHash, now, 8*time.Hour)
	must(t, "TouchSession", err)
	want := sess
	want.LastSeen, want.IdleExpiresAt = now, now.Add(8*time.Hour)
	wantEqual(t, "TouchSession result", want, got)

	// Past the old idle expiry the session lives on; the absolute one holds.
	got, err = s.GetSession(ctx(t), sess.IDHash, at(9*time.Hour))
	must(t, "GetSession after touch, past the old idle expiry", err)
	wantEqual(t, "GetSession after touch", want, got)
	_, err = s.GetSession(ctx(t), sess.IDHash, at(15*time.Hour))
	wantErr(t, "GetSession at the new idle expiry", err, storage.ErrNotFound)

	// A touch never outlives the absolute expiry.
	_, err = s.TouchSession(ctx(t), sess.IDHash, at(14*time.Hour), 24*time.Hour)
	must(t, "TouchSession", err)
	_, err = s.GetSession(ctx(t), sess.IDHash, at(24*time.Hour))
	wantErr(t, "GetSession at the absolute expiry after a long touch", err, storage.ErrNotFound)

	_, err = s.TouchSession(ctx(t), hash("nobody"), now, time.Hour)
	wantErr(t, "TouchSession unknown", err, storage.ErrNotFound)
}

func testSessionAddClient(t *testing.T, s storage.Store) {
	sess := newSession("s1")
	must(t, "CreateSession", s.CreateSession(ctx(t), sess))
	for _, c := range []string{"web", "spa", "web", "cli", "spa"} {
		must(t, "AddSessionClient "+c, s.AddSessionClient(ctx(t), sess.IDHash, c, base))
	}
	got, err := s.GetSession(ctx(t), sess.IDHash, base)
	must(t, "GetSession", err)
	wantEqual(t, "Clients", []string{"web", "spa", "cli"}, got.Clients)
	wantErr(t, "AddSessionClient unknown", s.AddSessionClient(ctx(t), hash("nobody"), "web", base), storage.ErrNotFound)
}

func testSessionDelete(t *testing.T, s storage.Store) {
	sess := newSession("s1")
	sess.Clients = []string{"web"}
	must(t, "CreateSession", s.CreateSession(ctx(t), sess))
	must(t, "CreateSession", s.CreateSession(ctx(t), newSession("s2")))

	got, err := s.DeleteSession(ctx(t), sess.IDHash, base)
	must(t, "DeleteSession", err)
	wantEqual(t, "DeleteSession result", sess, got)
	_, err = s.GetSession(ctx(t), sess.IDHash, base)
	wantErr(t, "GetSession after delete", err, storage.ErrNotFound)
	_, err = s.DeleteSession(ctx(t), sess.IDHash, base)
	wantErr(t, "second DeleteSession", err, storage.ErrNotFound)

	// An expired session is reported as not found but deleted all the same.
	_, err = s.DeleteSession(ctx(t), hash("s2"), at(8*time.Hour))
	wantErr(t, "DeleteSession of an expired session", err, storage.ErrNotFound)
	_, err = s.GetSession(ctx(t), hash("s2"), base)
	wantErr(t, "GetSession, with an earlier clock, of an expired deleted session", err, storage.ErrNotFound)
}

func testDeleteUserSessions(t *testing.T, s storage.Store) {
	got, err := s.DeleteUserSessions(ctx(t), "u1", base)
	must(t, "DeleteUserSessions with none", err)
	if len(got) != 0 {
		t.Fatalf("DeleteUserSessions with none returned %d sessions", len(got))
	}

	live1, live2, dead := newSession("a"), newSession("b"), newSession("c")
	dead.IdleExpiresAt = at(time.Hour)
	other := newSession("d")
	other.UserID = "u2"
	for _, ss := range []storage.Session{live1, live2, dead, other} {
		must(t, "CreateSession", s.CreateSession(ctx(t), ss))
	}
	now := at(2 * time.Hour)
	got, err = s.DeleteUserSessions(ctx(t), "u1", now)
	must(t, "DeleteUserSessions", err)
	slices.SortFunc(got, func(a, b storage.Session) int { return slices.Compare(a.IDHash, b.IDHash) })
	want := []storage.Session{live1, live2}
	slices.SortFunc(want, func(a, b storage.Session) int { return slices.Compare(a.IDHash, b.IDHash) })
	wantEqual(t, "DeleteUserSessions result (live sessions only)", want, got)

	for _, ss := range []storage.Session{live1, live2, dead} {
		_, err := s.GetSession(ctx(t), ss.IDHash, base)
		wantErr(t, "GetSession of a deleted session of u1", err, storage.ErrNotFound)
	}
	_, err = s.GetSession(ctx(t), other.IDHash, now)
	must(t, "GetSession of u2's session", err)
}

func testSessionCopies(t *testing.T, s storage.Store) {
	sess := newSession("s1")
	sess.Clients = []string{"web"}
	must(t, "CreateSession", s.CreateSession(ctx(t), sess))
	sess.Clients[0], sess.AMR[0], sess.IDHash[0] = "x", "x", sess.IDHash[0]^0xff

	want := newSession("s1")
	want.Clients = []string{"web"}
	got, err := s.GetSession(ctx(t), want.IDHash, base)
	must(t, "GetSession", err)
	wantEqual(t, "session after mutating the created record", want, got)
	got.Clients[0], got.AMR[0] = "y", "y"
	again, err := s.GetSession(ctx(t), want.IDHash, base)
	must(t, "GetSession", err)
	wantEqual(t, "session after mutating a returned record", want, again)
}

func testAuthCodeCreateConsume(t *testing.T, s storage.Store) {
	c := newAuthCode("code1")
	c.UsedAt = at(time.Second) // ignored: a new code is unused
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx(t), c))
	dup := newAuthCode("code1")
	dup.ClientID = "impostor"
	wantErr(t, "CreateAuthCode duplicate", s.CreateAuthCode(ctx(t), dup), storage.ErrDuplicate)

	now := at(10 * time.Second)
	got, err := s.ConsumeAuthCode(ctx(t), c.Hash, now, storage.AuthCodeIssue{})
	must(t, "ConsumeAuthCode", err)
	want := newAuthCode("code1")
	want.UsedAt = now
	wantEqual(t, "ConsumeAuthCode result", want, got)
	wantUTC(t, "ConsumeAuthCode UsedAt", got.UsedAt)

	// The caller's record is not aliased.
	c.Scopes[0], c.SessionIDHash[0] = "x", c.SessionIDHash[0]^0xff
	again, err := s.ConsumeAuthCode(ctx(t), c.Hash, now, storage.AuthCodeIssue{})
	wantErr(t, "second ConsumeAuthCode", err, storage.ErrCodeUsed)
	wantEqual(t, "code returned with ErrCodeUsed", want, again)
}

func testAuthCodeConsume(t *testing.T, s storage.Store) {
	firstUse := at(30 * time.Second)
	for _, code := range []string{"fresh", "expired", "used"} {
		must(t, "CreateAuthCode "+code, s.CreateAuthCode(ctx(t), newAuthCode(code)))
	}
	_, err := s.ConsumeAuthCode(ctx(t), hash("used"), firstUse, storage.AuthCodeIssue{})
	must(t, "ConsumeAuthCode used", err)

	tests := []struct {
		name string
		code string
		now  time.Time
		want error
	}{
		{"Unknown", "nobody", base, storage.ErrNotFound},
		{"ExpiredUnused", "expired", at(time.Minute), storage.ErrNotFound},
		{"UsedBeforeExpiry", "used", at(40 * time.Second), storage.ErrCodeUsed},
		{"UsedAfterExpiry", "used", at(time.Hour), storage.ErrCodeUsed},
		{"UsedAtEndOfRetention", "used", firstUse.Add(storage.AuthCodeRetention - time.Millisecond), storage.ErrCodeUsed},
		{"UsedPastRetention", "used", firstUse.Add(storage.AuthCodeRetention), storage.ErrNotFound},
		{"FreshJustBeforeExpiry", "fresh", at(time.Minute - time.Millisecond), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ConsumeAuthCode(ctx(t), hash(tc.code), tc.now, storage.AuthCodeIssue{})
			wantErr(t, "ConsumeAuthCode", err, tc.want)
			switch {
			case tc.want == nil && !EqualTime(got.UsedAt, tc.now):
				t.Fatalf("UsedAt = %v, want %v", got.UsedAt, tc.now)
			case errors.Is(tc.want, storage.ErrCodeUsed) && !EqualTime(got.UsedAt, firstUse):
				t.Fatalf("code returned with ErrCodeUsed has UsedAt %v, want the first use %v", got.UsedAt, firstUse)
			case errors.Is(tc.want, storage.ErrNotFound) && got.Hash != nil:
				t.Fatalf("ErrNotFound came with a code: %+v", got)
			}
		})
	}
}

func testAuthCodeSetIssued(t *testing.T, s storage.Store) {
	c := newAuthCode("code1")
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx(t), c))
	now := at(time.Second)
	iss := storage.AuthCodeIssue{FamilyID: "fam1", AccessJTI: "jti1", AccessExpiresAt: at(time.Hour)}
	first, err := s.ConsumeAuthCode(ctx(t), c.Hash, now, iss)
	must(t, "ConsumeAuthCode", err)
	want := c
	want.UsedAt, want.FamilyID, want.AccessJTI, want.AccessExpiresAt = now, "fam1", "jti1", at(time.Hour)
	wantEqual(t, "consumed code", want, first)

	// A reuse sees what the first consumer recorded, not its own values.
	got, err := s.ConsumeAuthCode(ctx(t), c.Hash, at(2*time.Second), storage.AuthCodeIssue{FamilyID: "fam2", AccessJTI: "jti2", AccessExpiresAt: at(2 * time.Hour)})
	wantErr(t, "reuse", err, storage.ErrCodeUsed)
	wantEqual(t, "reused code", want, got)

	// Nothing issued: empty values are recorded as empty.
	c2 := newAuthCode("code2")
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx(t), c2))
	_, err = s.ConsumeAuthCode(ctx(t), c2.Hash, now, storage.AuthCodeIssue{})
	must(t, "ConsumeAuthCode", err)
	got, err = s.ConsumeAuthCode(ctx(t), c2.Hash, at(2*time.Second), iss)
	wantErr(t, "reuse", err, storage.ErrCodeUsed)
	want = c2
	want.UsedAt = now
	wantEqual(t, "reused code that issued nothing", want, got)
}

func testConsentSaveGet(t *testing.T, s storage.Store) {
	_, err := s.GetConsent(ctx(t), "u1", "web")
	wantErr(t, "GetConsent absent", err, storage.ErrNotFound)

	c := storage.Consent{UserID: "u1", ClientID: "web", Scopes: []string{"openid", "profile"}, GrantedAt: base}
	must(t, "SaveConsent", s.SaveConsent(ctx(t), c))
	got, err := s.GetConsent(ctx(t), "u1", "web")
	must(t, "GetConsent", err)
	wantEqual(t, "GetConsent", c, got)
	wantUTC(t, "GetConsent GrantedAt", got.GrantedAt)

	// A second save replaces the scopes (the caller passes the union).
	wider := storage.Consent{UserID: "u1", ClientID: "web", Scopes: []string{"openid", "email"}, GrantedAt: at(time.Hour)}
	must(t, "SaveConsent again", s.SaveConsent(ctx(t), wider))
	got, err = s.GetConsent(ctx(t), "u1", "web")
	must(t, "GetConsent", err)
	wantEqual(t, "GetConsent after a second save", wider, got)

	_, err = s.GetConsent(ctx(t), "u1", "spa")
	wantErr(t, "GetConsent for another client", err, storage.ErrNotFound)
	_, err = s.GetConsent(ctx(t), "u2", "web")
	wantErr(t, "GetConsent of another user", err, storage.ErrNotFound)
}

func testConsentList(t *testing.T, s storage.Store) {
	got, err := s.ListConsents(ctx(t), "u1")
	must(t, "ListConsents with none", err)
	if len(got) != 0 {
		t.Fatalf("ListConsents with none: %d consents", len(got))
	}
	// Ids chosen so that a naive "user:client" key would mix the users up.
	consents := []storage.Consent{
		{UserID: "u1", ClientID: "web", Scopes: []string{"openid"}, GrantedAt: base},
		{UserID: "u1", ClientID: "api", Scopes: []string{"openid", "email"}, GrantedAt: base},
		{UserID: "u1:x", ClientID: "web", Scopes: []string{"openid"}, GrantedAt: base},
		{UserID: "u1", ClientID: "x:web", Scopes: []string{"profile"}, GrantedAt: base},
		{UserID: "u10", ClientID: "web", Scopes: []string{"openid"}, GrantedAt: base},
	}
	for _, c := range consents {
		must(t, "SaveConsent", s.SaveConsent(ctx(t), c))
	}
	got, err = s.ListConsents(ctx(t), "u1")
	must(t, "ListConsents", err)
	wantEqual(t, "ListConsents u1", []storage.Consent{consents[1], consents[0], consents[3]}, got)
	got, err = s.ListConsents(ctx(t), "u1:x")
	must(t, "ListConsents", err)
	wantEqual(t, "ListConsents u1:x", []storage.Consent{consents[2]}, got)
}

func testConsentDelete(t *testing.T, s storage.Store) {
	for _, client := range []string{"web", "spa"} {
		must(t, "SaveConsent", s.SaveConsent(ctx(t), storage.Consent{UserID: "u1", ClientID: client, Scopes: []string{"openid"}, GrantedAt: base}))
	}
	must(t, "DeleteConsent", s.DeleteConsent(ctx(t), "u1", "web"))
	_, err := s.GetConsent(ctx(t), "u1", "web")
	wantErr(t, "GetConsent after delete", err, storage.ErrNotFound)
	wantErr(t, "second DeleteConsent", s.DeleteConsent(ctx(t), "u1", "web"), storage.ErrNotFound)
	wantErr(t, "DeleteConsent of another user", s.DeleteConsent(ctx(t), "u2", "spa"), storage.ErrNotFound)
	_, err = s.GetConsent(ctx(t), "u1", "spa")
	must(t, "GetConsent of the other client", err)
}

func testFamilySessionRoundTrip(t *testing.T, s storage.Store) {
	f := newFamily("fam1")
	f.SessionIDHash = hash("s1")
	must(t, "CreateFamily", s.CreateFamily(ctx(t), f))
	got, err := s.GetFamily(ctx(t), "fam1", base)
	must(t, "GetFamily", err)
	wantEqual(t, "GetFamily", f, got)
}

// createFamilies stores families keyed by id, each with the given user and
// session (nil: none).
func createFamilies(t *testing.T, s storage.Store, fams map[string]struct {
	user    string
	session []byte
}) {
	t.Helper()
	for id, f := range fams {
		fam := newFamily(id)
		fam.UserID, fam.SessionIDHash = f.user, f.session
		must(t, "CreateFamily "+id, s.CreateFamily(ctx(t), fam))
	}
}

// wantRevoked checks which families are revoked and with what reason.
func wantRevoked(t *testing.T, s storage.Store, want map[string]string) {
	t.Helper()
	for id, reason := range want {
		f, err := s.GetFamily(ctx(t), id, base)
		must(t, "GetFamily "+id, err)
		if f.Revoked != (reason != "") || f.RevokeReason != reason {
			t.Fatalf("family %s: revoked %v reason %q, want reason %q", id, f.Revoked, f.RevokeReason, reason)
		}
	}
}

func testRevokeSessionFamilies(t *testing.T, s storage.Store) {
	createFamilies(t, s, map[string]struct {
		user    string
		session []byte
	}{
		"a": {"u1", hash("s1")}, "b": {"u1", hash("s1")}, "old": {"u1", hash("s1")},
		"c": {"u1", hash("s2")}, "d": {"u1", nil},
	})
	must(t, "RevokeFamily", s.RevokeFamily(ctx(t), "old", base, "reuse"))
	n, err := s.RevokeSessionFamilies(ctx(t), hash("s1"), at(time.Minute), "logout")
	must(t, "RevokeSessionFamilies", err)
	if n != 2 {
		t.Fatalf("RevokeSessionFamilies revoked %d, want 2", n)
	}
	wantRevoked(t, s, map[string]string{"a": "logout", "b": "logout", "old": "reuse", "c": "", "d": ""})
	f, err := s.GetFamily(ctx(t), "a", base)
	must(t, "GetFamily", err)
	if !EqualTime(f.RevokedAt, at(time.Minute)) {
		t.Fatalf("RevokedAt = %v, want %v", f.RevokedAt, at(time.Minute))
	}
	n, err = s.RevokeSessionFamilies(ctx(t), hash("nothing"), base, "logout")
	if err != nil || n != 0 {
		t.Fatalf("RevokeSessionFamilies of a session without families: %d, %v", n, err)
	}
}

func testRevokeUserFamilies(t *testing.T, s storage.Store) {
	createFamilies(t, s, map[string]struct {
		user    string
		session []byte
	}{
		"a": {"u1", hash("s1")}, "b": {"u1", nil}, "c": {"u2", hash("s1")},
	})
	n, err := s.RevokeUserFamilies(ctx(t), "u1", base, "user disabled")
	must(t, "RevokeUserFamilies", err)
	if n != 2 {
		t.Fatalf("RevokeUserFamilies revoked %d, want 2", n)
	}
	wantRevoked(t, s, map[string]string{"a": "user disabled", "b": "user disabled", "c": ""})
	n, err = s.RevokeUserFamilies(ctx(t), "u1", base, "again")
	if err != nil || n != 0 {
		t.Fatalf("second RevokeUserFamilies: %d, %v; want 0, nil", n, err)
	}
	wantRevoked(t, s, map[string]string{"a": "user disabled"})
}

func testPurgeSSO(t *testing.T, s storage.Store) {
	now := at(time.Hour)
	sessions := map[string]storage.Session{}
	for id, exp := range map[string][2]time.Duration{ // absolute, idle
		"s-abs": {time.Hour, 2 * time.Hour}, "s-idle": {2 * time.Hour, time.Hour},
		"s-live": {2 * time.Hour, time.Hour + time.Millisecond},
	} {
		ss := newSession(id)
		ss.ExpiresAt, ss.IdleExpiresAt = at(exp[0]), at(exp[1])
		sessions[id] = ss
		must(t, "CreateSession "+id, s.CreateSession(ctx(t), ss))
	}
	for code, exp := range map[string]time.Duration{
		"c-unused-old": time.Minute, "c-unused-now": time.Hour, "c-live": 2 * time.Hour,
		"c-used-recent": time.Minute, "c-used-long-ago": time.Minute,
	} {
		c := newAuthCode(code)
		c.ExpiresAt = at(exp)
		must(t, "CreateAuthCode "+code, s.CreateAuthCode(ctx(t), c))
	}
	_, err := s.ConsumeAuthCode(ctx(t), hash("c-used-recent"), base, storage.AuthCodeIssue{})
	must(t, "ConsumeAuthCode", err)
	_, err = s.ConsumeAuthCode(ctx(t), hash("c-used-long-ago"), base, storage.AuthCodeIssue{})
	must(t, "ConsumeAuthCode", err)

	stats, err := s.Purge(ctx(t), now)
	must(t, "Purge", err)
	wantEqual(t, "PurgeStats", storage.PurgeStats{Sessions: 2, AuthCodes: 2}, stats)
	for _, id := range []string{"s-abs", "s-idle"} {
		_, err := s.GetSession(ctx(t), hash(id), base)
		wantErr(t, "GetSession of purged "+id, err, storage.ErrNotFound)
	}
	_, err = s.GetSession(ctx(t), hash("s-live"), now)
	must(t, "GetSession of live session", err)
	for _, code := range []string{"c-unused-old", "c-unused-now"} {
		_, err := s.ConsumeAuthCode(ctx(t), hash(code), base, storage.AuthCodeIssue{})
		wantErr(t, "ConsumeAuthCode of purged "+code, err, storage.ErrNotFound)
	}
	// A used code outlives its expiry until the retention ends.
	_, err = s.ConsumeAuthCode(ctx(t), hash("c-used-recent"), now, storage.AuthCodeIssue{})
	wantErr(t, "ConsumeAuthCode of a used code kept for reuse detection", err, storage.ErrCodeUsed)

	end := base.Add(storage.AuthCodeRetention)
	stats, err = s.Purge(ctx(t), end)
	must(t, "Purge at the end of retention", err)
	wantEqual(t, "PurgeStats at the end of retention", storage.PurgeStats{Sessions: 1, AuthCodes: 3}, stats)
	_, err = s.ConsumeAuthCode(ctx(t), hash("c-used-long-ago"), base, storage.AuthCodeIssue{})
	wantErr(t, "ConsumeAuthCode of a used code purged after retention", err, storage.ErrNotFound)
}

func testRaceConsumeAuthCode(t *testing.T, s storage.Store) {
	const n = 20
	c := newAuthCode("code1")
	must(t, "CreateAuthCode", s.CreateAuthCode(ctx(t), c))
	errs := make([]error, n)
	got := make([]storage.AuthCode, n)
	startTogether(n, func(i int) {
		iss := storage.AuthCodeIssue{FamilyID: fmt.Sprintf("fam%d", i), AccessJTI: fmt.Sprintf("jti%d", i)}
		got[i], errs[i] = s.ConsumeAuthCode(ctx(t), c.Hash, at(time.Duration(i+1)*time.Millisecond), iss)
	})
	winner := oneWinner(t, "ConsumeAuthCode", errs, storage.ErrCodeUsed)
	winAt := at(time.Duration(winner+1) * time.Millisecond)
	for i, g := range got {
		if !EqualTime(g.UsedAt, winAt) || g.ClientID != c.ClientID {
			t.Fatalf("caller %d got a code used at %v by client %q, want the winner's use at %v", i, g.UsedAt, g.ClientID, winAt)
		}
		if want := fmt.Sprintf("fam%d", winner); g.FamilyID != want || g.AccessJTI != fmt.Sprintf("jti%d", winner) {
			t.Fatalf("caller %d sees family %q jti %q, want the winner's (%s)", i, g.FamilyID, g.AccessJTI, want)
		}
	}
}

func testRaceAddSessionClient(t *testing.T, s storage.Store) {
	const n = 10
	sess := newSession("s1")
	must(t, "CreateSession", s.CreateSession(ctx(t), sess))
	errs := make([]error, 2*n)
	startTogether(2*n, func(i int) {
		// Every id twice: the set must hold each once.
		errs[i] = s.AddSessionClient(ctx(t), sess.IDHash, fmt.Sprintf("client-%d", i%n), base)
	})
	for i, err := range errs {
		must(t, fmt.Sprintf("AddSessionClient %d", i), err)
	}
	got, err := s.GetSession(ctx(t), sess.IDHash, base)
	must(t, "GetSession", err)
	clients := slices.Sorted(slices.Values(got.Clients))
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf("client-%d", i))
	}
	slices.Sort(want)
	wantEqual(t, "Clients after concurrent adds", want, clients)
}
