package main

import (
	"context"
	"log/slog"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/storage"
)

// runServer runs the server on store until ctx is cancelled (serve cancels
// it on SIGINT or SIGTERM) and returns nil after a clean stop, or the error
// that stopped it. It does not close store; serve does, after runServer
// returns. This placeholder serves nothing and just waits; serve_http.go
// replaces it with the HTTP server.
func runServer(ctx context.Context, cfg configs.Config, store storage.Store, logger *slog.Logger) error {
	logger.Info("serving (no HTTP server in this build)", "listen", cfg.Listen, "issuer", cfg.Issuer)
	<-ctx.Done()
	return nil
}
