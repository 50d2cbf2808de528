package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sigilauth/sigil/configs"
	"github.com/sigilauth/sigil/oauth/password"
	"github.com/sigilauth/sigil/storage"
	"github.com/sigilauth/sigil/storage/bolt"
)

// allFamilies is every family issue 11 asks /metrics to show.
var allFamilies = []string{
	"sigil_tokens_issued_total",
	"sigil_token_errors_total",
	"sigil_http_request_duration_seconds",
	"sigil_password_hash_seconds",
	"sigil_password_hash_wait_seconds",
	"sigil_password_hash_rejected_total",
	"sigil_logins_total",
	"sigil_refresh_reuse_total",
	"sigil_storage_operation_seconds",
	"sigil_storage_errors_total",
	"sigil_key_age_seconds",
	"sigil_key_next_rotation_seconds",
	"sigil_key_next_published_seconds",
	"sigil_key_transitions_total",
	"sigil_jwks_responses_total",
	"sigil_jwks_fetches_since_next_published",
	"go_goroutines",
	"process_cpu_seconds_total",
}

// metricsServer builds a server on a bolt temp store with a confidential
// client allowed the password, refresh and client_credentials grants and
// one user.
func metricsServer(t *testing.T, mutate func(*configs.Config)) (*server, string, string) {
	t.Helper()
	srv, store, _ := newBoltServer(t, func(cfg *configs.Config) {
		cfg.Security.Argon2id = configs.Argon2id{MemoryKiB: 8192, Time: 1, Threads: 1}
		if mutate != nil {
			mutate(cfg)
		}
	})
	ctx := context.Background()
	const secret = "metrics-test-secret-0123456789abcdef"
	const userPassword = "correct horse battery staple"
	sum := sha256.Sum256([]byte(secret))
	if err := store.CreateClient(ctx, storage.Client{ID: "app", SecretHash: sum[:],
		Grants: []string{"password", "refresh_token", "client_credentials"},
		Scopes: []string{"api", "offline_access"}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	hash, err := password.Hash(userPassword, password.Params{Memory: 8192, Time: 1, Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateUser(ctx, storage.User{ID: "u1", Username: "alice", PasswordHash: hash,
		PasswordChangedAt: time.Now(), CreatedAt: time.Now(), UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return srv, secret, userPassword
}

func postToken(t *testing.T, h http.Handler, client, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(client, secret)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var body map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body
}

// TestMetricsAfterTokensAndRotation issues tokens, triggers a refresh reuse
// and a rotation, fetches the JWKS, then scrapes /metrics and checks that
// every family is there, with bounded labels.
func TestMetricsAfterTokensAndRotation(t *testing.T) {
	srv, secret, pw := metricsServer(t, nil)
	h := srv.handler

	code, body := postToken(t, h, "app", secret, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {pw}, "scope": {"api offline_access"}})
	if code != 200 {
		t.Fatalf("password grant: %d %v", code, body)
	}
	rt, _ := body["refresh_token"].(string)
	if code, body := postToken(t, h, "app", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}); code != 200 {
		t.Fatalf("refresh: %d %v", code, body)
	}
	if code, _ := postToken(t, h, "app", secret, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}); code != 400 {
		t.Fatalf("reuse: %d, want 400", code)
	}
	if code, _ := postToken(t, h, "app", secret, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wrong"}}); code != 400 {
		t.Fatalf("bad password: %d, want 400", code)
	}
	if code, body := postToken(t, h, "app", secret, url.Values{"grant_type": {"client_credentials"}}); code != 200 {
		t.Fatalf("client_credentials: %d %v", code, body)
	}
	const randomClient = "rnd-client-7f3a9c"
	if code, _ := postToken(t, h, randomClient, "whatever", url.Values{"grant_type": {"client_credentials"}}); code != 401 {
		t.Fatalf("unknown client: %d, want 401", code)
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/no/such/path/"+randomClient, nil))

	if _, err := srv.rotator.Rotate(context.Background(), time.Now(), true, "test", "metrics test"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/.well-known/jwks.json", nil))
		if rec.Code != 200 {
			t.Fatalf("jwks: %d", rec.Code)
		}
	}

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("/metrics: %d", rec.Code)
	}
	text := rec.Body.String()
	for _, fam := range allFamilies {
		if !strings.Contains(text, "\n# TYPE "+fam+" ") {
			t.Errorf("/metrics lacks %s", fam)
		}
	}
	if strings.Contains(text, randomClient) {
		t.Errorf("/metrics carries the raw client id %q; labels must be bounded", randomClient)
	}
	for _, want := range []string{
		`sigil_tokens_issued_total{alg="ES256",client="app",grant="password"} 1`,
		`sigil_tokens_issued_total{alg="ES256",client="app",grant="refresh_token"} 1`,
		`sigil_tokens_issued_total{alg="ES256",client="app",grant="client_credentials"} 1`,
		`sigil_logins_total{result="success"} 1`,
		`sigil_logins_total{result="bad_credentials"} 1`,
		`sigil_refresh_reuse_total 1`,
		`sigil_token_errors_total{error="invalid_client",grant="client_credentials"} 1`,
		`sigil_http_request_duration_seconds_count{code="404",method="GET",route="unmatched"} 1`,
		`sigil_http_request_duration_seconds_count{code="200",method="POST",route="/oauth2/token"} 3`,
		`sigil_key_transitions_total{action="promote",alg="ES256"} 1`,
		`sigil_jwks_responses_total{code="200"} 2`,
		`sigil_jwks_fetches_since_next_published{alg="ES256"} 2`,
		`sigil_storage_operation_seconds_count{backend="bolt",op="GetClient"}`,
		`sigil_key_age_seconds{alg="ES256",state="retired"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The logins and refreshes above committed to the bolt file.
	commits, writes := metricValue(t, text, "sigil_bolt_commits_total"), metricValue(t, text, "sigil_bolt_commit_writes_total")
	if commits < 1 || writes < commits || metricValue(t, text, "sigil_bolt_commit_seconds_total") <= 0 {
		t.Errorf("bolt commit metrics: %v commits, %v writes; want at least one commit, a write per commit and some time", commits, writes)
	}
	if problems, err := testutil.GatherAndLint(srv.registry); err != nil || len(problems) > 0 {
		t.Errorf("metric lint: %v %v", err, problems)
	}
}

// TestMetricsListenKeepsMetricsOffThePublicHandler: with metrics_listen
// set, the public handler has no /metrics route.
func TestMetricsListenKeepsMetricsOffThePublicHandler(t *testing.T) {
	srv, _, _ := metricsServer(t, func(c *configs.Config) { c.MetricsListen = "127.0.0.1:0" })
	rec := httptest.NewRecorder()
	srv.handler.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("public /metrics: %d, want 404", rec.Code)
	}
	rec = httptest.NewRecorder()
	srv.metrics.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "sigil_key_age_seconds") {
		t.Fatalf("metrics handler: %d", rec.Code)
	}
}

// metricValue returns the value of the unlabelled sample name in an
// exposition text.
func metricValue(t *testing.T, text, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no sample %s", name)
	return 0
}

// TestCommitMetricsOnlyForBolt: the group-commit counters are registered
// for a store that keeps them and for no other.
func TestCommitMetricsOnlyForBolt(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "sigil.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tc := range []struct {
		name  string
		store storage.Store
		want  int
	}{
		{"bolt", st, 3},
		{"store without commit totals", struct{ storage.Store }{st}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			if err := registerCommitMetrics(reg, tc.store); err != nil {
				t.Fatal(err)
			}
			fams, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			if len(fams) != tc.want {
				t.Errorf("%d metric families registered, want %d", len(fams), tc.want)
			}
		})
	}
}
