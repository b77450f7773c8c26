package exports_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/exports"
)

// TestEncryptedSnapshotsRestoreReplica: on an encrypted export the
// snapshot directory reads checkpoints, a replica follows the writer (its
// lease sealed like every object), and a restore rolls the writer back:
// all through the export's keys.
func TestEncryptedSnapshotsRestoreReplica(t *testing.T) {
	ctx := context.Background()
	e := newCryptEnv(t)
	keyFile := e.keyFile("team.key", 7)
	storeDir := filepath.Join(e.dir, "store")
	wc := fileExport("a", storeDir)
	wc.Encryption = config.Encryption{Enabled: true, KeyFile: keyFile}
	wc.SnapshotDir = ".snapshots"
	w, err := exports.Open(ctx, testConfig(wc), exports.Options{Logger: logger(t), FenceCheckInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(ctx) })
	live := fsOf(t, w, "a")
	writeFile(t, live, "f", "old")
	db, _ := w.DB("a")
	if _, err := db.Checkpoint(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, live, "g", "after c1")
	if err := live.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// The snapshot directory.
	exp, _ := w.ByPath("/a")
	snap, err := exp.FS.Lookup(ctx, root, kvfsDirIno(t, exp.FS), "c1")
	if err != nil {
		t.Fatalf("lookup .snapshots/c1: %v", err)
	}
	sexp, ok := w.ByFSID(snap.FSID)
	if !ok {
		t.Fatal("no snapshot export")
	}
	if got, err := readIn(sexp.FS, "f"); err != nil || got != "old" {
		t.Fatalf("snapshot f = %q, %v", got, err)
	}

	// A replica.
	rc := wc
	rc.SnapshotDir = ""
	rc.Replica, rc.ReplicaPoll = true, 10*time.Millisecond
	r := open(t, testConfig(rc))
	rexp, _ := r.ByPath("/a")
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := readIn(rexp.FS, "g")
		if err == nil && got == "after c1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the encrypted replica does not follow: %q, %v", got, err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A restore, and the writer serving the restored tree.
	if _, err := exports.Restore(ctx, wc, "c1", "undo", logger(t)); err != nil {
		t.Fatal(err)
	}
	waitTree(t, w, "a", live, map[string]string{"f": "old"}, "g")
}
