package mongotest_test

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/sigilauth/sigil/storage/mongo/mongotest"
)

// fakeTB records how URI ends a test. Skip and Fatal stop the calling
// goroutine, as the real ones do.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skip(args ...any) {
	f.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatal(args ...any) {
	f.failed = fmt.Sprint(args...)
	runtime.Goexit()
}

func TestURI(t *testing.T) {
	tests := []struct {
		name, uri, required string
		want                string
		wantSkip, wantFail  bool
	}{
		{name: "Set", uri: "mongodb://127.0.0.1:1/", want: "mongodb://127.0.0.1:1/"},
		{name: "SetAndRequired", uri: "mongodb://127.0.0.1:1/", required: "1", want: "mongodb://127.0.0.1:1/"},
		{name: "UnsetSkips", wantSkip: true},
		{name: "UnsetRequiredFails", required: "1", wantFail: true},
		{name: "UnsetRequiredOtherValueSkips", required: "yes", wantSkip: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(mongotest.EnvURI, tc.uri)
			t.Setenv(mongotest.EnvRequired, tc.required)
			f := &fakeTB{TB: t}
			var got string
			done := make(chan struct{})
			go func() {
				defer close(done)
				got = mongotest.URI(f)
			}()
			<-done
			if got != tc.want {
				t.Errorf("URI = %q, want %q", got, tc.want)
			}
			if (f.skipped != "") != tc.wantSkip || (f.failed != "") != tc.wantFail {
				t.Fatalf("skipped %q, failed %q; want skip %v, fail %v", f.skipped, f.failed, tc.wantSkip, tc.wantFail)
			}
			for _, msg := range []string{f.skipped, f.failed} {
				if msg != "" && msg != mongotest.SkipMessage {
					t.Errorf("message %q, want %q", msg, mongotest.SkipMessage)
				}
			}
		})
	}
}

func TestDatabaseNameUnique(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		name := mongotest.DatabaseName(t)
		if len(name) != len("sigil_test_")+16 || seen[name] {
			t.Fatalf("bad or repeated name %q", name)
		}
		seen[name] = true
	}
}

func TestNewDatabase(t *testing.T) {
	uri, db := mongotest.NewDatabase(t)
	if uri == "" || db == "" {
		t.Fatalf("NewDatabase = %q, %q", uri, db)
	}
}
