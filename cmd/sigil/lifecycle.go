package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/keys"
)

// errDraining is what /readyz reports once shutdown has begun.
var errDraining = errors.New("shutting down")

// lifecycle is the part of a server's state that changes while it runs:
// whether it is draining, and what a SIGHUP may reload.
type lifecycle struct {
	draining atomic.Bool

	// Set by serve after newServer (nil in tests that build a server
	// without running it): the log level to change on reload, the SIGHUP
	// notifications and how to load the configuration again.
	level      *slog.LevelVar
	hup        <-chan os.Signal
	loadConfig func() (configs.Config, error)
}

func newLifecycle() *lifecycle { return &lifecycle{} }

// ready wraps the storage check of /readyz: once draining, the server is
// not ready, whatever storage says, so load balancers stop sending to it.
func (l *lifecycle) ready(ping func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if l.draining.Load() {
			return errDraining
		}
		return ping(ctx)
	}
}

// run starts the reconcile scheduler and the purge loop and serves HTTP
// (HTTPS when tls.cert_file is set) on cfg.Listen until ctx is done. Then
// /readyz answers 503 at once while serving goes on for shutdown_grace;
// then the listeners close, in-flight requests get shutdown_timeout to
// finish, and the background jobs stop (run waits for them). A SIGHUP on
// life.hup reloads what can be reloaded (see reload).
func (s *server) run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn),
	}
	var certs *certReloader
	if s.cfg.TLS.CertFile != "" {
		certs, err = newCertReloader(s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile, time.Now, s.logger)
		if err != nil {
			_ = ln.Close()
			return err
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: certs.GetCertificate}
	}

	bg, stopBG := context.WithCancel(context.Background())
	var jobs sync.WaitGroup
	defer func() { stopBG(); jobs.Wait() }()
	sched := keys.NewScheduler(s.rotator, s.cfg.Keys.ReconcileInterval, time.Now, s.logger)
	jobs.Add(2)
	go func() { defer jobs.Done(); _ = sched.Run(bg) }()
	go func() { defer jobs.Done(); newPurger(s.store, time.Now, s.logger).run(bg) }()

	errc := make(chan error, 2)
	go func() {
		if certs != nil {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	s.logger.Info("listening", "addr", ln.Addr().String(), "issuer", s.cfg.Issuer, "tls", certs != nil)
	if s.cfg.MetricsListen != "" {
		mln, err := net.Listen("tcp", s.cfg.MetricsListen)
		if err != nil {
			_ = srv.Close()
			return fmt.Errorf("listen on %s (metrics_listen): %w", s.cfg.MetricsListen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.metrics)
		msrv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: srv.ErrorLog}
		defer msrv.Close()
		go func() { errc <- msrv.Serve(mln) }()
		s.logger.Info("serving metrics", "addr", mln.Addr().String())
	}

	for done := false; !done; {
		select {
		case err := <-errc:
			_ = srv.Close()
			return fmt.Errorf("serve: %w", err)
		case <-s.life.hup:
			s.reload(certs)
		case <-ctx.Done():
			done = true
		}
	}
	s.life.draining.Store(true)
	s.logger.Info("shutting down: /readyz answers 503, serving on for the grace", "shutdown_grace", s.cfg.ShutdownGrace)
	grace := time.NewTimer(s.cfg.ShutdownGrace)
	select {
	case <-grace.C:
	case err := <-errc:
		grace.Stop()
		_ = srv.Close()
		return fmt.Errorf("serve: %w", err)
	}
	s.logger.Info("draining in-flight requests", "shutdown_timeout", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("requests still running after shutdown_timeout (%s) were cut: %w", s.cfg.ShutdownTimeout, err)
	}
	stopBG()
	jobs.Wait()
	s.logger.Info("background jobs stopped")
	return nil
}

// corsKey is the setting reload hands to web.Server.SetAllowedOrigins.
const corsKey = "cors.allowed_origins"

// lifetimeKeys are the settings reloadLifetimes applies.
var lifetimeKeys = []string{
	"tokens.access_ttl", "tokens.refresh_ttl", "tokens.refresh_idle_ttl", "tokens.id_token_ttl",
	"tokens.refresh_reuse_grace", "sessions.ttl", "sessions.idle_ttl",
}

// reload is the SIGHUP handler: it loads the configuration again and
// applies what a running server can change: the log level, the TLS
// certificate (re-read from its files), the origins allowed to call the
// token endpoints cross-origin (cors.allowed_origins) and the token and
// session lifetimes (see reloadLifetimes). Every other changed setting is
// logged as needing a restart; an invalid configuration changes nothing.
func (s *server) reload(certs *certReloader) {
	if s.life.loadConfig == nil {
		return
	}
	s.logger.Info("SIGHUP: reloading the configuration")
	next, err := s.life.loadConfig()
	if err != nil {
		s.logger.Error("reload: the configuration is invalid; nothing changed", "err", err)
		return
	}
	var reloaded []string
	if s.life.level != nil && next.Log.Level != s.cfg.Log.Level {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(next.Log.Level)); err == nil {
			s.life.level.Set(lvl)
			s.cfg.Log.Level = next.Log.Level
			reloaded = append(reloaded, "log.level")
		}
	}
	if certs != nil && next.TLS == s.cfg.TLS {
		if err := certs.reload(); err != nil {
			s.logger.Error("reload: TLS certificate not reloaded; the previous one stays", "err", err)
		} else {
			reloaded = append(reloaded, "tls")
		}
	}
	if s.web != nil && !slices.Equal(next.CORS.AllowedOrigins, s.cfg.CORS.AllowedOrigins) {
		if err := s.web.SetAllowedOrigins(next.CORS.AllowedOrigins); err != nil {
			// Unreachable: Validate checked the origins more strictly.
			s.logger.Error("reload: allowed origins not changed; the previous ones stay", "err", err)
		} else {
			s.cfg.CORS = next.CORS
			reloaded = append(reloaded, corsKey)
			s.logger.Info("reload: CORS allowed origins changed", "allowed_origins", strings.Join(next.CORS.AllowedOrigins, ","))
		}
	}
	old := map[string]string{}
	for _, st := range s.cfg.Settings() {
		old[st.Key] = st.Value
	}
	if s.tokens != nil {
		var changed []string
		for _, st := range next.Settings() {
			if slices.Contains(lifetimeKeys, st.Key) && old[st.Key] != st.Value {
				changed = append(changed, st.Key)
			}
		}
		if len(changed) > 0 {
			if err := s.reloadLifetimes(next); err != nil {
				s.logger.Error("reload: lifetimes not changed; the previous ones stay", "keys", strings.Join(changed, ","), "err", err)
			} else {
				reloaded = append(reloaded, changed...)
			}
		}
	}
	var restart []string
	for _, st := range next.Settings() {
		if old[st.Key] != st.Value && !slices.Contains(reloaded, st.Key) {
			restart = append(restart, st.Key)
		}
	}
	if len(restart) > 0 {
		s.logger.Warn("reload: these settings changed but take effect only after a restart", "keys", strings.Join(restart, ","))
	}
	s.logger.Info("reloaded", "applied", strings.Join(reloaded, ","))
}

// reloadLifetimes applies the token and session lifetimes of next to the
// token service, and to the key rotator the retention they imply (the
// longest token lifetime plus the running keys.clock_leeway), so that a
// key stays published as long as a token it signed is valid: a longer
// retention is set before tokens of the longer lifetime can be signed; a
// shorter one after the last token of the old lifetimes was, and the
// rotator keeps keys retired from then on published for the old retention
// (keys.Rotator.SetRetainFor). The set is checked first: an invalid one
// changes nothing. The rotator's retention is this replica's own: every
// replica must be reloaded alike.
func (s *server) reloadLifetimes(next configs.Config) error {
	lt := oauthConfig(next).Lifetimes()
	if err := lt.Validate(); err != nil {
		return err
	}
	retain := retainFor(next.Tokens, s.cfg.Keys.ClockLeeway)
	prev := s.rotator.RetainFor()
	if retain >= prev {
		if err := s.rotator.SetRetainFor(retain, time.Now()); err != nil {
			return err
		}
		if err := s.tokens.SetLifetimes(lt); err != nil {
			return err // unreachable: validated above; a longer retention alone is harmless
		}
	} else {
		if err := s.tokens.SetLifetimes(lt); err != nil {
			return err
		}
		if err := s.rotator.SetRetainFor(retain, time.Now()); err != nil {
			// Unreachable (lt is valid, so retain is positive); the
			// previous, longer retention stays, which is safe.
			s.logger.Error("reload: key retention not shortened", "err", err)
		}
	}
	s.cfg.Tokens, s.cfg.Sessions = next.Tokens, next.Sessions
	s.logger.Info("reload: token and session lifetimes changed for tokens and sessions issued from now on",
		"access_ttl", lt.AccessTTL, "id_token_ttl", lt.IDTokenTTL, "refresh_ttl", lt.RefreshTTL,
		"refresh_idle_ttl", lt.RefreshIdleTTL, "refresh_reuse_grace", lt.RefreshReuseGrace,
		"session_ttl", lt.SessionTTL, "session_idle_ttl", lt.SessionIdleTTL,
		"key_retention", retain, "previous_key_retention", prev)
	return nil
}
