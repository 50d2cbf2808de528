package oauth

import (
	"context"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// ipBuckets is a bounded map of per-address token buckets.
type ipBuckets struct {
	cfg IPLimit
	mu  sync.Mutex
	m   map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newIPBuckets(cfg IPLimit) *ipBuckets {
	return &ipBuckets{cfg: cfg, m: make(map[netip.Addr]*bucket)}
}

// bucketKey is the address itself for IPv4 and the /64 for IPv6.
func bucketKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// refill brings b up to now and returns its token count.
func (ib *ipBuckets) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens += float64(el) / float64(ib.cfg.Every)
		if b.tokens > float64(ib.cfg.Burst) {
			b.tokens = float64(ib.cfg.Burst)
		}
	}
	b.last = now
}

// take spends one token of ip's bucket. It returns false and the time until
// the next token when the bucket is empty. Invalid addresses are not
// limited.
func (ib *ipBuckets) take(ip netip.Addr, now time.Time) (bool, time.Duration) {
	if !ip.IsValid() {
		return true, 0
	}
	k := bucketKey(ip)
	ib.mu.Lock()
	defer ib.mu.Unlock()
	b := ib.m[k]
	if b == nil {
		if len(ib.m) >= ib.cfg.MaxAddresses {
			ib.sweep(now)
			if len(ib.m) >= ib.cfg.MaxAddresses {
				return true, 0 // bounded memory beats tracking everyone
			}
		}
		b = &bucket{tokens: float64(ib.cfg.Burst), last: now}
		ib.m[k] = b
	}
	ib.refill(b, now)
	if b.tokens < 1 {
		wait := time.Duration((1 - b.tokens) * float64(ib.cfg.Every))
		return false, wait
	}
	b.tokens--
	return true, 0
}

// wait returns how long until ip's bucket holds a token, without spending
// one (0: a token is available now, or ip is not limited).
func (ib *ipBuckets) wait(ip netip.Addr, now time.Time) time.Duration {
	if !ip.IsValid() {
		return 0
	}
	ib.mu.Lock()
	defer ib.mu.Unlock()
	b := ib.m[bucketKey(ip)]
	if b == nil {
		return 0
	}
	ib.refill(b, now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) * float64(ib.cfg.Every))
}

// give returns one token to ip's bucket (a login that succeeded).
func (ib *ipBuckets) give(ip netip.Addr, now time.Time) {
	if !ip.IsValid() {
		return
	}
	k := bucketKey(ip)
	ib.mu.Lock()
	defer ib.mu.Unlock()
	if b := ib.m[k]; b != nil {
		ib.refill(b, now)
		b.tokens = min(b.tokens+1, float64(ib.cfg.Burst))
	}
}

// sweep drops buckets that have refilled completely: they carry no state.
// Called with mu held.
func (ib *ipBuckets) sweep(now time.Time) {
	for k, b := range ib.m {
		ib.refill(b, now)
		if b.tokens >= float64(ib.cfg.Burst) {
			delete(ib.m, k)
		}
	}
}

// len returns the number of tracked buckets (tests).
func (ib *ipBuckets) len() int {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	return len(ib.m)
}

// hashBusyRetry is the Retry-After sent when no hash slot frees in time.
const hashBusyRetry = time.Second

// acquireHashSlot takes one of the bounded password-hash slots. When all are
// busy the login queues: at most PasswordHashQueue logins wait, each for up
// to PasswordHashWait, and are served in the order the runtime hands out
// channel sends. A login that finds the queue full, or whose wait runs out
// (or whose ctx ends), gets 503 with Retry-After. On success the caller must
// call releaseHashSlot.
func (s *Service) acquireHashSlot(ctx context.Context) error {
	select {
	case s.hashSlots <- struct{}{}:
		s.obs.PasswordHash(0, true)
		return nil
	default:
	}
	if s.hashWaiting.Add(1) > int64(s.cfg.PasswordHashQueue) {
		s.hashWaiting.Add(-1)
		s.obs.PasswordHash(0, false)
		return errHashBusy()
	}
	defer s.hashWaiting.Add(-1)
	start := s.now()
	expired, stop := s.hashTimer(s.cfg.PasswordHashWait)
	defer stop()
	select {
	case s.hashSlots <- struct{}{}:
		s.obs.PasswordHash(s.now().Sub(start), true)
		return nil
	case <-expired:
	case <-ctx.Done():
	}
	s.obs.PasswordHash(s.now().Sub(start), false)
	return errHashBusy()
}

func errHashBusy() error {
	return &Error{
		Code:        CodeTemporarilyUnavailable,
		Status:      http.StatusServiceUnavailable,
		Description: "too many concurrent logins, retry later",
		RetryAfter:  hashBusyRetry,
		Reason:      ReasonBusy,
	}
}

// realTimer is the default Service.hashTimer.
func realTimer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

func (s *Service) releaseHashSlot() { <-s.hashSlots }

// maxUsernameLen bounds usernames looked up (Django allows 150 characters).
const maxUsernameLen = 256

// lockFor returns how long the account stays locked after its count-th
// counted attempt, should that attempt fail (0: not locked): after
// FreeFailures attempts, BaseDelay·2^(count−FreeFailures), capped at
// MaxDelay. It is the lockFor of storage.LoginThrottleStore.AdmitLogin.
func (s *Service) lockFor(count int) time.Duration {
	l := s.cfg.Lockout
	over := count - l.FreeFailures
	if over < 0 {
		return 0
	}
	if over >= 30 {
		return l.MaxDelay
	}
	return min(l.BaseDelay<<over, l.MaxDelay)
}
