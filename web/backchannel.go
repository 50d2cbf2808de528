package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Back-channel logout delivery defaults (OIDC Back-Channel Logout 1.0 §2.5).
const (
	// DefaultBackchannelTimeout bounds each attempt.
	DefaultBackchannelTimeout = 5 * time.Second
	// DefaultBackchannelAttempts is the number of attempts per token.
	DefaultBackchannelAttempts = 3
)

// defaultBackchannelBackoff is the wait before attempt n+1 (n from 1).
func defaultBackchannelBackoff(n int) time.Duration {
	return time.Duration(n) * 500 * time.Millisecond
}

// BackchannelSender delivers logout tokens to relying parties' back-channel
// logout URIs: a POST of application/x-www-form-urlencoded logout_token,
// each attempt bounded by Timeout, at most Attempts attempts with a short
// backoff between them. 200 and 204 are success; a network error, 408,
// 429 and 5xx are retried; any other status is a final failure. Redirects
// are not followed. The token never appears in an error. It implements
// oauth.BackchannelNotifier and is safe for concurrent use; the zero value
// uses the defaults.
type BackchannelSender struct {
	// Client sends the requests; nil means a client that follows no
	// redirects.
	Client *http.Client
	// Timeout bounds each attempt; 0 means DefaultBackchannelTimeout.
	Timeout time.Duration
	// Attempts is the most attempts per token; 0 means
	// DefaultBackchannelAttempts.
	Attempts int
	// Backoff is the wait after failed attempt n (from 1); nil means
	// n × 500 ms.
	Backoff func(n int) time.Duration
	// Sleep waits d or until ctx ends; nil means a timer. Tests inject it.
	Sleep func(ctx context.Context, d time.Duration) error
}

var defaultBackchannelClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Notify POSTs logoutToken to uri, retrying as BackchannelSender says. It
// returns nil once the relying party answers 200 or 204, or the last
// failure (without the token) when every attempt failed or ctx ended.
func (b *BackchannelSender) Notify(ctx context.Context, uri, logoutToken string) error {
	attempts := b.Attempts
	if attempts <= 0 {
		attempts = DefaultBackchannelAttempts
	}
	backoff := b.Backoff
	if backoff == nil {
		backoff = defaultBackchannelBackoff
	}
	sleep := b.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	body := url.Values{"logout_token": {logoutToken}}.Encode()
	var last error
	for n := 1; n <= attempts; n++ {
		retry, err := b.attempt(ctx, uri, body)
		if err == nil {
			return nil
		}
		last = fmt.Errorf("back-channel logout to %s: attempt %d of %d: %w", uri, n, attempts, err)
		if !retry || n == attempts {
			break
		}
		if err := sleep(ctx, backoff(n)); err != nil {
			return fmt.Errorf("%w (gave up: %v)", last, err)
		}
	}
	return last
}

// attempt makes one POST; retry says whether another attempt may help.
func (b *BackchannelSender) attempt(ctx context.Context, uri, body string) (retry bool, err error) {
	timeout := b.Timeout
	if timeout <= 0 {
		timeout = DefaultBackchannelTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, strings.NewReader(body))
	if err != nil {
		return false, errors.New("bad back-channel logout uri")
	}
	req.Header.Set("Content-Type", contentTypeForm)
	client := b.Client
	if client == nil {
		client = defaultBackchannelClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return true, errors.New("request failed: " + scrubURLError(err))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	_ = resp.Body.Close()
	switch sc := resp.StatusCode; {
	case sc == http.StatusOK || sc == http.StatusNoContent:
		return false, nil
	case sc == http.StatusRequestTimeout || sc == http.StatusTooManyRequests || sc >= 500:
		return true, fmt.Errorf("status %d", sc)
	default:
		return false, fmt.Errorf("status %d", sc)
	}
}

// scrubURLError returns the cause of a client error without the request
// details (the URI is already in the caller's message; the body, which
// holds the token, never is).
func scrubURLError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// sleepCtx waits d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
