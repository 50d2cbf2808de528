package configs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// noEnv is an empty environment, so tests do not depend on the caller's.
func noEnv(string) (string, bool) { return "", false }

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sigil.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// problemKeys returns the keys of the *ValidationError in err, failing the
// test if err is not one.
func problemKeys(t *testing.T, err error) []string {
	t.Helper()
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	return verr.Keys()
}

func TestExampleFileIsDefault(t *testing.T) {
	cfg, err := load("sigil.example.yaml", noEnv)
	if err != nil {
		t.Fatalf("load example: %v", err)
	}
	if want := Default(); !reflect.DeepEqual(cfg, want) {
		t.Errorf("example file differs from Default():\n got %+v\nwant %+v", cfg, want)
	}
}

func TestExampleFileHasEveryKey(t *testing.T) {
	data, err := os.ReadFile("sigil.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var inFile []string
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := prefix + n.Content[i].Value
			if n.Content[i+1].Kind == yaml.MappingNode {
				walk(n.Content[i+1], key+".")
				continue
			}
			inFile = append(inFile, key)
		}
	}
	walk(doc.Content[0], "")
	for _, k := range AllKeys() {
		if !slices.Contains(inFile, k) {
			t.Errorf("key %s is missing from sigil.example.yaml", k)
		}
	}
	if len(inFile) != len(AllKeys()) {
		t.Errorf("example file has %d keys, Config has %d", len(inFile), len(AllKeys()))
	}
}

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
}

func TestDefaultNotShared(t *testing.T) {
	a := Default()
	a.Keys.Algorithms[0] = "XX"
	if b := Default(); b.Keys.Algorithms[0] != "ES256" {
		t.Fatal("Default shares its slices between calls")
	}
}

func TestKeysAndEnvNames(t *testing.T) {
	keys := AllKeys()
	for _, want := range []string{
		"issuer", "listen",
		"storage.backend", "storage.bolt_path", "storage.mongo_uri", "storage.mongo_database",
		"keys.algorithms", "keys.rsa_bits", "keys.rotation", "keys.prepublish", "keys.reconcile_interval",
		"keys.encryption_key_file", "keys.encryption_key_previous_file", "keys.clock_leeway",
		"jwks.max_age", "jwks.consumer_ttl",
		"tokens.access_ttl", "tokens.refresh_ttl", "tokens.refresh_idle_ttl", "tokens.id_token_ttl", "tokens.refresh_reuse_grace",
		"compat.simplejwt", "compat.client_id",
		"security.trusted_proxies", "security.password_hash_concurrency", "security.password_hash_queue", "security.password_hash_wait",
		"security.client_cache_ttl",
		"security.ip_limit.burst", "security.ip_limit.every", "security.ip_limit.max_addresses", "security.ip_limit.disabled",
		"security.lockout.free_failures", "security.lockout.base_delay", "security.lockout.max_delay", "security.lockout.window",
		"security.argon2id.memory_kib", "security.argon2id.time", "security.argon2id.threads",
		"metrics_listen", "storage.timeout", "shutdown_grace", "shutdown_timeout", "tls.cert_file", "tls.key_file",
		"log.level", "log.format",
	} {
		if !slices.Contains(keys, want) {
			t.Errorf("AllKeys() lacks %s", want)
		}
	}
	for key, env := range map[string]string{
		"issuer":                      "SIGIL_ISSUER",
		"listen":                      "SIGIL_LISTEN",
		"storage.mongo_uri":           "SIGIL_STORAGE_MONGO_URI",
		"keys.rotation":               "SIGIL_KEYS_ROTATION",
		"jwks.max_age":                "SIGIL_JWKS_MAX_AGE",
		"security.lockout.base_delay": "SIGIL_SECURITY_LOCKOUT_BASE_DELAY",
		"security.ip_limit.disabled":  "SIGIL_SECURITY_IP_LIMIT_DISABLED",
	} {
		if got := EnvName(key); got != env {
			t.Errorf("EnvName(%q) = %q, want %q", key, got, env)
		}
	}
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name string
		yaml string // "" with noFile: no file at all
		// noFile loads with path "".
		noFile bool
		env    map[string]string
		want   func(c *Config) // applied to Default()
	}{
		{
			name:   "no file no env is default",
			noFile: true,
			want:   func(*Config) {},
		},
		{
			name: "empty file is default",
			yaml: "",
			want: func(*Config) {},
		},
		{
			name: "comments only is default",
			yaml: "# nothing here\n",
			want: func(*Config) {},
		},
		{
			name: "file overrides some keys and keeps the others",
			yaml: `
issuer: https://id.example.com
storage:
  backend: mongo
  mongo_uri: mongodb://db:27017
keys:
  algorithms: [RS256]
  rsa_bits: 3072
  rotation: "0 3 * * 1"
  prepublish: 2h30m
tokens:
  refresh_idle_ttl: 1h
compat:
  simplejwt: true
security:
  trusted_proxies: [10.0.0.0/8, 192.168.1.1]
  password_hash_concurrency: 4
log:
  format: json
`,
			want: func(c *Config) {
				c.Issuer = "https://id.example.com"
				c.Storage.Backend = "mongo"
				c.Storage.MongoURI = "mongodb://db:27017"
				c.Keys.Algorithms = []string{"RS256"}
				c.Keys.RSABits = 3072
				c.Keys.Rotation = "0 3 * * 1"
				c.Keys.Prepublish = 2*time.Hour + 30*time.Minute
				c.Tokens.RefreshIdleTTL = time.Hour
				c.Compat.SimpleJWT = true
				c.Security.TrustedProxies = []string{"10.0.0.0/8", "192.168.1.1"}
				c.Security.PasswordHashConcurrency = 4
				c.Log.Format = "json"
			},
		},
		{
			name: "empty section keeps defaults",
			yaml: "storage:\nkeys:\n",
			want: func(*Config) {},
		},
		{
			name: "null leaf is the zero value",
			yaml: "security:\n  trusted_proxies:\nstorage:\n  mongo_uri: ~\n",
			want: func(*Config) {},
		},
		{
			name: "env overrides file",
			yaml: "listen: 127.0.0.1:9000\nkeys:\n  rotation: \"@weekly\"\n",
			env: map[string]string{
				"SIGIL_LISTEN":        "127.0.0.1:9100",
				"SIGIL_KEYS_ROTATION": "@every 24h",
			},
			want: func(c *Config) {
				c.Listen = "127.0.0.1:9100"
				c.Keys.Rotation = "@every 24h"
			},
		},
		{
			name:   "env without file, every kind",
			noFile: true,
			env: map[string]string{
				"SIGIL_ISSUER":                   "https://sso.example.org",
				"SIGIL_STORAGE_BACKEND":          "mongo",
				"SIGIL_STORAGE_MONGO_URI":        "mongodb://u:p@db/",
				"SIGIL_STORAGE_MONGO_DATABASE":   "sigil_prod",
				"SIGIL_KEYS_ALGORITHMS":          "RS256, ES256",
				"SIGIL_KEYS_RSA_BITS":            "4096",
				"SIGIL_KEYS_PREPUBLISH":          "3h",
				"SIGIL_TOKENS_REFRESH_IDLE_TTL":  "0",
				"SIGIL_COMPAT_SIMPLEJWT":         "true",
				"SIGIL_SECURITY_TRUSTED_PROXIES": "",
				"SIGIL_CORS_ALLOWED_ORIGINS":     "https://app.example.com, http://localhost:5173",
				"SIGIL_UNRELATED_THING":          "ignored",
			},
			want: func(c *Config) {
				c.Issuer = "https://sso.example.org"
				c.Storage.Backend = "mongo"
				c.Storage.MongoURI = "mongodb://u:p@db/"
				c.Storage.MongoDatabase = "sigil_prod"
				c.Keys.Algorithms = []string{"RS256", "ES256"}
				c.Keys.RSABits = 4096
				c.Keys.Prepublish = 3 * time.Hour
				c.Compat.SimpleJWT = true
				c.CORS.AllowedOrigins = []string{"https://app.example.com", "http://localhost:5173"}
			},
		},
		{
			name:   "env empty string clears a string",
			noFile: true,
			env:    map[string]string{"SIGIL_COMPAT_CLIENT_ID": ""},
			want:   func(c *Config) { c.Compat.ClientID = "" },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if !tc.noFile {
				path = writeFile(t, tc.yaml)
			}
			got, err := load(path, envOf(tc.env))
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			want := Default()
			tc.want(&want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestLoadAlias(t *testing.T) {
	path := writeFile(t, "keys:\n  prepublish: &d 2h\njwks:\n  max_age: *d\n")
	got, err := load(path, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got.JWKS.MaxAge != 2*time.Hour || got.Keys.Prepublish != 2*time.Hour {
		t.Errorf("aliases not resolved: %+v", got)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		env      map[string]string
		wantKeys []string
		// wantIn must appear in the error message.
		wantIn []string
	}{
		{
			name:     "unknown top-level key",
			yaml:     "isuer: https://x.example\n",
			wantKeys: []string{"isuer"},
			wantIn:   []string{"isuer: line 1: unknown key"},
		},
		{
			name:     "unknown nested key",
			yaml:     "storage:\n  backend: bolt\n  bolt_pth: /x\n",
			wantKeys: []string{"storage.bolt_pth"},
			wantIn:   []string{"line 3"},
		},
		{
			name:     "duplicate key",
			yaml:     "listen: a:1\nlisten: b:2\n",
			wantKeys: []string{"listen"},
			wantIn:   []string{"duplicate key"},
		},
		{
			name:     "integer duration",
			yaml:     "tokens:\n  access_ttl: 300\n",
			wantKeys: []string{"tokens.access_ttl"},
			wantIn:   []string{`invalid duration "300"`},
		},
		{
			name:     "bad integer",
			yaml:     "keys:\n  rsa_bits: big\n",
			wantKeys: []string{"keys.rsa_bits"},
		},
		{
			name:     "bad boolean",
			yaml:     "compat:\n  simplejwt: maybe\n",
			wantKeys: []string{"compat.simplejwt"},
		},
		{
			name:     "scalar where a list belongs",
			yaml:     "keys:\n  algorithms: ES256\n",
			wantKeys: []string{"keys.algorithms"},
			wantIn:   []string{"must be a list"},
		},
		{
			name:     "list where a string belongs",
			yaml:     "issuer: [a, b]\n",
			wantKeys: []string{"issuer"},
		},
		{
			name:     "scalar where a section belongs",
			yaml:     "storage: bolt\n",
			wantKeys: []string{"storage"},
			wantIn:   []string{"must be a mapping"},
		},
		{
			name:     "bad env duration names the variable",
			env:      map[string]string{"SIGIL_KEYS_PREPUBLISH": "soon"},
			wantKeys: []string{"keys.prepublish"},
			wantIn:   []string{"SIGIL_KEYS_PREPUBLISH"},
		},
		{
			name:     "bad env integer and boolean",
			env:      map[string]string{"SIGIL_KEYS_RSA_BITS": "x", "SIGIL_COMPAT_SIMPLEJWT": "on-ish"},
			wantKeys: []string{"keys.rsa_bits", "compat.simplejwt"},
			wantIn:   []string{"SIGIL_KEYS_RSA_BITS", "SIGIL_COMPAT_SIMPLEJWT"},
		},
		{
			name: "file and env problems together",
			yaml: "nope: 1\nlog:\n  levle: debug\njwks:\n  max_age: forever\n",
			env:  map[string]string{"SIGIL_TOKENS_ACCESS_TTL": "5"},
			wantKeys: []string{
				"nope", "log.levle", "jwks.max_age", "tokens.access_ttl",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.yaml)
			_, err := load(path, envOf(tc.env))
			if err == nil {
				t.Fatal("load succeeded, want an error")
			}
			if got := problemKeys(t, err); !reflect.DeepEqual(got, tc.wantKeys) {
				t.Errorf("problem keys = %q, want %q (error: %v)", got, tc.wantKeys, err)
			}
			for _, s := range tc.wantIn {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := load(filepath.Join(t.TempDir(), "absent.yaml"), noEnv)
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("load(missing) = %v, want os.ErrNotExist", err)
	}
}

func TestLoadSyntaxError(t *testing.T) {
	_, err := load(writeFile(t, "keys: [unclosed\n"), noEnv)
	if err == nil {
		t.Fatal("load succeeded on invalid YAML")
	}
}

func TestLoadUsesProcessEnv(t *testing.T) {
	t.Setenv("SIGIL_LISTEN", "127.0.0.1:0")
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:0" {
		t.Errorf("Listen = %q, want SIGIL_LISTEN applied", cfg.Listen)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(c *Config)
		wantKeys []string // nil: valid
		wantIn   string
	}{
		{name: "default", mutate: func(*Config) {}},
		{name: "https issuer with path", mutate: func(c *Config) { c.Issuer = "https://id.example.com/tenant/a" }},
		{name: "http localhost issuer", mutate: func(c *Config) { c.Issuer = "http://localhost:9000" }},
		{name: "http 127.5.5.5 issuer", mutate: func(c *Config) { c.Issuer = "http://127.5.5.5" }},
		{name: "http ipv6 loopback issuer", mutate: func(c *Config) { c.Issuer = "http://[::1]:8080" }},
		{name: "cron five fields", mutate: func(c *Config) { c.Keys.Rotation = "0 3 * * 1" }},
		{name: "cron descriptor", mutate: func(c *Config) { c.Keys.Rotation = "@weekly" }},
		{name: "listen any interface", mutate: func(c *Config) { c.Listen = ":8080" }},
		{name: "listen port zero", mutate: func(c *Config) { c.Listen = "127.0.0.1:0" }},
		{name: "mongo with uri", mutate: func(c *Config) {
			c.Storage.Backend = "mongo"
			c.Storage.MongoURI = "mongodb+srv://cluster.example.net"
		}},
		{name: "prepublish equal to max_age", mutate: func(c *Config) { c.Keys.Prepublish = c.JWKS.MaxAge }},
		{name: "prepublish at the verifier's refetch interval, short max_age", mutate: func(c *Config) {
			c.Keys.Prepublish, c.JWKS.MaxAge = MinPrepublish, 2*time.Second
		}},
		{name: "clock leeway at the verifier's limit", mutate: func(c *Config) { c.Keys.ClockLeeway = 10 * time.Minute }},
		{name: "idle ttl equal to refresh ttl", mutate: func(c *Config) { c.Tokens.RefreshIdleTTL = c.Tokens.RefreshTTL }},
		{name: "proxies ip and cidr", mutate: func(c *Config) {
			c.Security.TrustedProxies = []string{"10.1.2.3", "10.0.0.0/8", "2001:db8::/32", "::1"}
		}},
		{name: "single rsa algorithm 4096", mutate: func(c *Config) {
			c.Keys.Algorithms = []string{"RS256"}
			c.Keys.RSABits = 4096
		}},

		{name: "metrics on its own port", mutate: func(c *Config) { c.MetricsListen = "127.0.0.1:9090" }},
		{name: "ip limit disabled ignores its zero values", mutate: func(c *Config) {
			c.Security.IPLimit = IPLimit{Disabled: true}
		}},
		{name: "lockout window equal to max delay", mutate: func(c *Config) { c.Security.Lockout.Window = c.Security.Lockout.MaxDelay }},
		{name: "metrics_listen not host:port", mutate: func(c *Config) { c.MetricsListen = "9090" },
			wantKeys: []string{"metrics_listen"}},
		{name: "metrics_listen same as listen", mutate: func(c *Config) { c.MetricsListen = c.Listen },
			wantKeys: []string{"metrics_listen"}, wantIn: "must differ"},
		{name: "storage timeout zero", mutate: func(c *Config) { c.Storage.Timeout = 0 },
			wantKeys: []string{"storage.timeout"}},
		{name: "no shutdown grace", mutate: func(c *Config) { c.ShutdownGrace = 0 }},
		{name: "negative grace and zero drain", mutate: func(c *Config) { c.ShutdownGrace, c.ShutdownTimeout = -time.Second, 0 },
			wantKeys: []string{"shutdown_grace", "shutdown_timeout"}},
		{name: "tls both readable files", mutate: func(c *Config) { c.TLS = TLS{CertFile: "config.go", KeyFile: "load.go"} }},
		{name: "tls cert without key", mutate: func(c *Config) { c.TLS.CertFile = "config.go" },
			wantKeys: []string{"tls.key_file"}, wantIn: "must be set when tls.cert_file is set"},
		{name: "tls key without cert", mutate: func(c *Config) { c.TLS.KeyFile = "config.go" },
			wantKeys: []string{"tls.cert_file"}},
		{name: "tls files missing", mutate: func(c *Config) { c.TLS = TLS{CertFile: "nope.pem", KeyFile: "nope.key"} },
			wantKeys: []string{"tls.cert_file", "tls.key_file"}, wantIn: "cannot read nope.pem"},
		{name: "tls file is a directory", mutate: func(c *Config) { c.TLS = TLS{CertFile: ".", KeyFile: "config.go"} },
			wantKeys: []string{"tls.cert_file"}, wantIn: "not a regular file"},
		{name: "hash wait zero", mutate: func(c *Config) { c.Security.PasswordHashWait = 0 },
			wantKeys: []string{"security.password_hash_wait"}},
		{name: "hash queue zero", mutate: func(c *Config) { c.Security.PasswordHashQueue = 0 },
			wantKeys: []string{"security.password_hash_queue"}},
		{name: "client cache ttl negative", mutate: func(c *Config) { c.Security.ClientCacheTTL = -time.Second },
			wantKeys: []string{"security.client_cache_ttl"}},
		{name: "ip limit all zero", mutate: func(c *Config) { c.Security.IPLimit = IPLimit{} },
			wantKeys: []string{"security.ip_limit.burst", "security.ip_limit.every", "security.ip_limit.max_addresses"}},
		{name: "lockout inconsistent", mutate: func(c *Config) {
			c.Security.Lockout = Lockout{FreeFailures: 0, BaseDelay: time.Minute, MaxDelay: time.Second, Window: time.Millisecond}
		}, wantKeys: []string{"security.lockout.free_failures", "security.lockout.max_delay", "security.lockout.window"}},
		{name: "lockout negative delays", mutate: func(c *Config) {
			c.Security.Lockout.BaseDelay = -time.Second
			c.Security.Lockout.MaxDelay = 0
		}, wantKeys: []string{"security.lockout.base_delay", "security.lockout.max_delay"}},
		{name: "argon2id out of range", mutate: func(c *Config) {
			c.Security.Argon2id = Argon2id{MemoryKiB: 64, Time: 0, Threads: 256}
		}, wantKeys: []string{"security.argon2id.memory_kib", "security.argon2id.time", "security.argon2id.threads"}, wantIn: "between 8192 and"},

		{name: "cors origins https, ports and loopback http", mutate: func(c *Config) {
			c.CORS.AllowedOrigins = []string{"https://app.example.com", "https://app.example.com:8443", "http://localhost:5173",
				"http://127.0.0.1:3000", "http://[::1]:8080", "https://xn--bcher-kva.example"}
		}},
		{name: "cors wildcard", mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{"*"} },
			wantKeys: []string{"cors.allowed_origins"}, wantIn: `"*" is not allowed`},
		{name: "cors wildcard subdomain", mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{"https://*.example.com"} },
			wantKeys: []string{"cors.allowed_origins"}, wantIn: "wildcards are not supported"},
		{name: "cors null origin", mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{"null"} },
			wantKeys: []string{"cors.allowed_origins"}, wantIn: `"null" is not allowed`},
		{name: "cors empty entry", mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{""} },
			wantKeys: []string{"cors.allowed_origins"}, wantIn: "empty entry"},
		{name: "cors trailing slash", mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{"https://app.example.com/"} },
			wantKeys: []string{"cors.allowed_origins"}, wantIn: "must not end with a slash"},
		{name: "cors path", mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{"https://app.example.com/spa"} },
			wantKeys: []string{"cors.allowed_origins"}, wantIn: "must not have a path"},
		{name: "cors query", mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{"https://app.example.com?x=1"} },
			wantKeys: []string{"cors.allowed_origins"}, wantIn: "must not have a query"},
		{name: "cors fragment", mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{"https://app.example.com#x"} },
			wantKeys: []string{"cors.allowed_origins"}, wantIn: "must not have a query or fragment"},
		{name: "cors no scheme", mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{"app.example.com"} },
			wantKeys: []string{"cors.allowed_origins"}, wantIn: "is not an origin"},
		{name: "cors other scheme", mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{"ftp://app.example.com"} },
			wantKeys: []string{"cors.allowed_origins"}, wantIn: "must start with https://"},
		{name: "cors no host", mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{"https://"} },
			wantKeys: []string{"cors.allowed_origins"}, wantIn: "has no host"},
		{name: "cors http non-loopback", mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{"http://app.example.com"} },
			wantKeys: []string{"cors.allowed_origins"}, wantIn: "must use https"},
		{name: "cors upper case", mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{"https://App.Example.com"} },
			wantKeys: []string{"cors.allowed_origins"}, wantIn: "must be lower case"},
		{name: "cors default port", mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{"https://app.example.com:443"} },
			wantKeys: []string{"cors.allowed_origins"}, wantIn: "drop the default port :443"},
		{name: "cors bad port", mutate: func(c *Config) {
			c.CORS.AllowedOrigins = []string{"https://app.example.com:0", "https://app.example.com:70000", "https://app.example.com:"}
		}, wantKeys: []string{"cors.allowed_origins", "cors.allowed_origins", "cors.allowed_origins"}},
		{name: "cors port with leading zero", mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{"https://app.example.com:08443"} },
			wantKeys: []string{"cors.allowed_origins"}, wantIn: "leading zeros"},
		{name: "cors space", mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{" https://app.example.com"} },
			wantKeys: []string{"cors.allowed_origins"}, wantIn: "contains spaces"},
		{name: "cors unicode host", mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{"https://bücher.example"} },
			wantKeys: []string{"cors.allowed_origins"}, wantIn: "xn--"},
		{name: "cors listed twice", mutate: func(c *Config) {
			c.CORS.AllowedOrigins = []string{"https://app.example.com", "https://app.example.com"}
		}, wantKeys: []string{"cors.allowed_origins"}, wantIn: "listed twice"},

		{name: "unknown backend", mutate: func(c *Config) { c.Storage.Backend = "postgres" },
			wantKeys: []string{"storage.backend"}, wantIn: `"postgres"`},
		{name: "bolt without path", mutate: func(c *Config) { c.Storage.BoltPath = "" },
			wantKeys: []string{"storage.bolt_path"}},
		{name: "mongo without uri", mutate: func(c *Config) { c.Storage.Backend = "mongo" },
			wantKeys: []string{"storage.mongo_uri"}},
		{name: "mongo without database", mutate: func(c *Config) {
			c.Storage.Backend = "mongo"
			c.Storage.MongoURI = "mongodb://db"
			c.Storage.MongoDatabase = ""
		}, wantKeys: []string{"storage.mongo_database"}},
		{name: "mongo bad database name", mutate: func(c *Config) {
			c.Storage.Backend = "mongo"
			c.Storage.MongoURI = "mongodb://db"
			c.Storage.MongoDatabase = "a.b"
		}, wantKeys: []string{"storage.mongo_database"}},
		{name: "negative prepublish", mutate: func(c *Config) { c.Keys.Prepublish = -time.Hour },
			wantKeys: []string{"keys.prepublish"}, wantIn: "must not be negative"},
		{name: "zero access ttl", mutate: func(c *Config) { c.Tokens.AccessTTL = 0 },
			wantKeys: []string{"tokens.access_ttl"}},
		{name: "negative refresh ttl", mutate: func(c *Config) { c.Tokens.RefreshTTL = -time.Second },
			wantKeys: []string{"tokens.refresh_ttl"}},
		{name: "zero id token ttl", mutate: func(c *Config) { c.Tokens.IDTokenTTL = 0 },
			wantKeys: []string{"tokens.id_token_ttl"}},
		{name: "negative idle ttl", mutate: func(c *Config) { c.Tokens.RefreshIdleTTL = -1 },
			wantKeys: []string{"tokens.refresh_idle_ttl"}},
		{name: "negative reuse grace", mutate: func(c *Config) { c.Tokens.RefreshReuseGrace = -time.Second },
			wantKeys: []string{"tokens.refresh_reuse_grace"}},
		{name: "zero reconcile interval", mutate: func(c *Config) { c.Keys.ReconcileInterval = 0 },
			wantKeys: []string{"keys.reconcile_interval"}},
		{name: "negative clock leeway", mutate: func(c *Config) { c.Keys.ClockLeeway = -time.Second },
			wantKeys: []string{"keys.clock_leeway"}},
		{name: "zero max age", mutate: func(c *Config) { c.JWKS.MaxAge = 0 },
			wantKeys: []string{"jwks.max_age"}},
		{name: "zero consumer ttl", mutate: func(c *Config) { c.JWKS.ConsumerTTL = 0 },
			wantKeys: []string{"jwks.consumer_ttl"}},
		{name: "prepublish below max age", mutate: func(c *Config) {
			c.Keys.Prepublish = 10 * time.Second
			c.JWKS.MaxAge = time.Minute
		}, wantKeys: []string{"keys.prepublish"}, wantIn: "keys.prepublish: (10s) must be at least jwks.max_age (1m0s)"},
		{name: "prepublish one second under max age", mutate: func(c *Config) {
			c.JWKS.MaxAge = time.Hour
			c.Keys.Prepublish = time.Hour - time.Second
		}, wantKeys: []string{"keys.prepublish"}, wantIn: "keys.prepublish: (59m59s) must be at least jwks.max_age (1h0m0s)"},
		{name: "prepublish over max_age but under the verifier's refetch interval", mutate: func(c *Config) {
			c.Keys.Prepublish, c.JWKS.MaxAge = 3*time.Second, 2*time.Second
		}, wantKeys: []string{"keys.prepublish"}, wantIn: "keys.prepublish: (3s) must be at least 10s (and at least jwks.max_age, 2s): resource servers using oauth/verify refetch"},
		{name: "prepublish one second under the verifier's refetch interval", mutate: func(c *Config) {
			c.Keys.Prepublish, c.JWKS.MaxAge = 9*time.Second, 9*time.Second
		}, wantKeys: []string{"keys.prepublish"}, wantIn: "keys.prepublish: (9s) must be at least 10s"},
		{name: "prepublish under both max_age and the refetch interval", mutate: func(c *Config) {
			c.Keys.Prepublish, c.JWKS.MaxAge = time.Second, 5*time.Second
		}, wantKeys: []string{"keys.prepublish"}, wantIn: "keys.prepublish: (1s) must be at least 10s (and at least jwks.max_age, 5s)"},
		{name: "clock leeway over the verifier's limit", mutate: func(c *Config) { c.Keys.ClockLeeway = 10*time.Minute + time.Second },
			wantKeys: []string{"keys.clock_leeway"}, wantIn: "keys.clock_leeway: (10m1s) must be at most 10m0s"},
		{name: "idle ttl above refresh ttl", mutate: func(c *Config) { c.Tokens.RefreshIdleTTL = 25 * time.Hour },
			wantKeys: []string{"tokens.refresh_idle_ttl"}},
		{name: "unparsable cron", mutate: func(c *Config) { c.Keys.Rotation = "every day" },
			wantKeys: []string{"keys.rotation"}},
		{name: "cron with seconds field", mutate: func(c *Config) { c.Keys.Rotation = "0 0 3 * * 1" },
			wantKeys: []string{"keys.rotation"}},
		{name: "empty cron", mutate: func(c *Config) { c.Keys.Rotation = " " },
			wantKeys: []string{"keys.rotation"}},
		{name: "no algorithms", mutate: func(c *Config) { c.Keys.Algorithms = nil },
			wantKeys: []string{"keys.algorithms"}},
		{name: "unsupported algorithm", mutate: func(c *Config) { c.Keys.Algorithms = []string{"ES256", "HS256"} },
			wantKeys: []string{"keys.algorithms"}, wantIn: `"HS256"`},
		{name: "lower-case algorithm", mutate: func(c *Config) { c.Keys.Algorithms = []string{"es256"} },
			wantKeys: []string{"keys.algorithms"}},
		{name: "duplicate algorithm", mutate: func(c *Config) { c.Keys.Algorithms = []string{"ES256", "RS256", "ES256"} },
			wantKeys: []string{"keys.algorithms"}, wantIn: "listed twice"},
		{name: "rsa bits 1024", mutate: func(c *Config) { c.Keys.RSABits = 1024 },
			wantKeys: []string{"keys.rsa_bits"}},
		{name: "issuer empty", mutate: func(c *Config) { c.Issuer = "" },
			wantKeys: []string{"issuer"}},
		{name: "issuer relative", mutate: func(c *Config) { c.Issuer = "/auth" },
			wantKeys: []string{"issuer"}},
		{name: "issuer without scheme", mutate: func(c *Config) { c.Issuer = "id.example.com" },
			wantKeys: []string{"issuer"}},
		{name: "issuer ftp", mutate: func(c *Config) { c.Issuer = "ftp://id.example.com" },
			wantKeys: []string{"issuer"}},
		{name: "issuer with query", mutate: func(c *Config) { c.Issuer = "https://id.example.com/?a=b" },
			wantKeys: []string{"issuer"}, wantIn: "query"},
		{name: "issuer with fragment", mutate: func(c *Config) { c.Issuer = "https://id.example.com/#x" },
			wantKeys: []string{"issuer"}, wantIn: "fragment"},
		{name: "issuer with user info", mutate: func(c *Config) { c.Issuer = "https://admin:hunter2@id.example.com" },
			wantKeys: []string{"issuer"}},
		{name: "http issuer on public host", mutate: func(c *Config) { c.Issuer = "http://id.example.com" },
			wantKeys: []string{"issuer"}, wantIn: "https"},
		{name: "http issuer on private ip", mutate: func(c *Config) { c.Issuer = "http://10.0.0.1:8080" },
			wantKeys: []string{"issuer"}},
		{name: "http issuer localhost lookalike", mutate: func(c *Config) { c.Issuer = "http://localhost.evil.com" },
			wantKeys: []string{"issuer"}},
		{name: "listen without port", mutate: func(c *Config) { c.Listen = "127.0.0.1" },
			wantKeys: []string{"listen"}},
		{name: "listen bad port", mutate: func(c *Config) { c.Listen = "127.0.0.1:99999" },
			wantKeys: []string{"listen"}},
		{name: "listen named port", mutate: func(c *Config) { c.Listen = "127.0.0.1:http" },
			wantKeys: []string{"listen"}},
		{name: "bad trusted proxy", mutate: func(c *Config) { c.Security.TrustedProxies = []string{"10.0.0.1", "proxy.local", "10.0.0.0/33"} },
			wantKeys: []string{"security.trusted_proxies", "security.trusted_proxies"}, wantIn: `"proxy.local"`},
		{name: "negative hash concurrency", mutate: func(c *Config) { c.Security.PasswordHashConcurrency = -1 },
			wantKeys: []string{"security.password_hash_concurrency"}},
		{name: "simplejwt without client id", mutate: func(c *Config) {
			c.Compat.SimpleJWT = true
			c.Compat.ClientID = ""
		}, wantKeys: []string{"compat.client_id"}},
		{name: "bad log level", mutate: func(c *Config) { c.Log.Level = "verbose" },
			wantKeys: []string{"log.level"}},
		{name: "bad log format", mutate: func(c *Config) { c.Log.Format = "xml" },
			wantKeys: []string{"log.format"}},
		{
			name: "several problems at once",
			mutate: func(c *Config) {
				c.Issuer = "http://id.example.com"
				c.Listen = "nowhere"
				c.Storage.Backend = "mongo"
				c.Keys.Algorithms = []string{"PS256"}
				c.Keys.Rotation = "@fortnightly"
				c.Keys.Prepublish = time.Minute
				c.Tokens.AccessTTL = -time.Minute
				c.Log.Level = "loud"
			},
			wantKeys: []string{
				"issuer", "listen", "storage.mongo_uri", "keys.algorithms", "keys.rotation",
				"keys.prepublish", "tokens.access_ttl", "log.level",
			},
			wantIn: "8 problems",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			tc.mutate(&cfg)
			err := cfg.Validate()
			if tc.wantKeys == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want problems %q", tc.wantKeys)
			}
			if got := problemKeys(t, err); !reflect.DeepEqual(got, tc.wantKeys) {
				t.Errorf("problem keys = %q, want %q (error: %v)", got, tc.wantKeys, err)
			}
			if !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("error %q does not contain %q", err, tc.wantIn)
			}
		})
	}
}

func TestValidateNeverLeaksSecrets(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		secret string
	}{
		{
			name: "mongo uri with bad scheme",
			mutate: func(c *Config) {
				c.Storage.Backend = "mongo"
				c.Storage.MongoURI = "postgres://admin:s3cret-pw@db/"
			},
			secret: "s3cret-pw",
		},
		{
			name:   "issuer with password",
			mutate: func(c *Config) { c.Issuer = "https://admin:hunter2@id.example.com" },
			secret: "hunter2",
		},
		{
			name:   "cors origin with password",
			mutate: func(c *Config) { c.CORS.AllowedOrigins = []string{"https://admin:hunter2@app.example.com"} },
			secret: "hunter2",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			tc.mutate(&cfg)
			err := cfg.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want a problem")
			}
			if strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}

func TestEffectivePasswordHashConcurrency(t *testing.T) {
	if got := (Security{PasswordHashConcurrency: 3}).EffectivePasswordHashConcurrency(); got != 3 {
		t.Errorf("got %d, want 3", got)
	}
	if got := (Security{}).EffectivePasswordHashConcurrency(); got < 1 {
		t.Errorf("got %d, want the number of CPUs", got)
	}
}
