// Package instrumented wraps a storage.Store so that every call has its own
// deadline and is measured: sigil_storage_operation_seconds{op,backend} and
// sigil_storage_errors_total{op,backend}. The op label is the method name,
// so labels stay bounded.
//
// The deadline is what makes storage failures answer fast: with MongoDB
// unreachable a call gives up after Options.Timeout instead of the driver's
// server selection timeout, and the token service answers 503.
package instrumented

import (
	"context"
	"errors"
	"reflect"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sigilauth/sigil/storage"
)

// Options configures the wrapper.
type Options struct {
	// Backend is the backend label ("bolt", "mongo").
	Backend string
	// Timeout bounds every call except Purge (a background job) and Close;
	// 0 means no deadline is added.
	Timeout time.Duration
	// Registerer receives the two metric families; nil registers nothing
	// (the deadline still applies).
	Registerer prometheus.Registerer
}

// Store is a storage.Store that adds a per-call deadline and metrics around
// another. It is safe for concurrent use when the wrapped store is.
type Store struct {
	// Store is the wrapped store, embedded so that a method added to
	// storage.Store still compiles here before it is listed in methods.go
	// (uninstrumented; TestEveryMethodInstrumented fails until it is).
	storage.Store
	next    storage.Store
	backend string
	timeout time.Duration
	seconds *prometheus.HistogramVec
	errs    *prometheus.CounterVec
}

// New wraps next. It fails only if the metric families cannot be registered
// (for example twice on the same registry).
func New(next storage.Store, o Options) (*Store, error) {
	s := &Store{
		Store:   next,
		next:    next,
		backend: o.Backend,
		timeout: o.Timeout,
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "sigil_storage_operation_seconds",
			Help:    "Duration of storage calls by method and backend.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"op", "backend"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sigil_storage_errors_total",
			Help: "Storage calls that failed (not counting not-found, duplicate and conflict answers).",
		}, []string{"op", "backend"}),
	}
	// Every op exists from the start with no errors, so the error rate of
	// a healthy server is 0 rather than absent.
	st := reflect.TypeFor[storage.Store]()
	for i := range st.NumMethod() {
		if op := st.Method(i).Name; op != "Close" {
			s.errs.WithLabelValues(op, s.backend)
		}
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{s.seconds, s.errs} {
			if err := o.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
}

// Unwrap returns the wrapped store.
func (s *Store) Unwrap() storage.Store { return s.next }

// Close closes the wrapped store (no deadline: closing waits for it).
func (s *Store) Close() error { return s.next.Close() }

// begin starts a call: it derives the call's context (with the deadline
// when withTimeout) and returns the function that records its outcome.
func (s *Store) begin(ctx context.Context, op string, withTimeout bool) (context.Context, func(error)) {
	start := time.Now()
	cancel := context.CancelFunc(func() {})
	if withTimeout && s.timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, s.timeout)
	}
	return ctx, func(err error) {
		cancel()
		s.seconds.WithLabelValues(op, s.backend).Observe(time.Since(start).Seconds())
		if isFailure(err) {
			s.errs.WithLabelValues(op, s.backend).Inc()
		}
	}
}

// isFailure reports whether err is a storage failure rather than an
// ordinary answer (not found, duplicate, conflict, full).
func isFailure(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, storage.ErrNotFound),
		errors.Is(err, storage.ErrDuplicate),
		errors.Is(err, storage.ErrConflict),
		errors.Is(err, storage.ErrFull):
		return false
	}
	return true
}
