package web

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics holds the HTTP layer's metric families:
//
//   - sigil_http_request_duration_seconds{route,method,code}: route is the
//     mux route template ("unmatched" when no route matched), method one of
//     the standard methods or "other";
//   - sigil_jwks_responses_total{code};
//   - sigil_jwks_fetches_since_next_published{alg}: successful JWKS
//     responses (200 or 304) this replica served since the next key of alg
//     it currently publishes appeared, so an operator can see that
//     consumers refetched before the key starts signing. It needs a
//     KeySource that also implements NextKeySource.
//
// Build it with NewMetrics and pass it in Config.Metrics. It is safe for
// concurrent use.
type Metrics struct {
	requests *prometheus.HistogramVec
	jwks     *prometheus.CounterVec
	fetches  *prometheus.GaugeVec

	mu   sync.Mutex
	next map[string]nextFetches // by alg
}

type nextFetches struct {
	kid string
	n   float64
}

// NextKeySource is implemented by a KeySource that can say which next key
// (not yet signing) it publishes for each algorithm.
type NextKeySource interface {
	// NextKIDs maps an algorithm to the kid of its published next key;
	// algorithms without one are absent.
	NextKIDs() map[string]string
}

// NewMetrics registers the HTTP families on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sigil_http_request_duration_seconds",
			Help:    "HTTP request duration by route template, method and status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method", "code"}),
		jwks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigil_jwks_responses_total",
			Help: "JWKS responses by status code (304 when the client's ETag matched).",
		}, []string{"code"}),
		fetches: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sigil_jwks_fetches_since_next_published",
			Help: "Successful JWKS responses served by this replica since it began publishing the current next key of the algorithm.",
		}, []string{"alg"}),
		next: map[string]nextFetches{},
	}
	for _, c := range []prometheus.Collector{m.requests, m.jwks, m.fetches} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// methodLabel keeps the method label bounded.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "other"
}

// observeRequest records one finished request.
func (m *Metrics) observeRequest(route, method string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, methodLabel(method), strconv.Itoa(status)).Observe(d.Seconds())
}

// observeJWKS records one JWKS response; next lists the next keys now
// published (nil when unknown).
func (m *Metrics) observeJWKS(status int, next map[string]string) {
	m.jwks.WithLabelValues(strconv.Itoa(status)).Inc()
	if next == nil {
		return
	}
	ok := status == http.StatusOK || status == http.StatusNotModified
	m.mu.Lock()
	defer m.mu.Unlock()
	for alg := range m.next {
		if _, still := next[alg]; !still {
			delete(m.next, alg)
			m.fetches.DeleteLabelValues(alg)
		}
	}
	for alg, kid := range next {
		st := m.next[alg]
		if st.kid != kid {
			st = nextFetches{kid: kid}
		}
		if ok {
			st.n++
		}
		m.next[alg] = st
		m.fetches.WithLabelValues(alg).Set(st.n)
	}
}
