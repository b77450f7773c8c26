package exports_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/crypt"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/objstore"
)

// TestReloadKeepsTheOpenDatabase changes everything about an export but its
// store, with writes acknowledged but not durable just before: the reload
// keeps the open database (no second writer fences it), so nothing is lost,
// the write verifier stays, and every changed option holds at once.
func TestReloadKeepsTheOpenDatabase(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, e *config.Export)
		check  func(t *testing.T, e *nfs.Export, fs *kvfs.FS)
	}{
		{"rename", func(t *testing.T, e *config.Export) { e.Name = "renamed" }, nil},
		{"mount path", func(t *testing.T, e *config.Export) { e.Path = "/elsewhere" }, nil},
		{"rename and mount path", func(t *testing.T, e *config.Export) { e.Name, e.Path = "b", "/b" }, nil},
		{"directory through a symlink", func(t *testing.T, e *config.Export) {
			link := filepath.Join(t.TempDir(), "link")
			if err := os.Symlink(e.Store.Dir, link); err != nil {
				t.Fatal(err)
			}
			e.Store.Dir = link
		}, nil},
		{"directory spelled with ..", func(t *testing.T, e *config.Export) {
			e.Store.Dir = filepath.Join(e.Store.Dir, "..", filepath.Base(e.Store.Dir)) + "/"
		}, nil},
		{"serving options", func(t *testing.T, e *config.Export) {
			e.Squash, e.AnonUID, e.AnonGID = config.SquashAll, 1234, 5678
			e.Sync = config.SyncStrict
			e.AllowedClients = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
		}, func(t *testing.T, e *nfs.Export, _ *kvfs.FS) {
			if e.Squash != nfs.SquashAll || e.AnonUID != 1234 || e.AnonGID != 5678 || !e.StrictSync ||
				!slices.Equal(e.AllowedClients, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}) {
				t.Fatalf("options not applied: %+v", e)
			}
		}},
		{"size limit and cache size", func(t *testing.T, e *config.Export) {
			e.SizeLimitGB = 0.001
			e.InodeCacheEntries = 10
		}, func(t *testing.T, _ *nfs.Export, fs *kvfs.FS) {
			st, err := fs.StatFS(context.Background())
			if err != nil || st.TotalBytes != 1e6 {
				t.Fatalf("statfs after size_limit_gb = 0.001: %+v, %v", st, err)
			}
		}},
		{"read only", func(t *testing.T, e *config.Export) { e.ReadOnly = true }, func(t *testing.T, e *nfs.Export, _ *kvfs.FS) {
			if !e.ReadOnly {
				t.Fatalf("export not read-only after the reload")
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			a, other := fileExport("a", filepath.Join(dir, "a")), fileExport("other", filepath.Join(dir, "other"))
			reg := open(t, testConfig(a, other))
			fsA := fsOf(t, reg, "a")
			want := files()
			for i := range 3 {
				want[content("a", i)] = content("a", i)
				writeFile(t, fsA, content("a", i), content("a", i))
			}
			writeFile(t, fsOf(t, reg, "other"), "o", "other")
			before, _ := reg.ByPath("/a")
			objects := lsmObjects(t, a.Store.Dir)

			next := a
			tc.change(t, &next)
			if err := reg.Reload(ctx, testConfig(next, other)); err != nil {
				t.Fatalf("Reload: %v", err)
			}
			after, ok := reg.ByPath(next.Path)
			if !ok || after.Name != next.Name {
				t.Fatalf("no export %s at %s after the reload", next.Name, next.Path)
			}
			if next.Path != a.Path {
				if _, ok := reg.ByPath(a.Path); ok {
					t.Fatalf("%s still served after the path changed", a.Path)
				}
			}
			if got := fsOf(t, reg, next.Name); got != fsA || after.FS != fsA {
				t.Fatalf("the reload reopened the export's database")
			}
			if after.WriteVerifier != before.WriteVerifier {
				t.Fatalf("write verifier changed although the database stayed open")
			}
			if got := lsmObjects(t, a.Store.Dir); !slices.Equal(got, objects) {
				t.Fatalf("the reload wrote to the store (a fence?): %v, was %v", got, objects)
			}
			wantFiles(t, fsA, want)
			if tc.check != nil {
				tc.check(t, after, fsA)
			}
			if !next.ReadOnly {
				writeFile(t, fsA, "after", "after the reload")
				want["after"] = "after the reload"
			}
			if err := reg.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
			wantDurable(t, next, want)
			wantDurable(t, other, files("o", "other"))
		})
	}
}

// TestReloadRefusedChangesNothing makes a reload fail on a later export
// after an earlier one changed: the running export keeps serving, unfenced,
// and nothing was written to its store.
func TestReloadRefusedChangesNothing(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, e *config.Export)
	}{
		{"renamed", func(t *testing.T, e *config.Export) { e.Name, e.Path = "a2", "/a2" }},
		{"through a symlink", func(t *testing.T, e *config.Export) {
			link := filepath.Join(t.TempDir(), "link")
			if err := os.Symlink(e.Store.Dir, link); err != nil {
				t.Fatal(err)
			}
			e.Store.Dir = link
		}},
		{"another store", func(t *testing.T, e *config.Export) { e.Store.Dir = filepath.Join(t.TempDir(), "c") }},
	}
	brokens := []struct {
		name string
		make func(t *testing.T, dir string) config.Export
	}{
		{"under a file", func(t *testing.T, dir string) config.Export {
			notADir := filepath.Join(dir, "file")
			if err := os.WriteFile(notADir, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return fileExport("broken", filepath.Join(notADir, "store"))
		}},
		{"read-only and empty", func(t *testing.T, dir string) config.Export {
			e := fileExport("broken", filepath.Join(dir, "empty"))
			e.ReadOnly = true
			return e
		}},
	}
	for _, tc := range tests {
		for _, bc := range brokens {
			t.Run(tc.name+"/"+bc.name, func(t *testing.T) {
				refusedReload(t, tc.change, bc.make)
			})
		}
	}
}

// refusedReload runs one case of TestReloadRefusedChangesNothing.
func refusedReload(t *testing.T, change func(t *testing.T, e *config.Export), makeBroken func(t *testing.T, dir string) config.Export) {
	ctx := context.Background()
	dir := t.TempDir()
	a := fileExport("a", filepath.Join(dir, "a"))
	reg := open(t, testConfig(a))
	fsA := fsOf(t, reg, "a")
	writeFile(t, fsA, "before", "acknowledged before the reload")
	before, _ := reg.ByPath("/a")
	objects := lsmObjects(t, a.Store.Dir)

	next := a
	change(t, &next)
	broken := makeBroken(t, dir)
	err := reg.Reload(ctx, testConfig(next, broken))
	if err == nil {
		t.Fatalf("Reload with an export that cannot open succeeded")
	}
	if !errors.Is(err, exports.ErrReloadRefused) {
		t.Fatalf("Reload error %v is not ErrReloadRefused", err)
	}
	if got, ok := reg.ByPath("/a"); !ok || got != before {
		t.Fatalf("the export changed although the reload was refused")
	}
	if next.Path != a.Path {
		if _, ok := reg.ByPath(next.Path); ok {
			t.Fatalf("%s served although the reload was refused", next.Path)
		}
	}
	if got := lsmObjects(t, a.Store.Dir); !slices.Equal(got, objects) {
		t.Fatalf("the refused reload wrote to the running export's store (a fence?): %v, was %v", got, objects)
	}
	writeFile(t, fsA, "after", "written after the refused reload")
	if err := fsA.Flush(ctx); err != nil {
		t.Fatalf("the running export cannot flush after a refused reload: %v", err)
	}
	if err := reg.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wantDurable(t, a, files("before", "acknowledged before the reload", "after", "written after the refused reload"))
}

// TestReloadSwapsStores gives two exports each other's store, and moves a
// third store to a new name: every open database is kept.
func TestReloadSwapsStores(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b, c := fileExport("a", filepath.Join(dir, "A")), fileExport("b", filepath.Join(dir, "B")), fileExport("c", filepath.Join(dir, "C"))
	reg := open(t, testConfig(a, b, c))
	dbs := map[string]*kvfs.FS{}
	verfs := map[string][8]byte{}
	for _, e := range []config.Export{a, b, c} {
		fs := fsOf(t, reg, e.Name)
		writeFile(t, fs, "f", "store "+filepath.Base(e.Store.Dir))
		dbs[filepath.Base(e.Store.Dir)] = fs
		n, _ := reg.ByPath(e.Path)
		verfs[filepath.Base(e.Store.Dir)] = n.WriteVerifier
	}
	a2, b2, d := a, b, c
	a2.Store, b2.Store = b.Store, a.Store
	d.Name, d.Path = "d", "/d"
	if err := reg.Reload(ctx, testConfig(a2, b2, d)); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	for _, e := range []config.Export{a2, b2, d} {
		store := filepath.Base(e.Store.Dir)
		fs := fsOf(t, reg, e.Name)
		if fs != dbs[store] {
			t.Fatalf("export %s: store %s was reopened", e.Name, store)
		}
		if n, _ := reg.ByPath(e.Path); n.WriteVerifier != verfs[store] {
			t.Fatalf("export %s: the write verifier of store %s changed", e.Name, store)
		}
		wantFiles(t, fs, files("f", "store "+store))
	}
	if err := reg.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, e := range []config.Export{a2, b2, d} {
		wantDurable(t, e, files("f", "store "+filepath.Base(e.Store.Dir)))
	}
}

// TestReloadChangesStore points an export at another store: a new database,
// a new write verifier, and the old database flushed and closed.
func TestReloadChangesStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := fileExport("a", filepath.Join(dir, "A"))
	reg := open(t, testConfig(a))
	old := fsOf(t, reg, "a")
	writeFile(t, old, "f", "in A")
	before, _ := reg.ByPath("/a")

	moved := a
	moved.Store.Dir = filepath.Join(dir, "C")
	if err := reg.Reload(ctx, testConfig(moved)); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	after, _ := reg.ByPath("/a")
	if after.FS == old {
		t.Fatalf("the export still serves its old store")
	}
	if after.WriteVerifier == before.WriteVerifier {
		t.Fatalf("the write verifier did not change with the store: clients would not resend")
	}
	wantFiles(t, fsOf(t, reg, "a"), files())
	if _, err := old.Create(ctx, root, kvfs.RootIno, "late", kvfs.CreateRequest{}); err == nil {
		t.Fatalf("the old database still accepts writes after the reload")
	}
	wantDurable(t, a, files("f", "in A")) // flushed and closed: another writer may take it
}

// TestOpenRefusesOneStoreTwice: two exports naming one directory (once
// through a symlink) would be two writers of one database.
func TestOpenRefusesOneStoreTwice(t *testing.T) {
	dir := t.TempDir()
	a := fileExport("a", filepath.Join(dir, "A"))
	if err := os.MkdirAll(a.Store.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(a.Store.Dir, link); err != nil {
		t.Fatal(err)
	}
	b := fileExport("b", link)
	_, err := exports.Open(context.Background(), testConfig(a, b), exports.Options{Logger: logger(t)})
	if err == nil {
		t.Fatalf("Open accepted two exports on one directory")
	}
	if got := lsmObjects(t, a.Store.Dir); len(got) != 0 {
		t.Fatalf("the refused Open wrote %v", got)
	}
	reg := open(t, testConfig(a))
	if err := reg.Reload(context.Background(), testConfig(a, b)); !errors.Is(err, exports.ErrReloadRefused) {
		t.Fatalf("Reload with two exports on one directory: %v, want ErrReloadRefused", err)
	}
}

// TestReadOnlyExport opens read_only exports read-only: beside a running
// writer of the same store (another registry, as another process would) it
// fences nothing and writes nothing.
func TestReadOnlyExport(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := fileExport("a", filepath.Join(dir, "A"))
	writer := open(t, testConfig(a))
	w := fsOf(t, writer, "a")
	writeFile(t, w, "f", "durable")
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	objects := lsmObjects(t, a.Store.Dir)

	ro := a
	ro.ReadOnly = true
	reader := open(t, testConfig(ro))
	r := fsOf(t, reader, "a")
	if got := lsmObjects(t, a.Store.Dir); !slices.Equal(got, objects) {
		t.Fatalf("opening a read-only export wrote %v (was %v)", got, objects)
	}
	wantFiles(t, r, files("f", "durable"))
	if _, err := r.Create(ctx, root, kvfs.RootIno, "g", kvfs.CreateRequest{}); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("create in a read-only export: %v, want EROFS", err)
	}
	writeFile(t, w, "g", "after the reader opened")
	if err := w.Flush(ctx); err != nil {
		t.Fatalf("the writer cannot flush after a read-only export opened its store: %v", err)
	}
	if err := reader.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := lsmObjects(t, a.Store.Dir); len(got) < len(objects) {
		t.Fatalf("closing a read-only export removed objects")
	}
	if err := writer.Close(ctx); err != nil {
		t.Fatal(err)
	}
	wantDurable(t, a, files("f", "durable", "g", "after the reader opened"))
}

// TestReadOnlyExportOfEmptyStore: a read-only export never creates a
// filesystem, and says so.
func TestReadOnlyExportOfEmptyStore(t *testing.T) {
	dir := t.TempDir()
	a := fileExport("a", filepath.Join(dir, "A"))
	a.ReadOnly = true
	_, err := exports.Open(context.Background(), testConfig(a), exports.Options{Logger: logger(t)})
	if err == nil {
		t.Fatalf("a read-only export of an empty store opened")
	}
	for _, want := range []string{"export a", "read_only", "no filesystem"} {
		if !strings.Contains(strings.ToLower(err.Error()), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}
	if got := lsmObjects(t, a.Store.Dir); len(got) != 0 {
		t.Fatalf("a read-only export wrote %v", got)
	}
}

// TestReloadTogglesReadOnly: writable to read-only keeps the writer open and
// refuses changes at the NFS layer; read-only to writable opens the writer.
func TestReloadTogglesReadOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := fileExport("a", filepath.Join(dir, "A"))
	reg := open(t, testConfig(a))
	w := fsOf(t, reg, "a")
	writeFile(t, w, "f", "unflushed")
	ro := a
	ro.ReadOnly = true
	if err := reg.Reload(ctx, testConfig(ro)); err != nil {
		t.Fatal(err)
	}
	if e, _ := reg.ByPath("/a"); !e.ReadOnly || e.FS != w {
		t.Fatalf("writable to read-only: read_only %v, same database %v", e.ReadOnly, e.FS == w)
	}
	wantFiles(t, w, files("f", "unflushed"))
	if err := reg.Reload(ctx, testConfig(a)); err != nil {
		t.Fatal(err)
	}
	if e, _ := reg.ByPath("/a"); e.ReadOnly || e.FS != w {
		t.Fatalf("back to writable: read_only %v, same database %v", e.ReadOnly, e.FS == w)
	}
	writeFile(t, w, "g", "still the writer")
	if err := reg.Close(ctx); err != nil {
		t.Fatal(err)
	}

	reg = open(t, testConfig(ro))
	r := fsOf(t, reg, "a")
	before, _ := reg.ByPath("/a")
	if err := reg.Reload(ctx, testConfig(a)); err != nil {
		t.Fatal(err)
	}
	after, _ := reg.ByPath("/a")
	if after.ReadOnly || after.FS == r {
		t.Fatalf("read-only to writable: read_only %v, new database %v", after.ReadOnly, after.FS != r)
	}
	if after.WriteVerifier == before.WriteVerifier {
		t.Fatalf("read-only to writable kept the write verifier of the read-only instance")
	}
	nw := fsOf(t, reg, "a")
	wantFiles(t, nw, files("f", "unflushed", "g", "still the writer"))
	writeFile(t, nw, "h", "new writer")
	if err := reg.Close(ctx); err != nil {
		t.Fatal(err)
	}
	wantDurable(t, a, files("f", "unflushed", "g", "still the writer", "h", "new writer"))
}

// TestReloadMemoryStore: a memory:// store is known by its export's name.
func TestReloadMemoryStore(t *testing.T) {
	ctx := context.Background()
	m := fileExport("m", "")
	m.Store = config.StoreURL{Scheme: config.SchemeMemory}
	reg := open(t, testConfig(m))
	fs := fsOf(t, reg, "m")
	writeFile(t, fs, "f", "in memory")
	moved := m
	moved.Path = "/moved"
	if err := reg.Reload(ctx, testConfig(moved)); err != nil {
		t.Fatal(err)
	}
	if fsOf(t, reg, "m") != fs {
		t.Fatalf("a memory export was reopened (and emptied) by a path change")
	}
	wantFiles(t, fs, files("f", "in memory"))
	renamed := moved
	renamed.Name = "n"
	if err := reg.Reload(ctx, testConfig(renamed)); err != nil {
		t.Fatal(err)
	}
	wantFiles(t, fsOf(t, reg, "n"), files())
}

// TestReloadRefusedKeepsReader: a refused config that would make a
// read-only export writable opens no writer (which would fence a writer of
// the store elsewhere for nothing) and leaves the reader serving.
func TestReloadRefusedKeepsReader(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := fileExport("a", filepath.Join(dir, "A"))
	w := open(t, testConfig(a))
	writeFile(t, fsOf(t, w, "a"), "f", "durable")
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	ro := a
	ro.ReadOnly = true
	reg := open(t, testConfig(ro))
	before, _ := reg.ByPath("/a")
	objects := lsmObjects(t, a.Store.Dir)
	broken := fileExport("broken", filepath.Join(dir, "empty"))
	broken.ReadOnly = true
	if err := reg.Reload(ctx, testConfig(a, broken)); !errors.Is(err, exports.ErrReloadRefused) {
		t.Fatalf("Reload: %v, want ErrReloadRefused", err)
	}
	if got, _ := reg.ByPath("/a"); got != before {
		t.Fatalf("the read-only export changed although the reload was refused")
	}
	if got := lsmObjects(t, a.Store.Dir); !slices.Equal(got, objects) {
		t.Fatalf("the refused reload opened a writer: %v, was %v", got, objects)
	}
	wantFiles(t, fsOf(t, reg, "a"), files("f", "durable"))
}

// TestReloadDurabilityChangeWaitsForRestart: durability is fixed when a store
// is opened; a reload that changes it keeps the open database (never a
// second open of one store) and says, at WARN, that the new durability
// applies at the next start.
func TestReloadDurabilityChangeWaitsForRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := fileExport("a", filepath.Join(dir, "A"))
	cfg := testConfig(a)
	cfg.Cache.JournalDir = filepath.Join(dir, "journal")
	buf := &testenv.SyncBuffer{}
	reg, err := exports.Open(ctx, cfg, exports.Options{Logger: slog.New(slog.NewTextHandler(buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close(ctx) })
	old := fsOf(t, reg, "a")

	local := a
	local.Durability = config.DurabilityLocal
	next := testConfig(local)
	next.Cache.JournalDir = cfg.Cache.JournalDir
	if err := reg.Reload(ctx, next); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if fsOf(t, reg, "a") != old {
		t.Fatalf("the reload reopened the store")
	}
	if !strings.Contains(buf.String(), "durability changed in the config") {
		t.Errorf("no warning that the durability change waits for a restart:\n%s", buf.String())
	}
	if _, err := os.Stat(cfg.Cache.JournalDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a journal appeared for a database opened with bucket durability: %v", err)
	}
}

// TestReloadSyncFollowsTheDurabilityInUse: a reload that changes durability
// keeps the database's durability until the next start, and a sync the
// file does not set keeps following that durability, not the configured
// one. Before, a local export's metadata replies stopped waiting for the
// journal as soon as the file said bucket (acknowledged CREATEs lost in a
// crash), and a bucket export's began waiting for S3 PUTs.
func TestReloadSyncFollowsTheDurabilityInUse(t *testing.T) {
	tests := []struct {
		name       string
		from, to   config.Durability
		sync       config.SyncMode // "": not set in the file
		wantStrict bool
	}{
		{"local to bucket, sync defaulted", config.DurabilityLocal, config.DurabilityBucket, "", true},
		{"bucket to local, sync defaulted", config.DurabilityBucket, config.DurabilityLocal, "", false},
		{"local to bucket, sync commit set", config.DurabilityLocal, config.DurabilityBucket, config.SyncCommit, false},
		{"bucket to local, sync strict set", config.DurabilityBucket, config.DurabilityLocal, config.SyncStrict, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			// What config.Load makes of an export with durability d and
			// the test's sync.
			export := func(d config.Durability) config.Export {
				e := fileExport("a", filepath.Join(dir, "A"))
				e.Durability = d
				e.Sync, e.SyncDefaulted = tc.sync, tc.sync == ""
				if e.SyncDefaulted {
					e.Sync = config.DefaultSyncFor(d)
				}
				return e
			}
			cfg := testConfig(export(tc.from))
			cfg.Cache.JournalDir = filepath.Join(dir, "journal")
			logs := &testenv.SyncBuffer{}
			reg, err := exports.Open(ctx, cfg, exports.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = reg.Close(ctx) })
			next := testConfig(export(tc.to))
			next.Cache.JournalDir = cfg.Cache.JournalDir
			if err := reg.Reload(ctx, next); err != nil {
				t.Fatalf("Reload: %v", err)
			}
			e, ok := reg.ByPath("/a")
			if !ok {
				t.Fatal("export /a is gone after the reload")
			}
			if e.StrictSync != tc.wantStrict {
				t.Errorf("strict sync %v after the reload; want %v (the database still runs with durability %s)", e.StrictSync, tc.wantStrict, tc.from)
			}
			// The log says what replies follow, not what the file says.
			want := "sync=commit"
			if tc.wantStrict {
				want = "sync=strict"
			}
			lines := strings.Split(logs.String(), "\n")
			var last string
			for _, l := range lines {
				if strings.Contains(l, `msg="serving export"`) {
					last = l
				}
			}
			if !strings.Contains(last, want) {
				t.Errorf("the serving export line after the reload says %q; want %s", last, want)
			}
		})
	}
}

// TestReloadWarnsOfAMovedJournalDir: a reload that changes cache.journal_dir
// says so, naming both directories: the stores it opens use the new one,
// and a tail left in the old one is not found there.
func TestReloadWarnsOfAMovedJournalDir(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a := fileExport("a", filepath.Join(dir, "A"))
	cfg := testConfig(a)
	cfg.Cache.JournalDir = filepath.Join(dir, "journal")
	buf := &testenv.SyncBuffer{}
	reg, err := exports.Open(ctx, cfg, exports.Options{Logger: slog.New(slog.NewTextHandler(buf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close(ctx) })
	next := testConfig(a)
	next.Cache.JournalDir = filepath.Join(dir, "journal2")
	if err := reg.Reload(ctx, next); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	logs := buf.String()
	if !strings.Contains(logs, "cache.journal_dir changed") || !strings.Contains(logs, next.Cache.JournalDir) || !strings.Contains(logs, cfg.Cache.JournalDir) {
		t.Errorf("no warning naming the old and new journal directories:\n%s", logs)
	}
}

// TestReloadChecksEncryptionOfKeptStores: a store a reload keeps open must
// open with the new config at the next start. Switching encryption on or
// off, or a key that does not unlock the keyring, is refused (before, the
// reload was applied, and the next start refused every export); a key that
// unlocks it (a copy, a rotated key) is taken, and the next start opens
// with it.
func TestReloadChecksEncryptionOfKeptStores(t *testing.T) {
	plain := func(dir string) string {
		return fmt.Sprintf("[[exports]]\nname = \"team\"\npath = \"/team\"\nstore = \"file://%s\"\nsquash = \"none\"\n", dir)
	}
	tests := []struct {
		name      string
		encrypted bool // as first served, with key byte 1
		// next returns the new config's exports, and a file to remove
		// once it is loaded (Load itself refuses a missing key file).
		next    func(e *cryptEnv, storeDir string) (toml, removed string)
		refused []string // what the error says; nil: applied
	}{
		{"encryption switched on", false, func(e *cryptEnv, dir string) (string, string) {
			return encryptedExport("team", dir, e.keyFile("new.key", 1)), ""
		}, []string{"export team", "encryption = true", crypt.ErrNotEncrypted.Error()}},
		{"encryption switched off", true, func(e *cryptEnv, dir string) (string, string) {
			return plain(dir), ""
		}, []string{"export team", "encryption is off", crypt.ErrEncrypted.Error()}},
		{"a key that does not unlock the keyring", true, func(e *cryptEnv, dir string) (string, string) {
			return encryptedExport("team", dir, e.keyFile("other.key", 2)), ""
		}, []string{"export team", "other.key", "wrong key"}},
		{"a key file gone", true, func(e *cryptEnv, dir string) (string, string) {
			return encryptedExport("team", dir, e.keyFile("gone.key", 1)), filepath.Join(e.dir, "gone.key")
		}, []string{"export team", "gone.key", "no such file"}},
		{"the same key in another file", true, func(e *cryptEnv, dir string) (string, string) {
			return encryptedExport("team", dir, e.keyFile("copy.key", 1)), ""
		}, nil},
		{"a rotated key", true, func(e *cryptEnv, dir string) (string, string) {
			ctx := context.Background()
			store, err := objstore.NewLocal(dir)
			if err != nil {
				e.t.Fatal(err)
			}
			oldCred, err := crypt.ReadKeyFile(filepath.Join(e.dir, "first.key"))
			if err != nil {
				e.t.Fatal(err)
			}
			newKey := e.keyFile("rotated.key", 3)
			newCred, err := crypt.ReadKeyFile(newKey)
			if err != nil {
				e.t.Fatal(err)
			}
			if _, err := crypt.Rotate(ctx, store, oldCred, newCred, crypt.KeyringOptions{}); err != nil {
				e.t.Fatal(err)
			}
			return encryptedExport("team", dir, newKey), ""
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			e := newCryptEnv(t)
			storeDir := filepath.Join(e.dir, "store")
			first := plain(storeDir)
			if tc.encrypted {
				first = encryptedExport("team", storeDir, e.keyFile("first.key", 1))
			}
			firstCfg := e.config(first)
			reg, err := exports.Open(ctx, firstCfg, exports.Options{Logger: e.log})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = reg.Close(ctx) }()
			fsys := fsOf(t, reg, "team")
			writeFile(t, fsys, "f", "before the reload")
			before, _ := reg.ByPath("/team")

			toml, removed := tc.next(e, storeDir)
			next := e.config(toml)
			if removed != "" {
				if err := os.Remove(removed); err != nil {
					t.Fatal(err)
				}
			}
			err = reg.Reload(ctx, next)
			if after, _ := reg.ByPath("/team"); after == nil || after.FS != fsys {
				t.Fatalf("the reload did not keep the store open")
			}
			if tc.refused != nil {
				if !errors.Is(err, exports.ErrReloadRefused) {
					t.Fatalf("Reload: %v, want ErrReloadRefused", err)
				}
				for _, want := range tc.refused {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("Reload: %v\nwant it to say %q", err, want)
					}
				}
				if after, _ := reg.ByPath("/team"); after != before {
					t.Fatalf("the export changed although the reload was refused")
				}
				if keyrings, _ := filepath.Glob(filepath.Join(storeDir, "keyring", "*")); !tc.encrypted && len(keyrings) != 0 {
					t.Fatalf("a keyring was written into the unencrypted export: %v", keyrings)
				}
				next = firstCfg // the config in force
			} else if err != nil {
				t.Fatalf("Reload: %v", err)
			}
			writeFile(t, fsys, "g", "after the reload")
			if err := reg.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
			// The next start, with the config in force, opens the store.
			restarted, err := exports.Open(ctx, next, exports.Options{Logger: e.log})
			if err != nil {
				t.Fatalf("the next start fails with the config the reload left in force: %v", err)
			}
			defer func() { _ = restarted.Close(ctx) }()
			wantFiles(t, fsOf(t, restarted, "team"), files("f", "before the reload", "g", "after the reload"))
		})
	}
}
