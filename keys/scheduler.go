package keys

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// Scheduler runs Reconcile on every tick of the rotation schedule and every
// interval, so a replica both rotates on time and picks up other replicas'
// changes (and revocations) within interval.
type Scheduler struct {
	rot      *Rotator
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger
}

// NewScheduler returns a scheduler for rot. now is the clock (time.Now when
// nil).
func NewScheduler(rot *Rotator, interval time.Duration, now func() time.Time, log *slog.Logger) *Scheduler {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Scheduler{rot: rot, interval: interval, now: now, log: log}
}

// Run reconciles at once, then at each cron tick and every interval, until
// ctx is done. Errors are logged and retried at the next wake-up; Run returns
// only ctx.Err().
func (s *Scheduler) Run(ctx context.Context) error {
	for {
		s.Tick(ctx)
		now := s.now()
		wait := s.interval
		// Wake at the next scheduled rotation, or when a waiting next key
		// becomes old enough, if that is sooner than the interval.
		if snap := s.rot.ring.Snapshot(); snap != nil {
			for _, k := range snap.Keys {
				if k.State != storage.KeyActive {
					continue
				}
				if d := s.rot.policy.Schedule.Next(k.ActivatedAt).Sub(now); d > 0 && d < wait {
					wait = d
				}
			}
			for _, k := range snap.Keys {
				if k.State != storage.KeyNext {
					continue
				}
				if d := k.PublishedAt.Add(s.rot.policy.Prepublish).Sub(now); d > 0 && d < wait {
					wait = d
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Tick runs one Reconcile at the current time and logs its outcome.
func (s *Scheduler) Tick(ctx context.Context) {
	res, err := s.rot.Reconcile(ctx, s.now())
	switch {
	case errors.Is(err, ErrLostRace):
		s.log.Debug("key set changed by another replica; reloaded")
	case err != nil:
		s.log.Error("reconcile keys", "err", err)
	case len(res.Waiting) > 0:
		for alg, at := range res.Waiting {
			s.log.Info("rotation due, waiting for pre-publication", "alg", alg, "until", at)
		}
	}
}
