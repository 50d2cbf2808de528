package verify

import (
	"errors"
	"testing"
	"time"
)

func TestCachedVerifyDoesNotAllocate(t *testing.T) {
	fixtureKeys()
	for _, k := range []*testKey{newTestKey(ES256, ecA), newTestKey(RS256, rsaA)} {
		t.Run(k.alg, func(t *testing.T) {
			clock := newFakeClock()
			v := staticVerifier(t, clock, testIss, []*testKey{k})
			tok := mint(k, testIss, clock.Now(), tokenSpec{})
			first, err := v.Verify(t.Context(), tok)
			if err != nil {
				t.Fatal(err)
			}
			ctx := t.Context()
			allocs := testing.AllocsPerRun(200, func() {
				c, err := v.Verify(ctx, tok)
				if err != nil || c != first {
					t.Fatalf("cached Verify = %p, %v", c, err)
				}
			})
			if allocs != 0 {
				t.Errorf("cached Verify allocates %v times", allocs)
			}
		})
	}
}

func TestCacheIsBounded(t *testing.T) {
	fixtureKeys()
	ek := newTestKey(ES256, ecA)
	clock := newFakeClock()
	const size = 40
	v := staticVerifier(t, clock, testIss, []*testKey{ek}, WithCacheSize(size))
	for i := range 300 {
		tok := mint(ek, testIss, clock.Now(), tokenSpec{claims: map[string]any{"jti": itoa(int64(i))}})
		if _, err := v.Verify(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
		if n := v.cache.len(); n > size {
			t.Fatalf("after %d tokens the cache holds %d, bound %d", i+1, n, size)
		}
	}
}

func TestCacheEvictsDeadEntriesFirst(t *testing.T) {
	fixtureKeys()
	ek := newTestKey(ES256, ecA)
	clock := newFakeClock()
	v := staticVerifier(t, clock, testIss, []*testKey{ek}, WithCacheSize(1))
	short := mint(ek, testIss, clock.Now(), tokenSpec{claims: map[string]any{"exp": clock.Now().Add(time.Minute).Unix()}})
	if _, err := v.Verify(t.Context(), short); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	long := mint(ek, testIss, clock.Now(), tokenSpec{})
	if _, err := v.Verify(t.Context(), long); err != nil {
		t.Fatal(err)
	}
	h := v.cache.hash(long)
	if _, ok := v.cache.get(h, long); !ok || v.cache.len() != 1 {
		t.Errorf("cache after eviction: len %d, long cached %v", v.cache.len(), ok)
	}
}

func TestCacheComparesWholeToken(t *testing.T) {
	fixtureKeys()
	key, _ := NewKey("k", ES256, ecA.Public())
	c := newTokenCache(16)
	c.put(42, "token-a", &Claims{}, key, 1<<62, 0)
	if _, ok := c.get(42, "token-b"); ok {
		t.Error("a different token with the same hash hit the cache")
	}
	if _, ok := c.get(42, "token-a"); !ok {
		t.Error("the cached token missed")
	}
}

func TestWithdrawnKeyRefusesCachedTokens(t *testing.T) {
	fixtureKeys()
	ek := newTestKey(ES256, ecA)
	key, _ := NewKey(ek.kid, ES256, ecA.Public())
	set, _ := NewStaticKeySet(key)
	clock := newFakeClock()
	v, err := New(t.Context(), testIss, WithKeySet(set), WithAudience("api"), WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(ek, testIss, clock.Now(), tokenSpec{})
	if _, err := v.Verify(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	key.Withdraw()
	if _, err := v.Verify(t.Context(), tok); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Verify after Withdraw = %v, want ErrUnknownKey", err)
	}
}

func TestCacheOff(t *testing.T) {
	fixtureKeys()
	ek := newTestKey(ES256, ecA)
	clock := newFakeClock()
	v := staticVerifier(t, clock, testIss, []*testKey{ek}, WithCacheSize(0))
	tok := mint(ek, testIss, clock.Now(), tokenSpec{})
	a, err1 := v.Verify(t.Context(), tok)
	b, err2 := v.Verify(t.Context(), tok)
	if err1 != nil || err2 != nil || a == b || v.cache != nil {
		t.Errorf("without a cache: %p %v, %p %v", a, err1, b, err2)
	}
}
