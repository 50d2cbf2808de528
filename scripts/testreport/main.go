// Command testreport turns the `go test -json` stream on standard input into
// the readable report plain `go test` prints (one line per package, the full
// output of every failed test and of every failed package), followed by one
// closing line "N passed, N failed, N skipped".
//
// It exits 1 if any test or package failed or did not build, and also if any
// test was skipped with a message that mentions one of the markers (by
// default SIGIL_TEST_MONGODB_URI and SIGIL_TEST_BROWSER): make test runs
// every MongoDB-backed and browser test, and a skipped one means the MongoDB
// or Chromium it provides did not reach the tests. With -fail-on-skip (make
// test sets it) every skip fails the run unless the test's full name
// (package.Test/sub) matches -allow-skip, so a test that quietly stops
// running is noticed. It exits 2 on a read error or a bad flag. Lines that
// are not JSON are copied through.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

// event is one record of `go test -json` (cmd/test2json).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output and build-fail events
}

type key struct{ pkg, test string }

// report accumulates the stream.
type report struct {
	out     io.Writer
	markers []string
	// failOnSkip makes every skip not matched by allow a failure.
	failOnSkip bool
	allow      *regexp.Regexp // nil: no skip is allowed

	buf                     map[key][]string
	passed, failed, skipped int
	pkgFailed               bool
	markedSkips             []string
	unexpectedSkips         []string
}

func main() {
	markers := flag.String("skip-marker", "SIGIL_TEST_MONGODB_URI,SIGIL_TEST_BROWSER", "comma-separated texts; fail if a skipped test's output contains one (empty: never)")
	failOnSkip := flag.Bool("fail-on-skip", false, "fail on every skipped test that -allow-skip does not match")
	allow := flag.String("allow-skip", "", "regular expression of full test names (package.Test/sub) that may skip under -fail-on-skip")
	flag.Parse()
	r := &report{out: os.Stdout, failOnSkip: *failOnSkip, buf: map[key][]string{}}
	for _, m := range strings.Split(*markers, ",") {
		if m = strings.TrimSpace(m); m != "" {
			r.markers = append(r.markers, m)
		}
	}
	if *allow != "" {
		re, err := regexp.Compile(*allow)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testreport: -allow-skip: %v\n", err)
			os.Exit(2)
		}
		r.allow = re
	}
	if err := r.read(os.Stdin); err != nil {
		fmt.Fprintf(os.Stderr, "testreport: read: %v\n", err)
		os.Exit(2)
	}
	os.Exit(r.finish())
}

// read consumes the whole stream.
func (r *report) read(in io.Reader) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(r.out, "%s\n", line)
			continue
		}
		r.handle(e)
	}
	return sc.Err()
}

// handle processes one event.
func (r *report) handle(e event) {
	k := key{e.Package, e.Test}
	switch e.Action {
	case "build-output":
		fmt.Fprint(r.out, e.Output)
	case "build-fail":
		r.pkgFailed = true
	case "output":
		if strings.HasPrefix(e.Output, "=== ") {
			return // RUN, PAUSE, CONT, NAME: noise in a non-verbose report
		}
		r.buf[k] = append(r.buf[k], e.Output)
	case "pass", "fail", "skip":
		lines := r.buf[k]
		delete(r.buf, k)
		if e.Test == "" {
			r.packageDone(e, lines)
			return
		}
		switch e.Action {
		case "pass":
			r.passed++
		case "fail":
			r.failed++
			r.print(lines)
		case "skip":
			r.skipped++
			name := e.Package + "." + e.Test
			text := strings.Join(lines, "")
			switch {
			case r.marked(text):
				r.markedSkips = append(r.markedSkips, name)
			case r.failOnSkip && (r.allow == nil || !r.allow.MatchString(name)):
				r.unexpectedSkips = append(r.unexpectedSkips, name+": "+skipReason(lines))
			}
		}
	}
}

// packageDone prints a package's summary: its ok/no-test-files line when it
// passed, all its own output when it failed.
func (r *report) packageDone(e event, lines []string) {
	if e.Action == "fail" {
		r.pkgFailed = true
		r.print(lines)
		if !hasPrefix(lines, "FAIL\t"+e.Package) {
			fmt.Fprintf(r.out, "FAIL\t%s\n", e.Package)
		}
		return
	}
	if r.marked(strings.Join(lines, "")) {
		// A package that skipped itself (TestMain) for lack of MongoDB.
		r.markedSkips = append(r.markedSkips, e.Package)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "ok ") || strings.HasPrefix(l, "?") {
			fmt.Fprint(r.out, l)
		}
	}
}

// marked reports whether a skip's output mentions one of the markers.
func (r *report) marked(text string) bool {
	for _, m := range r.markers {
		if strings.Contains(text, m) {
			return true
		}
	}
	return false
}

// skipReason is the last non-empty output line of a skipped test before its
// "--- SKIP" line: the message it passed to t.Skip.
func skipReason(lines []string) string {
	reason := "(no message)"
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "--- SKIP") {
			reason = l
		}
	}
	return reason
}

func hasPrefix(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

func (r *report) print(lines []string) {
	for _, l := range lines {
		fmt.Fprint(r.out, l)
	}
}

// finish prints leftover output of tests that never ended (a crash), the
// marker check and the closing count line, and returns the exit code.
func (r *report) finish() int {
	code := 0
	if len(r.buf) > 0 {
		keys := make([]key, 0, len(r.buf))
		for k := range r.buf {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			return keys[i].pkg+"\x00"+keys[i].test < keys[j].pkg+"\x00"+keys[j].test
		})
		for _, k := range keys {
			if len(r.buf[k]) > 0 && k.test != "" {
				fmt.Fprintf(r.out, "--- unfinished: %s.%s\n", k.pkg, k.test)
				r.print(r.buf[k])
				code = 1
			}
		}
	}
	if r.failed > 0 || r.pkgFailed {
		code = 1
	}
	if len(r.markedSkips) > 0 {
		fmt.Fprintf(r.out, "FAIL: %d test(s) skipped for lack of %s, although MongoDB-backed and browser tests must run:\n", len(r.markedSkips), strings.Join(r.markers, " or "))
		for _, name := range r.markedSkips {
			fmt.Fprintf(r.out, "\t%s\n", name)
		}
		code = 1
	}
	if len(r.unexpectedSkips) > 0 {
		fmt.Fprintf(r.out, "FAIL: %d test(s) skipped unexpectedly (-fail-on-skip):\n", len(r.unexpectedSkips))
		for _, name := range r.unexpectedSkips {
			fmt.Fprintf(r.out, "\t%s\n", name)
		}
		code = 1
	}
	fmt.Fprintf(r.out, "%d passed, %d failed, %d skipped\n", r.passed, r.failed, r.skipped)
	return code
}
