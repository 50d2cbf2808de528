package oauth

import (
	"context"
	"sync"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// DefaultClientCacheTTL is how long a client registration read from the
// store is reused by client authentication (Config.ClientCacheTTL).
const DefaultClientCacheTTL = 5 * time.Second

// clientCacheMax bounds the cached registrations; when full, the cache is
// emptied (registrations are few, so this only happens under churn).
const clientCacheMax = 4096

// clientCache keeps client registrations read from the store for a short
// time, so that client authentication, which every token request does,
// costs no storage round trip while a registration is fresh. Only
// registrations that exist are kept: an unknown client id is looked up
// every time (failed authentications are limited per address instead), so
// a client added by another process is seen at once. A change made by
// another process (deletion, new secret, new grants or scopes) is seen
// once the cached copy is older than the TTL, or at once when the change
// is made through this process (Service.ForgetClient); and a secret that
// does not match a cached copy is checked again against the store, so a
// new secret works at once everywhere. Safe for concurrent use.
type clientCache struct {
	ttl time.Duration // <= 0: no caching
	mu  sync.Mutex
	m   map[string]cachedClient
}

type cachedClient struct {
	c       storage.Client
	fetched time.Time
}

// get returns the cached registration of id when it was read from the
// store less than ttl before now. The record is shared: callers must not
// modify its slices.
func (cc *clientCache) get(id string, now time.Time) (storage.Client, bool) {
	if cc.ttl <= 0 {
		return storage.Client{}, false
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	e, ok := cc.m[id]
	if !ok {
		return storage.Client{}, false
	}
	if age := now.Sub(e.fetched); age >= cc.ttl || age < 0 {
		delete(cc.m, id)
		return storage.Client{}, false
	}
	return e.c, true
}

// put caches c as read from the store at fetched.
func (cc *clientCache) put(c storage.Client, fetched time.Time) {
	if cc.ttl <= 0 {
		return
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.m == nil || len(cc.m) >= clientCacheMax {
		cc.m = make(map[string]cachedClient)
	}
	cc.m[c.ID] = cachedClient{c: c, fetched: fetched}
}

// forget drops the cached registration of id.
func (cc *clientCache) forget(id string) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	delete(cc.m, id)
}

// ForgetClient drops the registration of client id from the client cache,
// so the next authentication reads it from the store: call it after
// changing the client (AdminConfig.ClientChanged does). Safe for
// concurrent use.
func (s *Service) ForgetClient(id string) { s.clients.forget(id) }

// cachedClient returns the registration of client id, from the cache while
// it is fresh (see clientCache), else from the store; cached reports which.
// Store errors are returned as they are (storage.ErrNotFound for an
// unknown id).
func (s *Service) cachedClient(ctx context.Context, id string) (c storage.Client, cached bool, err error) {
	now := s.now()
	if c, ok := s.clients.get(id, now); ok {
		return c, true, nil
	}
	c, err = s.store.GetClient(ctx, id)
	if err != nil {
		return storage.Client{}, false, err
	}
	s.clients.put(c, now)
	return c, false, nil
}
