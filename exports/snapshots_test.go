package exports_test

import (
	"context"
	"errors"
	"net/netip"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/exports/snapdir"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/objstore"
)

// readIn returns the content of name in the root of an NFS filesystem.
func readIn(fs nfs.Filesystem, name string) (string, error) {
	ctx := context.Background()
	a, err := fs.Lookup(ctx, root, kvfs.RootIno, name)
	if err != nil {
		return "", err
	}
	buf := make([]byte, a.Size)
	n, _, err := fs.Read(ctx, root, a.Ino, 0, buf)
	return string(buf[:n]), err
}

// TestSnapshotDirectoryServesCheckpoints: an export with snapshot_dir shows
// each checkpoint of its store, read-only, as its own filesystem with the
// export's access rules; a deleted checkpoint's handles go stale; a reload
// that turns snapshot_dir off hides them.
func TestSnapshotDirectoryServesCheckpoints(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ec := fileExport("a", filepath.Join(dir, "a"))
	ec.SnapshotDir = ".snapshots"
	ec.AllowedClients = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	reg := open(t, testConfig(ec))
	live := fsOf(t, reg, "a")
	db, _ := reg.DB("a")

	writeFile(t, live, "f", "old")
	if _, err := db.Checkpoint(ctx, "snap1"); err != nil {
		t.Fatal(err)
	}
	// Changed and deleted after the checkpoint.
	a, err := live.Lookup(ctx, root, kvfs.RootIno, "f")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := live.Write(ctx, root, a.Ino, 0, []byte("NEW")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, live, "g", "only live")

	exp, ok := reg.ByPath("/a")
	if !ok {
		t.Fatal("no export at /a")
	}
	sd, err := exp.FS.Lookup(ctx, root, kvfs.RootIno, ".snapshots")
	if err != nil {
		t.Fatalf("lookup .snapshots: %v", err)
	}
	snapRoot, err := exp.FS.Lookup(ctx, root, sd.Ino, "snap1")
	if err != nil {
		t.Fatalf("lookup .snapshots/snap1: %v", err)
	}
	if snapRoot.FSID == 0 || snapRoot.FSID == live.FSID() {
		t.Fatalf("snapshot root fsid %016x (live %016x)", snapRoot.FSID, live.FSID())
	}
	sexp, ok := reg.ByFSID(snapRoot.FSID)
	if !ok {
		t.Fatal("ByFSID does not find the snapshot")
	}
	if !sexp.ReadOnly || sexp.Path != "" || len(sexp.AllowedClients) != 1 || sexp.Name != "a" {
		t.Fatalf("snapshot export = %+v", sexp)
	}
	if got, err := readIn(sexp.FS, "f"); err != nil || got != "old" {
		t.Fatalf("snapshot f = %q, %v; want \"old\"", got, err)
	}
	if _, err := readIn(sexp.FS, "g"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("snapshot g: %v, want ENOENT", err)
	}
	if got, _ := readIn(exp.FS, "f"); got != "NEW" {
		t.Fatalf("live f = %q", got)
	}

	// A checkpoint made by another process is shown too.
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	store, err := exports.OpenStore(ctx, ec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lsm.CreateCheckpoint(ctx, store, "outside"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // a miss lists again at most every 250ms
	out, err := exp.FS.Lookup(ctx, root, snapdir.DirIno, "outside")
	if err != nil {
		t.Fatalf("lookup of a checkpoint made outside: %v", err)
	}
	oexp, _ := reg.ByFSID(out.FSID)
	if got, err := readIn(oexp.FS, "g"); err != nil || got != "only live" {
		t.Fatalf("outside/g = %q, %v", got, err)
	}

	// Deleted: stale, never other data.
	if err := lsm.RemoveCheckpoint(ctx, store, "snap1"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := readIn(sexp.FS, "f")
		if errors.Is(err, kvfs.ErrStale) {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("a deleted snapshot answers %v, want ESTALE", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, ok := reg.ByFSID(snapRoot.FSID); ok {
		t.Fatal("ByFSID finds a deleted snapshot")
	}

	// Turned off by a reload: the directory and its handles are gone.
	ec.SnapshotDir = ""
	if err := reg.Reload(ctx, testConfig(ec)); err != nil {
		t.Fatal(err)
	}
	exp, _ = reg.ByPath("/a")
	if _, err := exp.FS.Lookup(ctx, root, kvfs.RootIno, ".snapshots"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("lookup .snapshots with snapshot_dir off: %v", err)
	}
	if _, ok := reg.ByFSID(out.FSID); ok {
		t.Fatal("a snapshot is reachable with snapshot_dir off")
	}
}

// TestSnapshotHandlesSurviveRestart: a snapshot's FSID, and so the handles
// into it, are the same after the registry is closed and opened again.
func TestSnapshotHandlesSurviveRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ec := fileExport("a", filepath.Join(dir, "a"))
	ec.SnapshotDir = ".snapshots"
	reg, err := exports.Open(ctx, testConfig(ec), exports.Options{Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, fsOf(t, reg, "a"), "f", "in the snapshot")
	db, _ := reg.DB("a")
	if _, err := db.Checkpoint(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	exp, _ := reg.ByPath("/a")
	root1, err := exp.FS.Lookup(ctx, root, snapdir.DirIno, "s")
	if err != nil {
		t.Fatal(err)
	}
	sexp, _ := reg.ByFSID(root1.FSID)
	f1, err := sexp.FS.Lookup(ctx, root, kvfs.RootIno, "f")
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Close(ctx); err != nil {
		t.Fatal(err)
	}

	reg = open(t, testConfig(ec))
	// A client comes back with its handle (FSID, inode, generation) and
	// nothing else: no lookup of the snapshot directory first.
	sexp, ok := reg.ByFSID(root1.FSID)
	if !ok {
		t.Fatalf("after a restart ByFSID(%016x) finds no snapshot", root1.FSID)
	}
	a, err := sexp.FS.GetAttr(ctx, f1.Ino)
	if err != nil || a.Gen != f1.Gen {
		t.Fatalf("the file's handle after a restart: %+v, %v (gen %d before)", a, err, f1.Gen)
	}
	r, err := sexp.FS.GetAttr(ctx, kvfs.RootIno)
	if err != nil || r.Gen != root1.Gen {
		t.Fatalf("the snapshot root's handle after a restart: gen %d, %v; want %d", r.Gen, err, root1.Gen)
	}
}

// TestSnapshotHandleListsNoOtherStore: resolving the handle of one
// export's snapshot does not list the snapshots of the exports before it
// in the config. Before, each of them that did not know the FSID listed
// its store again (at most every MinRefresh): a LIST and a GET inside
// another export's calls, and up to 10 s each while that store was down.
func TestSnapshotHandleListsNoOtherStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, b := fileExport("a", filepath.Join(dir, "a")), fileExport("b", filepath.Join(dir, "b"))
	a.SnapshotDir, b.SnapshotDir = ".snapshots", ".snapshots"
	var aLists atomic.Int64
	reg, err := exports.Open(ctx, testConfig(a, b), exports.Options{Logger: logger(t),
		OpenStore: func(ctx context.Context, e config.Export) (objstore.Store, error) {
			s, err := exports.OpenStore(ctx, e, nil)
			if err != nil || e.Name != "a" {
				return s, err
			}
			return objstore.NewCountingObserved(s, func(op objstore.Op, _ time.Duration, _ error) {
				if op == objstore.OpList {
					aLists.Add(1)
				}
			}), nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(ctx) })
	db, _ := reg.DB("b")
	if _, err := db.Checkpoint(ctx, "snap"); err != nil {
		t.Fatal(err)
	}
	exp, _ := reg.ByPath("/b")
	sd, err := exp.FS.Lookup(ctx, root, kvfs.RootIno, ".snapshots")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := exp.FS.Lookup(ctx, root, sd.Ino, "snap")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.ByFSID(snap.FSID); !ok {
		t.Fatal("ByFSID does not find b's snapshot")
	}
	before := aLists.Load()
	for range 3 {
		time.Sleep(300 * time.Millisecond) // past snapdir's MinRefresh
		if _, ok := reg.ByFSID(snap.FSID); !ok {
			t.Fatal("ByFSID does not find b's snapshot")
		}
	}
	if n := aLists.Load() - before; n != 0 {
		t.Errorf("resolving b's snapshot handle listed a's store %d times", n)
	}
}
