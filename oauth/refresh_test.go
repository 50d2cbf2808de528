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
	old, err := e.store.GetRefreshToken(e.ctx, refreshTokenID(first.RefreshToken), e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !old.Used || old.ChildID != refreshTokenID(second.RefreshToken) {
		t.Fatalf("presented token not marked used with its child: %+v", old)
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
	rec, _ := e.store.GetRefreshToken(e.ctx, refreshTokenID(first.RefreshToken), e.clock.Now())
	fam, err := e.store.GetFamily(e.ctx, rec.FamilyID, e.clock.Now())
	if err != nil || !fam.Revoked || fam.RevokeReason != revokeReuse {
		t.Fatalf("family after reuse: %+v %v", fam, err)
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
	rec, _ := e.store.GetRefreshToken(e.ctx, refreshTokenID(first.RefreshToken), e.clock.Now())
	fam, _ := e.store.GetFamily(e.ctx, rec.FamilyID, e.clock.Now())
	if !fam.Revoked {
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
	// Each grace retry revoked the previous replacement, pointing at the
	// next one: lost -> retry -> retry2.
	for _, link := range []struct {
		name     string
		from, to string
	}{
		{"lost", lost.RefreshToken, retry.RefreshToken},
		{"retry", retry.RefreshToken, retry2.RefreshToken},
	} {
		rec, err := e.store.GetRefreshToken(e.ctx, refreshTokenID(link.from), e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if want := replacedPrefix + refreshTokenID(link.to); !rec.Used || rec.ChildID != want {
			t.Fatalf("%s token: used=%v child=%q, want replaced by the next retry's token", link.name, rec.Used, rec.ChildID)
		}
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

// heldReads is a store whose first two reads of one refresh token wait for
// each other, so two refreshes both see it unused and then race the
// compare-and-swap: one must lose it, deterministically.
type heldReads struct {
	*faultStore
	id     string
	mu     sync.Mutex
	reads  int
	bothIn chan struct{}
}

func (h *heldReads) GetRefreshToken(ctx context.Context, id string, now time.Time) (storage.RefreshToken, error) {
	t, err := h.faultStore.GetRefreshToken(ctx, id, now)
	if id != h.id {
		return t, err
	}
	h.mu.Lock()
	h.reads++
	n := h.reads
	if n == 2 {
		close(h.bothIn)
	}
	h.mu.Unlock()
	if n <= 2 {
		<-h.bothIn
	}
	return t, err
}

// TestRefreshLostRaceRevokesFamily: of two refreshes that both read the
// token as unused, the one that loses the swap revokes the family (RFC 9700
// §4.14), so the winner's new token dies too.
func TestRefreshLostRaceRevokesFamily(t *testing.T) {
	e := newEnv(t, nil)
	first := e.login("")
	held := &heldReads{faultStore: e.store, id: refreshTokenID(first.RefreshToken), bothIn: make(chan struct{})}
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
	rec, err := e.store.GetRefreshToken(e.ctx, refreshTokenID(first.RefreshToken), e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	fam, err := e.store.GetFamily(e.ctx, rec.FamilyID, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !fam.Revoked || fam.RevokeReason != revokeReuse {
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
		{name: "unknown", setup: func(e *env, rt string) (TokenRequest, string) {
			tok, _ := newRefreshToken()
			return refreshReq(tok), ""
		}, code: CodeInvalidGrant, reason: ReasonTokenInvalid},
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
			rec, err := e.store.Store.GetRefreshToken(e.ctx, refreshTokenID(first.RefreshToken), e.clock.Now().Add(-48*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			fam, err := e.store.Store.GetFamily(e.ctx, rec.FamilyID, e.clock.Now().Add(-48*time.Hour))
			if err != nil {
				t.Fatal(err)
			}
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
	rec, err := e.store.GetRefreshToken(e.ctx, refreshTokenID(r.RefreshToken), e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := e.clock.Now().Add(10 * time.Hour); !rec.ExpiresAt.Equal(want) {
		t.Fatalf("child expires %v, want idle end %v", rec.ExpiresAt, want)
	}
	e.clock.Advance(9 * time.Hour)
	if r, err = e.refresh(r.RefreshToken); err != nil {
		t.Fatal(err)
	}
	if rec, err = e.store.GetRefreshToken(e.ctx, refreshTokenID(r.RefreshToken), e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if !rec.ExpiresAt.Equal(famEnd) {
		t.Fatalf("child expires %v, want family end %v", rec.ExpiresAt, famEnd)
	}
}

// TestRefreshStorageFailureKeepsToken: when storing the child fails, the
// presented token is not consumed, so the client can retry.
func TestRefreshStorageFailureKeepsToken(t *testing.T) {
	for _, method := range []string{"CreateRefreshToken", "MarkRefreshTokenUsed", "GetRefreshToken", "GetFamily", "GetUser"} {
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
	rec, _ := e.store.GetRefreshToken(e.ctx, refreshTokenID(first.RefreshToken), e.clock.Now())
	fam, _ := e.store.GetFamily(e.ctx, rec.FamilyID, e.clock.Now())
	if !fam.Revoked {
		t.Fatal("family not revoked once storage recovered")
	}
	var _ storage.RefreshFamily = fam
}
