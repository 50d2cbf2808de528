package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts the name of every environment variable that overrides a
// setting.
const EnvPrefix = "SIGIL_"

// Load returns Default, overlaid with the YAML file at path (if path is not
// empty), overlaid with SIGIL_* environment variables. A named file that does
// not exist is an error. Unknown keys, duplicate keys and values of the wrong
// type in the file, and unparsable environment values, are all reported at
// once in a *ValidationError (reachable with errors.As) naming each key.
// Load does not validate the result: call Config.Validate.
func Load(path string) (Config, error) {
	return load(path, os.LookupEnv)
}

// load is Load with an injectable environment.
func load(path string, lookupEnv func(string) (string, bool)) (Config, error) {
	cfg := Default()
	var problems []Problem
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("load config: %w", err)
		}
		var doc yaml.Node
		dec := yaml.NewDecoder(bytes.NewReader(data))
		if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
			return Config{}, fmt.Errorf("load config %s: %w", path, err)
		}
		if doc.Kind != 0 {
			decodeNode(&doc, reflect.ValueOf(&cfg).Elem(), "", &problems)
		}
	}
	for _, f := range fields(reflect.ValueOf(&cfg).Elem(), "") {
		name := EnvName(f.key)
		s, ok := lookupEnv(name)
		if !ok {
			continue
		}
		if err := setFromEnv(f.v, s); err != nil {
			problems = append(problems, Problem{Key: f.key, Message: fmt.Sprintf("environment variable %s: %v", name, err)})
		}
	}
	if len(problems) > 0 {
		if path == "" {
			return Config{}, fmt.Errorf("load config: %w", &ValidationError{Problems: problems})
		}
		return Config{}, fmt.Errorf("load config %s: %w", path, &ValidationError{Problems: problems})
	}
	return cfg, nil
}

// EnvName returns the environment variable overriding the setting with the
// given dotted key: EnvName("storage.mongo_uri") is "SIGIL_STORAGE_MONGO_URI".
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// AllKeys returns the dotted key of every setting, in declaration order.
func AllKeys() []string {
	var cfg Config
	var keys []string
	for _, f := range fields(reflect.ValueOf(&cfg).Elem(), "") {
		keys = append(keys, f.key)
	}
	return keys
}

// field is one leaf setting: its dotted key and the settable value.
type field struct {
	key string
	v   reflect.Value
}

var durationType = reflect.TypeFor[time.Duration]()

// isSection reports whether t is a nested section (a struct of settings).
func isSection(t reflect.Type) bool { return t.Kind() == reflect.Struct }

// fields lists the leaf settings of the struct v, depth first.
func fields(v reflect.Value, prefix string) []field {
	var out []field
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := yamlName(sf)
		if tag == "" {
			continue
		}
		key := prefix + tag
		if isSection(sf.Type) {
			out = append(out, fields(v.Field(i), key+".")...)
			continue
		}
		out = append(out, field{key: key, v: v.Field(i)})
	}
	return out
}

// yamlName returns the yaml key of a struct field, or "" if it has none.
func yamlName(sf reflect.StructField) string {
	name, _, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
	if name == "-" || !sf.IsExported() {
		return ""
	}
	return name
}

// decodeNode copies the settings in n into v (a struct), appending a problem
// for every unknown or duplicate key and every value of the wrong type.
func decodeNode(n *yaml.Node, v reflect.Value, prefix string, problems *[]Problem) {
	n = resolveAlias(n)
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		decodeNode(n.Content[0], v, prefix, problems)
		return
	}
	if isNull(n) {
		return // an empty section keeps its defaults
	}
	section := strings.TrimSuffix(prefix, ".")
	if n.Kind != yaml.MappingNode {
		key := section
		if key == "" {
			key = "(root)"
		}
		*problems = append(*problems, Problem{Key: key, Message: fmt.Sprintf("line %d: must be a mapping", n.Line)})
		return
	}
	byName := map[string]int{}
	t := v.Type()
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			byName[name] = i
		}
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := resolveAlias(n.Content[i]), resolveAlias(n.Content[i+1])
		key := prefix + kn.Value
		if kn.Kind != yaml.ScalarNode {
			*problems = append(*problems, Problem{Key: section, Message: fmt.Sprintf("line %d: keys must be strings", kn.Line)})
			continue
		}
		if line, dup := seen[kn.Value]; dup {
			*problems = append(*problems, Problem{Key: key, Message: fmt.Sprintf("line %d: duplicate key (first at line %d)", kn.Line, line)})
			continue
		}
		seen[kn.Value] = kn.Line
		idx, ok := byName[kn.Value]
		if !ok {
			*problems = append(*problems, Problem{Key: key, Message: fmt.Sprintf("line %d: unknown key", kn.Line)})
			continue
		}
		fv := v.Field(idx)
		if isSection(fv.Type()) {
			decodeNode(vn, fv, key+".", problems)
			continue
		}
		if err := setFromNode(fv, vn); err != nil {
			*problems = append(*problems, Problem{Key: key, Message: fmt.Sprintf("line %d: %v", vn.Line, err)})
		}
	}
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// setFromNode sets the leaf v from a YAML node. A null node sets the zero
// value.
func setFromNode(v reflect.Value, n *yaml.Node) error {
	if isNull(n) {
		v.SetZero()
		return nil
	}
	if v.Kind() == reflect.Slice {
		if n.Kind != yaml.SequenceNode {
			return fmt.Errorf("must be a list")
		}
		var list []string // nil when empty, like Default
		for _, item := range n.Content {
			item = resolveAlias(item)
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("list items must be strings")
			}
			list = append(list, item.Value)
		}
		v.Set(reflect.ValueOf(list))
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("must be a %s", kindName(v.Type()))
	}
	return setScalar(v, n.Value)
}

// setFromEnv sets the leaf v from an environment value; lists are
// comma-separated and an empty value is an empty list.
func setFromEnv(v reflect.Value, s string) error {
	if v.Kind() == reflect.Slice {
		var list []string
		if strings.TrimSpace(s) != "" {
			for item := range strings.SplitSeq(s, ",") {
				list = append(list, strings.TrimSpace(item))
			}
		}
		v.Set(reflect.ValueOf(list))
		return nil
	}
	return setScalar(v, s)
}

// setScalar parses s into the scalar leaf v.
func setScalar(v reflect.Value, s string) error {
	switch {
	case v.Type() == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid duration %q (want a Go duration such as 90s or 1h30m)", s)
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Int:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid integer %q", s)
		}
		v.SetInt(int64(n))
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid boolean %q (want true or false)", s)
		}
		v.SetBool(b)
	default:
		// Unreachable unless Config gains a field of a new kind.
		return fmt.Errorf("unsupported setting type %s", v.Type())
	}
	return nil
}

func kindName(t reflect.Type) string {
	switch {
	case t == durationType:
		return "duration"
	case t.Kind() == reflect.Int:
		return "integer"
	case t.Kind() == reflect.Bool:
		return "boolean"
	default:
		return "string"
	}
}
