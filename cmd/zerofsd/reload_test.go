package main

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

// TestReloadOutcomeLogged checks what the daemon logs for each outcome of a
// reload: "reload failed" only when the reload was refused, and "config
// reloaded" when it was applied, even if closing an export it removed failed.
func TestReloadOutcomeLogged(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "zerofs.toml")
	exportTOML := func(name string, extra string) string {
		return fmt.Sprintf("[[exports]]\nname = %q\npath = \"/%s\"\nstore = \"file://%s\"\n%s\n", name, name, filepath.Join(dir, name), extra)
	}
	// A removed export's final flush is retried for server.shutdown_timeout.
	head := fmt.Sprintf("[server]\nshutdown_timeout = \"1s\"\n[cache]\ndir = %q\nsize_gb = 0.1\n[lsm]\nflush_interval = \"1m\"\n", filepath.Join(dir, "cache"))
	write := func(exps ...string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(head+strings.Join(exps, "")), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(exportTOML("a", ""), exportTOML("b", ""))
	cfg, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	var storeB *faultstore.Store
	logs := &testenv.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg, err := exports.Open(ctx, cfg, exports.Options{Logger: log, OpenStore: func(ctx context.Context, e config.Export) (objstore.Store, error) {
		s, err := exports.OpenStore(ctx, e, nil)
		if err != nil || e.Name != "b" {
			return s, err
		}
		storeB = faultstore.New(s, faultstore.Options{})
		return storeB, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close(ctx)

	tests := []struct {
		name    string
		exports []string
		prepare func()
		applied bool // reload returns the new config
		want    []string
		notWant []string
	}{
		{"invalid config", []string{exportTOML("a", "bogus = 1")}, nil, false,
			[]string{"reload refused"}, []string{"config reloaded"}},
		{"an export cannot open", []string{exportTOML("a", ""), exportTOML("b", ""), exportTOML("c", "read_only = true")}, nil, false,
			[]string{"reload failed"}, []string{"config reloaded"}},
		{"closing a removed export fails", []string{exportTOML("a", "")}, func() {
			fs, _ := reg.FS("b")
			if _, err := fs.Create(ctx, kvfs.Cred{}, kvfs.RootIno, "unflushed", kvfs.CreateRequest{}); err != nil {
				t.Fatal(err)
			}
			storeB.Crash() // its final flush fails
		}, true, []string{"config reloaded", "closing a store no longer served failed", `msg="memory bounds" caches_and_write_buffers_mib=832`}, []string{"reload failed", "reload refused"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			write(tc.exports...)
			if tc.prepare != nil {
				tc.prepare()
			}
			before := len(logs.String())
			if next := reload(ctx, path, reg, cfg, log); (next != nil) != tc.applied {
				t.Errorf("reload returned %v, want a config: %v", next, tc.applied)
			}
			got := logs.String()[before:]
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("log lacks %q:\n%s", w, got)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(got, w) {
					t.Errorf("log says %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestLogMemoryBounds: the memory line names what the configuration lets
// caches and write buffers hold, and the runtime's soft limit when one is
// set (GOMEMLIMIT).
func TestLogMemoryBounds(t *testing.T) {
	cfg := &config.Config{
		Cache:   config.Cache{MemoryMB: 100, ReadAheadMB: 10},
		LSM:     config.LSM{MaxUnflushedMB: 50},
		Exports: []config.Export{{Name: "a"}, {Name: "b", ReadOnly: true}},
	}
	old := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(old)
	for _, tc := range []struct {
		limit int64
		want  string
	}{
		{math.MaxInt64, `msg="memory bounds" caches_and_write_buffers_mib=320 gomemlimit=none`},
		{3 << 30, `msg="memory bounds" caches_and_write_buffers_mib=320 gomemlimit="3072 MiB"`},
	} {
		debug.SetMemoryLimit(tc.limit)
		var logs strings.Builder
		logMemoryBounds(slog.New(slog.NewTextHandler(&logs, nil)), cfg)
		if !strings.Contains(logs.String(), tc.want) {
			t.Errorf("logged %q, want it to contain %q", logs.String(), tc.want)
		}
	}
}

// TestReloadWarnsOfStartOnlyKeys: a reload that changes a key only a
// restart applies ([server] but shutdown_timeout, cache.dir,
// cache.size_gb) logs a WARN naming each, with the value in use. Before,
// it said nothing: the change looked applied.
func TestReloadWarnsOfStartOnlyKeys(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "zerofs.toml")
	write := func(server, cache string) {
		t.Helper()
		content := fmt.Sprintf("[server]\n%s\n[cache]\n%s\n[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"file://%s\"\n",
			server, cache, filepath.Join(dir, "a"))
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cacheDir := filepath.Join(dir, "cache")
	write(`listen = "127.0.0.1:2049"`, fmt.Sprintf("dir = %q\nsize_gb = 0.1", cacheDir))
	started, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	logs := &testenv.SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	reg, err := exports.Open(ctx, started, exports.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close(ctx)

	write(`listen = "127.0.0.1:2050"
log_format = "json"
max_connections = 7
portmapper = "off"
shutdown_timeout = "5s"`, fmt.Sprintf("dir = %q\nsize_gb = 0.2", filepath.Join(dir, "cache2")))
	if reload(ctx, path, reg, started, log) == nil {
		t.Fatalf("reload refused:\n%s", logs)
	}
	got := logs.String()
	for _, want := range []string{
		`key=server.listen in_use=127.0.0.1:2049 configured=127.0.0.1:2050`,
		`key=server.log_format in_use=text configured=json`,
		`key=server.max_connections in_use=512 configured=7`,
		`key=server.portmapper in_use=auto configured=off`,
		`key=cache.dir in_use=` + cacheDir + ` configured=` + filepath.Join(dir, "cache2"),
		`key=cache.size_gb in_use=0.1 configured=0.2`,
	} {
		if !strings.Contains(got, "level=WARN msg=\"config key changed, but only a restart applies it; the value in use stays until then\" "+want+"\n") {
			t.Errorf("no WARN with %s:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "only a restart applies it"); n != 6 {
		t.Errorf("%d restart warnings, want 6 (shutdown_timeout applies at once; nothing else changed):\n%s", n, got)
	}

	// Reloaded again unchanged: the keys still differ from those in use.
	before := len(logs.String())
	if reload(ctx, path, reg, started, log) == nil {
		t.Fatalf("reload refused:\n%s", logs)
	}
	if n := strings.Count(logs.String()[before:], "only a restart applies it"); n != 6 {
		t.Errorf("the second reload logged %d restart warnings, want 6 again", n)
	}
}

// TestStartOnlyKeysCoverServer: every [server] key but shutdown_timeout is
// read at start only, so each must be among startOnlyKeys.
func TestStartOnlyKeysCoverServer(t *testing.T) {
	var server int
	for _, k := range startOnlyKeys() {
		if strings.HasPrefix(k.key, "server.") {
			server++
		}
	}
	if fields := reflect.TypeFor[config.Server]().NumField(); server != fields-1 {
		t.Errorf("startOnlyKeys has %d [server] keys; config.Server has %d fields, all but ShutdownTimeout read at start only", server, fields)
	}
}
