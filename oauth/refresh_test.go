package oauth

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage"
)

func TestRefreshRotates(t *testing.T) {
	e := newEnv(t, nil)
	first := e.login("openid api:read")
	authTime := e.clock.Now()
	e.clock.Advance(time.Minute)
	second, err := e.refresh(first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if second.RefreshToken == first.RefreshToken || second.RefreshToken == "" {
		t.Fatal("refresh token not rotated")
	}
	if second.Scope != "openid api:read" || second.IDToken == "" {
		t.Fatalf("refresh response %+v", second)
	}
	_, c := decodeJWT(t, second.IDToken)
	if toString(c["auth_time"]) != jsonInt(authTime.Unix()) {
		t.Fatalf("auth_time %v, want the login time %d", c["auth_time"], authTime.Unix())
	}
	fam := e.family(first.RefreshToken)
	if fam.CurrentHash != refreshTokenID(second.RefreshToken) || fam.PreviousHash != refreshTokenID(first.RefreshToken) ||
		!fam.PreviousUsedAt.Equal(e.clock.Now()) || !fam.CurrentIssuedAt.Equal(e.clock.Now()) {
		t.Fatalf("family state after the refresh: %+v", fam.RefreshState)
	}
	// The child works in turn.
	if _, err := e.refresh(second.RefreshToken); err != nil {
		t.Fatal(err)
	}
}

func TestRefreshReuseRevokesFamily(t *testing.T) {
	e := newEnv(t, nil)
	first := e.login("")
	second, err := e.refresh(first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.refresh(first.RefreshToken)
	if got := wantErr(t, err, CodeInvalidGrant, 400); got.Reason != ReasonTokenRevoked {
		t.Fatalf("reason %s", got.Reason)
	}
	if fam := e.family(first.RefreshToken); !fam.Revoked || fam.RevokeReason != revokeReuse {
		t.Fatalf("family after reuse: %+v", fam)
	}
	// The legitimate child dies with the family.
	_, err = e.refresh(second.RefreshToken)
	wantErr(t, err, CodeInvalidGrant, 400)
}

func TestRefreshConcurrentExactlyOneWins(t *testing.T) {
	e := newEnv(t, nil)
	first := e.login("")
	const n = 100
	var wg sync.WaitGroup
	results := make([]error, n)
	tokens := make([]string, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r, err := e.refresh(first.RefreshToken)
			results[i] = err
			if err == nil {
				tokens[i] = r.RefreshToken
			}
		}()
	}
	close(start)
	wg.Wait()
	wins := 0
	for i, err := range results {
		if err == nil {
			wins++
			continue
		}
		if ae := AsError(err); ae == nil || ae.Code != CodeInvalidGrant {
			t.Fatalf("request %d: %v, want invalid_grant", i, err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d refreshes succeeded, want exactly 1", wins)
	}
	if !e.family(first.RefreshToken).Revoked {
		t.Fatal("family not revoked after concurrent reuse")
	}
}

func TestRefreshReuseGrace(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RefreshReuseGrace = 10 * time.Second })
	first := e.login("")
	lost, err := e.refresh(first.RefreshToken) // response "lost" by the client
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(5 * time.Second)
	retry, err := e.refresh(first.RefreshToken)
	if err != nil {
		t.Fatalf("retry within grace: %v", err)
	}
	if retry.RefreshToken == lost.RefreshToken {
		t.Fatal("grace retry returned the same token")
	}
	// A second retry within the grace (response lost again) also works
	// and revokes the previous replacement.
	retry2, err := e.refresh(first.RefreshToken)
	if err != nil {
		t.Fatalf("second retry within grace: %v", err)
	}
	// The newest pair works; the family is alive.
	next, err := e.refresh(retry2.RefreshToken)
	if err != nil {
		t.Fatalf("newest token after grace retries: %v", err)
	}
	if retry.AccessToken == "" || retry2.AccessToken == "" || retry2.RefreshToken == retry.RefreshToken {
		t.Fatalf("grace retries answered %+v and %+v", retry, retry2)
	}
	// Each grace retry replaced the current token and kept the first as the
	// previous one: lost and retry are neither any more.
	if fam := e.family(first.RefreshToken); fam.CurrentHash != refreshTokenID(next.RefreshToken) {
		t.Fatalf("family state after grace retries: %+v", fam.RefreshState)
	}
	// The earlier children were revoked: presenting one is reuse, and the
	// family dies with it.
	_, err = e.refresh(retry.RefreshToken)
	if got := wantErr(t, err, CodeInvalidGrant, 400); got.Reason != ReasonTokenRevoked {
		t.Fatalf("replaced retry token: reason %s", got.Reason)
	}
	_, err = e.refresh(next.RefreshToken)
	wantErr(t, err, CodeInvalidGrant, 400) // family revoked by that reuse
	_, err = e.refresh(lost.RefreshToken)
	wantErr(t, err, CodeInvalidGrant, 400)
}

// heldSwaps is a store whose first two swaps wait for each other, so two
// refreshes of one token race the compare-and-swap: one must lose it,
// deterministically.
type heldSwaps struct {
	*faultStore
	mu     sync.Mutex
	swaps  int
	bothIn chan struct{}
}

func (h *heldSwaps) SwapRefreshToken(ctx context.Context, id, clientID, oldHash string, next storage.RefreshState, now time.Time) (storage.RefreshFamily, error) {
	h.mu.Lock()
	h.swaps++
	n := h.swaps
	if n == 2 {
		close(h.bothIn)
	}
	h.mu.Unlock()
	if n <= 2 {
		<-h.bothIn
	}
	return h.faultStore.SwapRefreshToken(ctx, id, clientID, oldHash, next, now)
}

// TestRefreshLostRaceRevokesFamily: of two refreshes of one token that race
// the swap, the one that loses it revokes the family (RFC 9700 §4.14), so
// the winner's new token dies too.
func TestRefreshLostRaceRevokesFamily(t *testing.T) {
	e := newEnv(t, nil)
	first := e.login("")
	held := &heldSwaps{faultStore: e.store, bothIn: make(chan struct{})}
	svc, err := New(e.cfg, held, e.keys, e.hasher, WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	results := make([]*TokenResponse, 2)
	errs := make([]error, 2)
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = svc.Token(e.ctx, TokenRequest{GrantType: GrantRefreshToken, Client: basic(confID, confSecret), RefreshToken: first.RefreshToken})
		}()
	}
	wg.Wait()
	winner, loser := 0, 1
	if errs[0] != nil {
		winner, loser = 1, 0
	}
	if errs[winner] != nil {
		t.Fatalf("both refreshes failed: %v, %v", errs[0], errs[1])
	}
	if got := wantErr(t, errs[loser], CodeInvalidGrant, 400); got.Reason != ReasonTokenRevoked {
		t.Fatalf("loser: reason %s, want %s", got.Reason, ReasonTokenRevoked)
	}
	if fam := e.family(first.RefreshToken); !fam.Revoked || fam.RevokeReason != revokeReuse {
		t.Fatalf("family after the lost race: revoked=%v reason=%q, want revoked for reuse", fam.Revoked, fam.RevokeReason)
	}
	_, err = e.refresh(results[winner].RefreshToken)
	wantErr(t, err, CodeInvalidGrant, 400)
}

func TestRefreshReuseGraceLimits(t *testing.T) {
	tests := []struct {
		name string
		run  func(e *env, first, child *TokenResponse) error
	}{
		{name: "after the grace", run: func(e *env, first, _ *TokenResponse) error {
			e.clock.Advance(11 * time.Second)
			_, err := e.refresh(first.RefreshToken)
			return err
		}},
		{name: "other client", run: func(e *env, first, _ *TokenResponse) error {
			_, err := e.svc.Token(e.ctx, TokenRequest{GrantType: GrantRefreshToken, Client: ClientCredentials{ID: pubID}, RefreshToken: first.RefreshToken})
			return err
		}},
		{name: "child already used", run: func(e *env, first, child *TokenResponse) error {
			if _, err := e.refresh(child.RefreshToken); err != nil {
				return err
			}
			_, err := e.refresh(first.RefreshToken)
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.RefreshReuseGrace = 10 * time.Second })
			first := e.login("")
			child, err := e.refresh(first.RefreshToken)
			if err != nil {
				t.Fatal(err)
			}
			wantErr(t, tc.run(e, first, child), CodeInvalidGrant, 400)
		})
	}
}

func TestRefreshFailures(t *testing.T) {
	tests := []struct {
		name   string
		cfg    func(*Config)
		setup  func(e *env, rt string) (TokenRequest, string)
		code   string
		reason Reason
		// familyRevoked: the failure also ends the family.
		familyRevoked bool
	}{
		{name: "malformed", setup: func(e *env, rt string) (TokenRequest, string) {
			return refreshReq(rt[:len(rt)-1]), ""
		}, code: CodeInvalidGrant, reason: ReasonTokenInvalid},
		{name: "unknown family", setup: func(e *env, rt string) (TokenRequest, string) {
			tok, _ := newRefreshToken(newFamilyID())
			return refreshReq(tok), ""
		}, code: CodeInvalidGrant, reason: ReasonTokenInvalid},
		{name: "other token of the family is reuse", setup: func(e *env, rt string) (TokenRequest, string) {
			famID, _ := refreshFamilyID(rt)
			tok, _ := newRefreshToken(famID)
			return refreshReq(tok), ""
		}, code: CodeInvalidGrant, reason: ReasonTokenRevoked, familyRevoked: true},
		{name: "access token as refresh token", setup: func(e *env, rt string) (TokenRequest, string) {
			return refreshReq(e.login("").AccessToken), ""
		}, code: CodeInvalidGrant, reason: ReasonTokenInvalid},
		{name: "other client", setup: func(e *env, rt string) (TokenRequest, string) {
			r := refreshReq(rt)
			r.Client = ClientCredentials{ID: pubID}
			return r, ""
		}, code: CodeInvalidGrant, reason: ReasonTokenInvalid},
		{name: "absolute lifetime", setup: func(e *env, rt string) (TokenRequest, string) {
			e.clock.Advance(24 * time.Hour)
			return refreshReq(rt), ""
		}, code: CodeInvalidGrant, reason: ReasonTokenInvalid},
		{name: "idle lifetime", cfg: func(c *Config) { c.RefreshIdleTTL = time.Hour }, setup: func(e *env, rt string) (TokenRequest, string) {
			e.clock.Advance(time.Hour)
			return refreshReq(rt), ""
		}, code: CodeInvalidGrant, reason: ReasonTokenInvalid},
		{name: "disabled user", setup: func(e *env, rt string) (TokenRequest, string) {
			if err := e.store.Store.SetUserDisabled(e.ctx, "42", true, e.clock.Now()); err != nil {
				e.t.Fatal(err)
			}
			return refreshReq(rt), ""
		}, code: CodeInvalidGrant, reason: ReasonUserInactive, familyRevoked: true},
		{name: "password changed", setup: func(e *env, rt string) (TokenRequest, string) {
			e.clock.Advance(time.Second)
			if err := e.store.Store.SetUserPassword(e.ctx, "42", "$argon2id$x", e.clock.Now()); err != nil {
				e.t.Fatal(err)
			}
			return refreshReq(rt), ""
		}, code: CodeInvalidGrant, reason: ReasonPasswordChanged, familyRevoked: true},
		{name: "wider scope", setup: func(e *env, rt string) (TokenRequest, string) {
			r := refreshReq(rt)
			r.Scope = "api:read api:write"
			return r, ""
		}, code: CodeInvalidScope},
		{name: "revoked family", setup: func(e *env, rt string) (TokenRequest, string) {
			if err := e.svc.Revoke(e.ctx, RevokeRequest{Client: basic(confID, confSecret), Token: rt}); err != nil {
				e.t.Fatal(err)
			}
			return refreshReq(rt), ""
		}, code: CodeInvalidGrant, reason: ReasonTokenRevoked, familyRevoked: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cfg)
			first := e.login("api:read")
			req, _ := tc.setup(e, first.RefreshToken)
			_, err := e.svc.Token(e.ctx, req)
			got := wantErr(t, err, tc.code, http.StatusBadRequest)
			if got.Reason != tc.reason {
				t.Fatalf("reason %q, want %q", got.Reason, tc.reason)
			}
			fam := e.family(first.RefreshToken)
			if fam.Revoked != tc.familyRevoked {
				t.Fatalf("family revoked = %v, want %v", fam.Revoked, tc.familyRevoked)
			}
		})
	}
}

func refreshReq(rt string) TokenRequest {
	return TokenRequest{GrantType: GrantRefreshToken, Client: basic(confID, confSecret), RefreshToken: rt}
}

func TestRefreshNarrowsScope(t *testing.T) {
	e := newEnv(t, nil)
	first := e.login("openid api:read api:write")
	r, err := e.svc.Token(e.ctx, TokenRequest{GrantType: GrantRefreshToken, Client: basic(confID, confSecret), RefreshToken: first.RefreshToken, Scope: "api:read"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Scope != "api:read" || r.IDToken != "" {
		t.Fatalf("narrowed response %+v", r)
	}
	// The new refresh token keeps the original scopes (RFC 6749 §6).
	r2, err := e.refresh(r.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Scope != "openid api:read api:write" {
		t.Fatalf("scope after narrowing then refreshing: %q", r2.Scope)
	}
}

func TestRefreshIdleExpiryNeverPassesFamilyEnd(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RefreshIdleTTL = 10 * time.Hour })
	first := e.login("")
	famEnd := e.clock.Now().Add(24 * time.Hour)
	e.clock.Advance(9 * time.Hour)
	r, err := e.refresh(first.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := refreshExpiresAt(e.family(r.RefreshToken)), e.clock.Now().Add(10*time.Hour); !got.Equal(want) {
		t.Fatalf("child expires %v, want idle end %v", got, want)
	}
	e.clock.Advance(9 * time.Hour)
	if r, err = e.refresh(r.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if got := refreshExpiresAt(e.family(r.RefreshToken)); !got.Equal(famEnd) {
		t.Fatalf("child expires %v, want family end %v", got, famEnd)
	}
}

// TestRefreshStorageFailureKeepsToken: when the swap fails, or a storage
// call after it does (the swap is then undone), the presented token is not
// consumed, so the client can retry.
func TestRefreshStorageFailureKeepsToken(t *testing.T) {
	for _, method := range []string{"SwapRefreshToken", "GetUser"} {
		t.Run(method, func(t *testing.T) {
			e := newEnv(t, nil)
			first := e.login("")
			e.store.failOnly.Store(method, true)
			e.store.failing.Store(true)
			_, err := e.refresh(first.RefreshToken)
			got := wantErr(t, err, CodeTemporarilyUnavailable, http.StatusServiceUnavailable)
			if got.RetryAfter <= 0 {
				t.Fatal("no Retry-After on 503")
			}
			e.store.failing.Store(false)
			if _, err := e.refresh(first.RefreshToken); err != nil {
				t.Fatalf("retry after storage recovered: %v", err)
			}
		})
	}
}

func TestRevokedFamilyStaysRevokedOnReuseStorageError(t *testing.T) {
	e := newEnv(t, nil)
	first := e.login("")
	if _, err := e.refresh(first.RefreshToken); err != nil {
		t.Fatal(err)
	}
	e.store.failOnly.Store("RevokeFamily", true)
	e.store.failing.Store(true)
	_, err := e.refresh(first.RefreshToken)
	wantErr(t, err, CodeTemporarilyUnavailable, 503)
	e.store.failing.Store(false)
	_, err = e.refresh(first.RefreshToken)
	wantErr(t, err, CodeInvalidGrant, 400)
	if !e.family(first.RefreshToken).Revoked {
		t.Fatal("family not revoked once storage recovered")
	}
}

// TestRefreshUndoneOnSigningFailure: a refresh that cannot sign gives the
// presented token back.
func TestRefreshUndoneOnSigningFailure(t *testing.T) {
	e := newEnv(t, nil)
	first := e.login("")
	before := e.family(first.RefreshToken)
	e.keys.SetFailing(true)
	_, err := e.refresh(first.RefreshToken)
	if err == nil {
		t.Fatal("refresh succeeded without a signing key")
	}
	e.keys.SetFailing(false)
	if after := e.family(first.RefreshToken); after.RefreshState != before.RefreshState {
		t.Fatalf("state after a failed refresh %+v, want %+v", after.RefreshState, before.RefreshState)
	}
	if _, err := e.refresh(first.RefreshToken); err != nil {
		t.Fatalf("refresh after signing recovered: %v", err)
	}
}

// TestRefreshStateStaysOneRecord: many refreshes of a few sessions leave one
// family per session and nothing else.
func TestRefreshStateStaysOneRecord(t *testing.T) {
	e := newEnv(t, nil)
	const sessions, refreshes = 3, 40
	for range sessions {
		rt := e.login("").RefreshToken
		for range refreshes {
			r, err := e.refresh(rt)
			if err != nil {
				t.Fatal(err)
			}
			rt = r.RefreshToken
		}
	}
	e.clock.Advance(25 * time.Hour)
	st, err := e.store.Purge(e.ctx, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st != (storage.PurgeStats{Families: sessions}) {
		t.Fatalf("purged %+v, want exactly %d families and nothing else", st, sessions)
	}
}

// family returns the family of refresh token rt (even if expired).
func (e *env) family(rt string) storage.RefreshFamily {
	e.t.Helper()
	famID, ok := refreshFamilyID(rt)
	if !ok {
		e.t.Fatalf("not a refresh token: %.12s...", rt)
	}
	fam, err := e.store.Store.GetFamily(e.ctx, famID, e.clock.Now().Add(-48*time.Hour))
	if err != nil {
		e.t.Fatalf("get family: %v", err)
	}
	return fam
}

// TestRefreshGraceAfterIdleExpiry: a grace retry once the session has idled
// out is invalid_grant, like any expired token.
func TestRefreshGraceAfterIdleExpiry(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.RefreshReuseGrace = 10 * time.Minute
		c.RefreshIdleTTL = time.Minute
	})
	first := e.login("")
	if _, err := e.refresh(first.RefreshToken); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Minute)
	_, err := e.refresh(first.RefreshToken)
	if got := wantErr(t, err, CodeInvalidGrant, 400); got.Reason != ReasonTokenInvalid {
		t.Fatalf("reason %s, want %s", got.Reason, ReasonTokenInvalid)
	}
}
