package main

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sigilauth/sigil/keys"
	"github.com/sigilauth/sigil/oauth"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/bolt"
)

// newRegistry returns a fresh registry with the Go runtime and process
// collectors. Each server has its own (no global registry).
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// metricsHandler serves reg in the Prometheus exposition format.
func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// commitCounter is a store that counts its group commits (the bolt backend).
type commitCounter interface{ CommitStats() bolt.CommitStats }

// registerCommitMetrics exposes the group-commit totals of a bolt store as
// sigil_bolt_commits_total, sigil_bolt_commit_writes_total and
// sigil_bolt_commit_seconds_total, read from the store at each scrape. A
// store that keeps no such totals registers nothing.
func registerCommitMetrics(reg prometheus.Registerer, store storage.Store) error {
	cc, ok := store.(commitCounter)
	if !ok {
		return nil
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sigil_bolt_commits_total",
			Help: "bbolt read-write transactions committed by the group commit (each with its fsyncs).",
		}, func() float64 { return float64(cc.CommitStats().Commits) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sigil_bolt_commit_writes_total",
			Help: "Storage writes carried by those transactions; over sigil_bolt_commits_total, the writes sharing one commit.",
		}, func() float64 { return float64(cc.CommitStats().Writes) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "sigil_bolt_commit_seconds_total",
			Help: "Wall time spent in those transactions, fsyncs included; over sigil_bolt_commits_total, the latency of one commit.",
		}, func() float64 { return cc.CommitStats().Time.Seconds() }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// tokenMetrics is the real oauth.Observer: sigil_tokens_issued_total,
// sigil_token_errors_total, sigil_logins_total, sigil_refresh_reuse_total,
// sigil_password_hash_wait_seconds and sigil_password_hash_rejected_total.
// The client label is a client that authenticated; the service reports no
// other, and anything else becomes "unknown".
type tokenMetrics struct {
	issued   *prometheus.CounterVec
	errors   *prometheus.CounterVec
	logins   *prometheus.CounterVec
	reuse    prometheus.Counter
	grace    prometheus.Counter
	wait     prometheus.Histogram
	rejected prometheus.Counter
	hash     prometheus.Histogram
}

var _ oauth.Observer = (*tokenMetrics)(nil)

func newTokenMetrics(reg prometheus.Registerer) (*tokenMetrics, error) {
	m := &tokenMetrics{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigil_tokens_issued_total",
			Help: "Token responses issued, by grant, signing algorithm and client.",
		}, []string{"grant", "alg", "client"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigil_token_errors_total",
			Help: "Failed token requests by grant and OAuth error code.",
		}, []string{"grant", "error"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigil_logins_total",
			Help: "Password logins by result: success, bad_credentials, locked, throttled.",
		}, []string{"result"}),
		reuse: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sigil_refresh_reuse_total",
			Help: "Refresh tokens presented again after use, which revoked their family.",
		}),
		grace: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sigil_refresh_reuse_grace_total",
			Help: "Refresh tokens presented again within refresh_reuse_grace (answered, family kept).",
		}),
		wait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sigil_password_hash_wait_seconds",
			Help:    "Time a login waited for a password-hash slot.",
			Buckets: []float64{0, .001, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sigil_password_hash_rejected_total",
			Help: "Logins refused with 503 because no password-hash slot freed in time.",
		}),
		hash: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "sigil_password_hash_seconds",
			Help:    "Duration of one password hash or verification.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}),
	}
	for _, c := range []prometheus.Collector{m.issued, m.errors, m.logins, m.reuse, m.grace, m.wait, m.rejected, m.hash} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Every login result exists from the start, so rate() works on the
	// first event.
	for _, r := range []string{oauth.LoginSuccess, oauth.LoginBadCredentials, oauth.LoginLocked, oauth.LoginThrottled} {
		m.logins.WithLabelValues(r)
	}
	return m, nil
}

// clientLabel keeps the client label bounded: the service passes only the
// ids of authenticated clients; an empty id is "unknown".
func clientLabel(id string) string {
	if id == "" {
		return "unknown"
	}
	return id
}

func (m *tokenMetrics) TokenIssued(grant, alg, client string) {
	m.issued.WithLabelValues(grant, alg, clientLabel(client)).Inc()
}
func (m *tokenMetrics) TokenFailed(grant, code string) { m.errors.WithLabelValues(grant, code).Inc() }
func (m *tokenMetrics) RefreshReuse()                  { m.reuse.Inc() }
func (m *tokenMetrics) RefreshGrace()                  { m.grace.Inc() }
func (m *tokenMetrics) Login(result string)            { m.logins.WithLabelValues(result).Inc() }
func (m *tokenMetrics) PasswordHash(wait time.Duration, acquired bool) {
	m.wait.Observe(wait.Seconds())
	if !acquired {
		m.rejected.Inc()
	}
}

// timedHasher measures every hash and verification into
// sigil_password_hash_seconds.
type timedHasher struct {
	next oauth.PasswordHasher
	h    prometheus.Histogram
}

func (t timedHasher) Verify(encoded, pw string) (bool, bool, error) {
	defer t.observe(time.Now())
	return t.next.Verify(encoded, pw)
}

func (t timedHasher) Hash(pw string) (string, error) {
	defer t.observe(time.Now())
	return t.next.Hash(pw)
}

func (t timedHasher) DummyVerify(pw string) {
	defer t.observe(time.Now())
	t.next.DummyVerify(pw)
}

func (t timedHasher) observe(start time.Time) { t.h.Observe(time.Since(start).Seconds()) }

// keyMetrics derives the key gauges from the ring at scrape time, so there
// is no state to keep in sync with the rotator:
//
//   - sigil_key_age_seconds{alg,state}: age of the oldest key in that state;
//   - sigil_key_next_rotation_seconds{alg}: time until the active key is due
//     for rotation (negative when overdue);
//   - sigil_key_next_published_seconds{alg}: how long the next key has been
//     published (absent when there is none).
//
// sigil_key_transitions_total{alg,action} counts the transitions this
// replica committed (see countingKeyStore).
type keyMetrics struct {
	rot         *keys.Rotator
	now         func() time.Time
	age         *prometheus.Desc
	rotation    *prometheus.Desc
	published   *prometheus.Desc
	transitions *prometheus.CounterVec
}

func newKeyMetrics(reg prometheus.Registerer, now func() time.Time) (*keyMetrics, error) {
	m := &keyMetrics{
		now:       now,
		age:       prometheus.NewDesc("sigil_key_age_seconds", "Age of the oldest signing key in each state, by algorithm.", []string{"alg", "state"}, nil),
		rotation:  prometheus.NewDesc("sigil_key_next_rotation_seconds", "Seconds until the active key of the algorithm is due for rotation (negative: overdue).", []string{"alg"}, nil),
		published: prometheus.NewDesc("sigil_key_next_published_seconds", "Seconds the next key of the algorithm has been published in the JWKS.", []string{"alg"}, nil),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigil_key_transitions_total",
			Help: "Key transitions committed by this replica, by algorithm and action.",
		}, []string{"alg", "action"}),
	}
	if err := reg.Register(m.transitions); err != nil {
		return nil, err
	}
	if err := reg.Register(m); err != nil {
		return nil, err
	}
	return m, nil
}

// Describe implements prometheus.Collector.
func (m *keyMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.age
	ch <- m.rotation
	ch <- m.published
}

// Collect implements prometheus.Collector from the ring's current snapshot.
func (m *keyMetrics) Collect(ch chan<- prometheus.Metric) {
	if m.rot == nil {
		return
	}
	snap := m.rot.Ring().Snapshot()
	if snap == nil {
		return
	}
	now := m.now()
	type algState struct{ alg, state string }
	oldest := map[algState]time.Time{}
	for _, k := range snap.Keys {
		as := algState{k.Alg, string(k.State)}
		if t, ok := oldest[as]; !ok || k.CreatedAt.Before(t) {
			oldest[as] = k.CreatedAt
		}
		if k.State == storage.KeyNext {
			ch <- prometheus.MustNewConstMetric(m.published, prometheus.GaugeValue, now.Sub(k.PublishedAt).Seconds(), k.Alg)
		}
	}
	for as, t := range oldest {
		ch <- prometheus.MustNewConstMetric(m.age, prometheus.GaugeValue, now.Sub(t).Seconds(), as.alg, as.state)
	}
	set := storage.KeySet{Version: snap.Version, Keys: snap.Keys}
	for _, alg := range m.rot.Ring().Algorithms() {
		if due, ok := m.rot.NextRotation(set, alg); ok {
			ch <- prometheus.MustNewConstMetric(m.rotation, prometheus.GaugeValue, due.Sub(now).Seconds(), alg)
		}
	}
}

// countingKeyStore counts each committed key transition as the rotator
// records its audit event (once per transition, by the replica that made
// it).
type countingKeyStore struct {
	storage.KeySetStore
	m *keyMetrics
}

func (s countingKeyStore) AppendKeyEvent(ctx context.Context, e storage.KeyEvent) error {
	s.m.transitions.WithLabelValues(e.Alg, e.Action).Inc()
	return s.KeySetStore.AppendKeyEvent(ctx, e)
}

// ringKeys is the ring as the web layer sees it, plus the next keys for
// sigil_jwks_fetches_since_next_published.
type ringKeys struct{ *keys.KeyRing }

// NextKIDs maps each algorithm to the kid of its published next key.
func (r ringKeys) NextKIDs() map[string]string {
	snap := r.Snapshot()
	out := map[string]string{}
	if snap == nil {
		return out
	}
	for _, k := range snap.Keys {
		if k.State == storage.KeyNext {
			out[k.Alg] = k.KID
		}
	}
	return out
}
