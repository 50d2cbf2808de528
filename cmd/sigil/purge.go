package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/sigilauth/sigil/storage"
)

// purgeInterval is how often a replica deletes expired records. Every
// replica purges; deletes are idempotent.
const purgeInterval = 10 * time.Minute

// purgeLoop deletes expired records every purgeInterval until ctx is done.
func purgeLoop(ctx context.Context, store storage.Purger, logger *slog.Logger) {
	t := time.NewTicker(purgeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			st, err := store.Purge(ctx, time.Now())
			if err != nil {
				logger.Warn("purge expired records", "err", err)
				continue
			}
			logger.Debug("purged expired records", "refresh_tokens", st.RefreshTokens, "families", st.Families,
				"denied_tokens", st.DeniedTokens, "login_failures", st.LoginFailures)
		}
	}
}
