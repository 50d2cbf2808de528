package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/sigilauth/sigil/keys/audittest"
	"github.com/sigilauth/sigil/storage"
)

var t0 = time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)

func testSealer(t testing.TB) *Sealer {
	t.Helper()
	kek := make([]byte, KEKSize)
	if _, err := rand.Read(kek); err != nil {
		t.Fatal(err)
	}
	s, err := NewSealer(kek)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fixture is one replica: a rotator and its ring over a shared store.
type fixture struct {
	store *memStore
	rot   *Rotator
	ring  *KeyRing
}

func newFixture(t testing.TB, store *memStore, sealer *Sealer, algs ...string) *fixture {
	t.Helper()
	if len(algs) == 0 {
		algs = []string{ES256}
	}
	sched, err := ParseSchedule("@every 6s")
	if err != nil {
		t.Fatal(err)
	}
	ring := NewKeyRing(sealer, algs)
	rot, err := NewRotator(store, sealer, ring, Policy{
		Algorithms: algs, RSABits: 2048, Schedule: sched,
		Prepublish: 3 * time.Second, RetainFor: 10 * time.Second,
	}, WithActor("test"), WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{store: store, rot: rot, ring: ring}
}

func countStates(set storage.KeySet, alg string) map[storage.KeyState]int {
	m := map[storage.KeyState]int{}
	for _, k := range set.Keys {
		if k.Alg == alg {
			m[k.State]++
		}
	}
	return m
}

func mustSet(t testing.TB, s *memStore) storage.KeySet {
	t.Helper()
	set, err := s.GetKeySet(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func jwksKIDs(t testing.TB, ring *KeyRing) map[string]bool {
	t.Helper()
	body, _, err := ring.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, k := range doc.Keys {
		for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if _, ok := k[private]; ok {
				t.Fatalf("JWKS key %v has private member %q", k["kid"], private)
			}
		}
		if k["use"] != "sig" || k["alg"] == nil || k["kty"] == nil {
			t.Fatalf("JWKS key missing use/alg/kty: %v", k)
		}
		out[k["kid"].(string)] = true
	}
	return out
}

func activeKID(set storage.KeySet, alg string) string {
	for _, k := range set.Keys {
		if k.Alg == alg && k.State == storage.KeyActive {
			return k.KID
		}
	}
	return ""
}

func TestGenerateThumbprintMatchesGoJose(t *testing.T) {
	for _, alg := range []string{ES256, RS256} {
		t.Run(alg, func(t *testing.T) {
			m, err := Generate(alg, 2048)
			if err != nil {
				t.Fatal(err)
			}
			var jwk jose.JSONWebKey
			if err := jwk.UnmarshalJSON(m.PublicJWK); err != nil {
				t.Fatal(err)
			}
			if !jwk.IsPublic() {
				t.Fatal("published JWK is not public-only")
			}
			tp, err := jwk.Thumbprint(cryptoSHA256)
			if err != nil {
				t.Fatal(err)
			}
			if got := base64.RawURLEncoding.EncodeToString(tp); got != m.KID {
				t.Fatalf("kid %s, RFC 7638 thumbprint %s", m.KID, got)
			}
			kid, palg, _, err := ParsePublicJWK(m.PublicJWK)
			if err != nil || kid != m.KID || palg != alg {
				t.Fatalf("ParsePublicJWK = %s %s %v", kid, palg, err)
			}
		})
	}
}

func TestGenerateRejects(t *testing.T) {
	tests := []struct {
		name string
		alg  string
		bits int
	}{
		{"hmac", "HS256", 2048},
		{"none", "none", 2048},
		{"small rsa", RS256, 1024},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Generate(tc.alg, tc.bits); err == nil {
				t.Fatal("Generate succeeded")
			}
		})
	}
}

func TestParsePublicJWKRejectsForgedKID(t *testing.T) {
	m, err := Generate(ES256, 0)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := Generate(ES256, 0)
	forged := bytes.Replace(m.PublicJWK, []byte(m.KID), []byte(other.KID), 1)
	if _, _, _, err := ParsePublicJWK(forged); err == nil {
		t.Fatal("accepted a JWK whose kid is not its thumbprint")
	}
	wrongAlg := bytes.Replace(m.PublicJWK, []byte(`"ES256"`), []byte(`"RS256"`), 1)
	if _, _, _, err := ParsePublicJWK(wrongAlg); err == nil {
		t.Fatal("accepted an EC key labelled RS256")
	}
}

func TestSealer(t *testing.T) {
	s := testSealer(t)
	other := testSealer(t)
	secret := []byte("private key bytes")
	sealed, err := s.Seal(secret, sealAAD("kid1", ES256))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, secret) {
		t.Fatal("sealed blob contains the plaintext")
	}
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	tests := []struct {
		name   string
		sealer *Sealer
		blob   []byte
		aad    []byte
		ok     bool
	}{
		{"round trip", s, sealed, sealAAD("kid1", ES256), true},
		{"other kid", s, sealed, sealAAD("kid2", ES256), false},
		{"other alg", s, sealed, sealAAD("kid1", RS256), false},
		{"other kek", other, sealed, sealAAD("kid1", ES256), false},
		{"tampered", s, tampered, sealAAD("kid1", ES256), false},
		{"truncated", s, sealed[:10], sealAAD("kid1", ES256), false},
		{"empty", s, nil, sealAAD("kid1", ES256), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := tc.sealer.Open(tc.blob, tc.aad)
			if tc.ok != (err == nil) {
				t.Fatalf("Open err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && !bytes.Equal(pt, secret) {
				t.Fatal("wrong plaintext")
			}
			if !tc.ok && !errors.Is(err, ErrUnseal) {
				t.Fatalf("err = %v, want ErrUnseal", err)
			}
		})
	}
	if s.ID() == other.ID() {
		t.Fatal("two KEKs share an id")
	}
}

func TestKEKFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "kek")
	kek, err := GenerateKEKFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("KEK file mode %v err %v, want 0600", fi.Mode().Perm(), err)
	}
	got, err := ReadKEKFile(path)
	if err != nil || !bytes.Equal(got, kek) {
		t.Fatalf("ReadKEKFile = %v", err)
	}
	if _, err := GenerateKEKFile(path); err == nil {
		t.Fatal("GenerateKEKFile overwrote an existing file")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadKEKFile(path); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("ReadKEKFile of a world-readable file: %v", err)
	}
	tests := []struct {
		name string
		text string
		ok   bool
	}{
		{"std padded", base64.StdEncoding.EncodeToString(kek), true},
		{"raw url", base64.RawURLEncoding.EncodeToString(kek), true},
		{"with newline", base64.StdEncoding.EncodeToString(kek) + "\n", true},
		{"short", base64.StdEncoding.EncodeToString(kek[:16]), false},
		{"not base64", "!!!", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeKEK(tc.text)
			if tc.ok != (err == nil) {
				t.Fatalf("DecodeKEK err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), tc.text) && tc.text != "!!!" {
				t.Fatal("error echoes the key")
			}
		})
	}
}

func TestSignJWT(t *testing.T) {
	store := &memStore{}
	f := newFixture(t, store, testSealer(t), ES256, RS256)
	if _, err := f.rot.Reconcile(context.Background(), t0); err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"sub":"alice","exp":1}`)
	for _, tc := range []struct{ name, alg, typ, wantAlg string }{
		{"default access token", "", "at+jwt", ES256},
		{"rs256 id token", RS256, "JWT", RS256},
		{"es256 access token", ES256, "at+jwt", ES256},
		{"logout token", "", "logout+jwt", ES256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := f.ring.SignJWT(tc.alg, tc.typ, payload)
			if err != nil {
				t.Fatal(err)
			}
			jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
			if err != nil {
				t.Fatal(err)
			}
			h := jws.Signatures[0].Protected
			if h.Algorithm != tc.wantAlg || h.ExtraHeaders["typ"] != tc.typ {
				t.Fatalf("header alg=%s typ=%v", h.Algorithm, h.ExtraHeaders["typ"])
			}
			alg, pub, ok := f.ring.PublicKey(h.KeyID)
			if !ok || alg != tc.wantAlg {
				t.Fatalf("PublicKey(%s) = %s %v", h.KeyID, alg, ok)
			}
			got, err := jws.Verify(pub)
			if err != nil || !bytes.Equal(got, payload) {
				t.Fatalf("verify: %v", err)
			}
			if h.KeyID != activeKID(mustSet(t, store), tc.wantAlg) {
				t.Fatal("signed with a key that is not the active one")
			}
		})
	}
	for _, tc := range []struct{ name, alg, typ string }{
		{"unconfigured alg", "PS256", "at+jwt"},
		{"unknown typ", "", "jwt+evil"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.ring.SignJWT(tc.alg, tc.typ, payload); err == nil {
				t.Fatal("SignJWT succeeded")
			}
		})
	}
	if _, err := NewKeyRing(testSealer(t), []string{ES256}).SignJWT("", "JWT", payload); !errors.Is(err, ErrNotLoaded) {
		t.Fatalf("unloaded ring: %v", err)
	}
}

// TestRotationLifecycle walks one algorithm through time with a fake clock.
func TestRotationLifecycle(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	f := newFixture(t, store, testSealer(t))

	res, err := f.rot.Reconcile(ctx, t0)
	if err != nil || !res.Changed {
		t.Fatalf("bootstrap: %+v %v", res, err)
	}
	set := mustSet(t, store)
	if c := countStates(set, ES256); c[storage.KeyActive] != 1 || c[storage.KeyNext] != 1 || len(set.Keys) != 2 {
		t.Fatalf("after bootstrap: %v", c)
	}
	first := activeKID(set, ES256)

	steps := []struct {
		name        string
		at          time.Duration
		wantChanged bool
		check       func(t *testing.T, set storage.KeySet, res Result)
	}{
		{"idempotent at same time", 0, false, nil},
		{"not yet due", 5 * time.Second, false, nil},
		{"due: next published 6s ago is promoted", 6 * time.Second, true, func(t *testing.T, set storage.KeySet, res Result) {
			c := countStates(set, ES256)
			if c[storage.KeyActive] != 1 || c[storage.KeyNext] != 1 || c[storage.KeyRetired] != 1 {
				t.Fatalf("states %v", c)
			}
			for _, k := range set.Keys {
				if k.KID == first {
					if k.State != storage.KeyRetired || len(k.SealedPrivate) != 0 || k.KEKID != "" {
						t.Fatalf("old active not retired with private erased: %+v", k.State)
					}
					if !k.VerifyUntil.Equal(t0.Add(16 * time.Second)) {
						t.Fatalf("verify_until %v", k.VerifyUntil)
					}
				}
			}
			if !jwksKIDs(t, f.ring)[first] {
				t.Fatal("retired key left the JWKS before verify_until")
			}
		}},
		{"retired key still published between rotations", 11 * time.Second, false, func(t *testing.T, set storage.KeySet, res Result) {
			if !jwksKIDs(t, f.ring)[first] {
				t.Fatal("retired key left the JWKS early")
			}
		}},
		{"second rotation keeps the first retired key published", 12 * time.Second, true, func(t *testing.T, set storage.KeySet, res Result) {
			if c := countStates(set, ES256); c[storage.KeyRetired] != 2 {
				t.Fatalf("states %v", c)
			}
			if !jwksKIDs(t, f.ring)[first] {
				t.Fatal("retired key left the JWKS early")
			}
		}},
		{"retired key dropped at verify_until", 16 * time.Second, true, func(t *testing.T, set storage.KeySet, res Result) {
			if jwksKIDs(t, f.ring)[first] {
				t.Fatal("retired key still in JWKS after verify_until")
			}
			for _, k := range set.Keys {
				if k.KID == first {
					t.Fatal("expired key still in the key set")
				}
			}
		}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			res, err := f.rot.Reconcile(ctx, t0.Add(st.at))
			if err != nil {
				t.Fatal(err)
			}
			if res.Changed != st.wantChanged {
				t.Fatalf("changed = %v, want %v (events %+v)", res.Changed, st.wantChanged, res.Events)
			}
			if st.check != nil {
				st.check(t, mustSet(t, store), res)
			}
		})
	}
}

func TestRotationWaitsForPrepublication(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	f := newFixture(t, store, testSealer(t))
	if _, err := f.rot.Reconcile(ctx, t0); err != nil {
		t.Fatal(err)
	}
	// Revoke the next key at t0+5s: its replacement is published at 5s, so
	// the rotation due at 6s must wait until 8s.
	set := mustSet(t, store)
	var nextKID string
	for _, k := range set.Keys {
		if k.State == storage.KeyNext {
			nextKID = k.KID
		}
	}
	if _, err := f.rot.Revoke(ctx, t0.Add(5*time.Second), nextKID, "operator", "test"); err != nil {
		t.Fatal(err)
	}
	res, err := f.rot.Reconcile(ctx, t0.Add(6*time.Second))
	if err != nil || res.Changed {
		t.Fatalf("promoted a key published 1s ago: %+v %v", res, err)
	}
	if want := t0.Add(8 * time.Second); !res.Waiting[ES256].Equal(want) {
		t.Fatalf("waiting until %v, want %v", res.Waiting[ES256], want)
	}
	res, err = f.rot.Reconcile(ctx, t0.Add(8*time.Second))
	if err != nil || !res.Changed {
		t.Fatalf("no promotion once pre-published: %+v %v", res, err)
	}
}

func TestOperatorActions(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		act   func(f *fixture, set storage.KeySet) (Result, error)
		check func(t *testing.T, before, after storage.KeySet, res Result, err error, f *fixture)
	}{
		{"rotate without force waits for pre-publication",
			func(f *fixture, set storage.KeySet) (Result, error) {
				return f.rot.Rotate(ctx, t0.Add(time.Second), false, "operator", "")
			},
			func(t *testing.T, before, after storage.KeySet, res Result, err error, f *fixture) {
				if err != nil || res.Changed || !res.Waiting[ES256].Equal(t0.Add(3*time.Second)) {
					t.Fatalf("%+v %v", res, err)
				}
			}},
		{"rotate without force once pre-published",
			func(f *fixture, set storage.KeySet) (Result, error) {
				return f.rot.Rotate(ctx, t0.Add(3*time.Second), false, "operator", "")
			},
			func(t *testing.T, before, after storage.KeySet, res Result, err error, f *fixture) {
				if err != nil || !res.Changed || activeKID(after, ES256) == activeKID(before, ES256) {
					t.Fatalf("%+v %v", res, err)
				}
			}},
		{"rotate --now promotes at once",
			func(f *fixture, set storage.KeySet) (Result, error) {
				return f.rot.Rotate(ctx, t0.Add(time.Second), true, "operator", "suspected leak")
			},
			func(t *testing.T, before, after storage.KeySet, res Result, err error, f *fixture) {
				if err != nil || !res.Changed || activeKID(after, ES256) == activeKID(before, ES256) {
					t.Fatalf("%+v %v", res, err)
				}
				if c := countStates(after, ES256); c[storage.KeyNext] != 1 || c[storage.KeyActive] != 1 {
					t.Fatalf("states %v", c)
				}
			}},
		{"revoke active promotes a replacement and leaves the JWKS",
			func(f *fixture, set storage.KeySet) (Result, error) {
				return f.rot.Revoke(ctx, t0.Add(time.Second), activeKID(set, ES256), "operator", "key leaked")
			},
			func(t *testing.T, before, after storage.KeySet, res Result, err error, f *fixture) {
				if err != nil || !res.Changed {
					t.Fatalf("%+v %v", res, err)
				}
				old := activeKID(before, ES256)
				if activeKID(after, ES256) == "" || activeKID(after, ES256) == old {
					t.Fatal("no replacement active key")
				}
				if jwksKIDs(t, f.ring)[old] {
					t.Fatal("revoked key still in JWKS")
				}
				if _, _, ok := f.ring.PublicKey(old); ok {
					t.Fatal("revoked key still resolvable")
				}
				for _, k := range after.Keys {
					if k.KID == old && (k.State != storage.KeyRevoked || len(k.SealedPrivate) != 0 || k.RevokeReason != "key leaked") {
						t.Fatalf("revoked record %+v", k.State)
					}
				}
				var revokeEvents int
				for _, e := range f.store.events {
					if e.Action == "revoke" && e.KID == old && e.Actor == "operator" && e.Reason == "key leaked" {
						revokeEvents++
					}
				}
				if revokeEvents != 1 {
					t.Fatalf("%d revoke audit events", revokeEvents)
				}
			}},
		{"revoke unknown kid",
			func(f *fixture, set storage.KeySet) (Result, error) {
				return f.rot.Revoke(ctx, t0.Add(time.Second), "nope", "operator", "x")
			},
			func(t *testing.T, before, after storage.KeySet, res Result, err error, f *fixture) {
				if !errors.Is(err, ErrUnknownKey) || after.Version != before.Version {
					t.Fatalf("err %v, version %d→%d", err, before.Version, after.Version)
				}
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := &memStore{}
			f := newFixture(t, store, testSealer(t))
			if _, err := f.rot.Reconcile(ctx, t0); err != nil {
				t.Fatal(err)
			}
			before := mustSet(t, store)
			res, err := tc.act(f, before)
			tc.check(t, before, mustSet(t, store), res, err, f)
		})
	}
}

func TestRewrap(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	oldSealer := testSealer(t)
	f := newFixture(t, store, oldSealer)
	if _, err := f.rot.Reconcile(ctx, t0); err != nil {
		t.Fatal(err)
	}
	newSealer := testSealer(t)
	if _, err := f.rot.Rewrap(ctx, t0, newSealer, "operator"); err != nil {
		t.Fatal(err)
	}
	for _, k := range mustSet(t, store).Keys {
		if len(k.SealedPrivate) > 0 && k.KEKID != newSealer.ID() {
			t.Fatalf("key %s still sealed under %s", k.KID, k.KEKID)
		}
	}
	// A replica with the new KEK loads and signs; one with the old cannot.
	g := newFixture(t, store, newSealer)
	if err := g.rot.Reload(ctx, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := g.ring.SignJWT("", "JWT", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	h := newFixture(t, store, oldSealer)
	if err := h.rot.Reload(ctx, t0); err == nil {
		t.Fatal("old KEK still loads the rewrapped set")
	}
}

func TestAlgorithmRemovedFromConfig(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	sealer := testSealer(t)
	both := newFixture(t, store, sealer, ES256, RS256)
	if _, err := both.rot.Reconcile(ctx, t0); err != nil {
		t.Fatal(err)
	}
	rsKID := activeKID(mustSet(t, store), RS256)
	esOnly := newFixture(t, store, sealer, ES256)
	if _, err := esOnly.rot.Reconcile(ctx, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	c := countStates(mustSet(t, store), RS256)
	if c[storage.KeyActive] != 0 || c[storage.KeyNext] != 0 || c[storage.KeyRetired] != 1 {
		t.Fatalf("RS256 states after removal: %v", c)
	}
	if !jwksKIDs(t, esOnly.ring)[rsKID] {
		t.Fatal("RS256 key left the JWKS before its tokens expired")
	}
}

// TestCrashDuringRotation fails every storage write after the n-th, for each
// n, during a rotation; the next Reconcile by a fresh replica must converge
// with one active key per algorithm, signing with a published key, and with
// every committed transition in the audit log exactly once.
func TestCrashDuringRotation(t *testing.T) {
	ctx := context.Background()
	sealer := testSealer(t)
	for n := 1; n <= 12; n++ {
		t.Run("fail after write "+strconv.Itoa(n), func(t *testing.T) {
			store := &memStore{}
			f := newFixture(t, store, sealer, ES256, RS256)
			if _, err := f.rot.Reconcile(ctx, t0); err != nil {
				t.Fatal(err)
			}
			base := store.writes
			store.failAfter = base + n
			// A due rotation plus a revocation: several writes each.
			_, _ = f.rot.Reconcile(ctx, t0.Add(6*time.Second))
			_, _ = f.rot.Revoke(ctx, t0.Add(7*time.Second), activeKID(mustSet(t, store), RS256), "op", "test")
			store.failAfter = 0
			g := newFixture(t, store, sealer, ES256, RS256)
			if _, err := g.rot.Reconcile(ctx, t0.Add(8*time.Second)); err != nil && !errors.Is(err, ErrLostRace) {
				t.Fatal(err)
			}
			set := mustSet(t, store)
			published := jwksKIDs(t, g.ring)
			for _, alg := range []string{ES256, RS256} {
				if c := countStates(set, alg); c[storage.KeyActive] != 1 || c[storage.KeyNext] != 1 {
					t.Fatalf("%s states %v", alg, c)
				}
				if !published[activeKID(set, alg)] {
					t.Fatalf("%s signing key not in the JWKS", alg)
				}
				if _, err := g.ring.SignJWT(alg, "at+jwt", []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
			}
			// Every committed transition is in the audit log exactly once.
			evs, _ := store.ListKeyEvents(ctx)
			if err := audittest.CheckAudit(set, evs); err != nil {
				t.Fatal(err)
			}
			logged := map[string]bool{}
			for _, e := range evs {
				logged[e.ID] = true
			}
			for id, e := range store.committed {
				if !logged[id] {
					t.Fatalf("committed transition %s %s (%s) missing from the audit log", e.Action, e.KID, id)
				}
			}
			if len(evs) != len(store.committed) {
				t.Fatalf("%d audit events for %d committed transitions", len(evs), len(store.committed))
			}
		})
	}
}

var cryptoSHA256 = crypto.SHA256

func TestStaleKEKCannotChangeKeySet(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	oldSealer := testSealer(t)
	f := newFixture(t, store, oldSealer)
	if _, err := f.rot.Reconcile(ctx, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.rot.Rewrap(ctx, t0, testSealer(t), "operator"); err != nil {
		t.Fatal(err)
	}
	before := mustSet(t, store)
	stale := newFixture(t, store, oldSealer)
	tests := []struct {
		name string
		op   func() error
	}{
		{"reconcile", func() error { _, err := stale.rot.Reconcile(ctx, t0.Add(time.Hour)); return err }},
		{"rotate now", func() error { _, err := stale.rot.Rotate(ctx, t0, true, "op", ""); return err }},
		{"revoke", func() error {
			_, err := stale.rot.Revoke(ctx, t0, activeKID(before, ES256), "op", "x")
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); !errors.Is(err, ErrKEKMismatch) {
				t.Fatalf("err = %v, want ErrKEKMismatch", err)
			}
			if after := mustSet(t, store); after.Version != before.Version {
				t.Fatal("a stale-KEK replica changed the key set")
			}
		})
	}
}

// TestKEKRotationRolls: replicas restarted one by one with the new KEK as
// current and the old as previous keep loading, signing and rotating next to
// replicas still on the old KEK (new keys stay sealed under the KEK the set
// uses); after the rewrap every key is under the new KEK and the restarted
// replicas carry on.
func TestKEKRotationRolls(t *testing.T) {
	ctx := context.Background()
	store := &memStore{}
	oldKEK, newKEK := testSealer(t), testSealer(t)
	both, err := newKEK.WithPrevious(oldKEK)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := newKEK.WithPrevious(newKEK); err == nil {
		t.Fatal("the current KEK accepted as its own previous")
	}
	old := newFixture(t, store, oldKEK)
	if _, err := old.rot.Reconcile(ctx, t0); err != nil {
		t.Fatal(err)
	}
	rolled := newFixture(t, store, both)
	sealedUnder := func(want string) {
		t.Helper()
		for _, k := range mustSet(t, store).Keys {
			if len(k.SealedPrivate) > 0 && k.KEKID != want {
				t.Fatalf("key %s sealed under %s, want %s", k.KID, k.KEKID, want)
			}
		}
	}
	steps := []struct {
		name string
		run  func() error
		kek  string
	}{
		{"restarted replica loads the old-KEK set", func() error { _, err := rolled.rot.Reconcile(ctx, t0); return err }, oldKEK.ID()},
		{"restarted replica rotates under the old KEK", func() error {
			_, err := rolled.rot.Reconcile(ctx, t0.Add(6*time.Second))
			return err
		}, oldKEK.ID()},
		{"old replica still loads", func() error { return old.rot.Reload(ctx, t0.Add(6*time.Second)) }, oldKEK.ID()},
		{"rewrap under the new KEK", func() error {
			_, err := rolled.rot.Rewrap(ctx, t0.Add(7*time.Second), newKEK, "operator")
			return err
		}, newKEK.ID()},
		{"restarted replica loads and rotates after the rewrap", func() error {
			if err := rolled.rot.Reload(ctx, t0.Add(7*time.Second)); err != nil {
				return err
			}
			_, err := rolled.rot.Reconcile(ctx, t0.Add(12*time.Second))
			return err
		}, newKEK.ID()},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := st.run(); err != nil {
				t.Fatal(err)
			}
			sealedUnder(st.kek)
			if _, err := rolled.ring.SignJWT("", "JWT", []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
		})
	}
	if err := old.rot.Reload(ctx, t0.Add(12*time.Second)); err == nil {
		t.Fatal("a replica holding only the old KEK loads the rewrapped set")
	}
}
