package oauth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// lifetimeOf returns exp - iat of a JWT, in seconds.
func lifetimeOf(t *testing.T, tok string) int64 {
	t.Helper()
	_, c := decodeJWT(t, tok)
	exp, err := c["exp"].(json.Number).Int64()
	if err != nil {
		t.Fatal(err)
	}
	iat, err := c["iat"].(json.Number).Int64()
	if err != nil {
		t.Fatal(err)
	}
	return exp - iat
}

// TestSetLifetimes: after SetLifetimes every grant, refresh, code exchange
// and new SSO session uses the new lifetimes; tokens issued before keep
// theirs.
func TestSetLifetimes(t *testing.T) {
	e, _ := newSSOEnv(t)
	before := e.login("openid")
	if before.ExpiresIn != int64(DefaultAccessTTL/time.Second) {
		t.Fatalf("expires_in before = %d", before.ExpiresIn)
	}
	next := Lifetimes{AccessTTL: 7 * time.Minute, IDTokenTTL: 2 * time.Hour, RefreshTTL: 48 * time.Hour,
		RefreshIdleTTL: 3 * time.Hour, SessionTTL: 12 * time.Hour, SessionIdleTTL: time.Hour}
	if err := e.svc.SetLifetimes(next); err != nil {
		t.Fatal(err)
	}
	if got := e.svc.Lifetimes(); got != next {
		t.Fatalf("Lifetimes() = %+v, want %+v", got, next)
	}
	if got := e.svc.Config().AccessTTL; got != next.AccessTTL {
		t.Fatalf("Config().AccessTTL = %s", got)
	}

	now := e.clock.Now()
	pw := e.login("openid")
	if pw.ExpiresIn != 420 || lifetimeOf(t, pw.AccessToken) != 420 {
		t.Errorf("password grant: expires_in %d, access token lifetime %d; want 420", pw.ExpiresIn, lifetimeOf(t, pw.AccessToken))
	}
	if got := lifetimeOf(t, pw.IDToken); got != 7200 {
		t.Errorf("id token lifetime %d, want 7200", got)
	}
	fam := e.family(pw.RefreshToken)
	if !fam.ExpiresAt.Equal(now.Add(48*time.Hour)) || !fam.CurrentExpiresAt.Equal(now.Add(3*time.Hour)) {
		t.Errorf("family ends %s, token idles out %s; want +48h, +3h from %s", fam.ExpiresAt, fam.CurrentExpiresAt, now)
	}
	if got := lifetimeOf(t, before.AccessToken); got != 300 {
		t.Errorf("token issued before the change: lifetime %d, want 300", got)
	}

	e.clock.Advance(time.Minute)
	ref, err := e.refresh(pw.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if ref.ExpiresIn != 420 || lifetimeOf(t, ref.AccessToken) != 420 {
		t.Errorf("refresh: expires_in %d, want 420", ref.ExpiresIn)
	}
	if fam := e.family(ref.RefreshToken); !fam.CurrentExpiresAt.Equal(e.clock.Now().Add(3 * time.Hour)) {
		t.Errorf("refreshed token idles out %s, want +3h from %s", fam.CurrentExpiresAt, e.clock.Now())
	}

	cookie, code := e.appCode(appParams())
	sess, err := e.store.GetSession(e.ctx, sessionHash(cookie), e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !sess.ExpiresAt.Equal(e.clock.Now().Add(12*time.Hour)) || !sess.IdleExpiresAt.Equal(e.clock.Now().Add(time.Hour)) {
		t.Errorf("session ends %s, idles out %s; want +12h, +1h from %s", sess.ExpiresAt, sess.IdleExpiresAt, e.clock.Now())
	}
	ex, err := e.exchange(ClientCredentials{ID: appID}, code, appCB, testVerif)
	if err != nil {
		t.Fatal(err)
	}
	if ex.ExpiresIn != 420 || lifetimeOf(t, ex.IDToken) != 7200 {
		t.Errorf("code exchange: expires_in %d, id token lifetime %d", ex.ExpiresIn, lifetimeOf(t, ex.IDToken))
	}
	if fam := e.family(ex.RefreshToken); !fam.ExpiresAt.Equal(e.clock.Now().Add(48 * time.Hour)) {
		t.Errorf("code-flow family ends %s, want +48h", fam.ExpiresAt)
	}
}

// TestSetLifetimesInvalid: an invalid set changes nothing, not even the
// fields that were valid.
func TestSetLifetimesInvalid(t *testing.T) {
	good := Lifetimes{AccessTTL: 7 * time.Minute, IDTokenTTL: time.Hour, RefreshTTL: 24 * time.Hour,
		SessionTTL: 24 * time.Hour, SessionIdleTTL: 8 * time.Hour}
	for _, tc := range []struct {
		name string
		mod  func(*Lifetimes)
		want string
	}{
		{"zero access ttl", func(l *Lifetimes) { l.AccessTTL = 0 }, "access ttl"},
		{"negative id token ttl", func(l *Lifetimes) { l.IDTokenTTL = -time.Second }, "id token ttl"},
		{"zero refresh ttl", func(l *Lifetimes) { l.RefreshTTL = 0 }, "refresh ttl"},
		{"refresh idle over refresh ttl", func(l *Lifetimes) { l.RefreshIdleTTL = 25 * time.Hour }, "exceeds refresh ttl"},
		{"negative refresh idle", func(l *Lifetimes) { l.RefreshIdleTTL = -time.Second }, "refresh idle ttl is negative"},
		{"negative reuse grace", func(l *Lifetimes) { l.RefreshReuseGrace = -time.Second }, "reuse grace"},
		{"session idle over session ttl", func(l *Lifetimes) { l.SessionIdleTTL = 25 * time.Hour }, "exceeds session ttl"},
		{"zero session idle", func(l *Lifetimes) { l.SessionIdleTTL = 0 }, "session idle ttl"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			if err := e.svc.SetLifetimes(good); err != nil {
				t.Fatal(err)
			}
			bad := good
			bad.AccessTTL = 9 * time.Minute // valid on its own: must not apply either
			tc.mod(&bad)
			err := e.svc.SetLifetimes(bad)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("SetLifetimes(%+v) = %v, want an error naming %q", bad, err, tc.want)
			}
			if got := e.svc.Lifetimes(); got != good {
				t.Fatalf("after a refused set: %+v, want %+v", got, good)
			}
			if r := e.login(""); r.ExpiresIn != 420 {
				t.Fatalf("expires_in after a refused set = %d, want 420", r.ExpiresIn)
			}
		})
	}
}

// TestSetLifetimesConcurrent swaps the lifetimes while tokens are issued:
// every response's expires_in matches its token's exp - iat (one snapshot
// per grant), and is one of the two lifetimes. Run with -race it also
// shows the swap is free of data races.
func TestSetLifetimesConcurrent(t *testing.T) {
	e := newEnv(t, nil)
	short := e.svc.Lifetimes()
	long := short
	long.AccessTTL = 7 * time.Minute
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		problems []string
	)
	report := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		problems = append(problems, fmt.Sprintf(format, args...))
	}
	var issuers sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		issuers.Go(func() {
			for range 50 {
				r, err := e.svc.Token(e.ctx, TokenRequest{GrantType: GrantClientCredentials, Client: basic(ccID, ccSecret), Scope: "api:read"})
				if err != nil {
					report("token: %v", err)
					return
				}
				var c struct{ Exp, Iat int64 }
				parts := strings.Split(r.AccessToken, ".")
				payload, err := base64.RawURLEncoding.DecodeString(parts[1])
				if err != nil || json.Unmarshal(payload, &c) != nil {
					report("undecodable access token")
					return
				}
				if r.ExpiresIn != c.Exp-c.Iat || (r.ExpiresIn != 300 && r.ExpiresIn != 420) {
					report("expires_in %d, token lifetime %d", r.ExpiresIn, c.Exp-c.Iat)
					return
				}
			}
		})
	}
	// Swap until the issuers are done, so swaps land inside grants.
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			l := short
			if i%2 == 0 {
				l = long
			}
			if err := e.svc.SetLifetimes(l); err != nil {
				report("SetLifetimes: %v", err)
				return
			}
			runtime.Gosched()
		}
	})
	issuers.Wait()
	close(stop)
	wg.Wait()
	if len(problems) > 0 {
		t.Fatalf("%d problems, first: %s", len(problems), problems[0])
	}
}
