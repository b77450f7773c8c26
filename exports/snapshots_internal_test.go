package exports

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/kvfs"
)

// TestSnapshotExportsOfDeletedSnapshotsGo: the cache of what the NFS
// server sees of each snapshot keeps only snapshots still listed. Before,
// every snapshot ever reached by a handle stayed in it until a reload, so
// a daemon with scheduled snapshots and retention grew without bound.
func TestSnapshotExportsOfDeletedSnapshotsGo(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "zerofs.toml")
	text := fmt.Sprintf("[cache]\ndir = %q\nsize_gb = 0.01\n[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"file://%s\"\nsnapshot_dir = \".snapshots\"\n",
		filepath.Join(dir, "cache"), filepath.Join(dir, "store"))
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	reg, err := Open(ctx, cfg, Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(ctx) })
	db, _ := reg.DB("a")
	exp, _ := reg.ByPath("/a")
	// resolve reaches snapshot name by its handle, as the NFS server does.
	resolve := func(name string) {
		t.Helper()
		sd, err := exp.FS.Lookup(ctx, kvfs.Cred{}, kvfs.RootIno, ".snapshots")
		if err != nil {
			t.Fatal(err)
		}
		root, err := exp.FS.Lookup(ctx, kvfs.Cred{}, sd.Ino, name)
		if err != nil {
			t.Fatalf("lookup .snapshots/%s: %v", name, err)
		}
		if _, ok := reg.ByFSID(root.FSID); !ok {
			t.Fatalf("no export for snapshot %s", name)
		}
	}
	count := func() int {
		n := 0
		reg.set.Load().byName["a"].snapExports.Range(func(any, any) bool { n++; return true })
		return n
	}
	for i := range 3 {
		name := fmt.Sprintf("s%d", i)
		if _, err := db.Checkpoint(ctx, name); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // past the snapshot listing's MinRefresh
		resolve(name)
	}
	if n := count(); n != 3 {
		t.Fatalf("%d snapshot exports cached after 3 snapshots were reached; want 3", n)
	}
	for i := range 3 {
		if err := db.DeleteCheckpoint(ctx, fmt.Sprintf("s%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Checkpoint(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	resolve("new")
	if n := count(); n != 1 {
		t.Errorf("%d snapshot exports cached with one snapshot left; want 1", n)
	}
}
