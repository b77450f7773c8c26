package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

// sourceNoFile is the Problem.Source used when Load was given no file.
const sourceNoFile = "(no config file)"

// Load reads the TOML file at path (none when path is ""), applies the
// environment (env is os.LookupEnv in production; nil means an empty
// environment), fills in defaults and validates the result. The keys of
// encrypted exports are checked only as opts ask (CheckKeys, CheckKeyOf).
//
// A file that cannot be read gives an error wrapping the os error (so
// errors.Is(err, fs.ErrNotExist) works). Anything wrong with the contents or
// the environment gives a *ValidationError listing every problem found.
// Neither ever contains a secret.
func Load(path string, env func(string) (string, bool), opts ...LoadOption) (*Config, error) {
	var o loadOptions
	for _, opt := range opts {
		opt(&o)
	}
	if path == "" {
		return load("", "", nil, env, o)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: resolve %s: %w", path, err)
	}
	return load(path, abs, data, env, o)
}

// LoadOption adds a check to Load.
type LoadOption func(*loadOptions)

// loadOptions are what the LoadOptions given to Load ask for.
type loadOptions struct {
	allKeys bool     // check the key of every encrypted export
	keysOf  []string // else check the keys of the exports of these names
}

// checksKeyOf reports whether the key of the export of that name is to be
// checked.
func (o loadOptions) checksKeyOf(name string) bool {
	return o.allKeys || slices.Contains(o.keysOf, name)
}

// CheckKeys makes Load check the key of every encrypted export as opening
// the export will use it, opening no store: its key_file must be readable
// and hold a key, its passphrase must be long enough. Each problem names
// the key (exports[N].key_file, with the file) or the variable. For what
// serves every export: check-config, start and reload.
func CheckKeys() LoadOption {
	return func(o *loadOptions) { o.allKeys = true }
}

// CheckKeyOf is CheckKeys for the export of that name only, for a command
// that works on that export alone: another export's key, missing or
// unreadable by whoever runs the command, must not stop it.
func CheckKeyOf(name string) LoadOption {
	return func(o *loadOptions) { o.keysOf = append(o.keysOf, name) }
}

// load is Load on the file's contents: path names it in problems, abs is its
// absolute path ("" when there is no file, and then data is ignored).
func load(path, abs string, data []byte, env func(string) (string, bool), opts loadOptions) (*Config, error) {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	ps := &problems{file: path}
	var raw fileConfig
	cfg := &Config{File: abs}
	baseDir := ""
	if abs == "" {
		ps.file = sourceNoFile
	} else {
		baseDir = filepath.Dir(abs)
		ps.secrets = append(ps.secrets, secretsInText(data)...)
		for _, name := range []string{EnvSecretAccessKey, EnvSessionToken} {
			if v, ok := env(name); ok {
				ps.secrets = append(ps.secrets, v)
			}
		}
		if !decodeFile(data, &raw, ps) {
			return nil, ps.err()
		}
	}
	b := builder{ps: ps, env: env, opts: opts, baseDir: baseDir, raw: &raw, cfg: cfg}
	b.build()
	if err := ps.err(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// decodeFile parses data as TOML with a fresh viper and decodes it into raw,
// refusing unknown keys. It reports false when the file could not be parsed
// at all (a syntax error); unknown keys and wrong types are recorded (their
// keys marked bad) and decoding goes on so that every problem is reported.
func decodeFile(data []byte, raw *fileConfig, ps *problems) bool {
	v := viper.New()
	v.SetConfigType("toml")
	if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
		line, col := 0, 0
		var positioned interface{ Position() (int, int) }
		if errors.As(err, &positioned) {
			line, col = positioned.Position()
		}
		msg := err.Error()
		// viper says "While parsing config: toml: ..."; keep the part that helps.
		if i := strings.Index(msg, "toml: "); i >= 0 {
			msg = msg[i+len("toml: "):]
		}
		ps.addAt(line, col, "TOML syntax: "+msg)
		return false
	}
	settings := v.AllSettings()
	decode := func(into *fileConfig, refuseUnknown bool) error {
		dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
			Result:           into,
			ErrorUnused:      refuseUnknown,
			WeaklyTypedInput: false,
			DecodeHook:       mapstructure.ComposeDecodeHookFunc(wholeNumberHook, mapstructure.StringToSliceHookFunc(",")),
		})
		if err != nil {
			return err
		}
		return dec.Decode(settings)
	}
	err := decode(raw, true)
	if err == nil {
		return true
	}
	// The decoder drops a whole table ([cache], an [[exports]] entry) that
	// holds an unknown key or a value of the wrong type, which would add a
	// "required" problem for each of its keys that is set and leave its
	// other keys unchecked. So every problem is reported once, the keys
	// with wrong types are taken out, and the rest is decoded again,
	// ignoring unknown keys: only the bad keys are missing from it.
	wrongTypes := reportDecodeErrors(err, ps)
	for range maxDecodePasses {
		for _, key := range wrongTypes {
			removeSetting(settings, key)
		}
		var known fileConfig
		if err := decode(&known, false); err != nil {
			// Reported once more only if it is a new problem (the list
			// drops duplicates).
			if wrongTypes = reportDecodeErrors(err, ps); len(wrongTypes) == 0 {
				break
			}
			continue
		}
		*raw = known
		break
	}
	return true
}

// maxDecodePasses bounds the passes of decodeFile that take out keys of
// the wrong type: each pass takes out at least one, and a file has few.
const maxDecodePasses = 8

// removeSetting takes the value at key (as a decode error names it:
// "cache.size_gb", "exports[0].allowed_clients[1]") out of settings: a
// table's key is deleted, an array's element is set to nil (which decodes
// as absent, keeping the indices of the others).
func removeSetting(settings map[string]any, key string) {
	var cur any = settings
	segs := settingPath(key)
	for i, seg := range segs {
		last := i == len(segs)-1
		switch c := cur.(type) {
		case map[string]any:
			if seg.index >= 0 {
				return
			}
			if last {
				delete(c, seg.name)
				return
			}
			cur = c[seg.name]
		case []any:
			if seg.index < 0 || seg.index >= len(c) {
				return
			}
			if last {
				c[seg.index] = nil
				return
			}
			cur = c[seg.index]
		case []map[string]any:
			if seg.index < 0 || seg.index >= len(c) {
				return
			}
			if last {
				c[seg.index] = map[string]any{}
				return
			}
			cur = c[seg.index]
		default:
			return
		}
	}
}

// pathSegment is one step of a dotted key: a table key, or an array index.
type pathSegment struct {
	name  string
	index int // -1 for a table key
}

// settingPath splits "exports[0].s3.region" into exports, [0], s3, region.
func settingPath(key string) []pathSegment {
	var segs []pathSegment
	for part := range strings.SplitSeq(key, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if name != "" {
			segs = append(segs, pathSegment{name: strings.ToLower(name), index: -1})
		}
		for rest != "" {
			num, after, ok := strings.Cut(rest, "]")
			n, err := strconv.Atoi(num)
			if !ok || err != nil {
				return segs
			}
			segs = append(segs, pathSegment{index: n})
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return segs
}

// wholeNumberHook refuses a fractional number for an integer key (mapstructure
// would silently truncate it).
func wholeNumberHook(from, to reflect.Type, data any) (any, error) {
	if to.Kind() != reflect.Int64 {
		return data, nil
	}
	if f, ok := data.(float64); ok && f != math.Trunc(f) {
		return nil, errors.New("must be a whole number")
	}
	return data, nil
}

// reportDecodeErrors turns mapstructure's error tree into one Problem per
// key, and returns the keys whose values have the wrong type (not the
// unknown ones).
func reportDecodeErrors(err error, ps *problems) []string {
	var wrongTypes []string
	var walk func(error)
	walk = func(err error) {
		var de *mapstructure.DecodeError
		switch e := err.(type) {
		case interface{ Unwrap() []error }:
			for _, inner := range e.Unwrap() {
				walk(inner)
			}
			return
		case *mapstructure.DecodeError:
			de = e
		default:
			if u := errors.Unwrap(err); u != nil {
				walk(u)
				return
			}
			ps.add("", "%s", err.Error())
			return
		}
		name := de.Name()
		inner := de.Unwrap()
		if keys, ok := strings.CutPrefix(inner.Error(), "has invalid keys: "); ok {
			for k := range strings.SplitSeq(keys, ", ") {
				full := k
				if name != "" {
					full = name + "." + k
				}
				if guess := suggestKey(name, k); guess != "" {
					ps.add(full, "unknown key; did you mean %s?", guess)
				} else {
					ps.add(full, "unknown key (see docs/config.md for the keys each table takes)")
				}
				ps.markBad(full)
			}
			return
		}
		ps.add(name, "%s", describeDecodeError(inner))
		ps.markBad(name)
		wrongTypes = append(wrongTypes, name)
	}
	walk(err)
	return wrongTypes
}

// describeDecodeError words a mapstructure type error for a person, without
// the value (it may be a secret).
func describeDecodeError(err error) string {
	var ute *mapstructure.UnconvertibleTypeError
	if errors.As(err, &ute) {
		return fmt.Sprintf("wrong type: want %s, got %s", tomlTypeName(ute.Expected.Type()), tomlValueType(ute.Value))
	}
	var pe *mapstructure.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("wrong type: want %s", tomlTypeName(pe.Expected.Type()))
	}
	return err.Error()
}

func tomlTypeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean (true or false)"
	case reflect.Int64, reflect.Int:
		return "an integer"
	case reflect.Float64:
		return "a number"
	case reflect.Slice:
		return "an array of " + strings.TrimPrefix(strings.TrimPrefix(tomlTypeName(t.Elem()), "a "), "an ") + "s"
	case reflect.Struct:
		return "a table"
	}
	return t.String()
}

func tomlValueType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64, int:
		return "an integer"
	case float64:
		return "a float"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	if v == nil {
		return "nothing"
	}
	return reflect.TypeOf(v).String()
}

var secretLine = regexp.MustCompile(`(?m)secret_access_key\s*=\s*['"]?([^'"\s#]+)`)

// secretsInText finds secret_access_key values in the raw file, so that they
// can be scrubbed from messages even when the file does not parse.
func secretsInText(data []byte) []string {
	var out []string
	for _, m := range secretLine.FindAllSubmatch(data, -1) {
		out = append(out, string(m[1]))
	}
	return out
}

// lookupEnv returns an environment variable's value, treating empty as unset.
func lookupEnv(env func(string) (string, bool), name string) (string, bool) {
	v, ok := env(name)
	if !ok || v == "" {
		return "", false
	}
	return v, true
}

// parseBoolEnv reads true/false/1/0 (and the other spellings strconv takes).
func parseBoolEnv(s string) (bool, error) {
	return strconv.ParseBool(strings.ToLower(strings.TrimSpace(s)))
}
