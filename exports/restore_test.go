package exports_test

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"weak"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/objstore"
)

// waitTree waits until export name serves a filesystem other than old,
// holding files with these contents and none of absent; it returns it.
func waitTree(t *testing.T, reg *exports.Registry, name string, old *kvfs.FS, files map[string]string, absent ...string) *kvfs.FS {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		fs := fsOf(t, reg, name)
		ok := fs != old
		for n, want := range files {
			got, err := readFile(fs, n)
			ok = ok && err == nil && got == want
		}
		for _, n := range absent {
			_, err := readFile(fs, n)
			ok = ok && errors.Is(err, syscall.ENOENT)
		}
		if ok {
			return fs
		}
		if time.Now().After(deadline) {
			t.Fatalf("export %s does not serve the restored tree (reopened: %v)", name, fs != old)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRestoreReopensExport: a restore from outside (another process, the
// checkpoint restore command) fences the running registry's writer, which
// notices even while idle, opens the store again and serves the restored
// tree under the same FSID; restoring the undo checkpoint brings the
// replaced tree back.
func TestRestoreReopensExport(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ec := fileExport("a", filepath.Join(dir, "a"))
	reg, err := exports.Open(ctx, testConfig(ec), exports.Options{Logger: logger(t), FenceCheckInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(ctx) })
	live := fsOf(t, reg, "a")
	fsid := live.FSID()
	writeFile(t, live, "f", "old")
	db, _ := reg.DB("a")
	if _, err := db.Checkpoint(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	a, _ := live.Lookup(ctx, root, kvfs.RootIno, "f")
	if _, err := live.Write(ctx, root, a.Ino, 0, []byte("new")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, live, "g", "made after c1")
	if err := live.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	if _, err := exports.Restore(ctx, ec, "c1", "undo", logger(t)); err != nil {
		t.Fatal(err)
	}
	restored := waitTree(t, reg, "a", live, map[string]string{"f": "old"}, "g")
	if restored.FSID() != fsid {
		t.Fatalf("fsid %016x after the restore, want %016x", restored.FSID(), fsid)
	}
	exp, ok := reg.ByFSID(fsid)
	if !ok || exp.FS != kvfsAsNFS(restored) {
		t.Fatal("ByFSID does not serve the restored filesystem")
	}
	writeFile(t, restored, "after", "written on the restored tree")
	if err := restored.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// Undo.
	if _, err := exports.Restore(ctx, ec, "undo", "undo-2", logger(t)); err != nil {
		t.Fatal(err)
	}
	waitTree(t, reg, "a", restored, map[string]string{"f": "new", "g": "made after c1"}, "after")
}

// kvfsAsNFS is fs as the export serves it without a snapshot directory.
func kvfsAsNFS(fs *kvfs.FS) any { return fs }

// TestCloseDuringARestoreReopen: Close does not wait for a reopen after a
// restore that the store holds up (an object store down, say): it stops
// the reopen and goes on. Before, Close waited for the registry's lock,
// which the reopen held for up to reopenTimeout (2 minutes), so a
// shutdown gave up without flushing anything.
func TestCloseDuringARestoreReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ec := fileExport("a", filepath.Join(dir, "a"))
	var opens atomic.Int32
	reopening := make(chan struct{})
	openStore := func(ctx context.Context, e config.Export) (objstore.Store, error) {
		if opens.Add(1) == 2 { // the reopen after the restore
			close(reopening)
			<-ctx.Done()
			return nil, ctx.Err()
		}
		return exports.OpenStore(ctx, e, nil)
	}
	reg, err := exports.Open(ctx, testConfig(ec), exports.Options{Logger: logger(t), FenceCheckInterval: 20 * time.Millisecond, OpenStore: openStore})
	if err != nil {
		t.Fatal(err)
	}
	live := fsOf(t, reg, "a")
	writeFile(t, live, "f", "old")
	db, _ := reg.DB("a")
	if _, err := db.Checkpoint(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := exports.Restore(ctx, ec, "c1", "undo", logger(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reopening:
	case <-time.After(20 * time.Second):
		t.Fatal("the registry did not reopen the restored store")
	}
	closed := make(chan error, 1)
	go func() { closed <- reg.Close(ctx) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close is still waiting for the reopen after 30 s")
	}
}

// TestFenceWatchForgetsRemovedStores: a store fenced by another writer and
// then removed from the config by a reload is not kept in memory by the
// fence watch. Before, the watch remembered every fenced database for
// good, with its memtables, caches and filesystem.
func TestFenceWatchForgetsRemovedStores(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b := fileExport("a", filepath.Join(dir, "a")), fileExport("b", filepath.Join(dir, "b"))
	reg, err := exports.Open(ctx, testConfig(a, b), exports.Options{Logger: logger(t), FenceCheckInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(ctx) })
	live := fsOf(t, reg, "a")
	writeFile(t, live, "f", "x")
	gone := weak.Make(live)
	db, _ := reg.DB("a")
	// Another writer takes the store.
	store, err := exports.OpenStore(ctx, a, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := lsm.Open(ctx, store, lsm.Options{Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close(ctx) })
	deadline := time.Now().Add(20 * time.Second)
	for !db.Stats().Fenced {
		if time.Now().After(deadline) {
			t.Fatal("the registry's writer did not learn it was fenced")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Let the watch look at the fenced store a few times (it remembers
	// when it first saw it fenced).
	time.Sleep(200 * time.Millisecond)
	// Closing the removed store reports that it was fenced.
	if err := reg.Reload(ctx, testConfig(b)); err != nil && !errors.Is(err, lsm.ErrFenced) {
		t.Fatalf("Reload: %v", err)
	}
	if _, ok := reg.FS("a"); ok {
		t.Fatal("export a is still served after the reload")
	}
	live, db = nil, nil
	for gone.Value() != nil {
		runtime.GC()
		if time.Now().After(deadline) {
			t.Fatal("the filesystem of the removed, fenced store is still reachable")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
