package exports_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/exports"
)

// TestNewLocalExportInStoreBeforeServing: a new export with durability =
// "local" has its filesystem in the store once it serves, so a read-only
// open (fsck, a replica, a restore) finds an empty filesystem, not "no
// filesystem in this store", even if the daemon dies before its journal
// ships anything.
func TestNewLocalExportInStoreBeforeServing(t *testing.T) {
	dir := t.TempDir()
	ec := fileExport("team", filepath.Join(dir, "store"))
	ec.Durability = config.DurabilityLocal
	ec.Sync = config.SyncStrict
	cfg := testConfig(ec)
	cfg.Cache.JournalDir = filepath.Join(dir, "journal")
	cfg.LSM.ShipInterval = time.Minute
	open(t, cfg)
	wantDurable(t, ec, files())
}

// TestOnlyTheWriterRemovesStaleTempFiles: a temp file a crash left in a
// file store (two hours old: abandoned) stays when the store is opened
// read-only (fsck, du, replicas write nothing to the store), and the
// store's writer removes it once it opens.
func TestOnlyTheWriterRemovesStaleTempFiles(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "store")
	ec := fileExport("team", dir)
	cfg := testConfig(ec)
	reg, err := exports.Open(ctx, cfg, exports.Options{Logger: logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, fsOf(t, reg, "team"), "a", "data")
	if err := reg.Close(ctx); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(dir, "wal", ".objstore-tmp-00000000000000aa")
	if err := os.WriteFile(stale, []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	ro, err := exports.OpenReadOnly(ctx, ec, "", logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := ro.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err != nil {
		t.Fatalf("after a read-only open: %v; want the temp file left alone", err)
	}
	open(t, cfg)
	// The writer removes it in the background: wait (30s bounds a hang).
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		_, err := os.Stat(stale)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("30s after the writer opened: %v; want the stale temp file removed", err)
		}
	}
}
