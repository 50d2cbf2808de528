package main

import (
	"regexp"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	const pkg = `"Package":"example.com/p"`
	tests := []struct {
		name     string
		strict   bool
		stream   []string
		wantCode int
		want     []string // substrings of the report
		notWant  []string
	}{
		{
			name: "AllPass",
			stream: []string{
				`{"Action":"run",` + pkg + `,"Test":"TestA"}`,
				`{"Action":"output",` + pkg + `,"Test":"TestA","Output":"=== RUN   TestA\n"}`,
				`{"Action":"output",` + pkg + `,"Test":"TestA","Output":"    a_test.go:9: chatter\n"}`,
				`{"Action":"pass",` + pkg + `,"Test":"TestA"}`,
				`{"Action":"output",` + pkg + `,"Output":"ok  \texample.com/p\t0.1s\n"}`,
				`{"Action":"pass",` + pkg + `}`,
			},
			want:    []string{"ok  \texample.com/p", "1 passed, 0 failed, 0 skipped\n"},
			notWant: []string{"chatter", "=== RUN"},
		},
		{
			name: "FailShowsOutput",
			stream: []string{
				`{"Action":"output",` + pkg + `,"Test":"TestB","Output":"    b_test.go:3: boom\n"}`,
				`{"Action":"output",` + pkg + `,"Test":"TestB","Output":"--- FAIL: TestB (0.00s)\n"}`,
				`{"Action":"fail",` + pkg + `,"Test":"TestB"}`,
				`{"Action":"output",` + pkg + `,"Output":"FAIL\texample.com/p\t0.1s\n"}`,
				`{"Action":"fail",` + pkg + `}`,
			},
			wantCode: 1,
			want:     []string{"boom", "--- FAIL: TestB", "FAIL\texample.com/p", "0 passed, 1 failed, 0 skipped"},
		},
		{
			name: "MongoSkipFails",
			stream: []string{
				`{"Action":"output",` + pkg + `,"Test":"TestM/sub","Output":"    m.go:1: SIGIL_TEST_MONGODB_URI not set: skipping\n"}`,
				`{"Action":"skip",` + pkg + `,"Test":"TestM/sub"}`,
				`{"Action":"pass",` + pkg + `,"Test":"TestM"}`,
				`{"Action":"pass",` + pkg + `}`,
			},
			wantCode: 1,
			want:     []string{"example.com/p.TestM/sub", "1 passed, 0 failed, 1 skipped"},
		},
		{
			name: "OtherSkipPasses",
			stream: []string{
				`{"Action":"output",` + pkg + `,"Test":"TestS","Output":"    s.go:1: needs a GPU\n"}`,
				`{"Action":"skip",` + pkg + `,"Test":"TestS"}`,
				`{"Action":"pass",` + pkg + `}`,
			},
			want: []string{"0 passed, 0 failed, 1 skipped"},
		},
		{
			name: "BrowserSkipFails",
			stream: []string{
				`{"Action":"output",` + pkg + `,"Test":"TestB","Output":"    b.go:1: SIGIL_TEST_BROWSER: no Chromium found\n"}`,
				`{"Action":"skip",` + pkg + `,"Test":"TestB"}`,
				`{"Action":"pass",` + pkg + `}`,
			},
			wantCode: 1,
			want:     []string{"example.com/p.TestB", "0 passed, 0 failed, 1 skipped"},
		},
		{
			name:   "StrictOtherSkipFails",
			strict: true,
			stream: []string{
				`{"Action":"output",` + pkg + `,"Test":"TestS","Output":"    s.go:1: one minute of real rotation; skipped with -short\n"}`,
				`{"Action":"output",` + pkg + `,"Test":"TestS","Output":"--- SKIP: TestS (0.00s)\n"}`,
				`{"Action":"skip",` + pkg + `,"Test":"TestS"}`,
				`{"Action":"pass",` + pkg + `}`,
			},
			wantCode: 1,
			want:     []string{"skipped unexpectedly", "example.com/p.TestS: s.go:1: one minute of real rotation"},
		},
		{
			name:   "StrictAllowedSkipPasses",
			strict: true,
			stream: []string{
				`{"Action":"output",` + pkg + `,"Test":"TestAllowed","Output":"    s.go:1: not on this OS\n"}`,
				`{"Action":"skip",` + pkg + `,"Test":"TestAllowed"}`,
				`{"Action":"pass",` + pkg + `}`,
			},
			want:    []string{"0 passed, 0 failed, 1 skipped"},
			notWant: []string{"FAIL"},
		},
		{
			name: "BuildFailure",
			stream: []string{
				`{"ImportPath":"example.com/p","Action":"build-output","Output":"p.go:1:1: syntax error\n"}`,
				`{"ImportPath":"example.com/p","Action":"build-fail"}`,
				`{"Action":"output",` + pkg + `,"Output":"FAIL\texample.com/p [build failed]\n"}`,
				`{"Action":"fail",` + pkg + `}`,
			},
			wantCode: 1,
			want:     []string{"syntax error", "[build failed]"},
		},
		{
			name:     "CrashLeavesTestUnfinished",
			stream:   []string{`{"Action":"output",` + pkg + `,"Test":"TestC","Output":"panic: oops\n"}`},
			wantCode: 1,
			want:     []string{"unfinished: example.com/p.TestC", "panic: oops"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out strings.Builder
			r := &report{out: &out, markers: []string{"SIGIL_TEST_MONGODB_URI", "SIGIL_TEST_BROWSER"}, buf: map[key][]string{}}
			if tc.strict {
				r.failOnSkip = true
				r.allow = regexp.MustCompile(`^example\.com/p\.TestAllowed$`)
			}
			if err := r.read(strings.NewReader(strings.Join(tc.stream, "\n") + "\n")); err != nil {
				t.Fatal(err)
			}
			if code := r.finish(); code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("report lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("report contains %q:\n%s", w, out.String())
				}
			}
		})
	}
}
