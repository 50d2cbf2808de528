package keys

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/sigilauth/sigil/storage"
)

// KeySetStore is what the rotator needs from storage.
type KeySetStore interface {
	GetKeySet(ctx context.Context) (storage.KeySet, error)
	CompareAndSwapKeySet(ctx context.Context, oldVersion int64, next storage.KeySet) (int64, error)
	AppendKeyEvent(ctx context.Context, e storage.KeyEvent) error
}

var _ KeySetStore = storage.Store(nil)

// Policy is the rotation policy.
type Policy struct {
	// Algorithms lists the key families; the first signs by default.
	Algorithms []string
	// RSABits is the RSA modulus size for RS256 keys.
	RSABits int
	// Schedule says when a rotation is due, from the active key's activation.
	Schedule cron.Schedule
	// Prepublish is how long a next key must have been published before it
	// may sign.
	Prepublish time.Duration
	// RetainFor is how long a retired key stays published: the longest token
	// lifetime it could have signed plus clock leeway. SetRetainFor changes
	// it while the rotator runs.
	RetainFor time.Duration
}

// retention is how long keys retired from now on stay published.
type retention struct {
	// retainFor is Policy.RetainFor as last set.
	retainFor time.Duration
	// floor is the earliest verify_until of a key retired from now on:
	// tokens signed under a longer earlier retention may be valid until
	// then (zero: none).
	floor time.Time
}

// verifyUntil is the verify_until of a key retired at now.
func (rt *retention) verifyUntil(now time.Time) time.Time {
	v := now.Add(rt.retainFor)
	if rt.floor.After(v) {
		return rt.floor
	}
	return v
}

// ParseSchedule parses a robfig/cron standard spec: five fields
// ("0 3 * * 1") or a descriptor ("@every 720h", "@weekly"). configs.Validate
// checks keys.rotation against the same grammar.
func ParseSchedule(spec string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("rotation schedule %q: %w", spec, err)
	}
	return s, nil
}

// Rotator applies key transitions to the stored key set through
// compare-and-swap and keeps a KeyRing loaded with the result. Its methods are
// safe for concurrent use; replicas sharing a store each run their own.
type Rotator struct {
	store  KeySetStore
	sealer *Sealer
	ring   *KeyRing
	policy Policy // policy.RetainFor is the initial retention only
	// retain is the retention in force (see SetRetainFor); stored with mu
	// held, read by each plan once.
	retain atomic.Pointer[retention]
	actor  string
	log    *slog.Logger
	gen    func(alg string, rsaBits int) (*Material, error)

	mu  sync.Mutex // serializes this replica's own transitions
	seq uint64     // event id tie-breaker
}

// RotatorOption configures a Rotator.
type RotatorOption func(*Rotator)

// WithActor names this replica in audit events (default hostname/pid).
func WithActor(actor string) RotatorOption { return func(r *Rotator) { r.actor = actor } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) RotatorOption { return func(r *Rotator) { r.log = l } }

// WithGenerator replaces key generation (tests use small, fast keys or
// inject failures).
func WithGenerator(gen func(alg string, rsaBits int) (*Material, error)) RotatorOption {
	return func(r *Rotator) { r.gen = gen }
}

// NewRotator returns a rotator over store that seals keys with sealer and
// loads ring after every read or change.
func NewRotator(store KeySetStore, sealer *Sealer, ring *KeyRing, policy Policy, opts ...RotatorOption) (*Rotator, error) {
	if len(policy.Algorithms) == 0 {
		return nil, errors.New("rotator: no algorithms")
	}
	for _, a := range policy.Algorithms {
		if !SupportedAlg(a) {
			return nil, fmt.Errorf("rotator: %w: %q", ErrUnsupportedAlg, a)
		}
	}
	if policy.Schedule == nil {
		return nil, errors.New("rotator: no schedule")
	}
	if sealer == nil {
		return nil, errors.New("rotator: no key-encryption key")
	}
	host, _ := os.Hostname()
	r := &Rotator{
		store: store, sealer: sealer, ring: ring, policy: policy,
		actor: fmt.Sprintf("%s/%d", host, os.Getpid()),
		log:   slog.Default(),
		gen:   Generate,
	}
	r.retain.Store(&retention{retainFor: policy.RetainFor})
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// RetainFor returns how long a key retired now stays published (the
// policy's RetainFor, or what SetRetainFor set last), not counting the
// floor a shortening keeps.
func (r *Rotator) RetainFor() time.Duration { return r.retain.Load().retainFor }

// SetRetainFor changes how long keys retired from now on stay published,
// for a change of token lifetimes while the rotator runs: d must be the
// longest token lifetime that can be signed from now on plus clock leeway,
// and positive.
//
// A longer d applies at once; call it before tokens of the longer lifetime
// are signed. A shorter d must not cut off tokens already signed under the
// previous retention: call it once no token of the previous lifetimes can
// be signed any more, and a key retired after now keeps its verify_until
// at least now + the previous retention (the floor), so a token signed up
// to now stays verifiable until it expires. Keys already retired keep the
// verify_until they have. It waits for a key-set change this rotator has
// in progress, so no key it retires after SetRetainFor returns gets the
// previous retention. The retention is this process's: every replica that
// may retire keys must be given the same change, and a restart forgets
// the floor.
func (r *Rotator) SetRetainFor(d time.Duration, now time.Time) error {
	if d <= 0 {
		return fmt.Errorf("rotator: retention %s is not positive", d)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.retain.Load()
	r.retain.Store(&retention{retainFor: d, floor: old.verifyUntil(now)})
	return nil
}

// Ring returns the ring this rotator keeps loaded.
func (r *Rotator) Ring() *KeyRing { return r.ring }

// Result describes what one operation did.
type Result struct {
	// Changed reports whether this call committed a key transition. (A call
	// that only drops audit events already flushed from the record stores a
	// new version too, but is not a change.)
	Changed bool
	// Version is the key-set version after the call.
	Version int64
	// Events are the transitions committed (empty if none).
	Events []storage.KeyEvent
	// Waiting maps an algorithm to when its next key becomes old enough to
	// promote, for algorithms whose rotation is due or requested but waits
	// on pre-publication.
	Waiting map[string]time.Time
}

// ErrKEKMismatch reports that the stored keys are sealed under another
// key-encryption key than this process's (for example after `keys rewrap`):
// the process refuses to change the key set until restarted with the new KEK.
var ErrKEKMismatch = errors.New("key-encryption key mismatch")

// ErrLostRace reports that another writer changed the key set first; this
// replica reloaded the winner's set and did nothing more.
var ErrLostRace = errors.New("key set changed concurrently")

// Reconcile brings the stored key set to the state the policy wants at now:
// it bootstraps an empty store (an active and a next key per algorithm),
// repairs impossible states, promotes a due next key once it has been
// published for Prepublish, generates a new next key after each promotion,
// and drops retired keys past verify_until. It is idempotent: calling it
// again at the same now changes nothing. If another replica commits first it
// reloads the ring and returns ErrLostRace.
func (r *Rotator) Reconcile(ctx context.Context, now time.Time) (Result, error) {
	return r.apply(ctx, now, r.actor, func(p *plan) error { return nil })
}

// Rotate promotes each algorithm's next key now if it has been published for
// Prepublish (or at once when force is set, for emergencies: caches may not
// have the next key yet), whatever the schedule says. Algorithms whose next
// key is too young are listed in Result.Waiting.
func (r *Rotator) Rotate(ctx context.Context, now time.Time, force bool, actor, reason string) (Result, error) {
	return r.retrying(ctx, func() (Result, error) {
		return r.apply(ctx, now, actor, func(p *plan) error {
			for _, alg := range r.policy.Algorithms {
				next := p.find(alg, storage.KeyNext)
				if next < 0 {
					continue
				}
				ready := p.keys[next].PublishedAt.Add(r.policy.Prepublish)
				if !force && now.Before(ready) {
					p.waiting[alg] = ready
					continue
				}
				why := "manual rotation"
				if force {
					why = "forced rotation"
				}
				if reason != "" {
					why += ": " + reason
				}
				if err := p.promote(alg, why); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// ErrUnknownKey reports a kid not in the key set.
var ErrUnknownKey = errors.New("no such key")

// Revoke pulls the key kid at once: it leaves the JWKS, its private part is
// erased, and if it was active the next key (or a new one) is promoted in
// its place. Revoking a revoked key is a no-op.
func (r *Rotator) Revoke(ctx context.Context, now time.Time, kid, actor, reason string) (Result, error) {
	return r.retrying(ctx, func() (Result, error) {
		return r.apply(ctx, now, actor, func(p *plan) error {
			i := slices.IndexFunc(p.keys, func(k storage.Key) bool { return k.KID == kid })
			if i < 0 {
				return fmt.Errorf("revoke %s: %w", kid, ErrUnknownKey)
			}
			if p.keys[i].State == storage.KeyRevoked {
				return nil
			}
			k := &p.keys[i]
			p.event(*k, "revoke", k.State, storage.KeyRevoked, reason)
			k.State = storage.KeyRevoked
			k.SealedPrivate, k.KEKID = nil, ""
			k.RevokedAt = now
			k.RevokeReason = reason
			// The reconcile pass that follows promotes a replacement for a
			// revoked active key and generates a new next key.
			return nil
		})
	})
}

// Rewrap re-seals every private key under newSealer. After it succeeds the
// store holds no key sealed under the old KEK; the ring is not reloaded,
// because this process's sealer still holds the old KEK.
func (r *Rotator) Rewrap(ctx context.Context, now time.Time, newSealer *Sealer, actor string) (Result, error) {
	return r.retrying(ctx, func() (Result, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		set, err := r.load(ctx)
		if err != nil {
			return Result{}, err
		}
		carried := r.flush(ctx, set.PendingEvents)
		next := set
		next.Keys = slices.Clone(set.Keys)
		var events []storage.KeyEvent
		for i := range next.Keys {
			k := &next.Keys[i]
			if len(k.SealedPrivate) == 0 || k.KEKID == newSealer.ID() {
				continue
			}
			opener := r.sealer.sealerFor(k.KEKID)
			if opener == nil {
				return Result{}, fmt.Errorf("rewrap %s: sealed under %s, neither the current nor the previous key-encryption key", k.KID, k.KEKID)
			}
			der, err := opener.Open(k.SealedPrivate, sealAAD(k.KID, k.Alg))
			if err != nil {
				return Result{}, fmt.Errorf("rewrap %s: %w", k.KID, err)
			}
			sealed, err := newSealer.Seal(der, sealAAD(k.KID, k.Alg))
			clear(der)
			if err != nil {
				return Result{}, fmt.Errorf("rewrap %s: %w", k.KID, err)
			}
			k.SealedPrivate, k.KEKID = sealed, newSealer.ID()
			events = append(events, r.newEvent(now, *k, "rewrap", k.State, k.State, actor, "sealed under "+newSealer.ID()))
		}
		if len(events) == 0 {
			v := set.Version
			if len(carried) < len(set.PendingEvents) {
				if stored, err := r.dropFlushed(ctx, set, carried); err == nil {
					v = stored.Version
				}
			}
			return Result{Version: v}, nil
		}
		next.UpdatedAt, next.UpdatedBy = now, actor
		next.PendingEvents = append(carried, events...)
		stored, err := r.commit(ctx, set.Version, next)
		if errors.Is(err, storage.ErrConflict) {
			return Result{}, ErrLostRace
		}
		if err != nil {
			return Result{}, fmt.Errorf("store key set: %w", err)
		}
		return Result{Changed: true, Version: stored.Version, Events: events}, nil
	})
}

// Reload reads the stored key set into the ring.
func (r *Rotator) Reload(ctx context.Context, now time.Time) error {
	set, err := r.load(ctx)
	if err != nil {
		return err
	}
	if set.Version == 0 {
		return ErrNotLoaded
	}
	return r.ring.Load(set, now)
}

// retrying runs an operator action again when another replica won a race:
// unlike Reconcile, an operator's rotate or revoke must happen.
func (r *Rotator) retrying(ctx context.Context, op func() (Result, error)) (Result, error) {
	for attempt := 0; ; attempt++ {
		res, err := op()
		if !errors.Is(err, ErrLostRace) || attempt == 4 {
			return res, err
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
}

func (r *Rotator) load(ctx context.Context) (storage.KeySet, error) {
	set, err := r.store.GetKeySet(ctx)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.KeySet{}, nil
	}
	if err != nil {
		return storage.KeySet{}, fmt.Errorf("load key set: %w", err)
	}
	return set, nil
}

// apply loads the key set, lets edit change it, reconciles the result with
// the policy, and commits through one compare-and-swap. Key generation
// happens before the swap, outside any lock the store holds.
func (r *Rotator) apply(ctx context.Context, now time.Time, actor string, edit func(*plan) error) (Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	set, err := r.load(ctx)
	if err != nil {
		return Result{}, err
	}
	// Never mix KEKs: new keys are sealed under the KEK the stored keys
	// use, which must be this process's current one or, during a KEK
	// rotation before `keys rewrap`, its previous one (so replicas not yet
	// restarted with the new KEK still open every key). A replica still
	// holding only an old KEK after a rewrap changes nothing.
	sealer := r.sealer
	sealedUnder := ""
	for _, k := range set.Keys {
		if len(k.SealedPrivate) == 0 {
			continue
		}
		s := r.sealer.sealerFor(k.KEKID)
		if s == nil || (sealedUnder != "" && k.KEKID != sealedUnder) {
			return Result{}, fmt.Errorf("key %s is sealed under %s, this process has %s: %w", k.KID, k.KEKID, r.sealer.ID(), ErrKEKMismatch)
		}
		sealer, sealedUnder = s, k.KEKID
	}
	// Audit events a crash left pending in the record go to the log first;
	// those the log refused stay pending in the next version.
	carried := r.flush(ctx, set.PendingEvents)
	p := &plan{r: r, sealer: sealer, now: now, actor: actor, keys: slices.Clone(set.Keys), waiting: map[string]time.Time{}, last: set.LastRotation, retain: r.retain.Load()}
	if err := edit(p); err != nil {
		return Result{}, err
	}
	if err := p.reconcile(); err != nil {
		return Result{}, err
	}
	res := Result{Version: set.Version, Waiting: p.waiting}
	if len(p.events) == 0 && len(carried) < len(set.PendingEvents) {
		// No transition, but pending events reached the log: drop them
		// from the record.
		stored, err := r.dropFlushed(ctx, set, carried)
		if err == nil {
			set = stored
			res.Version = set.Version
		}
	}
	if len(p.events) == 0 {
		// Nothing to change here, but another replica may have committed
		// since the last load. An unchanged version needs no rebuild: a
		// retired key reaching verify_until is itself a change (an expire
		// event), so the snapshot's published keys cannot go stale.
		if snap := r.ring.Snapshot(); set.Version > 0 && (snap == nil || snap.Version != set.Version) {
			if err := r.ring.Load(set, now); err != nil {
				return res, err
			}
		}
		return res, nil
	}
	next := storage.KeySet{
		Keys: p.keys, LastRotation: p.last, UpdatedAt: now, UpdatedBy: actor,
		PendingEvents: append(carried, p.events...),
	}
	stored, err := r.commit(ctx, set.Version, next)
	if errors.Is(err, storage.ErrConflict) {
		// Another replica won: take its set and do nothing more.
		if rerr := r.Reload(ctx, now); rerr != nil && !errors.Is(rerr, ErrNotLoaded) {
			r.log.Warn("reload key set after lost race", "err", rerr)
		}
		return res, ErrLostRace
	}
	if err != nil {
		return res, fmt.Errorf("store key set: %w", err)
	}
	next = stored
	res.Changed, res.Version, res.Events = true, stored.Version, p.events
	for _, e := range p.events {
		r.log.Info("key transition", "kid", e.KID, "alg", e.Alg, "action", e.Action, "from", e.From, "to", e.To, "actor", e.Actor, "reason", e.Reason)
	}
	if err := r.ring.Load(next, now); err != nil {
		return res, fmt.Errorf("load committed key set: %w", err)
	}
	return res, nil
}

// commit stores next (whose PendingEvents hold the audit events of its
// transitions, so they are committed in the same swap) over oldVersion, then
// flushes the pending events to the audit log and drops those the log took
// with a second swap. It returns the key set as last stored. Once the first
// swap succeeded the change is committed: a failure to flush or to drop is
// logged, not returned, and the events stay pending for the next writer or
// Reconcile on any replica to flush.
func (r *Rotator) commit(ctx context.Context, oldVersion int64, next storage.KeySet) (storage.KeySet, error) {
	v, err := r.store.CompareAndSwapKeySet(ctx, oldVersion, next)
	if err != nil {
		return storage.KeySet{}, err
	}
	next.Version = v
	left := r.flush(ctx, next.PendingEvents)
	if len(left) == len(next.PendingEvents) {
		return next, nil
	}
	if stored, err := r.dropFlushed(ctx, next, left); err == nil {
		return stored, nil
	}
	return next, nil
}

// dropFlushed stores set again with only left pending. A lost race is
// harmless: whoever swapped first read the same pending events and flushed
// them before writing its own version.
func (r *Rotator) dropFlushed(ctx context.Context, set storage.KeySet, left []storage.KeyEvent) (storage.KeySet, error) {
	cleared := set
	cleared.Keys = slices.Clone(set.Keys)
	cleared.PendingEvents = left
	v, err := r.store.CompareAndSwapKeySet(ctx, set.Version, cleared)
	if err != nil {
		if !errors.Is(err, storage.ErrConflict) {
			r.log.Warn("drop flushed key audit events from the key set", "err", err)
		}
		return storage.KeySet{}, err
	}
	cleared.Version = v
	return cleared, nil
}

// flush appends events to the audit log and returns those it could not
// append. An event already in the log (the same ID) counts as appended, so
// flushing twice never records an event twice.
func (r *Rotator) flush(ctx context.Context, events []storage.KeyEvent) []storage.KeyEvent {
	var left []storage.KeyEvent
	for _, e := range events {
		err := r.store.AppendKeyEvent(ctx, e)
		if err == nil || errors.Is(err, storage.ErrDuplicate) {
			continue
		}
		r.log.Error("record key audit event", "kid", e.KID, "action", e.Action, "err", err)
		left = append(left, e)
	}
	return left
}

func (r *Rotator) newEvent(now time.Time, k storage.Key, action string, from, to storage.KeyState, actor, reason string) storage.KeyEvent {
	r.seq++
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return storage.KeyEvent{
		ID:   fmt.Sprintf("%019d-%06d-%s", now.UnixNano(), r.seq%1000000, hex.EncodeToString(rnd[:])),
		Time: now, KID: k.KID, Alg: k.Alg, Action: action, From: from, To: to, Actor: actor, Reason: reason,
	}
}

// plan is one pending edit of the key set.
type plan struct {
	r       *Rotator
	sealer  *Sealer // seals new keys: the KEK the stored keys use
	now     time.Time
	actor   string
	keys    []storage.Key
	events  []storage.KeyEvent
	waiting map[string]time.Time
	last    time.Time
	retain  *retention // read once per plan
}

func (p *plan) event(k storage.Key, action string, from, to storage.KeyState, reason string) {
	p.events = append(p.events, p.r.newEvent(p.now, k, action, from, to, p.actor, reason))
}

// find returns the index of the first key of alg in state st, or -1.
func (p *plan) find(alg string, st storage.KeyState) int {
	return slices.IndexFunc(p.keys, func(k storage.Key) bool { return k.Alg == alg && k.State == st })
}

func (p *plan) generate(alg string, st storage.KeyState, reason string) error {
	m, err := p.r.gen(alg, p.r.policy.RSABits)
	if err != nil {
		return err
	}
	der, err := marshalPrivate(m.Private)
	if err != nil {
		return err
	}
	sealed, err := p.sealer.Seal(der, sealAAD(m.KID, m.Alg))
	clear(der)
	if err != nil {
		return err
	}
	k := storage.Key{
		KID: m.KID, Alg: m.Alg, State: st, PublicJWK: m.PublicJWK,
		SealedPrivate: sealed, KEKID: p.sealer.ID(),
		CreatedAt: p.now, PublishedAt: p.now,
	}
	if st == storage.KeyActive {
		k.ActivatedAt = p.now
	}
	p.keys = append(p.keys, k)
	p.event(k, "generate", "", st, reason)
	return nil
}

func (p *plan) retire(i int, reason string) {
	k := &p.keys[i]
	p.event(*k, "retire", k.State, storage.KeyRetired, reason)
	k.State = storage.KeyRetired
	k.SealedPrivate, k.KEKID = nil, ""
	k.RetiredAt = p.now
	k.VerifyUntil = p.retain.verifyUntil(p.now)
}

// promote retires alg's active key (if any) and activates its next key.
func (p *plan) promote(alg, reason string) error {
	next := p.find(alg, storage.KeyNext)
	if next < 0 {
		return fmt.Errorf("promote %s: no next key", alg)
	}
	if act := p.find(alg, storage.KeyActive); act >= 0 {
		p.retire(act, reason)
	}
	k := &p.keys[next]
	p.event(*k, "promote", storage.KeyNext, storage.KeyActive, reason)
	k.State = storage.KeyActive
	k.ActivatedAt = p.now
	if p.now.After(p.last) {
		p.last = p.now
	}
	return nil
}

// reconcile applies the policy to the pending key set.
func (p *plan) reconcile() error {
	pol := p.r.policy
	configured := func(alg string) bool { return slices.Contains(pol.Algorithms, alg) }

	// Drop keys whose publication is over; retire families no longer
	// configured.
	kept := p.keys[:0:0]
	for _, k := range p.keys {
		switch {
		case k.State == storage.KeyRetired && !p.now.Before(k.VerifyUntil):
			p.event(k, "expire", storage.KeyRetired, "", "past verify_until")
			continue
		case k.State == storage.KeyRevoked && !p.now.Before(k.RevokedAt.Add(p.retain.retainFor)):
			p.event(k, "expire", storage.KeyRevoked, "", "revoked key record expired")
			continue
		case k.State == storage.KeyNext && !configured(k.Alg):
			p.event(k, "discard", storage.KeyNext, "", "algorithm no longer configured")
			continue
		}
		kept = append(kept, k)
	}
	p.keys = kept
	for i := range p.keys {
		if p.keys[i].State == storage.KeyActive && !configured(p.keys[i].Alg) {
			p.retire(i, "algorithm no longer configured")
		}
	}

	for _, alg := range pol.Algorithms {
		// Repair: never two active or two next keys for one algorithm. Keep
		// the newest active and the oldest next.
		var actives, nexts []int
		for i, k := range p.keys {
			if k.Alg != alg {
				continue
			}
			switch k.State {
			case storage.KeyActive:
				actives = append(actives, i)
			case storage.KeyNext:
				nexts = append(nexts, i)
			}
		}
		if len(actives) > 1 {
			sort.Slice(actives, func(a, b int) bool {
				return p.keys[actives[a]].ActivatedAt.After(p.keys[actives[b]].ActivatedAt)
			})
			for _, i := range actives[1:] {
				p.retire(i, "repair: more than one active key")
			}
		}
		if len(nexts) > 1 {
			sort.Slice(nexts, func(a, b int) bool {
				return p.keys[nexts[a]].PublishedAt.Before(p.keys[nexts[b]].PublishedAt)
			})
			drop := map[string]bool{}
			for _, i := range nexts[1:] {
				drop[p.keys[i].KID] = true
				p.event(p.keys[i], "discard", storage.KeyNext, "", "repair: more than one next key")
			}
			p.keys = slices.DeleteFunc(p.keys, func(k storage.Key) bool { return drop[k.KID] && k.State == storage.KeyNext })
		}

		act := p.find(alg, storage.KeyActive)
		next := p.find(alg, storage.KeyNext)
		switch {
		case act < 0 && next >= 0:
			// No signer (first start after a revocation, or a repair): sign
			// with the published next key at once rather than not at all.
			if err := p.promote(alg, "no active key"); err != nil {
				return err
			}
		case act < 0:
			if err := p.generate(alg, storage.KeyActive, "bootstrap"); err != nil {
				return err
			}
		case next >= 0 && !p.now.Before(pol.Schedule.Next(p.keys[act].ActivatedAt)):
			ready := p.keys[next].PublishedAt.Add(pol.Prepublish)
			if p.now.Before(ready) {
				p.waiting[alg] = ready
				break
			}
			if err := p.promote(alg, "scheduled rotation"); err != nil {
				return err
			}
		}
		if p.find(alg, storage.KeyNext) < 0 {
			if err := p.generate(alg, storage.KeyNext, "pre-publish next key"); err != nil {
				return err
			}
		}
	}
	return nil
}

// NextRotation returns when alg's active key is next due for rotation under
// the policy, and whether there is an active key at all.
func (r *Rotator) NextRotation(set storage.KeySet, alg string) (time.Time, bool) {
	for _, k := range set.Keys {
		if k.Alg == alg && k.State == storage.KeyActive {
			return r.policy.Schedule.Next(k.ActivatedAt), true
		}
	}
	return time.Time{}, false
}
