package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/keys"
	"github.com/sigilauth/sigil/oauth"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/instrumented"
	"github.com/sigilauth/sigil/web"
)

// server is one Sigil replica assembled from its parts: the key ring and
// rotator over storage, the token service and the HTTP handler. newServer
// builds it without opening a port, so tests drive handler with httptest;
// run serves it on cfg.Listen.
type server struct {
	cfg    configs.Config
	store  storage.Store
	logger *slog.Logger

	ring    *keys.KeyRing
	rotator *keys.Rotator
	// tokens is the token service (a SIGHUP changes its lifetimes).
	tokens *oauth.Service
	// handler is the whole HTTP surface (web.Server).
	handler http.Handler
	// web is handler itself (a SIGHUP changes its allowed CORS origins).
	web *web.Server
	// registry holds every metric of this server; metrics serves it on
	// cfg.MetricsListen when that is set (otherwise handler serves
	// /metrics).
	registry *prometheus.Registry
	metrics  http.Handler

	// life is the lifecycle state (draining, reloads); see lifecycle.go.
	life *lifecycle
}

// newServer (getenv reads SIGIL_KEY_ENCRYPTION_KEY) loads the key-encryption
// key, builds the key ring and rotator and reconciles once (bootstrapping
// keys on an empty store), then builds the token service and the HTTP
// handler. It starts no goroutine and opens no port; the caller still owns
// store.
func newServer(ctx context.Context, cfg configs.Config, store storage.Store, logger *slog.Logger, getenv func(string) string) (*server, error) {
	if cfg.Keys.Prepublish < cfg.JWKS.MaxAge+cfg.Keys.ReconcileInterval {
		logger.Warn("keys.prepublish is shorter than jwks.max_age + keys.reconcile_interval: with several replicas, one may promote a key before another has published it",
			"prepublish", cfg.Keys.Prepublish, "max_age", cfg.JWKS.MaxAge, "reconcile_interval", cfg.Keys.ReconcileInterval)
	}
	sealer, err := loadSealer(cfg, getenv, true)
	if err != nil {
		return nil, err
	}
	reg := newRegistry()
	if err := registerCommitMetrics(reg, store); err != nil {
		return nil, err
	}
	// Every storage call of the server has its own deadline and is
	// measured; the caller still owns (and closes) the wrapped store.
	inst, err := instrumented.New(store, instrumented.Options{Backend: cfg.Storage.Backend, Timeout: cfg.Storage.Timeout, Registerer: reg})
	if err != nil {
		return nil, err
	}
	store = inst
	km, err := newKeyMetrics(reg, time.Now)
	if err != nil {
		return nil, err
	}
	rot, ring, err := newRotator(cfg, countingKeyStore{KeySetStore: store, m: km}, sealer, logger)
	if err != nil {
		return nil, err
	}
	km.rot = rot
	if _, err := rot.Reconcile(ctx, time.Now()); err != nil && !errors.Is(err, keys.ErrLostRace) {
		return nil, fmt.Errorf("initial key reconcile: %w", err)
	}
	obs, err := newTokenMetrics(reg)
	if err != nil {
		return nil, err
	}
	oauthDeps, svc, err := newOAuthService(ctx, cfg, store, ring, logger, obs)
	if err != nil {
		return nil, err
	}
	// The admin API (and the console) act through the same rotator, so a
	// revocation leaves this replica's JWKS before the answer is sent.
	oauthDeps.Admin = &adminService{
		admin: oauth.NewAdmin(store, timedHasher{next: oauth.Argon2id(argon2Params(cfg)), h: obs.hash},
			oauth.AdminConfig{Replica: replicaName(), Algorithms: cfg.Keys.Algorithms, ClientChanged: svc.ForgetClient}),
		rot: rot, store: store, algorithms: cfg.Keys.Algorithms,
		prepublish: cfg.Keys.Prepublish, maxAge: cfg.JWKS.MaxAge, now: time.Now,
	}
	oauthDeps.AdminTokens = adminTokens{svc: svc}
	oauthDeps.Consumers = newConsumerRecorder(store, cfg.JWKS.ConsumerTTL)
	oauthDeps.Console = svc
	trusted, err := web.ParsePrefixes(cfg.Security.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("security.trusted_proxies: %w", err)
	}
	webMetrics, err := web.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	metrics := metricsHandler(reg)
	life := newLifecycle()
	wcfg := web.Config{
		Issuer:         cfg.Issuer,
		JWKSMaxAge:     cfg.JWKS.MaxAge,
		TrustedProxies: trusted,
		Title:          cfg.Web.Title,
		Ready:          life.ready(store.Ping),
		Logger:         logger,
		Metrics:        webMetrics,
		AllowedOrigins: cfg.CORS.AllowedOrigins,
	}
	if cfg.MetricsListen == "" {
		wcfg.MetricsHandler = metrics
	}
	handler, err := web.New(wcfg, ringKeys{ring}, oauthDeps)
	if err != nil {
		return nil, err
	}
	return &server{cfg: cfg, store: store, logger: logger, ring: ring, rotator: rot, tokens: svc, handler: handler, web: handler,
		registry: reg, metrics: metrics, life: life}, nil
}

// envKEK names the environment variable holding the base64 key-encryption
// key.
const envKEK = "SIGIL_KEY_ENCRYPTION_KEY"

// envKEKPrevious names the environment variable holding the previous
// key-encryption key during a KEK rotation (opening only).
const envKEKPrevious = "SIGIL_KEY_ENCRYPTION_KEY_PREVIOUS"

// defaultKEKPath is where the bolt backend keeps its generated KEK: beside
// the data file.
func defaultKEKPath(cfg configs.Config) string {
	return filepath.Join(filepath.Dir(cfg.Storage.BoltPath), "key-encryption-key")
}

// loadSealer finds the key-encryption key: SIGIL_KEY_ENCRYPTION_KEY, else
// keys.encryption_key_file, else (bolt only) the file beside the data file,
// generated when create is set and it does not exist. The mongo backend
// refuses to run without an explicit KEK: a generated one on one replica's
// disk would lock the others out. SIGIL_KEY_ENCRYPTION_KEY_PREVIOUS, else
// keys.encryption_key_previous_file, adds the previous KEK for opening only.
func loadSealer(cfg configs.Config, getenv func(string) string, create bool) (*keys.Sealer, error) {
	var kek []byte
	var err error
	switch {
	case getenv(envKEK) != "":
		kek, err = keys.DecodeKEK(getenv(envKEK))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envKEK, err)
		}
	case cfg.Keys.EncryptionKeyFile != "":
		kek, err = keys.ReadKEKFile(cfg.Keys.EncryptionKeyFile)
	case cfg.Storage.Backend == "bolt":
		path := defaultKEKPath(cfg)
		kek, err = keys.ReadKEKFile(path)
		if errors.Is(err, os.ErrNotExist) && create {
			kek, err = keys.GenerateKEKFile(path)
		}
	default:
		return nil, fmt.Errorf("storage.backend %s needs a key-encryption key: set %s (base64 of 32 bytes) or keys.encryption_key_file", cfg.Storage.Backend, envKEK)
	}
	if err != nil {
		return nil, err
	}
	sealer, err := keys.NewSealer(kek)
	if err != nil {
		return nil, err
	}
	var prev []byte
	switch {
	case getenv(envKEKPrevious) != "":
		if prev, err = keys.DecodeKEK(getenv(envKEKPrevious)); err != nil {
			return nil, fmt.Errorf("%s: %w", envKEKPrevious, err)
		}
	case cfg.Keys.EncryptionKeyPreviousFile != "":
		if prev, err = keys.ReadKEKFile(cfg.Keys.EncryptionKeyPreviousFile); err != nil {
			return nil, fmt.Errorf("keys.encryption_key_previous_file: %w", err)
		}
	default:
		return sealer, nil
	}
	previous, err := keys.NewSealer(prev)
	if err != nil {
		return nil, err
	}
	return sealer.WithPrevious(previous)
}

// rotationPolicy derives the key policy from the configuration.
func rotationPolicy(cfg configs.Config) (keys.Policy, error) {
	sched, err := keys.ParseSchedule(cfg.Keys.Rotation)
	if err != nil {
		return keys.Policy{}, err
	}
	return keys.Policy{
		Algorithms: cfg.Keys.Algorithms,
		RSABits:    cfg.Keys.RSABits,
		Schedule:   sched,
		Prepublish: cfg.Keys.Prepublish,
		RetainFor:  retainFor(cfg.Tokens, cfg.Keys.ClockLeeway),
	}, nil
}

// retainFor is how long a retired key must stay published: the longest
// token lifetime it could have signed (access or ID token) plus the clock
// leeway of resource servers.
func retainFor(t configs.Tokens, leeway time.Duration) time.Duration {
	return max(t.AccessTTL, t.IDTokenTTL) + leeway
}

// newRotator builds the key ring and the rotator over store.
func newRotator(cfg configs.Config, store storage.KeySetStore, sealer *keys.Sealer, logger *slog.Logger, opts ...keys.RotatorOption) (*keys.Rotator, *keys.KeyRing, error) {
	pol, err := rotationPolicy(cfg)
	if err != nil {
		return nil, nil, err
	}
	ring := keys.NewKeyRing(sealer, cfg.Keys.Algorithms)
	rot, err := keys.NewRotator(store, sealer, ring, pol, append([]keys.RotatorOption{keys.WithLogger(logger)}, opts...)...)
	if err != nil {
		return nil, nil, err
	}
	return rot, ring, nil
}
