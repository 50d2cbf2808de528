package configs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
)

// FuzzLoad feeds arbitrary YAML to the loader, with a MongoDB URI whose
// password comes from the fuzzer in SIGIL_STORAGE_MONGO_URI, as an operator
// would pass it. Load and Validate never panic; their messages never
// contain the password; every problem names a known key, or a key written
// in the file (an unknown one), or "(root)"; and loading the same input twice gives the
// same Config.
func FuzzLoad(f *testing.F) {
	example, err := os.ReadFile("sigil.example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{
		string(example),
		"issuer: https://id.example.com\nstorage:\n  backend: mongo\n  mongo_database: sigil\n",
		"storage:\n  backend: mongo\n  mongo_uri: 42\n  timeout: soon\n",
		"keys:\n  prepublish: &d 2h\njwks:\n  max_age: *d\n",
		"isuer: x\nissuer: y\nissuer: z\n",
		"keys:\n  algorithms: [ES256, HS256]\n  rsa_bits: 1024\n  clock_leeway: 11m\n",
		"listen: [1, 2]\nlog: {level: loud}\n",
		"- a\n- b\n",
		"",
	} {
		f.Add(s, "s3cr3t-Passw0rd")
	}
	known := AllKeys()
	f.Fuzz(func(t *testing.T, doc, pw string) {
		if len(pw) < 8 || strings.ContainsFunc(pw, func(r rune) bool {
			return r > unicode.MaxASCII || !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-'
		}) {
			pw = "s3cr3t-Passw0rd"
		}
		watch := time.AfterFunc(3*time.Second, func() { panic(fmt.Sprintf("load took over 3s on %q", doc)) })
		defer watch.Stop()
		path := filepath.Join(t.TempDir(), "sigil.yaml")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		env := envOf(map[string]string{"SIGIL_STORAGE_MONGO_URI": "mongodb://sigil:" + pw + "@db.example.com/?authSource=admin"})
		noEcho := func(what string, err error) {
			if err != nil && strings.Contains(err.Error(), pw) && !strings.Contains(doc, pw) {
				t.Fatalf("%s error quotes the MongoDB password: %v", what, err)
			}
		}
		cfg, err := load(path, env)
		noEcho("load", err)
		if err != nil {
			var verr *ValidationError
			if errors.As(err, &verr) {
				for _, p := range verr.Problems {
					if p.Key != "(root)" && !slices.Contains(known, p.Key) && !strings.Contains(doc, lastSegment(p.Key)) {
						t.Fatalf("problem names key %q, neither known nor in the file", p.Key)
					}
				}
			}
			return
		}
		noEcho("validate", cfg.Validate())
		again, err := load(path, env)
		if err != nil || !reflect.DeepEqual(cfg, again) {
			t.Fatalf("second load differs: %v", err)
		}
	})
}

// lastSegment is the part of a dotted key after its last dot.
func lastSegment(key string) string {
	if i := strings.LastIndexByte(key, '.'); i >= 0 {
		return key[i+1:]
	}
	return key
}
