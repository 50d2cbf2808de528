package verify

import (
	"hash/maphash"
	"sync"
)

// tokenCache remembers verified tokens until their expiry. It is keyed by a
// seeded hash of the token, and a hit compares the full token, so a hash
// collision is only a miss. Its entry count is bounded: when a shard is full,
// an insert evicts an expired or withdrawn entry, or else the one expiring
// first, among a few sampled. Safe for concurrent use; the hit path takes a
// read lock on one shard and does not allocate.
type tokenCache struct {
	seed   maphash.Seed
	shards []cacheShard
	mask   uint64
	per    int // capacity of each shard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[uint64]cacheEntry
	_  [96]byte // keep shards on separate cache lines (128 bytes each)
}

type cacheEntry struct {
	token    string
	claims   *Claims
	key      *Key
	deadline int64 // Unix nanoseconds at which the token counts as expired
}

// evictSample is how many entries an insert into a full shard looks at.
const evictSample = 8

// newTokenCache returns a cache for about size entries (at least one per
// shard), or nil when size <= 0.
func newTokenCache(size int) *tokenCache {
	if size <= 0 {
		return nil
	}
	n := 1
	for n < 64 && n*16 <= size { // at least 16 entries per shard
		n *= 2
	}
	per := (size + n - 1) / n
	c := &tokenCache{seed: maphash.MakeSeed(), shards: make([]cacheShard, n), mask: uint64(n - 1), per: per}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]cacheEntry, per)
	}
	return c
}

func (c *tokenCache) hash(token string) uint64 { return maphash.String(c.seed, token) }

func (c *tokenCache) shard(h uint64) *cacheShard { return &c.shards[(h>>32)&c.mask] }

// get returns the cached claims for token and their key, or ok=false. The
// caller checks the deadline and the key.
func (c *tokenCache) get(h uint64, token string) (e cacheEntry, ok bool) {
	s := c.shard(h)
	s.mu.RLock()
	e, ok = s.m[h]
	s.mu.RUnlock()
	if !ok || e.token != token {
		return cacheEntry{}, false
	}
	return e, true
}

// remove drops the entry for token, if it is still the one cached under h.
func (c *tokenCache) remove(h uint64, token string) {
	s := c.shard(h)
	s.mu.Lock()
	if e, ok := s.m[h]; ok && e.token == token {
		delete(s.m, h)
	}
	s.mu.Unlock()
}

// put caches the verified claims of token. token must be the cache's own
// copy (Verify makes it), so that the cache never pins a caller's buffer.
func (c *tokenCache) put(h uint64, token string, claims *Claims, key *Key, deadline, now int64) {
	e := cacheEntry{token: token, claims: claims, key: key, deadline: deadline}
	s := c.shard(h)
	s.mu.Lock()
	if _, exists := s.m[h]; !exists && len(s.m) >= c.per {
		s.evictOne(now)
	}
	s.m[h] = e
	s.mu.Unlock()
}

// evictOne removes one entry, preferring dead ones. Map iteration starts at a
// random place, so the sample is random. Called with s.mu held.
func (s *cacheShard) evictOne(now int64) {
	var victim uint64
	earliest := int64(0)
	n := 0
	for h, e := range s.m {
		if e.deadline <= now || e.key.Withdrawn() {
			delete(s.m, h)
			return
		}
		if n == 0 || e.deadline < earliest {
			victim, earliest = h, e.deadline
		}
		if n++; n == evictSample {
			break
		}
	}
	delete(s.m, victim)
}

// purgeWithdrawn drops every entry whose key has been withdrawn. It locks
// each shard in turn and runs in time proportional to the entry count.
func (c *tokenCache) purgeWithdrawn() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for h, e := range s.m {
			if e.key.Withdrawn() {
				delete(s.m, h)
			}
		}
		s.mu.Unlock()
	}
}

// len returns the number of entries, for tests.
func (c *tokenCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
