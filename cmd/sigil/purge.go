package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// purgeInterval is how often each replica tries to purge expired records.
const purgeInterval = 10 * time.Minute

// purgeLeaseName names the storage lease the purge runs under, so one
// replica at a time purges.
const purgeLeaseName = "purge"

// purgeStore is what the purge needs of storage.
type purgeStore interface {
	storage.Purger
	storage.Leaser
}

// purger deletes expired records under a lease: each round, the replica
// holding (or taking) the lease purges, the others skip. The holder
// renews at every round; the lease outlives one interval by half, so if
// the holder dies another replica takes over within two intervals.
type purger struct {
	store    purgeStore
	owner    string
	interval time.Duration
	now      func() time.Time
	logger   *slog.Logger
}

// newPurger returns a purger whose lease owner names this process
// (host/pid/random, unique among replicas).
func newPurger(store purgeStore, now func() time.Time, logger *slog.Logger) *purger {
	host, _ := os.Hostname()
	var rnd [4]byte
	_, _ = rand.Read(rnd[:])
	return &purger{
		store: store, owner: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(rnd[:])),
		interval: purgeInterval, now: now, logger: logger,
	}
}

// once runs one round: it reports whether this replica held the lease
// and purged. What was deleted is logged.
func (p *purger) once(ctx context.Context) (bool, error) {
	now := p.now()
	held, err := p.store.AcquireLease(ctx, purgeLeaseName, p.owner, now, p.interval+p.interval/2)
	if err != nil {
		return false, fmt.Errorf("purge lease: %w", err)
	}
	if !held {
		p.logger.Debug("purge skipped: another replica holds the purge lease")
		return false, nil
	}
	st, err := p.store.Purge(ctx, now)
	if err != nil {
		return true, fmt.Errorf("purge expired records: %w", err)
	}
	p.logger.Info("purged expired records", "families", st.Families,
		"denied_tokens", st.DeniedTokens, "login_failures", st.LoginFailures, "sessions", st.Sessions, "auth_codes", st.AuthCodes, "jwks_consumers", st.JWKSConsumers)
	return true, nil
}

// run calls once every interval until ctx is done.
func (p *purger) run(ctx context.Context) {
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := p.once(ctx); err != nil && ctx.Err() == nil {
				p.logger.Warn("purge failed", "err", err)
			}
		}
	}
}
