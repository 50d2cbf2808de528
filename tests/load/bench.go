package load

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// BenchOptions configure Bench.
type BenchOptions struct {
	// Bin is the sigil binary; Self is an executable that serves the HTTP
	// floor when run as `Self floor` (sigil-load does).
	Bin, Self string
	// Dir holds the deployments' files.
	Dir string
	// MongoURI, when set, adds a run on MongoDB.
	MongoURI string
	// Concurrency, Warmup and Duration apply to every mode.
	Concurrency int
	Warmup      time.Duration
	Duration    time.Duration
	// Modes, when non-empty, restricts the run to these mode names.
	Modes []string
	// Out receives progress and the table.
	Out io.Writer
}

// Floors are the reference costs measured in the same run.
type Floors struct {
	Crypto
	GET, POST    Result
	Argon2PerSec float64
	Argon2Slots  int
	// Argon2XCryptoPerSec is the ceiling with x/crypto's allocating
	// argon2.IDKey (MeasureArgon2XCrypto), for reference.
	Argon2XCryptoPerSec float64
}

// CPU returns the server CPU per request of the named floor.
func (f Floors) CPU(name string) time.Duration {
	switch name {
	case FloorGET:
		return f.GET.CPUPerRequest()
	case FloorPOST:
		return f.POST.CPUPerRequest()
	case FloorPOSTP256:
		return f.POST.CPUPerRequest() + f.P256Sign
	case FloorPOSTRSA:
		return f.POST.CPUPerRequest() + f.RSASign
	case FloorPOSTP256v:
		return f.POST.CPUPerRequest() + f.P256Verify
	}
	return 0
}

// BenchRow is one mode's result on one backend.
type BenchRow struct {
	Backend string
	Mode    Mode
	Result  Result
	// Argon2PerSec is the argon2id ceiling measured just before an
	// argon2-bound mode (0 for others).
	Argon2PerSec float64
	// FloorBefore and FloorAfter are the CPU per request of the mode's
	// floor measured again just before and just after it (Mode.Bracket;
	// 0 for others).
	FloorBefore, FloorAfter time.Duration
}

// bracketFloor is the floor a bracketed row is compared with: the mean of
// the measurements just before and after it, which cancels a drift of the
// machine's speed during the run (0 when not bracketed).
func (r BenchRow) bracketFloor() time.Duration {
	if r.FloorBefore <= 0 || r.FloorAfter <= 0 {
		return 0
	}
	return (r.FloorBefore + r.FloorAfter) / 2
}

// Bench measures the floors, then every mode on bolt (and MongoDB), and
// writes the table to o.Out.
func Bench(ctx context.Context, o BenchOptions) error {
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	out := o.Out
	fmt.Fprintf(out, "measuring floors (crypto, HTTP, argon2id) ...\n")
	var f Floors
	var err error
	if f.Crypto, err = MeasureCrypto(time.Second); err != nil {
		return err
	}
	fl, err := startFloor(ctx, o)
	if err != nil {
		return err
	}
	defer fl.stop()
	if f.GET, f.POST, err = fl.measure(ctx, o); err != nil {
		return err
	}
	f.Argon2Slots = runtime.NumCPU()
	f.Argon2PerSec = Argon2Ceiling(3*time.Second, f.Argon2Slots)
	f.Argon2XCryptoPerSec = MeasureArgon2XCrypto(3*time.Second, f.Argon2Slots).PerSec

	var rows []BenchRow
	var extras []string
	backends := []string{"bolt"}
	if o.MongoURI != "" {
		backends = append(backends, "mongo")
	}
	for _, b := range backends {
		r, ex, err := benchBackend(ctx, o, b, fl)
		if err != nil {
			return fmt.Errorf("%s: %w", b, err)
		}
		rows = append(rows, r...)
		extras = append(extras, ex...)
	}
	if len(o.Modes) == 0 || containsStr(o.Modes, "refresh state") {
		fmt.Fprintf(out, "bolt: 50,000 refreshes of 8 sessions ...\n")
		line, err := RefreshStateCheck(ctx, o, 8, 50000)
		if err != nil {
			return fmt.Errorf("refresh state: %w", err)
		}
		extras = append(extras, line)
	}
	WriteTable(out, f, rows, o)
	for _, e := range extras {
		fmt.Fprintln(out, e)
	}
	return nil
}

// WriteTable prints the floors and the rows.
func WriteTable(out io.Writer, f Floors, rows []BenchRow, o BenchOptions) {
	host, _ := os.Hostname()
	fmt.Fprintf(out, "\nsigil bench-server, %s, %s/%s, %d CPUs, Go %s, host %s, load average %s\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version(), host, loadAvg())
	fmt.Fprintf(out, "concurrency %d, warm-up %s, duration %s per mode; CPU = server user+system CPU per request (/proc/PID/stat)\n\n",
		o.Concurrency, o.Warmup, o.Duration)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "floor\treq/s\tCPU/req\t")
	fmt.Fprintf(tw, "GET (Go hello world)\t%.0f\t%s\t\n", f.GET.RPS(), ms(f.GET.CPUPerRequest()))
	fmt.Fprintf(tw, "form POST (Go hello world)\t%.0f\t%s\t\n", f.POST.RPS(), ms(f.POST.CPUPerRequest()))
	fmt.Fprintf(tw, "P-256 sign\t\t%s\t\n", ms(f.P256Sign))
	fmt.Fprintf(tw, "P-256 verify\t\t%s\t\n", ms(f.P256Verify))
	fmt.Fprintf(tw, "RSA-2048 sign\t\t%s\t\n", ms(f.RSASign))
	fmt.Fprintf(tw, "argon2id m=19MiB t=2 (%d goroutines)\t%.1f\t\t\n", f.Argon2Slots, f.Argon2PerSec)
	fmt.Fprintf(tw, "  x/crypto IDKey, allocating per hash\t%.1f\t\t\n", f.Argon2XCryptoPerSec)
	for _, r := range rows {
		if r.Argon2PerSec > 0 {
			fmt.Fprintf(tw, "  again, just before %s %s\t%.1f\t\t\n", r.Backend, r.Mode.Name, r.Argon2PerSec)
		}
	}
	for _, r := range rows {
		if r.bracketFloor() > 0 {
			fmt.Fprintf(tw, "%s, just before and after %s %s\t\t%s %s\t\n", r.Mode.Floor, r.Backend, r.Mode.Name, ms(r.FloorBefore), ms(r.FloorAfter))
		}
	}
	_ = tw.Flush()
	fmt.Fprintln(out)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "backend\tmode\treq/s\tp50\tp99\terrors\tCPU/req\tvs floor\tfloor\t")
	for _, r := range rows {
		res := r.Result
		vs := "-"
		if r.Mode.Floor == FloorArgon2 {
			if r.Argon2PerSec > 0 {
				vs = fmt.Sprintf("%.0f%%", 100*res.RPS()/r.Argon2PerSec)
			}
		} else if fc := r.bracketFloor(); fc > 0 {
			vs = fmt.Sprintf("%.2fx", float64(res.CPUPerRequest())/float64(fc))
		} else if fc := f.CPU(r.Mode.Floor); fc > 0 {
			vs = fmt.Sprintf("%.2fx", float64(res.CPUPerRequest())/float64(fc))
		}
		fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%d\t%s\t%s\t%s\t\n", r.Backend, r.Mode.Name, res.RPS(), ms(res.P50), ms(res.P99),
			res.Errors, ms(res.CPUPerRequest()), vs, r.Mode.Floor)
	}
	_ = tw.Flush()
	if f.Argon2XCryptoPerSec > 0 {
		var vs []string
		for _, r := range rows {
			if r.Mode.Floor == FloorArgon2 {
				vs = append(vs, fmt.Sprintf("%s %s %.0f%%", r.Backend, r.Mode.Name, 100*r.Result.RPS()/f.Argon2XCryptoPerSec))
			}
		}
		if len(vs) > 0 {
			fmt.Fprintf(out, "logins against the x/crypto IDKey ceiling (%.1f/s), for reference: %s\n", f.Argon2XCryptoPerSec, strings.Join(vs, ", "))
		}
	}
	var start []string
	for _, r := range rows {
		if fc := f.CPU(r.Mode.Floor); r.bracketFloor() > 0 && fc > 0 {
			start = append(start, fmt.Sprintf("%s %s %.2fx", r.Backend, r.Mode.Name, float64(r.Result.CPUPerRequest())/float64(fc)))
		}
	}
	if len(start) > 0 {
		fmt.Fprintf(out, "against the floors measured at the start of the run, for reference: %s\n", strings.Join(start, ", "))
	}
	for _, r := range rows {
		for _, e := range r.Result.FirstErrors {
			fmt.Fprintf(out, "  %s %s error: %s\n", r.Backend, r.Mode.Name, e)
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3fms", float64(d)/float64(time.Millisecond)) }

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// floorServer is the `Self floor` process, the Go hello-world server. It
// runs for the whole bench, so that a mode's floor can be measured again
// beside it.
type floorServer struct {
	cmd  *exec.Cmd
	base string
}

// startFloor starts `Self floor` on loopback.
func startFloor(ctx context.Context, o BenchOptions) (*floorServer, error) {
	cmd := exec.CommandContext(ctx, o.Self, "floor")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	fl := &floorServer{cmd: cmd}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		fl.stop()
		return nil, fmt.Errorf("floor server: %w", err)
	}
	fl.base = "http://" + strings.TrimSpace(line)
	if err := CheckLoopback(fl.base); err != nil {
		fl.stop()
		return nil, err
	}
	return fl, nil
}

func (fl *floorServer) stop() { _ = fl.cmd.Process.Kill(); _ = fl.cmd.Wait() }

// measure measures GET and POST against the floor server.
func (fl *floorServer) measure(ctx context.Context, o BenchOptions) (Result, Result, error) {
	get, post := FloorOps(fl.base)
	opt := Options{Concurrency: o.Concurrency, Warmup: o.Warmup, Duration: o.Duration, PID: fl.cmd.Process.Pid}
	g, err := Run(ctx, "GET floor", opt, get)
	if err != nil {
		return Result{}, Result{}, err
	}
	p, err := Run(ctx, "POST floor", opt, post)
	return g, p, err
}

// measureFloor measures the named floor again (only FloorPOSTP256 is
// bracketed today): the form POST against the floor server and a P-256
// signature, as at the start of the run.
func (fl *floorServer) measureFloor(ctx context.Context, o BenchOptions, name string) (time.Duration, error) {
	if name != FloorPOSTP256 {
		return 0, fmt.Errorf("floor %q cannot be measured again", name)
	}
	_, post := FloorOps(fl.base)
	p, err := Run(ctx, "POST floor", Options{Concurrency: o.Concurrency, Warmup: o.Warmup, Duration: o.Duration, PID: fl.cmd.Process.Pid}, post)
	if err != nil {
		return 0, err
	}
	sign, err := MeasureP256Sign(time.Second)
	if err != nil {
		return 0, err
	}
	return p.CPUPerRequest() + sign, nil
}

// benchSettings are the server settings of the bench: both algorithms,
// the simplejwt routes, no per-address login limit (every request comes
// from 127.0.0.1).
var benchSettings = map[string]string{
	"keys.algorithms":            "[ES256, RS256]",
	"compat.simplejwt":           "true",
	"compat.client_id":           ClientCompat,
	"security.ip_limit.disabled": "true",
	"tokens.refresh_reuse_grace": "0s",
}

func benchBackend(ctx context.Context, o BenchOptions, backend string, fl *floorServer) ([]BenchRow, []string, error) {
	dir, err := os.MkdirTemp(o.Dir, "bench-"+backend+"-")
	if err != nil {
		return nil, nil, err
	}
	s, err := NewSigil(o.Bin, dir, backend, o.MongoURI, benchSettings)
	if err != nil {
		return nil, nil, err
	}
	defer s.Cleanup()
	fmt.Fprintf(o.Out, "%s: provisioning clients and users ...\n", backend)
	d, err := Provision(s, o.Concurrency)
	if err != nil {
		return nil, nil, err
	}
	if err := s.Start(ctx); err != nil {
		return nil, nil, err
	}
	var rows []BenchRow
	var extras []string
	for _, m := range Modes(d) {
		if len(o.Modes) > 0 && !containsStr(o.Modes, m.Name) {
			continue
		}
		fmt.Fprintf(o.Out, "%s: %s ...\n", backend, m.Name)
		var ceiling float64
		var a2 Argon2
		if m.Floor == FloorArgon2 {
			// The ceiling right before the mode, with the server idle, so
			// both see the same load from the rest of the machine; and the
			// server's peak RSS counted from here (clear_refs 5 resets it).
			a2 = MeasureArgon2(3*time.Second, runtime.NumCPU())
			ceiling = a2.PerSec
			_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.PID()), []byte("5"), 0)
		}
		var floorBefore time.Duration
		if m.Bracket {
			if floorBefore, err = fl.measureFloor(ctx, o, m.Floor); err != nil {
				return nil, nil, err
			}
		}
		before, _ := s.StoredBytes(ctx)
		opt := Options{Concurrency: o.Concurrency, Warmup: o.Warmup, Duration: o.Duration, PID: s.PID(), Setup: m.Setup}
		if backend == "bolt" {
			opt.Counters = func(ctx context.Context) (map[string]float64, error) {
				return MetricValues(ctx, metricsClient, s.URL, boltCommitMetrics...)
			}
		}
		res, err := Run(ctx, m.Name, opt, m.Op)
		if err != nil {
			return nil, nil, err
		}
		if line := commitLine(backend, m.Name, res); line != "" {
			extras = append(extras, line)
		}
		row := BenchRow{Backend: backend, Mode: m, Result: res, Argon2PerSec: ceiling, FloorBefore: floorBefore}
		if m.Bracket {
			if row.FloorAfter, err = fl.measureFloor(ctx, o, m.Floor); err != nil {
				return nil, nil, err
			}
		}
		rows = append(rows, row)
		if m.Floor == FloorArgon2 && res.Requests > 0 && a2.CPUPerHash > 0 {
			// Throughput against the ceiling mixes the server's own cost
			// with the CPU the rest of the machine left to each; these
			// separate the two.
			cpu := res.CPUPerRequest()
			extras = append(extras, fmt.Sprintf("%s: %s: server CPU per login %s = %.2fx the CPU of one hash in the ceiling (%s); the server got %.2f CPUs, the ceiling's hashes %.2f; the machine left %.2f CPUs idle (%.2f in iowait)",
				backend, m.Name, ms(cpu), float64(cpu)/float64(a2.CPUPerHash), ms(a2.CPUPerHash), cpu.Seconds()*res.RPS(), a2.Cores,
				res.Idle.Seconds()/res.Elapsed.Seconds(), res.IOWait.Seconds()/res.Elapsed.Seconds()))
		}
		if m.Floor == FloorArgon2 {
			if mem, err := ProcessMemory(s.PID()); err == nil {
				slots := runtime.NumCPU()
				extras = append(extras, fmt.Sprintf("%s: peak RSS during %s %.0f MiB (bound: %d hash slots x 20 MiB + 80 MiB = %d MiB)",
					backend, m.Name, mib(mem.PeakRSS), slots, slots*20+80))
			}
		}
		if m.Name == "refresh" && res.Requests > 0 {
			after, _ := s.StoredBytes(ctx)
			extras = append(extras, fmt.Sprintf("%s: stored bytes grew by %d during %d refreshes of %d sessions (%.0f bytes per refresh, including warm-up)",
				backend, after-before, res.Requests, o.Concurrency, float64(after-before)/float64(res.Requests)))
		}
	}
	if mem, err := ProcessMemory(s.PID()); err == nil {
		extras = append(extras, fmt.Sprintf("%s: server RSS %.0f MiB, peak %.0f MiB", backend, mib(mem.RSS), mib(mem.PeakRSS)))
	}
	return rows, extras, s.Stop()
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// boltCommitMetrics are the group-commit counters of a bolt server.
var boltCommitMetrics = []string{"sigil_bolt_commits_total", "sigil_bolt_commit_writes_total", "sigil_bolt_commit_seconds_total"}

// metricsClient reads /metrics, apart from the load's connections.
var metricsClient = &http.Client{Timeout: 10 * time.Second}

// commitLine says how a mode used the bolt group commit: commits per
// request, writes sharing a commit, and the time of one commit (fsyncs
// included). It is empty for a mode that committed nothing, or without the
// counters.
func commitLine(backend, mode string, r Result) string {
	commits := r.Counters["sigil_bolt_commits_total"]
	if commits <= 0 || r.Requests == 0 {
		return ""
	}
	return fmt.Sprintf("%s: %s: %.2f commits per request, %.2f writes per commit, %.3fms per commit (fsyncs included)",
		backend, mode, commits/float64(r.Requests), r.Counters["sigil_bolt_commit_writes_total"]/commits,
		r.Counters["sigil_bolt_commit_seconds_total"]/commits*1e3)
}

// RefreshStateCheck runs n refreshes of sessions sessions on a fresh bolt
// deployment, stops it and reports what the file holds: records per bucket
// and the file size (issue 13: the refresh state of a session is one
// record, whatever the number of refreshes).
func RefreshStateCheck(ctx context.Context, o BenchOptions, sessions int, n int64) (string, error) {
	dir, err := os.MkdirTemp(o.Dir, "bench-state-")
	if err != nil {
		return "", err
	}
	s, err := NewSigil(o.Bin, dir, "bolt", "", benchSettings)
	if err != nil {
		return "", err
	}
	defer s.Cleanup()
	d, err := Provision(s, sessions)
	if err != nil {
		return "", err
	}
	if err := s.Start(ctx); err != nil {
		return "", err
	}
	before, _ := s.StoredBytes(ctx)
	var refresh Mode
	for _, m := range Modes(d) {
		if m.Name == "refresh" {
			refresh = m
		}
	}
	res, err := Run(ctx, "refresh state", Options{Concurrency: sessions, Duration: 10 * time.Minute, MaxRequests: n, PID: s.PID(), Setup: refresh.Setup}, refresh.Op)
	if err != nil {
		return "", err
	}
	if err := s.Stop(); err != nil {
		return "", err
	}
	after, _ := s.StoredBytes(ctx)
	counts, err := boltBucketCounts(s.BoltPath)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("bolt: %d refreshes (%d errors) of %d sessions: %s; file %d KiB before, %d KiB after",
		res.Requests, res.Errors, sessions, counts, before>>10, after>>10), nil
}

// boltBucketCounts lists the non-empty buckets of a bolt file with their
// record counts.
func boltBucketCounts(path string) (string, error) {
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		return "", err
	}
	defer db.Close()
	var parts []string
	err = db.View(func(tx *bbolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bbolt.Bucket) error {
			if n := b.Stats().KeyN; n > 0 && string(name) != "meta" {
				parts = append(parts, fmt.Sprintf("%s %d", name, n))
			}
			return nil
		})
	})
	return strings.Join(parts, ", "), err
}
