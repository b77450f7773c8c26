package lsm

import (
	"context"
	"errors"
	"fmt"

	"github.com/zerofs-go/zerofsd/internal/retry"
	"github.com/zerofs-go/zerofsd/objstore"
)

// gcLoop collects every GCInterval. It skips a round when the manifest has
// not changed since a round that left nothing for later (no object spared
// only for being young), so an idle database makes no requests.
func (db *DB) gcLoop() {
	defer db.wg.Done()
	var lastManifest uint64
	settled := false
	for retry.Sleep(db.bgCtx, db.opts.GCInterval) == nil {
		if db.fenced.Load() {
			return
		}
		db.manifestMu.Lock()
		cur := db.man.ID
		db.manifestMu.Unlock()
		if settled && cur == lastManifest {
			continue
		}
		res, err := db.gc(db.bgCtx)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				db.log.Warn("lsm: garbage collection failed", "err", err)
			}
			settled = false
			continue
		}
		lastManifest, settled = cur, res.Young == 0
	}
}

// GCResult counts the objects one collection deleted, and those it spared
// only because they were younger than GCMinAge.
type GCResult struct {
	WALs, Tables, Manifests int
	Young                   int
}

// RunGC deletes objects nothing needs any more:
//   - WAL objects below the current manifest's flushed WAL id (their
//     writes are in SSTs);
//   - SSTs that neither the current manifest, a checkpointed manifest nor
//     an open iterator of this process references, once older than
//     GCMinAge (a younger one may be an upload whose manifest is pending);
//   - manifests older than the current one, except checkpointed ones,
//     once older than GCMinAge.
func (db *DB) RunGC(ctx context.Context) (GCResult, error) {
	return db.gc(ctx)
}

func (db *DB) gc(ctx context.Context) (GCResult, error) {
	var res GCResult
	if err := db.checkWritable(); err != nil {
		return res, err
	}
	db.gcMu.Lock()
	defer db.gcMu.Unlock()
	// List SSTs before deciding what to keep: an SST in the listing was
	// registered as pending before its upload, so by the time the keep set
	// is computed below it is pending or referenced by the current version.
	tables, err := listAll(ctx, db.store, tablePrefix)
	if err != nil {
		return res, err
	}
	db.manifestMu.Lock()
	cur := db.man.Clone()
	db.manifestMu.Unlock()
	cutoff := db.now().Add(-db.opts.GCMinAge)
	// Checkpoints may also be created from outside the writer
	// (CreateCheckpoint): honour those of the latest stored manifest too.
	latest, err := loadLatestManifest(ctx, db.store)
	if err != nil {
		return res, err
	}
	if latest != nil && latest.WriterEpoch != db.epoch {
		db.fence(fmt.Sprintf("manifest %d has writer epoch %d, ours is %d", latest.ID, latest.WriterEpoch, db.epoch))
		return res, ErrFenced
	}
	if latest != nil && latest.ID > cur.ID {
		for _, c := range latest.Checkpoints {
			if _, ok := cur.FindCheckpoint(c.Name); !ok {
				cur.Checkpoints = append(cur.Checkpoints, c)
			}
		}
	}

	keepTables := make(map[string]bool)
	for _, id := range cur.TableIDs() {
		keepTables[id] = true
	}
	keepManifests := map[uint64]bool{cur.ID: true}
	for _, c := range cur.Checkpoints {
		keepManifests[c.ManifestID] = true
		m, err := readManifest(ctx, db.store, c.ManifestID)
		if err != nil {
			return res, fmt.Errorf("lsm: gc: checkpoint %q: %w", c.Name, err)
		}
		for _, id := range m.TableIDs() {
			keepTables[id] = true
		}
	}
	db.mu.Lock()
	db.v.Load().tableIDs(keepTables)
	for v := range db.live {
		v.tableIDs(keepTables)
	}
	for id := range db.pending {
		keepTables[id] = true
	}
	db.mu.Unlock()

	del := func(key string) error {
		if err := db.store.Delete(ctx, key); err != nil && !errors.Is(err, objstore.ErrNotFound) {
			return fmt.Errorf("lsm: gc: deleting %s: %w", key, err)
		}
		db.stats.gcDeleted.Add(1)
		return nil
	}

	wals, err := listAll(ctx, db.store, walPrefix)
	if err != nil {
		return res, err
	}
	for _, o := range wals {
		if id, ok := parseID(o.Key, walPrefix, walSuffix); ok && id < cur.WALIDFlushed {
			if err := del(o.Key); err != nil {
				return res, err
			}
			res.WALs++
		}
	}

	for _, o := range tables {
		id, ok := parseTableKey(o.Key)
		if !ok || keepTables[id] {
			continue
		}
		if !o.ModTime.Before(cutoff) {
			res.Young++
			continue
		}
		if err := del(o.Key); err != nil {
			return res, err
		}
		res.Tables++
	}

	manifests, err := listAll(ctx, db.store, manifestPrefix)
	if err != nil {
		return res, err
	}
	for _, o := range manifests {
		id, ok := parseID(o.Key, manifestPrefix, manifestSuffix)
		if !ok || id >= cur.ID || keepManifests[id] {
			continue
		}
		if !o.ModTime.Before(cutoff) {
			res.Young++
			continue
		}
		if err := del(o.Key); err != nil {
			return res, err
		}
		res.Manifests++
	}
	return res, nil
}
