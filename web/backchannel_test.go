package web

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBackchannelSender(t *testing.T) {
	const token = "eyJhbGciOiJFUzI1NiJ9.secret-logout-token.sig"
	for _, tc := range []struct {
		name         string
		statuses     []int // answers in order; the last repeats
		hang         bool  // the receiver never answers
		wantAttempts int
		wantErr      string
		wantSleeps   []time.Duration
	}{
		{"204 at once", []int{204}, false, 1, "", nil},
		{"200 at once", []int{200}, false, 1, "", nil},
		{"500 then 200", []int{500, 200}, false, 2, "", []time.Duration{10 * time.Millisecond}},
		{"503 429 204", []int{503, 429, 204}, false, 3, "", []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}},
		{"always 500: three attempts", []int{500}, false, 3, "attempt 3 of 3: status 500", []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}},
		{"400 is final", []int{400}, false, 1, "attempt 1 of 3: status 400", nil},
		{"redirect not followed", []int{302}, false, 1, "status 302", nil},
		{"202 is not success", []int{202}, false, 1, "status 202", nil},
		{"timeout each attempt", nil, true, 3, "attempt 3 of 3", []time.Duration{10 * time.Millisecond, 20 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			attempts := 0
			var bad []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				n := attempts
				attempts++
				mu.Unlock()
				if err := r.ParseForm(); err != nil || r.Method != http.MethodPost ||
					r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" ||
					r.PostForm.Get("logout_token") != token || len(r.PostForm) != 1 || r.URL.RawQuery != "" {
					mu.Lock()
					bad = append(bad, r.Method+" "+r.Header.Get("Content-Type"))
					mu.Unlock()
				}
				if tc.hang {
					<-r.Context().Done()
					return
				}
				if tc.statuses[min(n, len(tc.statuses)-1)] == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tc.statuses[min(n, len(tc.statuses)-1)])
			}))
			t.Cleanup(srv.Close)
			var sleeps []time.Duration
			b := &BackchannelSender{
				Timeout: 50 * time.Millisecond,
				Backoff: func(n int) time.Duration { return time.Duration(n) * 10 * time.Millisecond },
				Sleep: func(_ context.Context, d time.Duration) error {
					sleeps = append(sleeps, d)
					return nil
				},
			}
			err := b.Notify(context.Background(), srv.URL+"/bc", token)
			mu.Lock()
			defer mu.Unlock()
			if len(bad) > 0 {
				t.Fatalf("malformed requests: %v", bad)
			}
			if attempts != tc.wantAttempts {
				t.Fatalf("%d attempts, want %d", attempts, tc.wantAttempts)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "secret-logout-token") {
				t.Fatalf("the token leaked into the error: %v", err)
			}
			if len(sleeps) != len(tc.wantSleeps) {
				t.Fatalf("sleeps %v, want %v", sleeps, tc.wantSleeps)
			}
			for i := range sleeps {
				if sleeps[i] != tc.wantSleeps[i] {
					t.Fatalf("sleeps %v, want %v", sleeps, tc.wantSleeps)
				}
			}
		})
	}
}

func TestBackchannelSenderStopsWithContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	attempts := 0
	b := &BackchannelSender{Sleep: func(ctx context.Context, _ time.Duration) error {
		attempts++
		cancel()
		return ctx.Err()
	}}
	err := b.Notify(ctx, srv.URL, "tok")
	if !strings.Contains(fmtErr(err), "attempt 1 of 3") || attempts != 1 {
		t.Fatalf("err %v after %d backoffs", err, attempts)
	}
}

func TestBackchannelSenderDefaults(t *testing.T) {
	b := &BackchannelSender{}
	if err := b.Notify(context.Background(), "://bad uri", "tok"); err == nil || strings.Contains(err.Error(), "tok") {
		t.Fatalf("bad uri: %v", err)
	}
	if got := defaultBackchannelBackoff(2); got != time.Second {
		t.Fatalf("default backoff %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := sleepCtx(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("sleepCtx on a dead context: %v", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
