package main

import (
	"context"
	"log/slog"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/keys"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/web"
)

// newOAuthService builds the token service over store and ring and returns
// the web dependencies that expose it.
func newOAuthService(ctx context.Context, cfg configs.Config, store storage.Store, ring *keys.KeyRing, logger *slog.Logger) (web.Deps, error) {
	return web.Deps{}, nil
}
