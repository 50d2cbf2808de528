package configs

import (
	"strings"
	"testing"
)

func TestUnknownEnvVars(t *testing.T) {
	tests := []struct {
		name        string
		environ     []string
		wantNames   []string
		wantClosest []string
	}{
		{name: "settings and known variables", environ: []string{
			"SIGIL_STORAGE_TIMEOUT=1s", "SIGIL_CONFIG=/etc/sigil.yaml", "SIGIL_KEY_ENCRYPTION_KEY=x",
			"SIGIL_KEY_ENCRYPTION_KEY_PREVIOUS=y", "SIGIL_ADMIN_CLIENT_ID=a", "SIGIL_ADMIN_CLIENT_SECRET=b",
			"SIGIL_TEST_MONGODB_URI=mongodb://x", "PATH=/bin", "NOT_SIGIL_X=1",
		}},
		{name: "misspelt setting", environ: []string{"SIGIL_STORAGE_TIMOUT=1s"},
			wantNames: []string{"SIGIL_STORAGE_TIMOUT"}, wantClosest: []string{"SIGIL_STORAGE_TIMEOUT"}},
		{name: "old name", environ: []string{"SIGIL_LISTEN_ADDR=:80", "SIGIL_JWKS_MAXAGE=1m"},
			wantNames: []string{"SIGIL_LISTEN_ADDR", "SIGIL_JWKS_MAXAGE"}, wantClosest: []string{"SIGIL_LISTEN", "SIGIL_JWKS_MAX_AGE"}},
		{name: "misspelt known variable", environ: []string{"SIGIL_KEY_ENCRYPTON_KEY=x"},
			wantNames: []string{"SIGIL_KEY_ENCRYPTON_KEY"}, wantClosest: []string{"SIGIL_KEYS_ENCRYPTION_KEY_FILE"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := UnknownEnvVars(tc.environ)
			if len(got) != len(tc.wantNames) {
				t.Fatalf("got %v, want %v", got, tc.wantNames)
			}
			for i, u := range got {
				if u.Name != tc.wantNames[i] || u.Closest != tc.wantClosest[i] {
					t.Errorf("got %s -> %s, want %s -> %s", u.Name, u.Closest, tc.wantNames[i], tc.wantClosest[i])
				}
				if strings.Contains(u.String(), "=") {
					t.Errorf("message carries a value: %s", u)
				}
			}
		})
	}
}

func TestSettingsRedactsSecrets(t *testing.T) {
	c := Default()
	c.Storage.Backend = "mongo"
	c.Storage.MongoURI = "mongodb://sigil:hunter2-secret@db1:27017,db2/?tlsCertificateKeyFilePassword=kp-secret&replicaSet=rs0"
	var uri, timeout string
	for _, s := range c.Settings() {
		if strings.Contains(s.Value, "hunter2") || strings.Contains(s.Value, "kp-secret") {
			t.Errorf("%s shows a secret: %s", s.Key, s.Value)
		}
		switch s.Key {
		case "storage.mongo_uri":
			uri = s.Value
		case "storage.timeout":
			timeout = s.Value
		}
	}
	if !strings.Contains(uri, "db1:27017,db2") || !strings.Contains(uri, "sigil:"+Redacted) {
		t.Errorf("mongo_uri shown as %q, want hosts and user kept, password redacted", uri)
	}
	if timeout != "2s" {
		t.Errorf("storage.timeout shown as %q, want 2s", timeout)
	}
	if n := len(c.Settings()); n != len(AllKeys()) {
		t.Errorf("%d settings, want one per key (%d)", n, len(AllKeys()))
	}
}
