package load

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sigilauth/sigil/oauth/verify"
)

// SoakOptions configure Soak.
type SoakOptions struct {
	Bin      string // the sigil binary
	Dir      string // for the deployment's files
	Backend  string // "bolt" (default) or "mongo"
	MongoURI string
	// Duration of the measured phase (default 5m); a warm-up of
	// min(Duration/10, 10s) comes first.
	Duration time.Duration
	// Concurrency bounds requests in flight (default 8); Rate bounds
	// requests per second (default 100).
	Concurrency int
	Rate        float64
	// MaxGoroutineGrowth and MaxRSSGrowth bound the growth from the end of
	// the warm-up to the end of the run (defaults 64 and 64 MiB).
	MaxGoroutineGrowth int
	MaxRSSGrowth       int64
	Out                io.Writer
}

// SoakReport is what a soak measured.
type SoakReport struct {
	Result
	Verified, UnknownKid, VerifyErrors int64
	// UnknownKidPublished counts the unknown kids that the server's JWKS
	// held when the resource server failed to find them.
	UnknownKidPublished            int64
	GoroutinesStart, GoroutinesEnd int
	GoroutinesPeak                 int
	RSSStart, RSSEnd, PeakRSS      int64
	KeysSeen                       int
	// AuthCodeFlows counts the authorization code flows that ended with
	// verified tokens; AuthCodeLogins those that went through the login
	// form, AuthCodeSessionReused those answered from the session cookie.
	AuthCodeFlows, AuthCodeLogins, AuthCodeSessionReused int64
}

// soakSettings rotate keys every few seconds, with both algorithms and the
// simplejwt routes on. A rotation is due every 6 s but waits until the next
// key has been published for keys.prepublish, so keys rotate about every
// 13 s. Prepublication must outlast what a resource server may take to see
// a new key: oauth/verify refetches the JWKS at most every 10 s (its
// MinRefetchInterval), plus jwks.max_age; with a prepublish of 3 s, 5-10% of
// tokens carried a kid the resource server had not fetched yet.
var soakSettings = map[string]string{
	"keys.algorithms":            "[ES256, RS256]",
	"keys.rotation":              "@every 6s",
	"keys.prepublish":            "13s",
	"keys.reconcile_interval":    "1s",
	"keys.clock_leeway":          "1s",
	"jwks.max_age":               "2s",
	"tokens.access_ttl":          "15s",
	"tokens.id_token_ttl":        "15s",
	"compat.simplejwt":           "true",
	"compat.client_id":           ClientCompat,
	"security.ip_limit.disabled": "true",
}

// Soak runs every grant, refresh, JWKS and verification against a fresh
// deployment on loopback at a bounded rate while keys rotate every few
// seconds, with a resource server (oauth/verify) verifying every access
// token alongside; the authorization code flows go through the login page
// as a browser without JavaScript would and verify their ID tokens. It returns the report and an error if any request
// failed, a token carried a kid the resource server could not find, no
// authorization code flow logged in or none reused a session, or
// goroutines or RSS grew beyond the bounds.
func Soak(ctx context.Context, o SoakOptions) (SoakReport, error) {
	if o.Backend == "" {
		o.Backend = "bolt"
	}
	if o.Duration <= 0 {
		o.Duration = 5 * time.Minute
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.Rate <= 0 {
		o.Rate = 100
	}
	if o.MaxGoroutineGrowth <= 0 {
		o.MaxGoroutineGrowth = 64
	}
	if o.MaxRSSGrowth <= 0 {
		o.MaxRSSGrowth = 64 << 20
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	warmup := min(o.Duration/10, 10*time.Second)
	var rep SoakReport

	s, err := NewSigil(o.Bin, o.Dir, o.Backend, o.MongoURI, soakSettings)
	if err != nil {
		return rep, err
	}
	defer s.Cleanup()
	d, err := Provision(s, o.Concurrency)
	if err != nil {
		return rep, err
	}
	if err := s.Start(ctx); err != nil {
		return rep, err
	}
	client := NewClient(o.Concurrency + 2)

	// The resource server: verifies every access token it is handed.
	v, err := verify.New(ctx, s.URL, verify.WithAudience(Audience), verify.WithHTTPClient(client),
		verify.WithJWKSCacheBounds(time.Second, time.Minute), verify.WithAlgorithms("ES256", "RS256"))
	if err != nil {
		return rep, fmt.Errorf("resource server: %w", err)
	}
	// The authorization code flows' relying party checks its ID tokens.
	idv, err := verify.New(ctx, s.URL, verify.WithAudience(ClientWeb), verify.WithTokenType("JWT"), verify.WithHTTPClient(client),
		verify.WithJWKSCacheBounds(time.Second, time.Minute), verify.WithAlgorithms("ES256", "RS256"))
	if err != nil {
		return rep, fmt.Errorf("relying party: %w", err)
	}
	tokens := make(chan string, 1024)
	var verified, unknownKid, unknownPublished, verifyErrs atomic.Int64
	var kidMu sync.Mutex
	kids := map[string]bool{}
	var firstVerifyErr atomic.Value
	rsDone := make(chan struct{})
	go func() {
		defer close(rsDone)
		for tok := range tokens {
			_, err := v.Verify(ctx, tok)
			switch {
			case err == nil:
				verified.Add(1)
				if kid := jwtKid(tok); kid != "" {
					kidMu.Lock()
					kids[kid] = true
					kidMu.Unlock()
				}
			case errors.Is(err, verify.ErrUnknownKey):
				unknownKid.Add(1)
				firstVerifyErr.CompareAndSwap(nil, err.Error())
				// Tell a stale resource server from a server that signs with a
				// key it does not publish: is the kid in the JWKS right now?
				if kid := jwtKid(tok); kid != "" && jwksHas(ctx, client, s.URL, kid) {
					unknownPublished.Add(1)
				}
			default:
				verifyErrs.Add(1)
				firstVerifyErr.CompareAndSwap(nil, err.Error())
			}
		}
	}()
	hand := func(tok string) {
		select {
		case tokens <- tok:
		default: // the resource server is behind: skip this one
		}
	}

	// Samplers: goroutines (from /metrics) and RSS (from /proc), every second.
	type sample struct {
		g   int
		rss int64
	}
	var smu sync.Mutex
	var samples []sample
	var startSample sample
	sampleCtx, stopSampling := context.WithCancel(ctx)
	samplerDone := make(chan struct{})
	go func() {
		defer close(samplerDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		begin := time.Now()
		for {
			select {
			case <-sampleCtx.Done():
				return
			case <-t.C:
			}
			g, _ := Goroutines(sampleCtx, client, s.URL)
			m, _ := ProcessMemory(s.PID())
			smu.Lock()
			samples = append(samples, sample{g, m.RSS})
			if startSample.g == 0 && time.Since(begin) >= warmup {
				startSample = sample{g, m.RSS}
			}
			smu.Unlock()
		}
	}()

	var acCounts AuthCodeCounts
	op := soakOp(d, hand)
	fmt.Fprintf(o.Out, "soak on %s: %s at up to %.0f req/s, %d concurrent, keys rotating about every 13s ...\n", o.Backend, o.Duration, o.Rate, o.Concurrency)
	res, err := Run(ctx, "soak", Options{
		Concurrency: o.Concurrency, Warmup: warmup, Duration: o.Duration, Rate: o.Rate, PID: s.PID(), Client: client,
		Setup: func(ctx context.Context, w *Worker) error {
			st := &soakState{ac: newAuthCodeFlow(d, d.User(w.ID), w.Client, idv, hand, &acCounts)}
			w.State = st
			return st.login(ctx, d, w)
		},
	}, op)
	stopSampling()
	<-samplerDone
	close(tokens)
	<-rsDone
	if err != nil {
		return rep, err
	}
	// One last sample after the load, once in-flight handlers are gone.
	endG, _ := Goroutines(ctx, client, s.URL)
	endMem, _ := ProcessMemory(s.PID())

	rep.Result = res
	rep.Verified, rep.UnknownKid, rep.VerifyErrors = verified.Load(), unknownKid.Load(), verifyErrs.Load()
	rep.UnknownKidPublished = unknownPublished.Load()
	rep.KeysSeen = len(kids)
	rep.AuthCodeFlows, rep.AuthCodeLogins, rep.AuthCodeSessionReused = acCounts.Completed.Load(), acCounts.Login.Load(), acCounts.SessionReused.Load()
	rep.GoroutinesStart, rep.RSSStart = startSample.g, startSample.rss
	rep.GoroutinesEnd, rep.RSSEnd, rep.PeakRSS = endG, endMem.RSS, endMem.PeakRSS
	for _, sm := range samples {
		rep.GoroutinesPeak = max(rep.GoroutinesPeak, sm.g)
	}
	if err := s.Stop(); err != nil {
		return rep, err
	}

	fmt.Fprintf(o.Out, "requests %d (%.0f/s), errors %d, p50 %s, p99 %s, server CPU %s/request\n",
		res.Requests, res.RPS(), res.Errors, ms(res.P50), ms(res.P99), ms(res.CPUPerRequest()))
	fmt.Fprintf(o.Out, "resource server: %d tokens verified, %d signing keys seen, %d unknown kid (%d of them in the server's JWKS at that moment), %d other verification errors\n",
		rep.Verified, rep.KeysSeen, rep.UnknownKid, rep.UnknownKidPublished, rep.VerifyErrors)
	fmt.Fprintf(o.Out, "authorization_code: %d flows verified, %d through the login form, %d reusing the session\n",
		rep.AuthCodeFlows, rep.AuthCodeLogins, rep.AuthCodeSessionReused)
	fmt.Fprintf(o.Out, "goroutines: %d after warm-up, %d peak, %d at the end; RSS: %.1f MiB after warm-up, %.1f MiB at the end, %.1f MiB peak\n",
		rep.GoroutinesStart, rep.GoroutinesPeak, rep.GoroutinesEnd, mib(rep.RSSStart), mib(rep.RSSEnd), mib(rep.PeakRSS))
	for _, e := range res.FirstErrors {
		fmt.Fprintf(o.Out, "  error: %s\n", e)
	}
	if e, ok := firstVerifyErr.Load().(string); ok {
		fmt.Fprintf(o.Out, "  verification error: %s\n", e)
	}

	var fails []string
	if res.Errors > 0 {
		fails = append(fails, fmt.Sprintf("%d request errors", res.Errors))
	}
	if res.Requests == 0 {
		fails = append(fails, "no requests completed")
	}
	if rep.UnknownKid > 0 {
		fails = append(fails, fmt.Sprintf("%d tokens with a kid unknown to the resource server", rep.UnknownKid))
	}
	if rep.VerifyErrors > 0 {
		fails = append(fails, fmt.Sprintf("%d tokens the resource server refused", rep.VerifyErrors))
	}
	if rep.Verified == 0 {
		fails = append(fails, "the resource server verified no token")
	}
	if rep.AuthCodeLogins == 0 || rep.AuthCodeSessionReused == 0 {
		fails = append(fails, fmt.Sprintf("authorization_code flows: %d with login, %d reusing the session; want both", rep.AuthCodeLogins, rep.AuthCodeSessionReused))
	}
	if rep.GoroutinesStart == 0 || rep.GoroutinesEnd == 0 {
		fails = append(fails, "could not read go_goroutines from /metrics")
	} else if rep.GoroutinesEnd > rep.GoroutinesStart+o.MaxGoroutineGrowth {
		fails = append(fails, fmt.Sprintf("goroutines grew from %d to %d (bound +%d)", rep.GoroutinesStart, rep.GoroutinesEnd, o.MaxGoroutineGrowth))
	}
	if rep.RSSStart == 0 {
		fails = append(fails, "could not read the server's RSS")
	} else if rep.RSSEnd > rep.RSSStart+o.MaxRSSGrowth {
		fails = append(fails, fmt.Sprintf("RSS grew from %.1f to %.1f MiB (bound +%.0f MiB)", mib(rep.RSSStart), mib(rep.RSSEnd), mib(o.MaxRSSGrowth)))
	}
	if len(fails) > 0 {
		return rep, fmt.Errorf("soak failed: %s", strings.Join(fails, "; "))
	}
	fmt.Fprintln(o.Out, "soak passed")
	return rep, nil
}

// soakState is one soak worker's sessions.
type soakState struct {
	n       int
	refresh string        // the oauth2 refresh token it continues
	pair    SimpleJWTPair // the simplejwt pair it continues
	etag    string
	ac      *authCodeFlow // its browser's authorization code flow
}

func (st *soakState) login(ctx context.Context, d *Deployment, w *Worker) error {
	tr, err := d.Login(ctx, w.Client, d.User(w.ID))
	if err != nil {
		return err
	}
	st.refresh = tr.RefreshToken
	p, err := d.SimpleJWTObtain(ctx, w.Client, d.User(w.ID))
	st.pair = p
	return err
}

// soakOp cycles each worker through a fixed mix of 25 requests: the
// password grant and simplejwt obtain one each, refreshes of both kinds,
// client_credentials with both algorithms, JWKS (200 and 304), discovery,
// simplejwt verify, and five steps of the worker's browser through the
// authorization code flow (a flow takes four steps with the login form and
// three when it reuses the session; they alternate, so about one request
// in 35 is a login there). Every access token goes to hand.
func soakOp(d *Deployment, hand func(string)) Op {
	return func(ctx context.Context, w *Worker) error {
		st := w.State.(*soakState)
		st.n++
		switch st.n % 25 {
		case 0:
			tr, err := d.Login(ctx, w.Client, d.User(w.ID))
			if err != nil {
				return err
			}
			st.refresh = tr.RefreshToken
			hand(tr.AccessToken)
		case 10:
			p, err := d.SimpleJWTObtain(ctx, w.Client, d.User(w.ID))
			if err != nil {
				return err
			}
			st.pair = p
			hand(p.Access)
		case 1, 6, 11, 16:
			tr, err := d.ClientCredentials(ctx, w.Client, ClientES256)
			if err != nil {
				return err
			}
			hand(tr.AccessToken)
		case 13:
			tr, err := d.ClientCredentials(ctx, w.Client, ClientRS256)
			if err != nil {
				return err
			}
			hand(tr.AccessToken)
		case 2, 5, 9, 14, 17:
			tr, err := d.Refresh(ctx, w.Client, st.refresh)
			if err != nil {
				return err
			}
			st.refresh = tr.RefreshToken
			hand(tr.AccessToken)
		case 4, 12, 18:
			p, err := d.SimpleJWTRefresh(ctx, w.Client, st.pair.Refresh)
			if err != nil {
				return err
			}
			st.pair = p
			hand(p.Access)
		case 7, 15:
			return d.SimpleJWTVerify(ctx, w.Client, st.pair.Access)
		case 3:
			etag, err := d.JWKS(ctx, w.Client, "")
			st.etag = etag
			return err
		case 8:
			if st.etag == "" {
				return nil
			}
			// The key set may have rotated since: 200 or 304 are both fine.
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.URL+"/.well-known/jwks.json", nil)
			req.Header.Set("If-None-Match", st.etag)
			resp, err := w.Client.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotModified {
				return fmt.Errorf("GET jwks with If-None-Match: status %d", resp.StatusCode)
			}
		case 19:
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.URL+"/.well-known/openid-configuration", nil)
			return do(w.Client, req, http.StatusOK, nil)
		case 20, 21, 22, 23, 24:
			return st.ac.run(ctx)
		}
		return nil
	}
}

// Goroutines reads go_goroutines from the server's /metrics.
func Goroutines(ctx context.Context, c *http.Client, base string) (int, error) {
	v, err := MetricValues(ctx, c, base, "go_goroutines")
	if err != nil {
		return 0, err
	}
	g, ok := v["go_goroutines"]
	if !ok {
		return 0, fmt.Errorf("no go_goroutines in %s/metrics", base)
	}
	return int(g), nil
}

// MetricValues reads the unlabelled samples names from the server's
// /metrics. A name the server does not expose is absent from the map.
func MetricValues(ctx context.Context, c *http.Client, base string, names ...string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s/metrics: status %d", base, resp.StatusCode)
	}
	return parseMetrics(resp.Body, names)
}

// parseMetrics picks the unlabelled samples names out of an exposition
// text.
func parseMetrics(r io.Reader, names []string) (map[string]float64, error) {
	v := make(map[string]float64, len(names))
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || !slices.Contains(names, name) {
			continue
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", name, err)
		}
		v[name] = f
	}
	return v, sc.Err()
}

// jwksHas reports whether the server's JWKS lists kid now.
func jwksHas(ctx context.Context, c *http.Client, base, kid string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/.well-known/jwks.json", nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return err == nil && strings.Contains(string(b), `"kid":"`+kid+`"`)
}

// jwtKid returns the kid of a compact JWS header, or "".
func jwtKid(tok string) string {
	h, _, ok := strings.Cut(tok, ".")
	if !ok {
		return ""
	}
	b, err := b64url(h)
	if err != nil {
		return ""
	}
	_, rest, ok := strings.Cut(string(b), `"kid":"`)
	if !ok {
		return ""
	}
	kid, _, _ := strings.Cut(rest, `"`)
	return kid
}

func b64url(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
