package lsm

import (
	"context"
	"fmt"
	"time"
)

// A writer's PutIfAbsent of a WAL object or manifest proves that no newer
// writer took the database over only while the objects a newer writer
// left in its way are still there. A newer writer's fence (an empty WAL
// object at the id the older writer writes next) and its first manifest
// are garbage once it flushed past them, and GC deletes them once they are
// GCMinAge old. A writer cut off from the store, or paused, for longer
// than that could then write into the collected id, and take its own
// success for durability: a WAL object below what the newer writer
// flushed, which nobody ever replays.
//
// So a writer keeps the time it last knew that no newer writer existed
// (unfencedAt: when it opened, wrote a manifest or found no newer one),
// and once that is more than half of GCMinAge ago, a successful WAL or
// manifest PUT is not taken as proof: it lists the manifests first
// (newerWriter), and a newer writer epoch fences it instead of
// acknowledging. Half leaves room for the clocks of the writers and of the
// store to disagree by up to GCMinAge/2.

// markUnfenced records that at t no newer writer had opened the database.
func (db *DB) markUnfenced(t time.Time) {
	n := t.UnixNano()
	for {
		cur := db.unfencedAt.Load()
		if cur >= n || db.unfencedAt.CompareAndSwap(cur, n) {
			return
		}
	}
}

// unfencedRecently reports whether the writer knew, less than half of
// GCMinAge ago, that no newer writer had opened the database: then
// nothing a newer writer put in its way can have been collected yet.
func (db *DB) unfencedRecently() bool {
	return db.now().Sub(time.Unix(0, db.unfencedAt.Load())) < db.opts.GCMinAge/2
}

// newerWriter lists the manifests and returns why the database is fenced
// when the latest carries another writer epoch, or "" (and marks the
// writer unfenced as of the listing) when it does not. It does not fence:
// callers do, outside the locks fence takes.
func (db *DB) newerWriter(ctx context.Context) (string, error) {
	start := db.now()
	latest, err := loadLatestManifest(ctx, db.store)
	if err != nil {
		return "", fmt.Errorf("lsm: looking for a newer writer: %w", err)
	}
	if latest != nil && latest.WriterEpoch != db.epoch {
		return fmt.Sprintf("manifest %d has writer epoch %d, ours is %d", latest.ID, latest.WriterEpoch, db.epoch), nil
	}
	db.markUnfenced(start)
	return "", nil
}
