package tests

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Environment variables of the browser tests.
const (
	// envBrowser names the Chromium binary (default: chromium, then
	// chromium-browser, then google-chrome on PATH).
	envBrowser = "SIGIL_TEST_BROWSER"
	// envBrowserRequired set to "1" (make test sets it) turns a missing
	// browser into a failure instead of a skip.
	envBrowserRequired = "SIGIL_TEST_BROWSER_REQUIRED"
)

// browserSkipMessage is the skip (or, when required, failure) message of a
// browser test without a browser; make test searches test output for it.
const browserSkipMessage = "SIGIL_TEST_BROWSER: no Chromium found: skipping browser test (make test installs Debian's chromium)"

var (
	browserOnce sync.Once
	browserPath string
)

// findBrowser returns the Chromium binary to drive, or "".
func findBrowser() string {
	browserOnce.Do(func() {
		if p := os.Getenv(envBrowser); p != "" {
			browserPath = p
			return
		}
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				browserPath = p
				return
			}
		}
	})
	return browserPath
}

// newBrowser starts a headless Chromium with a fresh profile for one test
// and returns a chromedp context bound to a first tab. The browser is closed
// when the test ends. Every step of a test should run under the returned
// context, which carries an overall deadline so a hung page fails the test
// instead of the run.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	bin := findBrowser()
	if bin == "" {
		if os.Getenv(envBrowserRequired) == "1" {
			t.Fatal(browserSkipMessage)
		}
		t.Skip(browserSkipMessage)
	}
	// The profile is not a t.TempDir: Chromium's helper processes can still
	// be writing to it for a moment after the browser has exited, which
	// made TempDir's own cleanup fail the test ("directory not empty").
	profile, err := os.MkdirTemp("", "sigil-browser-")
	if err != nil {
		t.Fatal(err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(profile),
		chromedp.Headless,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.DisableGPU,
		chromedp.NoSandbox, // tests run as root in CI containers
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1100, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
		cancelAlloc()
		removeProfile(t, profile)
	})
	if err := chromedp.Run(ctx); err != nil { // starts the browser
		t.Fatalf("start %s: %v", bin, err)
	}
	return ctx
}

// removeProfile deletes a browser profile directory, retrying for up to
// 10 s while late writers of the exited browser recreate files in it; a
// profile that still cannot be removed is logged, not failed on.
func removeProfile(t *testing.T, dir string) {
	var err error
	for range 100 {
		if err = os.RemoveAll(dir); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("browser profile %s left behind: %v", dir, err)
}

var screenshotName = regexp.MustCompile(`^[a-z0-9-]+$`)

// screenshot saves a full-page PNG of the current tab as
// bin/screenshots/NAME.png at the repository root (quality 100 makes
// chromedp capture PNG rather than JPEG), for people to look at
// the pages the tests drove. A failure to save fails the test.
func screenshot(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	if !screenshotName.MatchString(name) {
		t.Fatalf("screenshot name %q: use lower-case letters, digits and dashes", name)
	}
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := filepath.Join("..", "bin", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserHarness checks that the browser the SSO and console tests
// drive starts, loads a loopback page, submits a form found by its
// autocomplete attribute, and saves a screenshot.
func TestBrowserHarness(t *testing.T) {
	var got string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if r.Method == http.MethodPost {
			_ = r.ParseForm()
			mu.Lock()
			got = r.PostForm.Get("username")
			mu.Unlock()
			fmt.Fprint(w, `<!doctype html><title>done</title><p id="done">done</p>`)
			return
		}
		fmt.Fprint(w, `<!doctype html><title>form</title><form method="post">
<label>User <input name="username" autocomplete="username"></label>
<button type="submit">Go</button></form>`)
	}))
	defer srv.Close()

	ctx := newBrowser(t)
	err := chromedp.Run(ctx,
		chromedp.Navigate(srv.URL),
		chromedp.SendKeys(`input[autocomplete="username"]`, "alice", chromedp.ByQuery),
		chromedp.Submit(`input[autocomplete="username"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#done`, chromedp.ByQuery),
	)
	if err != nil {
		t.Fatalf("drive the form: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got != "alice" {
		t.Fatalf("server got username %q, want alice", got)
	}
	screenshot(ctx, t, "harness")
}
