package verify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// remoteVerifier builds a verifier from the test issuer's discovery.
func remoteVerifier(t *testing.T, ti *testIssuer, clock *fakeClock, opts ...Option) *Verifier {
	t.Helper()
	opts = append([]Option{WithAudience("api"), WithClock(clock.Now), WithHTTPClient(ti.srv.Client())}, opts...)
	v, err := New(t.Context(), ti.srv.URL, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNewDiscovery(t *testing.T) {
	fixtureKeys()
	ek := newTestKey(ES256, ecA)
	good := newTestIssuer(t, ek)
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request, url string)
		issuer  func(url string) string
		ok      bool
	}{
		{"good", nil, nil, true},
		{"issuer with trailing slash differs", nil, func(u string) string { return u + "/" }, false},
		{"discovery names another issuer", func(w http.ResponseWriter, r *http.Request, u string) {
			_, _ = w.Write([]byte(`{"issuer":"https://evil.example.com","jwks_uri":"` + good.srv.URL + `/.well-known/jwks.json"}`))
		}, nil, false},
		{"discovery 404", func(w http.ResponseWriter, r *http.Request, u string) { http.NotFound(w, r) }, nil, false},
		{"discovery not JSON", func(w http.ResponseWriter, r *http.Request, u string) { _, _ = w.Write([]byte("<html>")) }, nil, false},
		{"jwks_uri not http", func(w http.ResponseWriter, r *http.Request, u string) {
			_, _ = w.Write([]byte(`{"issuer":"` + u + `","jwks_uri":"file:///etc/passwd"}`))
		}, nil, false},
		{"jwks down", func(w http.ResponseWriter, r *http.Request, u string) {
			_, _ = w.Write([]byte(`{"issuer":"` + u + `","jwks_uri":"` + u + `/nothing"}`))
		}, nil, false},
		{"jwks without usable keys", func(w http.ResponseWriter, r *http.Request, u string) {
			if r.URL.Path == "/jwks" {
				_, _ = w.Write([]byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`))
				return
			}
			_, _ = w.Write([]byte(`{"issuer":"` + u + `","jwks_uri":"` + u + `/jwks"}`))
		}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := good.srv.URL
			if tc.handler != nil {
				var srv *httptest.Server
				srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/nothing" {
						http.Error(w, "down", http.StatusBadGateway)
						return
					}
					tc.handler(w, r, srv.URL)
				}))
				t.Cleanup(srv.Close)
				url = srv.URL
			}
			issuer := url
			if tc.issuer != nil {
				issuer = tc.issuer(url)
			}
			_, err := New(t.Context(), issuer, WithAudience("api"))
			if (err == nil) != tc.ok {
				t.Fatalf("New error = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestRotationPicksUpNewKidWithOneFetch(t *testing.T) {
	fixtureKeys()
	old, next := newTestKey(ES256, ecA), newTestKey(RS256, rsaA)
	ti := newTestIssuer(t, old)
	clock := newFakeClock()
	v := remoteVerifier(t, ti, clock)
	if got := ti.fetches.Load(); got != 1 {
		t.Fatalf("fetches after New = %d, want 1", got)
	}
	clock.Advance(15 * time.Second)
	ti.setKeys(old, next)

	// Hold the JWKS response until every goroutine has asked, so they all
	// wait on the same fetch.
	gate, arrived := make(chan struct{}), make(chan struct{}, 1)
	ti.setGate(gate)
	ti.mu.Lock()
	ti.onRequest = func() { arrived <- struct{}{} }
	ti.mu.Unlock()

	const n = 64
	tok := mint(next, ti.srv.URL, clock.Now(), tokenSpec{})
	var wg sync.WaitGroup
	errs := make(chan error, n)
	started := make(chan struct{}, n)
	for range n {
		wg.Go(func() {
			started <- struct{}{}
			_, err := v.Verify(t.Context(), tok)
			errs <- err
		})
	}
	for range n {
		<-started
	}
	<-arrived
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Verify: %v", err)
		}
	}
	if got := ti.fetches.Load(); got != 2 {
		t.Errorf("fetches = %d, want 2 (one at New, one for the new kid)", got)
	}
}

func TestUnknownKidRefetchRateLimited(t *testing.T) {
	fixtureKeys()
	ek := newTestKey(ES256, ecA)
	ti := newTestIssuer(t, ek)
	clock := newFakeClock()
	v := remoteVerifier(t, ti, clock)
	garbage := func(i int) string {
		k := &testKey{kid: "garbage-" + itoa(int64(i)), alg: ES256, priv: ecB}
		return mint(k, ti.srv.URL, clock.Now(), tokenSpec{})
	}
	steps := []struct {
		name    string
		advance time.Duration
		fetches int32
	}{
		{"within 10s of New", 5 * time.Second, 1},
		{"10s after New", 5 * time.Second, 2},
		{"5s later", 5 * time.Second, 2},
		{"10s after the last fetch", 5 * time.Second, 3},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			clock.Advance(st.advance)
			for i := range 20 {
				_, err := v.Verify(t.Context(), garbage(i))
				if !errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrKeySetUnavailable) {
					t.Fatalf("Verify = %v, want ErrUnknownKey only", err)
				}
			}
			if got := ti.fetches.Load(); got != st.fetches {
				t.Errorf("fetches = %d, want %d", got, st.fetches)
			}
		})
	}
}

func TestIssuerDownKeepsServingKeys(t *testing.T) {
	fixtureKeys()
	ek := newTestKey(ES256, ecA)
	ti := newTestIssuer(t, ek)
	clock := newFakeClock()
	v := remoteVerifier(t, ti, clock, WithCacheSize(0))
	ti.setDown(true)

	// Past max-age (300 s): the refresh fails, the cached keys still serve.
	clock.Advance(10 * time.Minute)
	if _, err := v.Verify(t.Context(), mint(ek, ti.srv.URL, clock.Now(), tokenSpec{})); err != nil {
		t.Fatalf("Verify with issuer down: %v", err)
	}
	if got := ti.fetches.Load(); got != 2 {
		t.Errorf("fetches = %d, want 2", got)
	}
	// An unknown kid now says the key set is unavailable.
	other := newTestKey(ES256, ecB)
	_, err := v.Verify(t.Context(), mint(other, ti.srv.URL, clock.Now(), tokenSpec{}))
	if !errors.Is(err, ErrUnknownKey) || !errors.Is(err, ErrKeySetUnavailable) {
		t.Errorf("unknown kid with issuer down = %v, want ErrUnknownKey and ErrKeySetUnavailable", err)
	}
	// Still down an hour later: still serving, retrying in the background.
	for range 6 {
		clock.Advance(11 * time.Second)
		if _, err := v.Verify(t.Context(), mint(ek, ti.srv.URL, clock.Now(), tokenSpec{})); err != nil {
			t.Fatalf("Verify with issuer down: %v", err)
		}
		v.remote.wait()
	}
	// Garbage from a recovering issuer does not replace the keys either.
	ti.setDown(false)
	for _, body := range []string{`{"keys":[]}`, `not json`, `{"keys":[{"kty":"oct","kid":"x","k":"YQ"}]}`} {
		ti.setBody(body)
		clock.Advance(11 * time.Second)
		if _, err := v.Verify(t.Context(), mint(ek, ti.srv.URL, clock.Now(), tokenSpec{})); err != nil {
			t.Fatalf("Verify after bad JWKS %q: %v", body, err)
		}
		v.remote.wait()
	}
	// Recovered: a fetch succeeds and the set is healthy again.
	ti.setBody("")
	clock.Advance(11 * time.Second)
	if _, err := v.Verify(t.Context(), mint(ek, ti.srv.URL, clock.Now(), tokenSpec{})); err != nil {
		t.Fatal(err)
	}
	v.remote.wait()
	if !v.remote.healthy.Load() {
		t.Error("key set not healthy after the issuer recovered")
	}
}

func TestBackgroundRefreshBeforeExpiry(t *testing.T) {
	fixtureKeys()
	ek := newTestKey(ES256, ecA)
	ti := newTestIssuer(t, ek)
	clock := newFakeClock()
	v := remoteVerifier(t, ti, clock)
	tok := mint(ek, ti.srv.URL, clock.Now(), tokenSpec{})
	first, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	// 80% of max-age=300: a cache hit starts a refresh and does not wait
	// for it (the gate holds the response).
	clock.Advance(241 * time.Second)
	gate := make(chan struct{})
	ti.setGate(gate)
	again, err := v.Verify(t.Context(), tok)
	if err != nil || again != first {
		t.Fatalf("cached Verify = %p, %v; want %p", again, err, first)
	}
	close(gate)
	v.remote.wait()
	if got, nm := ti.fetches.Load(), ti.notModified.Load(); got != 2 || nm != 1 {
		t.Errorf("fetches = %d (304: %d), want 2 with one 304 revalidation", got, nm)
	}
	// The 304 extended the keys: still the same key, cached token still hits.
	if again, err := v.Verify(t.Context(), tok); err != nil || again != first {
		t.Errorf("after revalidation Verify = %p, %v", again, err)
	}
}

func TestRevokedKeyDropsCachedTokens(t *testing.T) {
	fixtureKeys()
	revoked, kept := newTestKey(ES256, ecA), newTestKey(ES256, ecB)
	ti := newTestIssuer(t, revoked, kept)
	clock := newFakeClock()
	v := remoteVerifier(t, ti, clock)
	tokRevoked := mint(revoked, ti.srv.URL, clock.Now(), tokenSpec{})
	tokKept := mint(kept, ti.srv.URL, clock.Now(), tokenSpec{})
	for _, tok := range []string{tokRevoked, tokKept} {
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.cache.len(); n != 2 {
		t.Fatalf("cache holds %d tokens, want 2", n)
	}
	ti.setKeys(kept) // sigil keys revoke
	clock.Advance(241 * time.Second)
	if _, err := v.Verify(t.Context(), tokKept); err != nil { // starts the refresh
		t.Fatal(err)
	}
	v.remote.wait()
	if n := v.cache.len(); n != 1 {
		t.Errorf("cache holds %d tokens after the refresh, want 1", n)
	}
	if _, err := v.Verify(t.Context(), tokRevoked); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("token of revoked key = %v, want ErrUnknownKey", err)
	}
	if _, err := v.Verify(t.Context(), tokKept); err != nil {
		t.Errorf("token of kept key: %v", err)
	}
}

func TestWaitHonoursCallerContext(t *testing.T) {
	fixtureKeys()
	old, next := newTestKey(ES256, ecA), newTestKey(ES256, ecB)
	ti := newTestIssuer(t, old)
	clock := newFakeClock()
	v := remoteVerifier(t, ti, clock)
	clock.Advance(15 * time.Second)
	ti.setKeys(old, next)
	gate, arrived := make(chan struct{}), make(chan struct{}, 1)
	ti.setGate(gate)
	ti.mu.Lock()
	ti.onRequest = func() { arrived <- struct{}{} }
	ti.mu.Unlock()
	tok := mint(next, ti.srv.URL, clock.Now(), tokenSpec{})

	patient := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), tok)
		patient <- err
	}()
	<-arrived
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := v.Verify(ctx, tok); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with a cancelled context = %v, want context.Canceled", err)
	}
	close(gate)
	if err := <-patient; err != nil {
		t.Errorf("patient caller: %v", err)
	}
}

func TestJWKSCacheTTL(t *testing.T) {
	r := &remoteKeySet{minTTL: time.Minute, maxTTL: 24 * time.Hour}
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"max-age", http.Header{"Cache-Control": {"public, max-age=300"}}, 5 * time.Minute},
		{"quoted max-age", http.Header{"Cache-Control": {`max-age="600"`}}, 10 * time.Minute},
		{"clamped up", http.Header{"Cache-Control": {"public, max-age=5"}}, time.Minute},
		{"clamped down", http.Header{"Cache-Control": {"max-age=99999999999"}}, 24 * time.Hour},
		{"age subtracted", http.Header{"Cache-Control": {"max-age=600"}, "Age": {"120"}}, 8 * time.Minute},
		{"no header", http.Header{}, time.Minute},
		{"no-store", http.Header{"Cache-Control": {"no-store, max-age=600"}}, time.Minute},
		{"no-cache", http.Header{"Cache-Control": {"no-cache"}}, time.Minute},
		{"garbage", http.Header{"Cache-Control": {"max-age=soon"}}, time.Minute},
		{"second header line", http.Header{"Cache-Control": {"public", "max-age=7200"}}, 2 * time.Hour},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.ttl(tc.header); got != tc.want {
				t.Errorf("ttl = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseJWKS(t *testing.T) {
	fixtureKeys()
	ek, rk := newTestKey(ES256, ecA), newTestKey(RS256, rsaA)
	jwk := func(k *testKey, edit func(map[string]string)) map[string]string {
		m := jwkOf(k)
		if edit != nil {
			edit(m)
		}
		return m
	}
	set := func(keys ...any) string { return jsonString(map[string]any{"keys": keys}) }
	tests := []struct {
		name string
		jwks string
		n    int // usable keys; -1: error
	}{
		{"sigil jwks", set(jwk(ek, nil), jwk(rk, nil)), 2},
		{"no alg inferred", set(jwk(ek, func(m map[string]string) { delete(m, "alg") })), 1},
		{"use enc skipped", set(jwk(ek, func(m map[string]string) { m["use"] = "enc" })), 0},
		{"symmetric skipped", set(map[string]string{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}), 0},
		{"no kid skipped", set(jwk(ek, func(m map[string]string) { delete(m, "kid") })), 0},
		{"P-384 skipped", set(jwk(ek, func(m map[string]string) { m["crv"] = "P-384"; m["alg"] = "ES384" })), 0},
		{"alg mismatch skipped", set(jwk(rk, func(m map[string]string) { m["alg"] = "PS256" })), 0},
		{"duplicate kid", set(jwk(ek, nil), jwk(ek, nil)), -1},
		{"point off the curve", set(jwk(ek, func(m map[string]string) { m["y"] = m["x"] })), -1},
		{"short x", set(jwk(ek, func(m map[string]string) { m["x"] = "AQ" })), -1},
		{"rsa 1024 bits", set(jwk(rk, func(m map[string]string) { m["n"] = m["n"][:171] })), -1},
		{"no keys member", `{}`, -1},
		{"not json", `[`, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := ParseJWKS([]byte(tc.jwks))
			if tc.n < 0 {
				if err == nil {
					t.Fatalf("ParseJWKS accepted it: %d keys", len(keys))
				}
				return
			}
			if err != nil || len(keys) != tc.n {
				t.Fatalf("ParseJWKS = %d keys, %v; want %d", len(keys), err, tc.n)
			}
		})
	}
}

// TestJWKSOnlyFrom200 serves a valid JWKS, holding a new kid, with other
// statuses than 200: neither New nor a refresh for the unknown kid may take
// keys from it (an error page or a redirect body is not the key set).
func TestJWKSOnlyFrom200(t *testing.T) {
	fixtureKeys()
	old, next := newTestKey(ES256, ecA), newTestKey(RS256, rsaA)
	for _, status := range []int{http.StatusCreated, http.StatusNonAuthoritativeInfo, http.StatusPartialContent,
		http.StatusNotFound, http.StatusInternalServerError, http.StatusServiceUnavailable} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			ti := newTestIssuer(t, old, next)
			ti.status = status
			if _, err := New(t.Context(), ti.srv.URL, WithAudience("api"), WithHTTPClient(ti.srv.Client())); err == nil {
				t.Fatalf("New took the JWKS of a %d response", status)
			}

			ti = newTestIssuer(t, old)
			clock := newFakeClock()
			v := remoteVerifier(t, ti, clock)
			clock.Advance(time.Hour)
			ti.mu.Lock()
			ti.keys, ti.status = []*testKey{old, next}, status
			ti.mu.Unlock()
			if _, err := v.Verify(t.Context(), mint(next, ti.srv.URL, clock.Now(), tokenSpec{})); err == nil {
				t.Fatalf("a token under a kid only served with %d verified", status)
			}
		})
	}
}
