package layering

import (
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/zerofs-go/zerofsd"

// leaves are packages every package may import; they import nothing of the
// module (their rule in allowed is nil).
var leaves = []string{"internal/crc32c", "internal/ratelog", "internal/retry"}

// testSupport are packages for tests and benchmarks only (fault injection,
// contract suites, test servers, the VM harness, the S3 proxy): production
// packages never import them, whatever their layer allows; only other test
// support and testSupportUsers may (test files are not checked).
var (
	testSupport      = []string{"objstore/faultstore", "objstore/storetest", "kvfs/kvfstest", "internal/testenv", "internal/nfsvm", "internal/s3proxy", "lsm/journal/memfs"}
	testSupportUsers = []string{"e2e", "bench"}
)

// allowed maps a package (and everything under it) to the module packages
// (and everything under them) its production code may import. The longest
// matching key wins, and packages governed by the same key may always
// import each other: a sub-package with a key of its own (kvfs/lsmkv) is a
// layer of its own, which the packages around it may not import unless
// their rule says so.
var allowed = map[string][]string{
	"objstore":          nil,
	"crypt":             {"objstore"},
	"cache":             {"internal/flock", "objstore"},
	"lsm":               {"cache", "internal/flock", "objstore"},
	"kvfs":              nil,
	"kvfs/lsmkv":        {"kvfs", "lsm"},
	"nfs":               {"kvfs"},
	"config":            {"crypt", "kvfs", "lsm", "nfs"}, // their defaults, and crypt's key checks
	"exports":           {"cache", "config", "crypt", "kvfs", "lsm", "nfs", "objstore"},
	"metrics":           {"cache", "exports", "kvfs", "lsm", "nfs", "objstore"}, // their stats types
	"cmd":               {"cache", "config", "crypt", "exports", "kvfs", "lsm", "metrics", "nfs", "objstore"},
	"internal/flock":    nil,
	"internal/testenv":  {"objstore"},
	"internal/nfsvm":    {"internal/nfsvm", "internal/testenv/require"}, // its command imports it; it imports nothing else of ours
	"internal/s3proxy":  nil,
	"internal/layering": nil,
	"internal/retry":    nil,
	"internal/ratelog":  nil,
	"internal/crc32c":   nil,
	"e2e":               {"*"},
	"bench":             {"*"},
}

func TestLayering(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "data") {
			return filepath.SkipDir
		}
		if path != root {
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module (bench references)
			}
		}
		pkg, err := build.ImportDir(path, 0)
		if err != nil {
			if _, ok := err.(*build.NoGoError); ok {
				return nil
			}
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		checked++
		rule, ok := ruleFor(rel)
		if !ok {
			t.Errorf("package %s has no layering rule: add it to allowed", rel)
			return nil
		}
		for _, imp := range pkg.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			target := strings.TrimPrefix(imp, module+"/")
			if strings.HasPrefix(target, "cmd") {
				t.Errorf("%s imports %s: nothing may import a command", rel, target)
				continue
			}
			if testOnly(rel, target) {
				t.Errorf("%s imports %s, a package for tests only", rel, target)
			} else if !permitted(rel, rule, target) {
				t.Errorf("%s imports %s, which its layer does not allow (allowed: %v)", rel, target, rule)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 10 {
		t.Fatalf("checked only %d packages: is the module root right (%s)?", checked, root)
	}
}

// ruleFor returns the allowed imports of the longest key that is rel or a parent of it.
func ruleFor(rel string) ([]string, bool) {
	k, found := ruleKey(rel)
	return allowed[k], found
}

// ruleKey returns the longest key of allowed that is rel or a parent of it.
func ruleKey(rel string) (string, bool) {
	best, found := "", false
	for k := range allowed {
		if within(rel, k) && len(k) >= len(best) {
			best, found = k, true
		}
	}
	return best, found
}

// permitted reports whether production code of rel, whose rule is rule, may
// import target.
func permitted(rel string, rule []string, target string) bool {
	if testOnly(rel, target) {
		return false
	}
	if a, ok := ruleKey(rel); ok {
		if b, ok := ruleKey(target); ok && a == b {
			return true
		}
	}
	if slices.Contains(leaves, target) {
		return true
	}
	return slices.ContainsFunc(rule, func(a string) bool { return a == "*" || within(target, a) })
}

// testOnly reports whether target is test support that rel, being neither
// test support nor one of testSupportUsers, may not import.
func testOnly(rel, target string) bool {
	return isTestSupport(target) && !isTestSupport(rel) &&
		!slices.ContainsFunc(testSupportUsers, func(u string) bool { return within(rel, u) })
}

func isTestSupport(pkg string) bool {
	return slices.ContainsFunc(testSupport, func(d string) bool { return within(pkg, d) })
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

func TestRules(t *testing.T) {
	tests := []struct {
		pkg, imp string
		want     bool
	}{
		{"kvfs", "lsm", false},
		{"kvfs", "kvfs/kvfstest", false},
		{"lsm/sstable", "lsm/wal", true},
		{"lsm", "cache", true},
		{"cache", "lsm", false},
		{"objstore", "cache", false},
		{"nfs/rpc", "nfs/xdr", true},
		{"nfs", "lsm", false},
		{"exports", "nfs", true},
		{"internal/testenv", "internal/layering", false},
		{"kvfs", "kvfs/lsmkv", false},
		{"kvfs/lsmkv", "lsm", true},
		{"kvfs/lsmkv", "kvfs", true},
		{"kvfs/lsmkv", "nfs", false},
		{"exports", "kvfs/lsmkv", true},
		{"lsm", "internal/retry", true},
		{"nfs", "internal/ratelog", true},
		{"internal/ratelog", "nfs", false},
		{"objstore", "internal/retry", true},
		{"internal/retry", "objstore", false},
		{"lsm/wal", "internal/crc32c", true},
		{"e2e", "internal/s3proxy", true},
		{"bench/fs", "internal/s3proxy", true},
		{"internal/s3proxy", "internal/s3proxy", true},
		{"cmd", "internal/s3proxy", false},
		{"exports", "internal/s3proxy", false},
		{"internal/s3proxy", "objstore", false},
		{"exports", "internal/testenv", false},
		{"internal/nfsvm", "internal/testenv/require", true},
		{"internal/nfsvm", "internal/testenv", false},
		{"cmd", "internal/testenv/require", false},
	}
	for _, tt := range tests {
		rule, ok := ruleFor(tt.pkg)
		if !ok {
			t.Fatalf("no rule for %s", tt.pkg)
		}
		if got := permitted(tt.pkg, rule, tt.imp); got != tt.want {
			t.Errorf("%s importing %s: permitted = %v, want %v", tt.pkg, tt.imp, got, tt.want)
		}
	}
}

// TestLeaves: a package everyone may import must import nothing of the module.
func TestLeaves(t *testing.T) {
	for _, l := range leaves {
		if rule, ok := allowed[l]; !ok || rule != nil {
			t.Errorf("leaf %s must have a nil rule in allowed, has %v (present: %v)", l, rule, ok)
		}
	}
}

// TestTestSupportNeverInProduction: test support stays out of production
// code even where a rule would let a package import anything.
func TestTestSupportNeverInProduction(t *testing.T) {
	for _, pkg := range []string{"cmd", "exports", "metrics", "internal/layering"} {
		for _, imp := range testSupport {
			if permitted(pkg, []string{"*"}, imp) {
				t.Errorf("%s with rule * may import %s", pkg, imp)
			}
		}
	}
}
