package configs

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// KnownEnv lists the SIGIL_* environment variables that are not settings
// but are read elsewhere (the key-encryption keys, the config path, the
// admin client of the tests). Variables starting with SIGIL_TEST_ are known
// too.
var KnownEnv = []string{
	"SIGIL_CONFIG",
	"SIGIL_KEY_ENCRYPTION_KEY",
	"SIGIL_KEY_ENCRYPTION_KEY_PREVIOUS",
	"SIGIL_ADMIN_CLIENT_ID",
	"SIGIL_ADMIN_CLIENT_SECRET",
}

// knownEnvPrefix starts variables reserved for tests.
const knownEnvPrefix = "SIGIL_TEST_"

// UnknownEnv is a SIGIL_* environment variable that names no setting,
// probably a misspelling.
type UnknownEnv struct {
	// Name is the variable as set.
	Name string
	// Closest is the variable of the setting whose name is nearest (edit
	// distance), and Key that setting's dotted key.
	Closest, Key string
}

// String says what is wrong and what was probably meant.
func (u UnknownEnv) String() string {
	return fmt.Sprintf("unknown environment variable %s (did you mean %s, the setting %s?)", u.Name, u.Closest, u.Key)
}

// UnknownEnvVars returns the SIGIL_* variables of environ ("NAME=value"
// entries, as os.Environ returns) that are neither a setting nor in
// KnownEnv nor SIGIL_TEST_*, in the order given. Values are never read.
func UnknownEnvVars(environ []string) []UnknownEnv {
	keys := AllKeys()
	valid := map[string]bool{}
	for _, k := range keys {
		valid[EnvName(k)] = true
	}
	for _, k := range KnownEnv {
		valid[k] = true
	}
	var out []UnknownEnv
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || valid[name] || strings.HasPrefix(name, knownEnvPrefix) {
			continue
		}
		best, bestKey, bestD := "", "", -1
		for _, k := range keys {
			if d := editDistance(name, EnvName(k)); bestD < 0 || d < bestD {
				best, bestKey, bestD = EnvName(k), k, d
			}
		}
		out = append(out, UnknownEnv{Name: name, Closest: best, Key: bestKey})
	}
	return out
}

// editDistance is the Levenshtein distance between a and b (bytes).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Setting is one leaf setting with its effective value, formatted as in
// the YAML file.
type Setting struct {
	Key, Value string
}

// Redacted is what Settings shows in place of a secret.
const Redacted = "REDACTED"

// Settings lists every setting of c in declaration order with its value:
// durations as Go durations, lists comma-separated. Secrets are redacted:
// the password (and any query, which may hold TLS key passwords) of
// storage.mongo_uri.
func (c Config) Settings() []Setting {
	var out []Setting
	for _, f := range fields(reflect.ValueOf(&c).Elem(), "") {
		var v string
		switch {
		case f.v.Type() == durationType:
			v = time.Duration(f.v.Int()).String()
		case f.v.Kind() == reflect.Slice:
			v = strings.Join(f.v.Interface().([]string), ",")
		case f.v.Kind() == reflect.String:
			v = f.v.String()
		case f.v.Kind() == reflect.Int:
			v = strconv.FormatInt(f.v.Int(), 10)
		case f.v.Kind() == reflect.Bool:
			v = strconv.FormatBool(f.v.Bool())
		}
		if f.key == "storage.mongo_uri" {
			v = redactURI(v)
		}
		out = append(out, Setting{Key: f.key, Value: v})
	}
	return out
}

// redactURI hides the password and the options of a connection string
// (mongodb://user:pass@h1,h2/db?opts); hosts, user and database stay.
func redactURI(s string) string {
	if s == "" {
		return s
	}
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return Redacted
	}
	if q := strings.IndexByte(rest, '?'); q >= 0 {
		rest = rest[:q] + "?" + Redacted
	}
	if at := strings.LastIndexByte(strings.SplitN(rest, "/", 2)[0], '@'); at >= 0 {
		user, _, hasPass := strings.Cut(rest[:at], ":")
		if hasPass {
			rest = user + ":" + Redacted + rest[at:]
		}
	}
	return scheme + "://" + rest
}
