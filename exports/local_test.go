package exports_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/config"
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
