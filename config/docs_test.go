package config

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/kvfs"
)

// TestDocumentedDefaults keeps the default column of docs/config.md true:
// every key documented with a literal default renders as exactly that value
// in the effective configuration of a file that sets none of them. Several
// defaults are another package's (lsm, nfs, kvfs), so a change there shows
// up here.
func TestDocumentedDefaults(t *testing.T) {
	documented := documentedDefaults(t, "../docs/config.md")
	rendered := renderedValues(mustLoad(t, validBase+oneExport, nil).String())
	want := []string{
		"server.listen", "server.max_connections", "server.max_requests_per_conn", "server.shutdown_timeout",
		"cache.memory_mb", "cache.read_ahead_mb", "s3.bucket", "s3.region", "lsm.flush_interval", "lsm.ship_interval", "lsm.memtable_mb",
		"lsm.max_unflushed_mb", "lsm.compression", "lsm.zstd_level", "exports.squash", "exports.anon_uid", "exports.anon_gid",
		"exports.inode_cache_entries", "exports.root_mode", "exports.root_owner",
	}
	// Keys left out of the effective configuration when absent take the
	// default of the package they configure.
	for k, v := range map[string]string{
		"exports.root_mode":  fmt.Sprintf(`"%04o"`, kvfs.DefaultRootMode),
		"exports.root_owner": fmt.Sprintf(`"%d:%d"`, kvfs.RootAttrs{}.UID, kvfs.RootAttrs{}.GID),
	} {
		if _, ok := rendered[k]; ok {
			t.Fatalf("%s is rendered when absent: drop it from this list", k)
		}
		rendered[k] = v
	}
	for _, k := range want {
		if _, ok := documented[k]; !ok {
			t.Errorf("docs/config.md documents no literal default for %s", k)
		}
	}
	for k, doc := range documented {
		got, ok := rendered[k]
		if !ok {
			t.Errorf("%s: documented default %s, but the effective configuration has no such key", k, doc)
			continue
		}
		if got != doc && !sameDuration(got, doc) {
			t.Errorf("%s: docs/config.md says the default is %s, the effective configuration has %s", k, doc, got)
		}
	}
}

// sameDuration reports whether a and b are quoted durations of equal length
// ("90s" and "1m30s").
func sameDuration(a, b string) bool {
	da, errA := time.ParseDuration(strings.Trim(a, `"`))
	db, errB := time.ParseDuration(strings.Trim(b, `"`))
	return errA == nil && errB == nil && da == db
}

var (
	docTable = regexp.MustCompile("^## `\\[{1,2}([a-z0-9.]+)\\]{1,2}`")
	// docRow is a table row whose default cell is one literal in backquotes.
	docRow = regexp.MustCompile("^\\| `([a-z0-9_]+)` \\| [^|]* \\| `([^`]+)` \\|")
)

// documentedDefaults returns TABLE.KEY -> default (as written in TOML) of
// every row of docs/config.md whose default is a single literal.
func documentedDefaults(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	table := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := docTable.FindStringSubmatch(line); m != nil {
			table = m[1]
			continue
		}
		if strings.HasPrefix(line, "## ") {
			table = ""
			continue
		}
		// A default naming another value ("<dir>/journal") is not a literal.
		if m := docRow.FindStringSubmatch(line); m != nil && table != "" && !strings.Contains(m[2], "<") {
			out[table+"."+m[1]] = m[2]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// renderedValues returns TABLE.KEY -> value of the TOML Config.String writes.
func renderedValues(s string) map[string]string {
	out := map[string]string{}
	table := ""
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "[["):
			table = strings.Trim(line, "[]")
		case strings.HasPrefix(line, "["):
			table = strings.Trim(line, "[]")
		default:
			if k, v, ok := strings.Cut(line, " = "); ok {
				out[table+"."+k] = v
			}
		}
	}
	return out
}
