package exports_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/crypt"
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

// TestRestoreAfterKeyRotation: a restore of an encrypted export whose key
// was rotated while the daemon ran (the rotated key needs no reload) is
// served again with the keys the daemon holds. Before, the fence watch
// unlocked the keyring again with the key the daemon started with, which
// the rotation had replaced: the export stayed closed until a restart.
func TestRestoreAfterKeyRotation(t *testing.T) {
	ctx := context.Background()
	e := newCryptEnv(t)
	oldKey, newKey := e.keyFile("old.key", 7), e.keyFile("new.key", 9)
	ec := fileExport("a", filepath.Join(e.dir, "store"))
	ec.Encryption = config.Encryption{Enabled: true, KeyFile: oldKey}
	reg, err := exports.Open(ctx, testConfig(ec), exports.Options{Logger: logger(t), FenceCheckInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(ctx) })
	live := fsOf(t, reg, "a")
	writeFile(t, live, "f", "old")
	db, _ := reg.DB("a")
	if _, err := db.Checkpoint(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	writeFile(t, live, "g", "made after c1")
	if err := live.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// zerofsd key rotate, then the config's key_file names the new key.
	store, err := exports.OpenStore(ctx, ec, nil)
	if err != nil {
		t.Fatal(err)
	}
	oldCred, err := crypt.ReadKeyFile(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	newCred, err := crypt.ReadKeyFile(newKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crypt.Rotate(ctx, store, oldCred, newCred, crypt.KeyringOptions{}); err != nil {
		t.Fatal(err)
	}
	rotated := ec
	rotated.Encryption.KeyFile = newKey
	if _, err := exports.Restore(ctx, rotated, "c1", "undo", logger(t)); err != nil {
		t.Fatal(err)
	}
	waitTree(t, reg, "a", live, map[string]string{"f": "old"}, "g")
}
