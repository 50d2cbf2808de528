package oauth

import (
	"context"
	"sync"
	"time"

	"github.com/sigilauth/sigil/oauth/password"
	"github.com/sigilauth/sigil/storage"
)

// hashPadRescan is how often the password-hash classes in the store are
// scanned again, to see users imported by another process.
const hashPadRescan = 10 * time.Minute

// userLister is the optional store method the hash pad scans with; every
// storage.Store has it.
type userLister interface {
	ListUsers(ctx context.Context) ([]storage.User, error)
}

// hashPad knows, for each legacy hash class in the store (bcrypt, PBKDF2),
// its most expensive parameters, so that every failed password check can do
// the same work: one argon2id verification at the current parameters (the
// user's own or DummyVerify) and one verification per legacy class at that
// class's highest cost (the user's own, topped up to that cost, or a dummy).
// An unknown user, a locked or disabled account, an argon2id user and an
// imported Django user then cost the same (issue 12, defect 2).
//
// The classes come from a scan of the users (on the first login, then every
// hashPadRescan) and from every user a login loads. A user imported by
// another process costs more than an unknown name only until the next scan
// or until any login loads that user. argon2id hashes under older
// parameters are not padded (they are rehashed on the next login).
type hashPad struct {
	mu      sync.Mutex
	max     map[string]password.Info // legacy class -> most expensive
	scanned time.Time                // zero: never
	scanMu  sync.Mutex               // one scan at a time
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

// refresh scans the store's users when no scan succeeded yet (every caller
// waits for it) or the last is older than hashPadRescan (one caller scans,
// the others go on with what is known). A failed scan is logged and retried
// by a later login.
func (s *Service) refreshHashPad(ctx context.Context, now time.Time) {
	lister, ok := s.store.(userLister)
	if !ok {
		return
	}
	p := &s.pad
	p.mu.Lock()
	first, due := p.scanned.IsZero(), now.Sub(p.scanned) >= hashPadRescan
	p.mu.Unlock()
	if !due {
		return
	}
	if first {
		p.scanMu.Lock()
	} else if !p.scanMu.TryLock() {
		return
	}
	defer p.scanMu.Unlock()
	p.mu.Lock()
	due = p.scanned.IsZero() || now.Sub(p.scanned) >= hashPadRescan
	p.mu.Unlock()
	if !due {
		return
	}
	users, err := lister.ListUsers(ctx)
	if err != nil {
		s.log.Warn("scan password hash classes", "err", err)
		return
	}
	for _, u := range users {
		p.learn(u.PasswordHash)
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
