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

// TestReplicaRefreshBeforePublish: a replica refresh that lands while the
// replica's first state is being opened (before it serves NFS) is not
// lost: publishing then serves the refreshed state. Before, the refresh
// found nothing to rotate, and NFS served the older state until the
// writer changed something again.
func TestReplicaRefreshBeforePublish(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	load := func(name, extra string) *config.Config {
		path := filepath.Join(dir, name+".toml")
		text := fmt.Sprintf("[cache]\ndir = %q\nsize_gb = 0.01\n[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"file://%s\"\n%s",
			filepath.Join(dir, name+"-cache"), filepath.Join(dir, "store"), extra)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	w, err := Open(ctx, load("writer", ""), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(ctx) })
	live, _ := w.FS("a")
	create := func(name string) {
		if _, err := live.Create(ctx, kvfs.Cred{}, kvfs.RootIno, name, kvfs.CreateRequest{}); err != nil {
			t.Fatal(err)
		}
		if err := live.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	create("first")
	r, err := Open(ctx, load("replica", "replica = true\nreplica_poll = \"10ms\"\n"), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(ctx) })
	var d *database
	for _, db := range r.set.Load().byStore {
		d = db
	}
	// As while the first state opens: nothing published yet.
	rfs := d.rfs.Swap(nil)
	create("second")
	deadline := time.Now().Add(20 * time.Second)
	for {
		// d.fs reads the replica's latest state: the refresh has landed.
		if _, err := d.fs.Lookup(ctx, kvfs.Cred{}, kvfs.RootIno, "second"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the replica did not refresh")
		}
		time.Sleep(5 * time.Millisecond)
	}
	d.publishReplicaFS(rfs)
	if _, err := rfs.Lookup(ctx, kvfs.Cred{}, kvfs.RootIno, "second"); err != nil {
		t.Fatalf("the published replica serves the state before its refresh: lookup of second: %v", err)
	}
}
