package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerofs-go/zerofsd/crypt"
)

// writeFile writes a config file in a fresh directory and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	return writeFileWith(t, content, nil)
}

// validKey is a key file's content that crypt accepts: 64 hex digits.
var validKey = strings.Repeat("ab", crypt.KeyLen) + "\n"

// writeFileWith writes a config file in a fresh directory, and beside it
// files (contents by path relative to that directory, such as key files),
// and returns the config's path.
func writeFileWith(t *testing.T, content string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "zerofs.toml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// envOf turns a map into Load's env function.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// validBase is a complete, valid configuration that cases append to.
const validBase = `
[cache]
dir = "cache"
size_gb = 2
`

const oneExport = `
[[exports]]
name = "a"
path = "/a"
store = "memory://a"
`

// mustLoad loads content (with env) and fails the test on any error.
func mustLoad(t *testing.T, content string, env map[string]string) *Config {
	t.Helper()
	cfg, err := Load(writeFile(t, content), envOf(env))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return cfg
}

// loadProblems loads content and returns its problems; it fails the test
// unless the error is a *ValidationError.
func loadProblems(t *testing.T, content string, env map[string]string) (string, []Problem) {
	t.Helper()
	return loadProblemsWith(t, content, env, nil)
}

// loadProblemsWith is loadProblems with files beside the config (see
// writeFileWith). Every export's key is checked, as check-config does.
func loadProblemsWith(t *testing.T, content string, env map[string]string, files map[string]string) (string, []Problem) {
	t.Helper()
	path := writeFileWith(t, content, files)
	cfg, err := Load(path, envOf(env), CheckKeys())
	if err == nil {
		t.Fatalf("Load succeeded, want problems; config:\n%s", cfg)
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("Load error is %T (%v), want *ValidationError", err, err)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("errors.Is(err, ErrInvalid) = false")
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(line, path+":") && !strings.HasPrefix(line, SourceEnvironment+": ") {
			t.Errorf("error line %q does not start with the file or %q", line, SourceEnvironment)
		}
	}
	return err.Error(), ve.Problems
}

// findProblem returns the problem with the given key whose message contains substr.
func findProblem(ps []Problem, key, substr string) (Problem, bool) {
	for _, p := range ps {
		if p.Key == key && strings.Contains(p.Msg, substr) {
			return p, true
		}
	}
	return Problem{}, false
}
