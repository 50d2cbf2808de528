package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/keys"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/web"
)

// purgeInterval is how often a replica deletes expired records. Every
// replica purges; deletes are idempotent.
const purgeInterval = 10 * time.Minute

// shutdownTimeout bounds the graceful drain of in-flight requests.
const shutdownTimeout = 15 * time.Second

// runServer (getenv reads SIGIL_KEY_ENCRYPTION_KEY) loads the key ring (bootstrapping keys on an empty store),
// starts the reconcile scheduler and the purge loop, and serves HTTP on
// cfg.Listen until ctx is done, then drains in-flight requests.
func runServer(ctx context.Context, cfg configs.Config, store storage.Store, logger *slog.Logger, getenv func(string) string) error {
	if cfg.Keys.Prepublish < cfg.JWKS.MaxAge+cfg.Keys.ReconcileInterval {
		logger.Warn("keys.prepublish is shorter than jwks.max_age + keys.reconcile_interval: with several replicas, one may promote a key before another has published it",
			"prepublish", cfg.Keys.Prepublish, "max_age", cfg.JWKS.MaxAge, "reconcile_interval", cfg.Keys.ReconcileInterval)
	}
	sealer, err := loadSealer(cfg, getenv, true)
	if err != nil {
		return err
	}
	rot, ring, err := newRotator(cfg, store, sealer, logger)
	if err != nil {
		return err
	}
	if _, err := rot.Reconcile(ctx, time.Now()); err != nil && !errors.Is(err, keys.ErrLostRace) {
		return fmt.Errorf("initial key reconcile: %w", err)
	}
	oauthDeps, err := newOAuthService(ctx, cfg, store, ring, logger)
	if err != nil {
		return err
	}
	trusted, err := web.ParsePrefixes(cfg.Security.TrustedProxies)
	if err != nil {
		return fmt.Errorf("security.trusted_proxies: %w", err)
	}
	handler, err := web.New(web.Config{
		Issuer:         cfg.Issuer,
		JWKSMaxAge:     cfg.JWKS.MaxAge,
		TrustedProxies: trusted,
		Ready:          store.Ping,
		Logger:         logger,
	}, ring, oauthDeps)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	sched := keys.NewScheduler(rot, cfg.Keys.ReconcileInterval, time.Now, logger)
	go func() { _ = sched.Run(bg) }()
	go purgeLoop(bg, store, logger)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "issuer", cfg.Issuer)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

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
