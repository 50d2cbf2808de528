package load

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sigilauth/sigil/storage/mongo/mongotest"
)

// sigilBin is the sigil binary TestMain builds (without -race: the soak
// measures the server, the race detector checks this package).
var sigilBin string

func TestMain(m *testing.M) {
	RunWithSigil("sigil-load-", false, &sigilBin, m.Run)
}

// TestSoakSmoke is `make soak` cut to 20 seconds, on each backend, so the
// soak cannot rot: every request must succeed, the resource server must see
// no unknown kid while keys rotate, authorization code flows must both log
// in and reuse their session, and goroutines and RSS must stay within the
// bounds.
func TestSoakSmoke(t *testing.T) {
	for _, backend := range []string{"bolt", "mongo"} {
		t.Run(backend, func(t *testing.T) {
			o := SoakOptions{Bin: sigilBin, Dir: t.TempDir(), Backend: backend, Duration: 20 * time.Second,
				Concurrency: 4, Rate: 60, Out: testWriter{t}}
			if backend == "mongo" {
				o.MongoURI = mongotest.URI(t)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			rep, err := Soak(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			// The run spans at least one rotation: more signing keys than
			// the two algorithms' first ones.
			if rep.KeysSeen < 3 {
				t.Errorf("tokens were signed by %d keys; want at least 3 (a rotation during the run)", rep.KeysSeen)
			}
		})
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestCheckLoopback: the generator refuses every target off this machine.
func TestCheckLoopback(t *testing.T) {
	tests := []struct {
		name, url string
		ok        bool
	}{
		{"ipv4 loopback", "http://127.0.0.1:8080", true},
		{"other 127/8", "http://127.9.9.9:1", true},
		{"ipv6 loopback", "http://[::1]:8080", true},
		{"public address", "http://93.184.216.34/", false},
		{"private address", "http://10.0.0.1:8080", false},
		{"unspecified", "http://0.0.0.0:8080", false},
		{"no host", "http:///x", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckLoopback(tc.url)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckLoopback(%q) = %v, want ok=%v", tc.url, err, tc.ok)
			}
		})
	}
}

// TestRenderYAML: dotted settings become nested sections.
func TestRenderYAML(t *testing.T) {
	got := string(renderYAML(map[string]string{
		"issuer": "http://x", "keys.algorithms": "[ES256]", "security.ip_limit.disabled": "true",
		"security.password_hash_wait": "5s", "listen": "127.0.0.1:1",
	}))
	want := "issuer: \"http://x\"\nkeys:\n  algorithms: [ES256]\nlisten: \"127.0.0.1:1\"\nsecurity:\n  ip_limit:\n    disabled: true\n  password_hash_wait: \"5s\"\n"
	if got != want {
		t.Fatalf("renderYAML:\n%s\nwant:\n%s", got, want)
	}
}

// TestMachineIdle checks the /proc/stat reading behind the bench's idle
// CPUs: it parses, never runs backwards, and counts iowait within idle.
func TestMachineIdle(t *testing.T) {
	idle0, iow0, err := MachineIdle()
	if err != nil {
		t.Fatal(err)
	}
	idle1, iow1, err := MachineIdle()
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case idle0 <= 0:
		t.Errorf("idle %v since boot, want > 0", idle0)
	case iow0 > idle0 || iow1 > idle1:
		t.Errorf("iowait %v/%v exceeds idle %v/%v", iow0, iow1, idle0, idle1)
	case idle1 < idle0 || iow1 < iow0:
		t.Errorf("idle went from %v to %v, iowait from %v to %v", idle0, idle1, iow0, iow1)
	}
}

func TestParseMetrics(t *testing.T) {
	const text = `# HELP sigil_bolt_commits_total bbolt transactions.
# TYPE sigil_bolt_commits_total counter
sigil_bolt_commits_total 42
sigil_bolt_commit_seconds_total 0.125
sigil_logins_total{result="success"} 7
go_goroutines 12
`
	for _, tc := range []struct {
		name    string
		text    string
		names   []string
		want    map[string]float64
		wantErr bool
	}{
		{"picks the names asked", text, []string{"sigil_bolt_commits_total", "go_goroutines"}, map[string]float64{"sigil_bolt_commits_total": 42, "go_goroutines": 12}, false},
		{"float value", text, []string{"sigil_bolt_commit_seconds_total"}, map[string]float64{"sigil_bolt_commit_seconds_total": 0.125}, false},
		{"labelled sample is not the unlabelled name", text, []string{"sigil_logins_total"}, map[string]float64{}, false},
		{"absent name is left out", text, []string{"sigil_bolt_commit_writes_total"}, map[string]float64{}, false},
		{"unparsable value", "go_goroutines many\n", []string{"go_goroutines"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseMetrics(strings.NewReader(tc.text), tc.names)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

func TestCommitLine(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    Result
		want string
	}{
		{"no counters", Result{Requests: 10}, ""},
		{"no commits", Result{Requests: 10, Counters: map[string]float64{"sigil_bolt_commits_total": 0}}, ""},
		{"commits", Result{Requests: 100, Counters: map[string]float64{
			"sigil_bolt_commits_total": 300, "sigil_bolt_commit_writes_total": 330, "sigil_bolt_commit_seconds_total": 0.24,
		}}, "bolt: password: 3.00 commits per request, 1.10 writes per commit, 0.800ms per commit (fsyncs included)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := commitLine("bolt", "password", tc.r); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestBracketFloor(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name          string
		before, after time.Duration
		want          time.Duration
	}{
		{"not bracketed", 0, 0, 0},
		{"only before", ms, 0, 0},
		{"mean of both", 50 * time.Microsecond, 70 * time.Microsecond, 60 * time.Microsecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := BenchRow{FloorBefore: tc.before, FloorAfter: tc.after}
			if got := r.bracketFloor(); got != tc.want {
				t.Errorf("bracketFloor = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestWriteTableBracketed: a bracketed row is compared with the mean of its
// own floors, and its ratio to the start-of-run floor is printed apart.
func TestWriteTableBracketed(t *testing.T) {
	us := time.Microsecond
	f := Floors{Crypto: Crypto{P256Sign: 30 * us}, POST: Result{Requests: 1000, ServerCPU: 20 * time.Millisecond, Elapsed: time.Second}}
	rows := []BenchRow{{
		Backend: "bolt",
		Mode:    Mode{Name: "client_credentials ES256", Floor: FloorPOSTP256, Bracket: true},
		Result:  Result{Requests: 1000, ServerCPU: 66 * time.Millisecond, Elapsed: time.Second},
		// 50 µs at the start; 55 and 65 around the mode.
		FloorBefore: 55 * us, FloorAfter: 65 * us,
	}}
	var b strings.Builder
	WriteTable(&b, f, rows, BenchOptions{Concurrency: 16})
	out := b.String()
	for _, want := range []string{
		"POST floor + P-256 sign, just before and after bolt client_credentials ES256",
		"0.055ms 0.065ms",
		"1.10x", // 66 / mean(55, 65)
		"against the floors measured at the start of the run, for reference: bolt client_credentials ES256 1.32x", // 66 / 50
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}
