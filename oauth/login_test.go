package oauth

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/sigilauth/sigil/oauth/password"
)

func pwReq(user, pw string) TokenRequest {
	return TokenRequest{GrantType: GrantPassword, Client: basic(confID, confSecret), Username: user, Password: pw,
		RemoteIP: netip.MustParseAddr("192.0.2.1")}
}

func TestLoginFailuresLookAlike(t *testing.T) {
	tests := []struct {
		name  string
		setup func(e *env)
		user  string
		pw    string
		// dummy: the password check ran against the dummy hash.
		dummy bool
	}{
		{name: "unknown user", user: "mallory", pw: userPW, dummy: true},
		{name: "wrong password", user: "alice", pw: "wrong"},
		{name: "disabled user", user: "alice", pw: userPW, setup: func(e *env) {
			_ = e.store.Store.SetUserDisabled(e.ctx, "42", true, e.clock.Now())
		}},
		{name: "locked user", user: "alice", pw: userPW, dummy: true, setup: func(e *env) {
			for range 6 {
				_, _ = e.svc.Token(e.ctx, pwReq("alice", "wrong"))
			}
			e.hasher.verifies.Store(0)
			e.hasher.dummies.Store(0)
		}},
		{name: "unusable django password", user: "bob", pw: "x", setup: func(e *env) {
			e.addUserHash("7", "bob", "!unusable")
		}},
		{name: "corrupt hash", user: "carol", pw: "x", setup: func(e *env) {
			e.addUserHash("8", "carol", "garbage")
		}},
	}
	var first *Error
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			if tc.setup != nil {
				tc.setup(e)
			}
			_, err := e.svc.Token(e.ctx, pwReq(tc.user, tc.pw))
			got := wantErr(t, err, CodeInvalidGrant, http.StatusBadRequest)
			if got.Reason != ReasonBadCredentials {
				t.Fatalf("reason %s", got.Reason)
			}
			if first == nil {
				first = got
			} else if got.Description != first.Description || got.Challenge != first.Challenge || got.RetryAfter != first.RetryAfter {
				t.Fatalf("answer %+v differs from %+v", got, first)
			}
			if tc.dummy && (e.hasher.dummies.Load() != 1 || e.hasher.verifies.Load() != 0) {
				t.Fatalf("dummies=%d verifies=%d, want one dummy hash", e.hasher.dummies.Load(), e.hasher.verifies.Load())
			}
			if !tc.dummy && e.hasher.verifies.Load() != 1 {
				t.Fatalf("verifies=%d, want 1", e.hasher.verifies.Load())
			}
		})
	}
}

func TestLockoutBacksOffExponentiallyAcrossReplicas(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Lockout = Lockout{FreeFailures: 3, BaseDelay: time.Second, MaxDelay: 8 * time.Second, Window: time.Hour}
		c.IPLimit.Disabled = true
	})
	// A second replica over the same store and clock.
	replica, err := New(e.cfg, e.store, e.keys, e.hasher, WithClock(e.clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	fail := func(svc *Service) {
		t.Helper()
		_, err := svc.Token(e.ctx, pwReq("alice", "wrong"))
		wantErr(t, err, CodeInvalidGrant, 400)
	}
	for range 3 {
		fail(e.svc)
	}
	// Three free failures: no lock yet... the third failure makes count=3,
	// so the next attempt waits BaseDelay·2^0 = 1s after it.
	tests := []struct {
		advance time.Duration
		ok      bool
	}{
		{0, false},          // locked for 1s
		{time.Second, true}, // unlocked: correct password works and resets
	}
	for i, tc := range tests {
		e.clock.Advance(tc.advance)
		_, err := replica.Token(e.ctx, pwReq("alice", userPW))
		if (err == nil) != tc.ok {
			t.Fatalf("step %d: err = %v, want ok=%v", i, err, tc.ok)
		}
	}
	// After the reset, failures count from zero again: the next attempt
	// is the counter's first (this probe is then reset in turn).
	probe, err := e.store.AdmitLogin(e.ctx, "alice", e.clock.Now(), e.cfg.Lockout.Window, nil)
	if err != nil || !probe.Found || probe.Failures.Count != 1 {
		t.Fatalf("counter not reset after success: %+v, %v", probe.Failures, err)
	}
	if err := e.store.ResetLogin(e.ctx, "alice", probe.User.ID); err != nil {
		t.Fatal(err)
	}
	// Delays grow: 1s, 2s, 4s, 8s, then capped at 8s.
	for range 3 {
		fail(replica)
	}
	for i, wantDelay := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second} {
		e.clock.Advance(wantDelay - time.Millisecond)
		if _, err := e.svc.Token(e.ctx, pwReq("alice", userPW)); err == nil {
			t.Fatalf("round %d: login succeeded %v before the %v delay ended", i, wantDelay-time.Millisecond, wantDelay)
		}
		e.clock.Advance(time.Millisecond)
		fail(e.svc) // an attempt after the delay, wrong again
	}
}

// TestLockoutHoldsAgainstParallelGuesses sends bursts of parallel wrong
// passwords for one account: at most FreeFailures are checked against the
// real hash, the rest cost a dummy hash, and a burst right after the lock
// ends gets one more check, not a burst's worth.
func TestLockoutHoldsAgainstParallelGuesses(t *testing.T) {
	const free, n = 5, 20
	e := newEnv(t, func(c *Config) {
		c.Lockout = Lockout{FreeFailures: free, BaseDelay: time.Second, MaxDelay: time.Minute, Window: time.Hour}
		c.IPLimit.Disabled = true
		c.PasswordHashConcurrency = n
		c.PasswordHashWait = time.Minute
	})
	burst := func() (verifies, dummies int32) {
		t.Helper()
		e.hasher.verifies.Store(0)
		e.hasher.dummies.Store(0)
		// Every guess is held at the hasher until all n have reached it, so
		// all of them are in flight together whatever the scheduling.
		e.hasher.gate = make(chan struct{})
		defer func() { e.hasher.gate = nil }()
		start := make(chan struct{})
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = e.svc.Token(e.ctx, pwReq("alice", fmt.Sprintf("guess-%d", i)))
			}()
		}
		close(start)
		for e.hasher.verifies.Load()+e.hasher.dummies.Load() < n {
			runtime.Gosched()
		}
		close(e.hasher.gate)
		wg.Wait()
		for _, err := range errs {
			wantErr(t, err, CodeInvalidGrant, http.StatusBadRequest)
		}
		return e.hasher.verifies.Load(), e.hasher.dummies.Load()
	}
	if v, d := burst(); v > free || v+d != n {
		t.Fatalf("first burst: %d real checks and %d dummy hashes, want at most %d real and %d in all", v, d, free, n)
	}
	// Right after the lock (BaseDelay after the fifth failure) ends.
	e.clock.Advance(time.Second)
	if v, d := burst(); v > 1 || v+d != n {
		t.Fatalf("burst after the lock: %d real checks and %d dummy hashes, want at most 1 real and %d in all", v, d, n)
	}
	// The right password during the lock still fails, with a dummy hash.
	e.hasher.verifies.Store(0)
	if _, err := e.svc.Token(e.ctx, pwReq("alice", userPW)); err == nil || e.hasher.verifies.Load() != 0 {
		t.Fatalf("login during the lock: err=%v, real checks %d", err, e.hasher.verifies.Load())
	}
}

// TestParallelCorrectLoginsDoNotLockTheAccount: attempts are counted before
// the check, but only while holding a hash slot, so a burst of correct
// logins for one account (a service account used by many workers) never
// reaches the lock when hashes are fewer than the free failures.
func TestParallelCorrectLoginsDoNotLockTheAccount(t *testing.T) {
	const n = 20
	e := newEnv(t, func(c *Config) {
		c.IPLimit.Disabled = true
		c.PasswordHashConcurrency = 2
		c.PasswordHashWait = time.Minute
	})
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = e.svc.Token(e.ctx, pwReq("alice", userPW))
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
}

func TestIPBucketLimitsAttemptsAcrossAccounts(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.IPLimit = IPLimit{Burst: 3, Every: 10 * time.Second}
	})
	ip := netip.MustParseAddr("198.51.100.7")
	try := func(user, pw string, from netip.Addr) error {
		r := pwReq(user, pw)
		r.RemoteIP = from
		_, err := e.svc.Token(e.ctx, r)
		return err
	}
	for i := range 3 {
		if err := try(fmt.Sprintf("user%d", i), "x", ip); AsError(err).Reason != ReasonBadCredentials {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	err := try("alice", userPW, ip)
	got := wantErr(t, err, CodeTemporarilyUnavailable, http.StatusTooManyRequests)
	if got.RetryAfter != 10*time.Second {
		t.Fatalf("Retry-After %v, want 10s", got.RetryAfter)
	}
	if e.hasher.verifies.Load()+e.hasher.dummies.Load() != 3 {
		t.Fatal("a rate-limited attempt still hashed")
	}
	// Another address is unaffected; the same /64 in IPv6 shares a bucket.
	if err := try("alice", userPW, netip.MustParseAddr("198.51.100.8")); err != nil {
		t.Fatal(err)
	}
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff")
	for range 3 {
		_ = try("nobody", "x", v6a)
	}
	wantErr(t, try("alice", userPW, v6b), CodeTemporarilyUnavailable, 429)
	// Time refills.
	e.clock.Advance(10 * time.Second)
	if err := try("alice", userPW, ip); err != nil {
		t.Fatalf("after refill: %v", err)
	}
	// A success gives its token back: repeated good logins never run dry.
	for range 10 {
		if err := try("alice", userPW, ip); err != nil {
			t.Fatalf("good logins drained the bucket: %v", err)
		}
	}
}

func TestIPBucketsBounded(t *testing.T) {
	b := newIPBuckets(IPLimit{Burst: 2, Every: time.Second, MaxAddresses: 10})
	now := time.Unix(1000, 0)
	for i := range 50 {
		ip := netip.AddrFrom4([4]byte{10, 0, 0, byte(i)})
		b.take(ip, now)
		b.take(ip, now)
		if ok, _ := b.take(ip, now); ok && i < 10 {
			t.Fatalf("address %d not limited", i)
		}
	}
	if n := b.len(); n > 10 {
		t.Fatalf("%d buckets, bound is 10", n)
	}
	// Full buckets are swept to make room.
	now = now.Add(10 * time.Second)
	ip := netip.MustParseAddr("10.1.1.1")
	b.take(ip, now)
	b.take(ip, now)
	if ok, _ := b.take(ip, now); ok {
		t.Fatal("new address not tracked after sweep")
	}
}

// fakeTimers hands out the waits of queued logins as channels the test
// fires by hand. Each start is announced on started, so a test can wait
// until a login has registered its wait before firing: a login counts
// itself in hashWaiting before it starts its timer, so waiting on the count
// alone could fire before the last timer existed and leave that login
// waiting forever.
type fakeTimers struct {
	mu      sync.Mutex
	pending []chan time.Time
	waits   []time.Duration
	started chan struct{} // one value per start; buffered generously
}

func newFakeTimers() *fakeTimers { return &fakeTimers{started: make(chan struct{}, 64)} }

func (f *fakeTimers) start(d time.Duration) (<-chan time.Time, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := make(chan time.Time, 1)
	f.pending = append(f.pending, c)
	f.waits = append(f.waits, d)
	f.started <- struct{}{}
	return c, func() {}
}

// awaitStarted blocks until n more waits have started.
func (f *fakeTimers) awaitStarted(n int) {
	for range n {
		<-f.started
	}
}

// fire expires every wait started so far (the channels are buffered, so a
// login that has not reached its select yet still sees it).
func (f *fakeTimers) fire() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.pending {
		c <- time.Time{}
	}
	f.pending = nil
}

// TestHashQueue: with every hash slot busy (a slow hasher held at its gate),
// logins queue up to PasswordHashQueue and all succeed once slots free; a
// login that finds the queue full, or whose wait runs out, gets 503 with
// Retry-After; and the queue drains back to empty.
func TestHashQueue(t *testing.T) {
	const slots, queue = 2, 3
	tests := []struct {
		name string
		// extra logins beyond slots+queue, and whether the waits run out
		// before the slots free.
		extra   int
		expire  bool
		wantOK  int
		want503 int
	}{
		{name: "queue absorbs a burst", extra: 0, wantOK: slots + queue},
		{name: "over the queue: 503 at once, the rest succeed", extra: 2, wantOK: slots + queue, want503: 2},
		{name: "wait runs out: queued logins get 503", extra: 0, expire: true, wantOK: slots, want503: queue},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			timers := newFakeTimers()
			e := newEnv(t, func(c *Config) {
				c.PasswordHashConcurrency = slots
				c.PasswordHashQueue = queue
				c.PasswordHashWait = 7 * time.Second
				c.IPLimit.Disabled = true
			})
			e.svc.hashTimer = timers.start
			e.hasher.gate = make(chan struct{})
			n := slots + queue + tc.extra
			errs := make([]error, n)
			queued := make(chan struct{}, n) // one value per finished queued login
			var wg sync.WaitGroup
			login := func(i int, done chan<- struct{}) {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = e.svc.Token(e.ctx, pwReq("alice", userPW))
					if done != nil {
						done <- struct{}{}
					}
				}()
			}
			// Fill the slots (the hasher holds them), then the queue.
			for i := range slots {
				login(i, nil)
			}
			for e.hasher.verifies.Load() < slots {
				runtime.Gosched()
			}
			for i := slots; i < slots+queue; i++ {
				login(i, queued)
			}
			// Every queued login has counted itself and started its wait.
			timers.awaitStarted(queue)
			// Logins over the queue are refused without waiting.
			for i := slots + queue; i < n; i++ {
				_, errs[i] = e.svc.Token(e.ctx, pwReq("alice", userPW))
			}
			if tc.expire {
				timers.fire()
				// The queued logins give up while the slots are still held.
				// A login that ignored its wait would block here until the
				// slots free; the guard then lets the test go on, and it
				// fails on the counts below instead of hanging.
				guard := time.NewTimer(30 * time.Second)
			wait:
				for range queue {
					select {
					case <-queued:
					case <-guard.C:
						t.Errorf("queued logins still waiting 30s after their wait ran out")
						break wait
					}
				}
				guard.Stop()
			}
			close(e.hasher.gate)
			wg.Wait()
			var ok, busy int
			for i, err := range errs {
				switch {
				case err == nil:
					ok++
				case AsError(err).Reason == ReasonBusy:
					got := wantErr(t, err, CodeTemporarilyUnavailable, http.StatusServiceUnavailable)
					if got.RetryAfter <= 0 {
						t.Errorf("login %d: 503 without Retry-After", i)
					}
					busy++
				default:
					t.Errorf("login %d: %v", i, err)
				}
			}
			if ok != tc.wantOK || busy != tc.want503 {
				t.Fatalf("%d succeeded and %d got 503, want %d and %d", ok, busy, tc.wantOK, tc.want503)
			}
			if w := e.svc.hashWaiting.Load(); w != 0 {
				t.Fatalf("%d logins still counted as waiting", w)
			}
			for _, d := range timers.waits {
				if d != 7*time.Second {
					t.Fatalf("a queued login waited %v, want PasswordHashWait", d)
				}
			}
			if len(timers.waits) != queue {
				t.Fatalf("%d waits started, want %d (one per queued login)", len(timers.waits), queue)
			}
		})
	}
}

// TestLoginWritesShareCommits: while other logins hash or queue, the writes
// that end a login (the counter reset, the refresh family) may wait to
// share a commit with theirs; a lone login's writes, and the counting write
// that must be durable before the password is checked, never wait.
func TestLoginWritesShareCommits(t *testing.T) {
	for _, tc := range []struct {
		name       string
		busySlots  int
		waiting    int64
		wantShared bool
	}{
		{"lone login", 0, 0, false},
		{"another login hashing", 1, 0, true},
		{"a login queued", 0, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.PasswordHashConcurrency = 2 })
			for range tc.busySlots {
				e.svc.hashSlots <- struct{}{}
			}
			e.svc.hashWaiting.Add(tc.waiting)
			if r := e.login("offline_access"); r.RefreshToken == "" {
				t.Fatal("no refresh token")
			}
			for _, m := range []struct {
				method string
				want   bool
			}{
				{"AdmitLogin", false},
				{"ResetLogin", tc.wantShared},
				{"CreateFamily", tc.wantShared},
			} {
				if got := e.store.sharedCommit(m.method); got != m.want {
					t.Errorf("%s: shared commit %v, want %v", m.method, got, m.want)
				}
			}
		})
	}
}

func TestHashSlotHonoursContext(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.PasswordHashConcurrency = 1; c.PasswordHashWait = time.Hour })
	e.svc.hashSlots <- struct{}{}
	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	err := e.svc.acquireHashSlot(ctx)
	wantErr(t, err, CodeTemporarilyUnavailable, 503)
}

func djangoHash(pw string, iter int) string {
	salt := "c2FsdHNhbHRzYWx0"
	key, err := pbkdf2.Key(sha256.New, pw, []byte(salt), iter, 32)
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("pbkdf2_sha256$%d$%s$%s", iter, salt, base64.StdEncoding.EncodeToString(key))
}

func TestLegacyHashesRehashOnLogin(t *testing.T) {
	bc, err := bcrypt.GenerateFromPassword([]byte("hunter2"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	oldArgon, err := password.Hash("hunter2", password.Params{Memory: 32, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		hash string
	}{
		{name: "django pbkdf2_sha256", hash: djangoHash("hunter2", 1000)},
		{name: "bcrypt", hash: string(bc)},
		{name: "argon2id with old parameters", hash: oldArgon},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			before := e.addUserHash("1001", "django", tc.hash)
			if _, err := e.svc.Token(e.ctx, pwReq("django", "wrong")); err == nil {
				t.Fatal("wrong password accepted")
			}
			r, err := e.svc.Token(e.ctx, pwReq("django", "hunter2"))
			if err != nil {
				t.Fatal(err)
			}
			_, c := decodeJWT(t, r.AccessToken)
			if toString(c["user_id"]) != "1001" || c["sub"] != "1001" {
				t.Fatalf("user_id %v sub %v", c["user_id"], c["sub"])
			}
			after, err := e.store.GetUser(e.ctx, "1001")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(after.PasswordHash, "$argon2id$v=19$m=64,t=1,p=1$") {
				t.Fatalf("not rehashed to current parameters: %.30s", after.PasswordHash)
			}
			if !after.PasswordChangedAt.Equal(before.PasswordChangedAt) {
				t.Fatal("rehash moved PasswordChangedAt (it would end refresh families)")
			}
			// The new hash works, and no further rehash happens.
			e.hasher.hashes.Store(0)
			if _, err := e.svc.Token(e.ctx, pwReq("django", "hunter2")); err != nil {
				t.Fatal(err)
			}
			if e.hasher.hashes.Load() != 0 {
				t.Fatal("rehashed a current hash")
			}
		})
	}
}

func TestLoginStorageFailureIs503(t *testing.T) {
	for _, method := range []string{"AdmitLogin", "CreateFamily", "GetClient"} {
		t.Run(method, func(t *testing.T) {
			e := newEnv(t, nil)
			e.store.failOnly.Store(method, true)
			e.store.failing.Store(true)
			_, err := e.svc.Token(e.ctx, pwReq("alice", userPW))
			got := wantErr(t, err, CodeTemporarilyUnavailable, http.StatusServiceUnavailable)
			if got.RetryAfter <= 0 || strings.Contains(got.Description, "connection refused") {
				t.Fatalf("503 answer %+v", got)
			}
		})
	}
}

func TestNewValidatesConfig(t *testing.T) {
	e := newEnv(t, nil)
	_, err := New(Config{RefreshIdleTTL: 48 * time.Hour, RefreshReuseGrace: -1, SimpleJWT: true}, e.store, e.keys, e.hasher)
	if err == nil {
		t.Fatal("bad config accepted")
	}
	for _, want := range []string{"issuer is empty", "idle ttl", "reuse grace", "compat client id"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if _, err := New(Config{Issuer: "x"}, nil, e.keys, e.hasher); err == nil {
		t.Fatal("nil store accepted")
	}
}

// workHasher records the work of every verification: units per hash class
// (argon2id memory × passes, PBKDF2 iterations, bcrypt 2^cost).
type workHasher struct {
	PasswordHasher
	current password.Params
	mu      sync.Mutex
	work    map[string]uint64
}

func (h *workHasher) add(info password.Info) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch info.Class {
	case password.ClassArgon2id:
		h.work[info.Class] += uint64(info.Params.Memory) * uint64(info.Params.Time)
	case password.ClassPBKDF2SHA256:
		h.work[info.Class] += uint64(info.Iterations)
	case password.ClassBcrypt:
		h.work[info.Class] += 1 << info.Cost
	case password.ClassUnusable: // Verify runs DummyVerify
		h.work[password.ClassArgon2id] += uint64(h.current.Memory) * uint64(h.current.Time)
	}
}

func (h *workHasher) Verify(enc, pw string) (bool, bool, error) {
	if info, err := password.ParseHash(enc); err == nil {
		h.add(info)
	}
	return h.PasswordHasher.Verify(enc, pw)
}

func (h *workHasher) DummyVerify(pw string) {
	h.add(password.Info{Class: password.ClassArgon2id, Params: h.current})
	h.PasswordHasher.DummyVerify(pw)
}

func (h *workHasher) take() map[string]uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.work
	h.work = map[string]uint64{}
	return w
}

// TestFailedLoginsDoTheSameWork checks that every refused login does the
// same hashing work, whatever the account (issue 12, defect 2): an unknown
// name, a locked, disabled or argon2id account, and users imported with
// Django PBKDF2 or bcrypt hashes of different costs. Before, an unknown
// name cost one argon2id hash while an imported user cost its PBKDF2
// iterations, so imported users were enumerable by timing.
func TestFailedLoginsDoTheSameWork(t *testing.T) {
	for _, tc := range []struct {
		name string
		// learnByScan: the users exist before the service's first login
		// (found by the scan); otherwise they are imported after it and
		// found by the rescan.
		learnByScan bool
	}{{"found by the first scan", true}, {"imported later, found by the rescan", false}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil)
			h := &workHasher{PasswordHasher: Argon2id(testParams), current: testParams, work: map[string]uint64{}}
			svc, err := New(e.cfg, e.store, e.keys, h, WithClock(e.clock.Now), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
			if err != nil {
				t.Fatal(err)
			}
			bc4, _ := bcrypt.GenerateFromPassword([]byte(userPW), 4)
			bc6, _ := bcrypt.GenerateFromPassword([]byte(userPW), 6)
			addUsers := func() {
				e.addUserHash("100", "django", djangoHash(userPW, 2000))
				e.addUserHash("101", "django-old", djangoHash(userPW, 1200))
				e.addUserHash("102", "bcrypt6", string(bc6))
				e.addUserHash("103", "bcrypt4", string(bc4))
				e.addUserHash("104", "social", "!unusable")
				e.addUser("105", "disabled", userPW)
				_ = e.store.Store.SetUserDisabled(e.ctx, "105", true, e.clock.Now())
				e.addUser("106", "locked", userPW)
			}
			if tc.learnByScan {
				addUsers()
			} else {
				// A first login scans an argon2id-only store; the users
				// arrive afterwards, and the rescan finds them.
				if _, err := svc.Token(e.ctx, pwReq("nobody", "x")); err == nil {
					t.Fatal("unknown user logged in")
				}
				addUsers()
				e.clock.Advance(hashPadRescan)
			}
			for range 6 {
				_, _ = svc.Token(e.ctx, pwReq("locked", "wrong"))
			}
			// A rescan runs in the background, started by the first of
			// these logins.
			svc.pad.bg.Wait()
			h.take()

			want := map[string]uint64{
				password.ClassArgon2id:     uint64(testParams.Memory) * uint64(testParams.Time),
				password.ClassPBKDF2SHA256: 2000,
				password.ClassBcrypt:       1 << 6,
			}
			for _, c := range []struct{ user, pw string }{
				{"unknown", userPW},
				{"alice", "wrong"},
				{"disabled", userPW},
				{"locked", userPW},
				{"django", "wrong"},
				{"django-old", "wrong"},
				{"bcrypt6", "wrong"},
				{"bcrypt4", "wrong"},
				{"social", "wrong"},
			} {
				_, err := svc.Token(e.ctx, pwReq(c.user, c.pw))
				if AsError(err) == nil || AsError(err).Reason != ReasonBadCredentials {
					t.Fatalf("%s: error %v, want bad credentials", c.user, err)
				}
				if got := h.take(); !maps.Equal(got, want) {
					t.Errorf("%s: work %v, want %v", c.user, got, want)
				}
			}
			// A successful login is not padded.
			if _, err := svc.Token(e.ctx, pwReq("alice", userPW)); err != nil {
				t.Fatal(err)
			}
			if got := h.take(); len(got) != 1 {
				t.Errorf("successful argon2id login: work %v, want argon2id only", got)
			}
		})
	}
}

// TestHashPadRescanOffLoginPath checks that the hash classes are looked up
// once before the first login is checked, and that later look-ups run in
// the background: a login does not wait for one, even one that hangs.
func TestHashPadRescanOffLoginPath(t *testing.T) {
	e := newEnv(t, nil)
	if e.store.samples.Load() != 0 {
		t.Fatal("hash classes looked up before any login")
	}
	e.login("")
	e.login("")
	if got := e.store.samples.Load(); got != 1 {
		t.Fatalf("%d look-ups for two logins, want 1 (the first login's)", got)
	}
	gate := make(chan struct{})
	e.store.samplesGate = gate
	e.clock.Advance(hashPadRescan)
	done := make(chan error, 1)
	go func() {
		_, err := e.svc.Token(e.ctx, pwReq("alice", userPW))
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(gate)
		t.Fatal("login waited for the background look-up")
	}
	e.login("") // a look-up is in progress: no second one
	close(gate)
	e.svc.pad.bg.Wait()
	if got := e.store.samples.Load(); got != 2 {
		t.Fatalf("%d look-ups, want 2", got)
	}
	e.login("") // the rescan succeeded: none due
	e.svc.pad.bg.Wait()
	if got := e.store.samples.Load(); got != 2 {
		t.Fatalf("%d look-ups after the rescan, want 2", got)
	}
}
