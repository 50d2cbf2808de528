package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sigilauth/sigil/configs"
)

func newServeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the authorization server until SIGINT or SIGTERM",
		Long: `Run the authorization server: load and validate the configuration, open
storage, serve until SIGINT or SIGTERM, then close storage cleanly.

On SIGTERM /readyz answers 503 at once; serving goes on for shutdown_grace,
then in-flight requests get shutdown_timeout to finish. SIGHUP reloads the
log level, the TLS certificate and the token and session lifetimes, and
logs the changed settings that need a restart.

With no configuration at all it listens on 127.0.0.1:8080 with the embedded
bolt backend in ./sigil-data.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.serve(cmd.Context())
		},
	}
}

// serve is the body of `sigil serve`.
func (a *app) serve(ctx context.Context) error {
	cfg, err := a.config()
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	level.Set(logLevel(cfg.Log))
	logger := newLoggerAt(cfg.Log, level, a.stderr)
	a.warnUnknownEnv(logger)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	store, err := a.openStore(ctx, cfg)
	if err != nil {
		return failure(err) // Main prints it
	}
	logger.Info("storage opened", storageLogAttrs(cfg.Storage)...)

	srv, runErr := newServer(ctx, cfg, store, logger, a.getenv)
	if runErr == nil {
		srv.life.level, srv.life.hup, srv.life.loadConfig = level, hup, a.config
		runErr = srv.run(ctx)
	}

	closeErr := store.Close()
	if closeErr != nil {
		logger.Error("close storage failed", "err", closeErr)
	} else {
		logger.Info("storage closed")
	}
	if runErr != nil {
		return failure(fmt.Errorf("serve: %w", runErr))
	}
	if closeErr != nil {
		return failure(fmt.Errorf("close storage: %w", closeErr))
	}
	logger.Info("stopped")
	return nil
}

// newLogger returns a slog logger writing to w with the configured level
// and format (the configuration is already validated).
func newLogger(c configs.Log, w io.Writer) *slog.Logger {
	return newLoggerAt(c, logLevel(c), w)
}

// logLevel returns the configured level, info if it does not parse.
func logLevel(c configs.Log) slog.Level {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo
	}
	return level
}

// newLoggerAt is newLogger with the level given apart (a *slog.LevelVar
// lets SIGHUP change it).
func newLoggerAt(c configs.Log, level slog.Leveler, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// storageLogAttrs describes the storage backend for a log line. The MongoDB
// URI is reduced to its scheme and hosts: user, password and options (which
// may hold TLS key passwords) never reach the log.
func storageLogAttrs(s configs.Storage) []any {
	switch s.Backend {
	case "mongo":
		return []any{"backend", s.Backend, "mongo_hosts", mongoHosts(s.MongoURI), "database", s.MongoDatabase}
	default:
		return []any{"backend", s.Backend, "path", s.BoltPath}
	}
}

// mongoHosts returns "scheme://hosts" from a MongoDB connection string,
// dropping credentials, path and options.
func mongoHosts(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return "(invalid)"
	}
	hosts, _, _ := strings.Cut(rest, "/")
	hosts, _, _ = strings.Cut(hosts, "?")
	if i := strings.LastIndex(hosts, "@"); i >= 0 {
		hosts = hosts[i+1:]
	}
	return scheme + "://" + hosts
}
