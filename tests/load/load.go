// Package load is Sigil's in-repo load generator: it drives a server on
// loopback with keep-alive connections, a warm-up, a fixed duration and
// bounded concurrency (and optionally a bounded rate and request count), and
// reports requests per second, latency percentiles, errors and the server's
// CPU per request read from /proc/PID/stat. It refuses any target that is not
// a loopback address: it is a measuring tool, not a way to load someone
// else's server.
//
// The bench (make bench-server) and the soak (make soak) are built on it;
// both start the real sigil binary themselves (see Sigil).
package load

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CheckLoopback returns an error unless rawURL's host is a loopback address
// (127.0.0.0/8, ::1, or a name that resolves only to such addresses).
func CheckLoopback(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("target %q: %w", rawURL, err)
	}
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("target %q has no host", rawURL)
	}
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else {
		addrs, err := net.LookupIP(host)
		if err != nil {
			return fmt.Errorf("target %q: %w", rawURL, err)
		}
		ips = addrs
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("target %q is not a loopback address: the load generator only drives servers on this machine", rawURL)
		}
	}
	return nil
}

// NewClient returns an HTTP client that keeps up to conns idle keep-alive
// connections to one host and never follows redirects.
func NewClient(conns int) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		MaxConnsPerHost:     0,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Worker is one concurrent client of a run. State belongs to the Op (for
// example the refresh token a refresh chain continues from).
type Worker struct {
	ID     int
	Client *http.Client
	State  any
}

// Op performs one request. A non-nil error counts as a failed request.
type Op func(ctx context.Context, w *Worker) error

// Options bound a run.
type Options struct {
	// Concurrency is the number of workers, each with at most one request
	// in flight (default 1).
	Concurrency int
	// Warmup runs before measuring; its requests are not counted.
	Warmup time.Duration
	// Duration is how long the measured phase lasts (required).
	Duration time.Duration
	// MaxRequests, when positive, ends the measured phase after this many
	// requests.
	MaxRequests int64
	// Rate, when positive, bounds the total requests per second.
	Rate float64
	// PID, when positive, is the server process whose CPU time is read from
	// /proc/PID/stat before and after the measured phase.
	PID int
	// Client is shared by the workers (default NewClient(Concurrency)).
	Client *http.Client
	// Setup, when set, runs once per worker before the warm-up.
	Setup func(ctx context.Context, w *Worker) error
	// Counters, when set, reads server counters just before and just
	// after the measured phase (outside the CPU reading); Result.Counters
	// holds what each grew by.
	Counters func(ctx context.Context) (map[string]float64, error)
}

// Result is what one run measured.
type Result struct {
	Name     string
	Requests int64
	Errors   int64
	// FirstErrors holds up to five distinct error messages.
	FirstErrors []string
	Elapsed     time.Duration
	P50, P99    time.Duration
	// ServerCPU is the server's user+system CPU time during the measured
	// phase (0 when no PID was given).
	ServerCPU time.Duration
	// Idle and IOWait are the CPU time no process used during the measured
	// phase, machine-wide (/proc/stat), and the part of it the kernel
	// counted as waiting for I/O (0 when /proc/stat is unreadable).
	Idle, IOWait time.Duration
	// Counters is what each of Options.Counters grew by during the
	// measured phase (nil without Options.Counters, or if a read failed).
	Counters map[string]float64
}

// RPS is requests (successful or not) per second of the measured phase.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// CPUPerRequest is the server CPU time per request.
func (r Result) CPUPerRequest() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.ServerCPU / time.Duration(r.Requests)
}

// Run runs op with o.Concurrency workers: Setup, then o.Warmup of
// unmeasured requests, then the measured phase of o.Duration (or
// o.MaxRequests). It stops early when ctx ends.
func Run(ctx context.Context, name string, o Options, op Op) (Result, error) {
	if o.Duration <= 0 {
		return Result{}, errors.New("load: duration must be positive")
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 1
	}
	if o.Client == nil {
		o.Client = NewClient(o.Concurrency)
	}
	workers := make([]*Worker, o.Concurrency)
	for i := range workers {
		workers[i] = &Worker{ID: i, Client: o.Client}
		if o.Setup != nil {
			if err := o.Setup(ctx, workers[i]); err != nil {
				return Result{}, fmt.Errorf("%s: setup of worker %d: %w", name, i, err)
			}
		}
	}

	var tokens <-chan struct{}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if o.Rate > 0 {
		tokens = pace(ctx, o.Rate)
	}

	const (
		warming = iota
		measuring
		done
	)
	var phase atomic.Int32
	var count, errs atomic.Int64
	var errMu sync.Mutex
	var firstErrs []string
	lat := make([][]time.Duration, o.Concurrency)

	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if tokens != nil {
					select {
					case <-tokens:
					case <-ctx.Done():
						return
					}
				}
				p := phase.Load()
				if p == done {
					return
				}
				start := time.Now()
				err := op(ctx, w)
				d := time.Since(start)
				if p != measuring || phase.Load() != measuring {
					continue
				}
				if ctx.Err() != nil {
					return
				}
				n := count.Add(1)
				lat[i] = append(lat[i], d)
				if err != nil {
					errs.Add(1)
					errMu.Lock()
					msg := err.Error()
					if len(firstErrs) < 5 && !containsStr(firstErrs, msg) {
						firstErrs = append(firstErrs, msg)
					}
					errMu.Unlock()
				}
				if o.MaxRequests > 0 && n >= o.MaxRequests {
					phase.Store(done)
					return
				}
			}
		}()
	}

	sleepCtx(ctx, o.Warmup)
	counters0, countersErr := readCounters(ctx, o.Counters)
	cpu0, _ := ProcessCPU(o.PID)
	idle0, iow0, idleErr0 := MachineIdle()
	start := time.Now()
	phase.Store(measuring)
	deadline := time.NewTimer(o.Duration)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-deadline.C:
	case <-finished:
	case <-ctx.Done():
	}
	deadline.Stop()
	phase.Store(done)
	elapsed := time.Since(start)
	cpu1, _ := ProcessCPU(o.PID)
	idle1, iow1, idleErr1 := MachineIdle()
	counters1, countersErr1 := readCounters(ctx, o.Counters)
	cancel()
	<-finished

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	r := Result{
		Name: name, Requests: count.Load(), Errors: errs.Load(), FirstErrors: firstErrs,
		Elapsed: elapsed, P50: quantile(all, 0.50), P99: quantile(all, 0.99),
	}
	if o.PID > 0 {
		r.ServerCPU = cpu1 - cpu0
	}
	if idleErr0 == nil && idleErr1 == nil {
		r.Idle, r.IOWait = idle1-idle0, iow1-iow0
	}
	if o.Counters != nil && countersErr == nil && countersErr1 == nil {
		r.Counters = make(map[string]float64, len(counters1))
		for k, v := range counters1 {
			if v0, ok := counters0[k]; ok {
				r.Counters[k] = v - v0
			}
		}
	}
	return r, nil
}

// readCounters calls read, if set.
func readCounters(ctx context.Context, read func(context.Context) (map[string]float64, error)) (map[string]float64, error) {
	if read == nil {
		return nil, nil
	}
	return read(ctx)
}

// pace returns a channel that yields rate tokens per second until ctx ends.
func pace(ctx context.Context, rate float64) <-chan struct{} {
	ch := make(chan struct{})
	interval := time.Duration(float64(time.Second) / rate)
	go func() {
		t := time.NewTicker(max(interval, time.Millisecond))
		defer t.Stop()
		per := max(1, int(float64(time.Millisecond)/float64(interval)))
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				for range per {
					select {
					case ch <- struct{}{}:
					case <-ctx.Done():
						return
					default: // nobody waiting: drop, the rate is a bound
					}
				}
			}
		}
	}()
	return ch
}

func sleepCtx(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return sorted[i]
}

func containsStr(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat times; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// ProcessCPU returns the user+system CPU time of process pid so far, from
// /proc/PID/stat (utime and stime, fields 14 and 15).
func ProcessCPU(pid int) (time.Duration, error) {
	if pid <= 0 {
		return 0, errors.New("no pid")
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat", pid)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// MachineIdle returns the CPU time every CPU has spent idle so far, and the
// part of it counted as waiting for I/O, from the first line of /proc/stat
// (idle and iowait, the 4th and 5th values).
func MachineIdle() (idle, iowait time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, 0, errors.New("parse /proc/stat")
	}
	id, err1 := strconv.ParseInt(f[4], 10, 64)
	iow, err2 := strconv.ParseInt(f[5], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, errors.New("parse /proc/stat")
	}
	tick := time.Second / clockTicks
	return time.Duration(id+iow) * tick, time.Duration(iow) * tick, nil
}

// Memory is a process's resident set size now and at its peak.
type Memory struct {
	RSS, PeakRSS int64 // bytes
}

// ProcessMemory reads VmRSS and VmHWM from /proc/PID/status.
func ProcessMemory(pid int) (Memory, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.PeakRSS
		default:
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return Memory{}, fmt.Errorf("parse /proc/%d/status %s: %w", pid, k, err)
		}
		*dst = n * 1024
	}
	return m, nil
}
