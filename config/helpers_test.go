package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFile writes a config file in a fresh directory and returns its path.
func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "zerofs.toml")
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
	path := writeFile(t, content)
	cfg, err := Load(path, envOf(env))
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
