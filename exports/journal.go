package exports

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/lsm"
)

// JournalDir is the local journal directory of export ec's store:
// <cache.journal_dir>/<16 hex digits of SHA-256 of the store's identity>.
// It follows the store, not the export's name, so that a journal tail left
// by a crash is found again after the export is renamed or moved to another
// mount path, and two stores open at once (a reload that points an export at
// another store) never share one.
func JournalDir(cfg *config.Config, ec config.Export) (string, error) {
	id, err := identify(ec)
	if err != nil {
		return "", err
	}
	return journalDirOf(cfg, id), nil
}

func journalDirOf(cfg *config.Config, id storeID) string {
	sum := sha256.Sum256([]byte(id))
	return filepath.Join(cfg.Cache.JournalDir, hex.EncodeToString(sum[:8]))
}

// durability maps an export's durability to the database's.
func durability(d config.Durability) lsm.Durability {
	if d == config.DurabilityLocal {
		return lsm.DurabilityLocal
	}
	return lsm.DurabilityBucket
}
