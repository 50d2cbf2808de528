package oauth

import (
	"context"
	"sync"
	"time"

	"github.com/sigilauth/sigil/oauth/password"
)

// hashPadRescan is how often the password-hash classes in the store are
// looked up again, to see users imported by another process.
const hashPadRescan = 10 * time.Minute

// hashPadScanTimeout bounds one look-up of the hash classes.
const hashPadScanTimeout = 30 * time.Second

// hashPad knows, for each legacy hash class in the store (bcrypt, PBKDF2),
// its most expensive parameters, so that every failed password check can do
// the same work: one argon2id verification at the current parameters (the
// user's own or DummyVerify) and one verification per legacy class at that
// class's highest cost (the user's own, topped up to that cost, or a dummy).
// An unknown user, a locked or disabled account, an argon2id user and an
// imported Django user then cost the same (issue 12, defect 2).
//
// The classes come from the store's PasswordHashSamples (one hash per
// algorithm and cost: on MongoDB a distinct query on an indexed field, not
// a read of every user) and from every user a login loads. The first login
// of the process waits for the first look-up; later ones, every
// hashPadRescan, run in the background, off the login path. A user
// imported by another process costs more than an unknown name only until
// the next look-up or until any login loads that user. argon2id hashes
// under older parameters are not padded (they are rehashed on the next
// login).
type hashPad struct {
	mu      sync.Mutex
	max     map[string]password.Info // legacy class -> most expensive
	scanned time.Time                // zero: never
	scanMu  sync.Mutex               // held by the look-up in progress
	bg      sync.WaitGroup           // background look-ups (tests wait)
}

// learn records the class and cost of one stored hash.
func (p *hashPad) learn(encoded string) {
	info, err := password.ParseHash(encoded)
	if err != nil || !legacyClass(info.Class) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.max == nil {
		p.max = make(map[string]password.Info)
	}
	if cur, ok := p.max[info.Class]; !ok || info.Costlier(cur) {
		p.max[info.Class] = info
	}
}

func legacyClass(c string) bool { return c == password.ClassBcrypt || c == password.ClassPBKDF2SHA256 }

// snapshot returns the legacy classes and their highest costs.
func (p *hashPad) snapshot() map[string]password.Info {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]password.Info, len(p.max))
	for k, v := range p.max {
		out[k] = v
	}
	return out
}

// due reports whether no look-up succeeded yet (first) and whether one is
// due at now.
func (p *hashPad) due(now time.Time) (first, due bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.scanned.IsZero(), p.scanned.IsZero() || now.Sub(p.scanned) >= hashPadRescan
}

// refreshHashPad looks the store's hash classes up when none was learnt
// yet (the caller waits, as do concurrent callers) or the last look-up is
// older than hashPadRescan (one look-up starts in the background; the
// caller goes on with what is known). A failed look-up is logged and
// retried by a later login.
func (s *Service) refreshHashPad(ctx context.Context, now time.Time) {
	p := &s.pad
	first, due := p.due(now)
	if !due {
		return
	}
	if first {
		p.scanMu.Lock()
		defer p.scanMu.Unlock()
		if _, due := p.due(now); due {
			s.scanHashPad(ctx, now)
		}
		return
	}
	if !p.scanMu.TryLock() {
		return // a look-up is in progress
	}
	p.bg.Add(1)
	go func() {
		defer p.bg.Done()
		defer p.scanMu.Unlock()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hashPadScanTimeout)
		defer cancel()
		if _, due := p.due(now); due {
			s.scanHashPad(ctx, now)
		}
	}()
}

// scanHashPad learns one hash of each algorithm and cost in the store.
func (s *Service) scanHashPad(ctx context.Context, now time.Time) {
	samples, err := s.store.PasswordHashSamples(ctx)
	if err != nil {
		s.log.Warn("look up password hash classes", "err", err)
		return
	}
	p := &s.pad
	for _, h := range samples {
		p.learn(h)
	}
	p.mu.Lock()
	p.scanned = now
	p.mu.Unlock()
}

// padFailedCheck does the rest of a failed password check's work: own is
// the hash that was verified ("" when none was: unknown user, locked
// account), and the work done must come to one argon2id verification at
// the current parameters plus one verification per legacy class at its
// highest cost.
func (s *Service) padFailedCheck(pw, own string, pads map[string]password.Info) {
	info, err := password.ParseHash(own)
	if own == "" || err != nil {
		// Nothing was verified (or a corrupt hash cost nothing): pay the
		// argon2id verification.
		s.hasher.DummyVerify(pw)
		info = password.Info{}
	} else if legacyClass(info.Class) {
		// The own verification paid this legacy class; argon2id is owed.
		s.hasher.DummyVerify(pw)
	}
	// ClassArgon2id paid the argon2id verification; ClassUnusable's Verify
	// ran DummyVerify.
	for class, target := range pads {
		if class == info.Class {
			for _, d := range password.TopUp(info, target) {
				_, _, _ = s.hasher.Verify(d, pw)
			}
			continue
		}
		_, _, _ = s.hasher.Verify(target.Dummy(), pw)
	}
}
