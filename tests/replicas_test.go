package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/sigilauth/sigil/keys"
	"github.com/sigilauth/sigil/keys/audittest"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/mongo/mongotest"
)

// replicaSettings rotate every 4 s with the shortest pre-publication
// validation allows (10 s, which the due rotations wait for), so several
// due times pass during the test, and make the lockout long enough to
// observe: after 3 failures an account is locked for 20 s.
var replicaSettings = map[string]string{
	"keys.rotation":           "@every 4s",
	"keys.prepublish":         "10s",
	"keys.reconcile_interval": "500ms",
	"keys.clock_leeway":       "1s",
	"jwks.max_age":            "1s",
	"tokens.access_ttl":       "30s",
	"tokens.id_token_ttl":     "30s",
	"shutdown_grace":          "0s",
}

// replicaEnv holds the nested settings the test config writer cannot
// express (it writes one level of sections).
var replicaEnv = []string{
	"SIGIL_SECURITY_IP_LIMIT_DISABLED=true",
	"SIGIL_SECURITY_LOCKOUT_FREE_FAILURES=3",
	"SIGIL_SECURITY_LOCKOUT_BASE_DELAY=20s",
	"SIGIL_SECURITY_LOCKOUT_MAX_DELAY=20s",
	"SIGIL_SECURITY_LOCKOUT_WINDOW=1m",
}

// jwksOf fetches a replica's JWKS: body, ETag and the parsed set.
func jwksOf(t *testing.T, base string) ([]byte, string, jose.JSONWebKeySet) {
	t.Helper()
	st, hdr, body := get(t, base+"/.well-known/jwks.json", nil)
	if st != 200 {
		t.Fatalf("%s JWKS: %d", base, st)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	return body, hdr.Get("ETag"), set
}

// verifyAgainst checks tok's signature with the key set.
func verifyAgainst(set jose.JSONWebKeySet, tok string) error {
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		return err
	}
	keys := set.Key(jws.Signatures[0].Protected.KeyID)
	if len(keys) != 1 {
		return fmt.Errorf("kid %s not in the JWKS", jws.Signatures[0].Protected.KeyID)
	}
	_, err = jws.Verify(keys[0].Key)
	return err
}

// postForm posts a token request to base and returns the status (0 when
// no answer came: connection refused or reset) and the decoded body.
func postForm(client *http.Client, base string, form url.Values, id, secret string) (int, map[string]any) {
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil
	}
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body
}

// metricValue returns the value of the sample line starting with prefix in
// a replica's /metrics ("" if absent).
func metricValue(t *testing.T, base, prefix string) string {
	t.Helper()
	_, _, body := get(t, base+"/metrics", nil)
	for _, l := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(l, prefix+" "); ok {
			return v
		}
	}
	return ""
}

// TestThreeReplicas starts three `sigil serve` processes on one MongoDB
// database and checks that they behave as one server: identical JWKS and
// ETags, tokens verifiable anywhere, refresh rotation and reuse detection
// across replicas, one rotation per due time, a shared lockout, and no
// answered request lost when one replica is killed mid-traffic.
func TestThreeReplicas(t *testing.T) {
	mongotest.URI(t)
	t.Parallel()
	e := newOAuthEnv(t, Mongo, replicaSettings)
	id, secret := addServiceClient(t, e.Env)
	e.ExtraEnv = append(e.ExtraEnv, replicaEnv...)
	addrs := []string{e.Listen, "127.0.0.1:" + freePort(t), "127.0.0.1:" + freePort(t)}
	reps := make([]*Server, len(addrs))
	for i, a := range addrs {
		reps[i] = e.StartOn(a)
	}
	e.srv = reps[0]
	started := time.Now()

	t.Run("identical JWKS and ETags", func(t *testing.T) {
		// A replica sees a key-set change within reconcile_interval; with
		// rotation every 4 s, look for a moment when all three agree.
		deadline := time.Now().Add(5 * time.Second)
		for {
			b0, e0, _ := jwksOf(t, reps[0].URL)
			same := e0 != ""
			for _, r := range reps[1:] {
				b, et, _ := jwksOf(t, r.URL)
				same = same && string(b) == string(b0) && et == e0
			}
			if same {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("the three replicas never served identical JWKS bytes and ETags")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("tokens verify against any replica's JWKS", func(t *testing.T) {
		for i, r := range reps {
			tok := clientCredentialsToken(t, r.URL, id, secret)
			for j, o := range reps {
				_, _, set := jwksOf(t, o.URL)
				if err := verifyAgainst(set, tok); err != nil {
					t.Errorf("token of replica %d against JWKS of replica %d: %v", i, j, err)
				}
			}
		}
	})

	t.Run("refresh on another replica, reuse detected on a third", func(t *testing.T) {
		login := e.login(t, "alice", alicePW, "openid api")
		rt0 := login.str("refresh_token")
		st, body := postForm(http.DefaultClient, reps[1].URL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt0}}, webID, webSecret)
		if st != 200 {
			t.Fatalf("refresh on replica 1: %d %v", st, body)
		}
		rt1, _ := body["refresh_token"].(string)
		before := metricValue(t, reps[2].URL, "sigil_refresh_reuse_total")
		st, body = postForm(http.DefaultClient, reps[2].URL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt0}}, webID, webSecret)
		if st != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("reuse on replica 2: %d %v, want 400 invalid_grant", st, body)
		}
		if after := metricValue(t, reps[2].URL, "sigil_refresh_reuse_total"); after == before {
			t.Errorf("replica 2 did not count the reuse (sigil_refresh_reuse_total %s)", after)
		}
		// The reuse revoked the family everywhere: the successor fails too.
		st, body = postForm(http.DefaultClient, reps[0].URL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt1}}, webID, webSecret)
		if st != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("successor after reuse on replica 0: %d %v, want 400 invalid_grant", st, body)
		}
	})

	t.Run("lockout counted across replicas", func(t *testing.T) {
		// One failure on each replica: three in all, the free ones.
		for i, r := range reps {
			st, body := postForm(http.DefaultClient, r.URL, pwForm("bob", "wrong"), webID, webSecret)
			if st != 400 {
				t.Fatalf("failure %d: %d %v", i, st, body)
			}
		}
		// Each replica saw one failure; only a shared count locks bob, so
		// the right password is refused now.
		st, body := postForm(http.DefaultClient, reps[0].URL, pwForm("bob", bobPW), webID, webSecret)
		if st != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("right password after 3 failures on 3 replicas: %d %v, want locked (400 invalid_grant)", st, body)
		}
		if v := metricValue(t, reps[0].URL, `sigil_logins_total{result="locked"}`); v != "1" {
			t.Errorf(`replica 0 sigil_logins_total{result="locked"} = %q, want 1`, v)
		}
	})

	t.Run("SIGKILL mid-traffic loses no answered request", func(t *testing.T) {
		type answered struct {
			tok     string
			replica int
		}
		var (
			mu     sync.Mutex
			tokens []answered
			chains = map[int]string{} // worker → its last answered refresh token
			bad    []string
		)
		stop := make(chan struct{})
		killing := make(chan struct{})
		var wg sync.WaitGroup
		client := &http.Client{Timeout: 10 * time.Second}
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rt := ""
				if w%2 == 1 { // refresh chains
					st, body := postForm(client, reps[w%3].URL, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePW}, "scope": {"openid api"}}, webID, webSecret)
					if st != 200 {
						mu.Lock()
						bad = append(bad, fmt.Sprintf("worker %d login: %d %v", w, st, body))
						mu.Unlock()
						return
					}
					rt, _ = body["refresh_token"].(string)
				}
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					r := (w + n) % 3
					select {
					case <-killing:
						// The load balancer has taken the dead replica out.
						r = (w + n) % 2
					default:
					}
					form := url.Values{"grant_type": {"client_credentials"}, "scope": {"api"}}
					cid, csec := id, secret
					if rt != "" {
						form, cid, csec = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, webID, webSecret
					}
					st, body := postForm(client, reps[r].URL, form, cid, csec)
					mu.Lock()
					switch {
					case st == 0:
						// No answer: only the killed replica may fail so.
						// Whether it committed the refresh before dying is
						// unknown (its next use may be a reuse), so the
						// chain is not checked.
						select {
						case <-killing:
						default:
							bad = append(bad, fmt.Sprintf("worker %d: no answer from replica %d before the kill", w, r))
						}
						if r != 2 {
							bad = append(bad, fmt.Sprintf("worker %d: no answer from survivor %d", w, r))
						}
						if rt != "" {
							// This chain met the kill; start a new one on a
							// survivor, so that some chain is left to check
							// however the kill fell.
							delete(chains, w)
							mu.Unlock()
							st, body := postForm(client, reps[w%2].URL, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePW}, "scope": {"openid api"}}, webID, webSecret)
							mu.Lock()
							if st != 200 {
								bad = append(bad, fmt.Sprintf("worker %d login on survivor %d: %d %v", w, w%2, st, body))
								mu.Unlock()
								return
							}
							rt, _ = body["refresh_token"].(string)
							chains[w] = rt
							mu.Unlock()
							continue
						}
					case st == 200:
						tok, _ := body["access_token"].(string)
						tokens = append(tokens, answered{tok, r})
						if rt != "" {
							rt, _ = body["refresh_token"].(string)
							chains[w] = rt
						}
					default:
						bad = append(bad, fmt.Sprintf("worker %d on replica %d: %d %v", w, r, st, body))
					}
					mu.Unlock()
				}
			}()
		}
		time.Sleep(1500 * time.Millisecond)
		close(killing)
		reps[2].Kill()
		time.Sleep(1500 * time.Millisecond)
		close(stop)
		wg.Wait()

		if len(bad) > 0 {
			t.Fatalf("%d bad answers, first: %s", len(bad), bad[0])
		}
		perReplica := map[int]int{}
		for _, a := range tokens {
			perReplica[a.replica]++
		}
		if perReplica[0] == 0 || perReplica[1] == 0 || perReplica[2] == 0 {
			t.Fatalf("answers per replica %v: the traffic did not reach all three", perReplica)
		}
		// Every answered token verifies on the survivors; every chain's last
		// answered refresh token still refreshes.
		_, _, set0 := jwksOf(t, reps[0].URL)
		_, _, set1 := jwksOf(t, reps[1].URL)
		for _, a := range tokens {
			for _, set := range []jose.JSONWebKeySet{set0, set1} {
				if err := verifyAgainst(set, a.tok); err != nil {
					t.Fatalf("token answered by replica %d: %v", a.replica, err)
				}
			}
		}
		if len(chains) == 0 {
			t.Fatal("every refresh chain met the kill: nothing to check")
		}
		for w, rt := range chains {
			st, body := postForm(http.DefaultClient, reps[w%2].URL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, webID, webSecret)
			if st != 200 {
				t.Errorf("worker %d: its last answered refresh token fails on a survivor: %d %v", w, st, body)
			}
		}
		t.Logf("%d answered requests %v, %d refresh chains checked", len(tokens), perReplica, len(chains))
		for _, r := range reps[:2] {
			if st, _, _ := get(t, r.URL+"/readyz", nil); st != 200 {
				t.Errorf("survivor %s not ready: %d", r.URL, st)
			}
		}
	})

	t.Run("exactly one rotation per due time", func(t *testing.T) {
		// At least two rotations must have happened: each waits for its
		// next key's 10 s pre-publication (bootstrap + 10 s + 10 s, plus
		// reconcile delays).
		if wait := 24*time.Second - time.Since(started); wait > 0 {
			time.Sleep(wait)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		st, err := e.OpenStore(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		set, err := st.GetKeySet(ctx)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := st.ListKeyEvents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := audittest.CheckAudit(set, evs); err != nil {
			t.Fatalf("audit trail: %v", err)
		}
		var acts []time.Time
		for _, ev := range evs {
			if ev.To == storage.KeyActive && ev.Alg == "ES256" {
				acts = append(acts, ev.Time)
			}
		}
		slices.SortFunc(acts, func(a, b time.Time) int { return a.Compare(b) })
		if len(acts) < 3 {
			t.Fatalf("%d activations, want the bootstrap and at least 2 rotations", len(acts))
		}
		// A rotation is due at sched.Next(previous activation) (robfig's
		// @every rounds to whole seconds); a second rotation in one period
		// would activate before the due time its predecessor set.
		sched, err := keys.ParseSchedule(replicaSettings["keys.rotation"])
		if err != nil {
			t.Fatal(err)
		}
		for i := 1; i < len(acts); i++ {
			if due := sched.Next(acts[i-1]); acts[i].Before(due) {
				t.Errorf("activation %d at %s is before its due time %s (previous activation %s): two rotations in one period",
					i, acts[i].Format(time.StampMilli), due.Format(time.StampMilli), acts[i-1].Format(time.StampMilli))
			}
		}
		actives := 0
		for _, k := range set.Keys {
			if k.State == storage.KeyActive {
				actives++
			}
		}
		if actives != 1 {
			t.Errorf("%d active keys, want 1", actives)
		}
	})
}
