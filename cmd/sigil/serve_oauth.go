package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/keys"
	"github.com/sigilauth/sigil/oauth"
	"github.com/sigilauth/sigil/oauth/password"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/web"
)

// newOAuthService builds the token service over store and ring and returns
// the web dependencies that expose it, and the service itself. With compat.simplejwt on it warns
// (once, at start) when compat.client_id names no client registered with
// the password grant: the simplejwt routes then answer 500 until the client
// is added.
func newOAuthService(ctx context.Context, cfg configs.Config, store storage.Store, ring *keys.KeyRing, logger *slog.Logger, obs *tokenMetrics) (web.Deps, *oauth.Service, error) {
	sec := cfg.Security
	params := argon2Params(cfg)
	svc, err := oauth.New(oauthConfig(cfg), store, ring, timedHasher{next: oauth.Argon2id(params), h: obs.hash}, oauth.WithLogger(logger), oauth.WithObserver(obs),
		oauth.WithBackchannelNotifier(&web.BackchannelSender{}))
	if err != nil {
		return web.Deps{}, nil, err
	}
	boundHashMemory(sec.EffectivePasswordHashConcurrency(), params.Memory)
	if cfg.Compat.SimpleJWT {
		c, err := store.GetClient(ctx, cfg.Compat.ClientID)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			logger.Warn("compat.simplejwt is on but compat.client_id names no client; the simplejwt routes will fail until it is added",
				"client_id", cfg.Compat.ClientID)
		case err != nil:
			logger.Warn("could not check the simplejwt client", "client_id", cfg.Compat.ClientID, "err", err)
		case !containsString(c.Grants, oauth.GrantPassword):
			logger.Warn("the simplejwt client lacks the password grant; the simplejwt routes will fail", "client_id", c.ID)
		}
	}
	return web.Deps{OAuth: svc, SSO: svc}, svc, nil
}

// oauthConfig is the token service's configuration from cfg; its
// Lifetimes are also what a SIGHUP applies (see server.reloadLifetimes).
func oauthConfig(cfg configs.Config) oauth.Config {
	sec := cfg.Security
	return oauth.Config{
		Issuer:                  cfg.Issuer,
		AccessTTL:               cfg.Tokens.AccessTTL,
		IDTokenTTL:              cfg.Tokens.IDTokenTTL,
		RefreshTTL:              cfg.Tokens.RefreshTTL,
		RefreshIdleTTL:          cfg.Tokens.RefreshIdleTTL,
		RefreshReuseGrace:       cfg.Tokens.RefreshReuseGrace,
		SessionTTL:              cfg.Sessions.TTL,
		SessionIdleTTL:          cfg.Sessions.IdleTTL,
		Leeway:                  cfg.Keys.ClockLeeway,
		SimpleJWT:               cfg.Compat.SimpleJWT,
		CompatClientID:          cfg.Compat.ClientID,
		PasswordHashConcurrency: sec.EffectivePasswordHashConcurrency(),
		PasswordHashQueue:       sec.PasswordHashQueue,
		PasswordHashWait:        sec.PasswordHashWait,
		ClientCacheTTL:          clientCacheTTL(sec.ClientCacheTTL),
		Lockout: oauth.Lockout{
			FreeFailures: sec.Lockout.FreeFailures,
			BaseDelay:    sec.Lockout.BaseDelay,
			MaxDelay:     sec.Lockout.MaxDelay,
			Window:       sec.Lockout.Window,
		},
		IPLimit: oauth.IPLimit{
			Burst:        sec.IPLimit.Burst,
			Every:        sec.IPLimit.Every,
			MaxAddresses: sec.IPLimit.MaxAddresses,
			Disabled:     sec.IPLimit.Disabled,
		},
	}
}

// argon2Params returns the configured argon2id parameters of new hashes
// (validated by configs, so the conversions do not overflow).
func argon2Params(cfg configs.Config) password.Params {
	a := cfg.Security.Argon2id
	return password.Params{Memory: uint32(a.MemoryKiB), Time: uint32(a.Time), Threads: uint8(a.Threads)}
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// boundHashMemory tunes the Go collector for a server whose heap is small
// except for the argon2id memory of the logins being hashed (see
// gcSettings).
func boundHashMemory(slots int, memoryKiB uint32) {
	limit, percent := gcSettings(slots, memoryKiB, os.Getenv)
	if limit > 0 {
		debug.SetMemoryLimit(limit)
	}
	if percent > 0 {
		debug.SetGCPercent(percent)
	}
}

// gcPercent is the collector's GOGC when the soft memory limit is ours.
const gcPercent = 400

// hashHeadroom is the soft memory limit above the hash slots' memory: the
// server's own heap (a few MiB) with room to grow.
const hashHeadroom = 48 << 20

// gcSettings returns the soft memory limit and GOGC that serve sets (0:
// leave the runtime's). Unless GOMEMLIMIT is set, the limit is the argon2id
// memory of every hash slot plus hashHeadroom, and, unless GOGC is set too,
// GOGC is gcPercent instead of 100. Each hash's memory (19 MiB by
// default) comes from a pool and goes back to it (see the password
// package), so during logins the live heap is about the slots' memory: at
// GOGC=400 the heap could then grow to five times that before a
// collection, and the limit keeps it, and the RSS, under slots x 20 MiB +
// 80 MiB however many logins queue. Between logins the heap of a few MiB
// may grow fivefold before a collection, so cheap requests
// (client_credentials, refresh) pay about a quarter of the collection
// work of GOGC=100. Measured with make bench-server on 2 CPUs
// (2026-12-02): client_credentials ES256 0.066-0.072 ms of server CPU per
// token instead of 0.080-0.093 ms; a peak RSS of 100-119 MiB during 16
// concurrent logins instead of 119-138 MiB (the previous limit, + 64 MiB
// at GOGC=100, did not always hold the 120 MiB bound). Without any limit
// the peak was 139 MiB and a login cost 4 times the page faults and about
// 14% more CPU (measured before hash memory was pooled).
func gcSettings(slots int, memoryKiB uint32, getenv func(string) string) (limit int64, percent int) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, 0
	}
	limit = int64(slots)*int64(memoryKiB)*1024 + hashHeadroom
	if getenv("GOGC") == "" {
		percent = gcPercent
	}
	return limit, percent
}

// clientCacheTTL maps security.client_cache_ttl (0: off) to
// oauth.Config.ClientCacheTTL (negative: off, 0: the default).
func clientCacheTTL(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}
