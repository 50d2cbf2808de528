package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MinRefetchInterval is the least time between two JWKS fetches of a
// Verifier built from discovery, whatever triggers them (an unknown kid
// included), so tokens with garbage kids cannot make it hammer the issuer.
// An issuer must therefore publish a new key at least this long (and at
// least its JWKS max-age) before signing with it: a verifier that fetched
// the JWKS just before the key appeared cannot fetch it again sooner, and
// refuses tokens signed with it until then. Sigil's configuration
// validation requires keys.prepublish to be at least this.
const MinRefetchInterval = 10 * time.Second

const (
	// maxDocumentSize caps the discovery and JWKS documents read.
	maxDocumentSize = 1 << 20
	// defaultFetchTimeout bounds a background fetch when the HTTP client has
	// no timeout of its own.
	defaultFetchTimeout = 30 * time.Second
)

// remoteKeySet is the KeySet of a Verifier built from discovery: the
// issuer's JWKS, cached for its Cache-Control max-age (clamped to
// [minTTL, maxTTL]) and refreshed in the background when 80% of that has
// passed. An unknown kid triggers an immediate refetch shared by all callers
// waiting for it. Fetches are at least MinRefetchInterval apart. A failed fetch
// keeps the previous keys; keys missing from a successful fetch are withdrawn.
type remoteKeySet struct {
	url            string
	client         *http.Client
	now            func() time.Time
	minTTL, maxTTL time.Duration
	baseCtx        context.Context // for background fetches
	timeout        time.Duration
	onWithdraw     func() // called after a fetch withdrew keys

	state     atomic.Pointer[keyState]
	nextCheck atomic.Int64 // Unix ns before which tick has nothing to do
	healthy   atomic.Bool  // the last fetch succeeded

	mu          sync.Mutex
	inflight    *fetchCall
	lastAttempt int64 // Unix ns when the last fetch started
	lastErr     error
}

var (
	_ KeySet     = (*remoteKeySet)(nil)
	_ fastKeySet = (*remoteKeySet)(nil)
)

// keyState is one immutable snapshot of the JWKS.
type keyState struct {
	keys    map[string]*Key
	etag    string
	expires int64 // Unix ns: past it, use only after trying to refresh
	refresh int64 // Unix ns: from it, refresh in the background
}

// fetchCall is one fetch in flight; done is closed when err is set.
type fetchCall struct {
	done chan struct{}
	err  error
}

// init fetches the JWKS once, synchronously, bounded by ctx.
func (r *remoteKeySet) init(ctx context.Context) error {
	now := r.now().UnixNano()
	r.mu.Lock()
	r.lastAttempt = now
	r.mu.Unlock()
	err := r.fetch(ctx)
	r.finish(nil, err)
	return err
}

// Key implements KeySet.
func (r *remoteKeySet) Key(ctx context.Context, kid string) (*Key, error) {
	now := r.now().UnixNano()
	if k := r.lookup(kid, now); k != nil {
		return k, nil
	}
	r.mu.Lock()
	c := r.startLocked(now)
	r.mu.Unlock()
	if c != nil {
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for jwks refresh: %w", ctx.Err())
		}
	}
	if k := r.state.Load().keys[kid]; k != nil {
		return k, nil // refreshed, or stale keys while the issuer is down
	}
	r.mu.Lock()
	err := r.lastErr
	r.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%w: kid %q, and %w: %w", ErrUnknownKey, clip(kid), ErrKeySetUnavailable, err)
	}
	return nil, fmt.Errorf("%w: kid %q", ErrUnknownKey, clip(kid))
}

// lookup returns the key for kid if it can be used without fetching: known,
// and either fresh or the issuer unreachable at the last try.
func (r *remoteKeySet) lookup(kid string, now int64) *Key {
	st := r.state.Load()
	k := st.keys[kid]
	if k == nil || (now >= st.expires && r.healthy.Load()) {
		return nil
	}
	r.tick(now)
	return k
}

// tick starts a background refresh when one is due.
func (r *remoteKeySet) tick(now int64) {
	if now < r.nextCheck.Load() {
		return
	}
	r.mu.Lock()
	r.startLocked(now)
	r.mu.Unlock()
}

// startLocked returns the fetch in flight, or starts one, or returns nil if
// the last one started less than MinRefetchInterval ago. r.mu must be held.
func (r *remoteKeySet) startLocked(now int64) *fetchCall {
	if r.inflight != nil {
		return r.inflight
	}
	if now-r.lastAttempt < int64(MinRefetchInterval) {
		return nil
	}
	c := &fetchCall{done: make(chan struct{})}
	r.inflight = c
	r.lastAttempt = now
	r.nextCheck.Store(math.MaxInt64)
	go func() {
		ctx, cancel := context.WithTimeout(r.baseCtx, r.timeout)
		err := r.fetch(ctx)
		cancel()
		r.finish(c, err)
	}()
	return c
}

// finish records the outcome of a fetch and wakes its waiters.
func (r *remoteKeySet) finish(c *fetchCall, err error) {
	r.mu.Lock()
	r.inflight = nil
	r.lastErr = err
	r.healthy.Store(err == nil)
	next := r.lastAttempt + int64(MinRefetchInterval)
	if st := r.state.Load(); err == nil && st != nil {
		next = max(next, st.refresh)
	}
	r.nextCheck.Store(next)
	r.mu.Unlock()
	if c != nil {
		c.err = err
		close(c.done)
	}
}

// wait blocks until no fetch is in flight (for tests).
func (r *remoteKeySet) wait() {
	r.mu.Lock()
	c := r.inflight
	r.mu.Unlock()
	if c != nil {
		<-c.done
	}
}

// fetch gets the JWKS, with If-None-Match when an ETag is known, and swaps
// in the new snapshot on success. It never replaces keys on failure.
func (r *remoteKeySet) fetch(ctx context.Context) error {
	old := r.state.Load()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return fmt.Errorf("fetch jwks: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	if old != nil && old.etag != "" {
		req.Header.Set("If-None-Match", old.etag)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch jwks: %w", err)
	}
	defer resp.Body.Close()
	now := r.now().UnixNano()
	ttl := int64(r.ttl(resp.Header))
	etag := resp.Header.Get("ETag")

	if resp.StatusCode == http.StatusNotModified && old != nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDocumentSize))
		if etag == "" {
			etag = old.etag
		}
		r.state.Store(&keyState{keys: old.keys, etag: etag, expires: now + ttl, refresh: now + ttl/5*4})
		return nil
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch jwks: %s", resp.Status)
	}
	body, err := readLimited(resp.Body)
	if err != nil {
		return fmt.Errorf("fetch jwks: %w", err)
	}
	keys, err := ParseJWKS(body)
	if err != nil {
		return fmt.Errorf("fetch jwks: %w", err)
	}
	if len(keys) == 0 {
		return errors.New("fetch jwks: no usable keys")
	}
	m := make(map[string]*Key, len(keys))
	for _, k := range keys {
		if old != nil {
			if o := old.keys[k.id]; o != nil && o.same(k) {
				k = o // keep the pointer so cached tokens stay valid
			}
		}
		m[k.id] = k
	}
	r.state.Store(&keyState{keys: m, etag: etag, expires: now + ttl, refresh: now + ttl/5*4})
	withdrew := false
	if old != nil {
		for id, o := range old.keys {
			if m[id] != o {
				o.Withdraw()
				withdrew = true
			}
		}
	}
	if withdrew && r.onWithdraw != nil {
		r.onWithdraw()
	}
	return nil
}

// ttl is how long the response may be cached: max-age less Age, or minTTL
// when there is no max-age or caching is forbidden, clamped to
// [minTTL, maxTTL].
func (r *remoteKeySet) ttl(h http.Header) time.Duration {
	maxAge, noCache := int64(-1), false
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			name, val, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(name) {
			case "no-cache", "no-store":
				noCache = true
			case "max-age":
				if n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64); err == nil && n >= 0 {
					maxAge = min(n, 1<<32)
				}
			}
		}
	}
	if noCache || maxAge < 0 {
		return r.minTTL
	}
	if age, err := strconv.ParseInt(h.Get("Age"), 10, 64); err == nil && age > 0 {
		maxAge -= min(age, maxAge)
	}
	return min(max(time.Duration(maxAge)*time.Second, r.minTTL), r.maxTTL)
}

func readLimited(rd io.Reader) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(rd, maxDocumentSize+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxDocumentSize {
		return nil, fmt.Errorf("document larger than %d bytes", maxDocumentSize)
	}
	return body, nil
}

// discover reads <issuer>/.well-known/openid-configuration, checks that its
// issuer is exactly issuer, and returns its jwks_uri.
func discover(ctx context.Context, client *http.Client, issuer string) (string, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("discovery: GET %s: %s", u, resp.Status)
	}
	body, err := readLimited(resp.Body)
	if err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	if doc.Issuer != issuer {
		return "", fmt.Errorf("discovery: issuer %q does not match %q", clip(doc.Issuer), issuer)
	}
	ju, err := url.Parse(doc.JWKSURI)
	if err != nil || ju.Host == "" || (ju.Scheme != "https" && ju.Scheme != "http") {
		return "", fmt.Errorf("discovery: bad jwks_uri %q", clip(doc.JWKSURI))
	}
	if strings.HasPrefix(issuer, "https:") && ju.Scheme != "https" {
		return "", fmt.Errorf("discovery: jwks_uri %q is not https", clip(doc.JWKSURI))
	}
	return doc.JWKSURI, nil
}
