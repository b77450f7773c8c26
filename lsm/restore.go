package lsm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/zerofs-go/zerofsd/lsm/manifest"
	"github.com/zerofs-go/zerofsd/objstore"
)

// Restore markers: restore/%020d.restore, named after the writer epoch of
// the restore, holding a RestoreMarker as JSON. Written last, once the
// restore is complete; never deleted by GC.
const (
	restorePrefix = "restore/"
	restoreSuffix = ".restore"
)

func restoreKey(epoch uint64) string {
	return fmt.Sprintf("%s%020d%s", restorePrefix, epoch, restoreSuffix)
}

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// Checkpoint is the checkpoint to go back to. Required.
	Checkpoint string
	// Undo names the checkpoint that keeps the state the restore replaces
	// (restoring it undoes the restore). Required; must not exist.
	Undo string
	// Logger receives the restore's logs. Default slog.Default().
	Logger *slog.Logger
}

// RestoreMarker records one completed restore.
type RestoreMarker struct {
	// Epoch is the writer epoch the restore wrote with: it fenced every
	// writer of a lower epoch.
	Epoch      uint64    `json:"epoch"`
	Checkpoint string    `json:"checkpoint"`
	Undo       string    `json:"undo"`
	ManifestID uint64    `json:"manifest"`
	Time       time.Time `json:"time"`
}

// Restore rolls the database in store back to a checkpoint, from outside
// any running writer:
//
//  1. it opens the database as its writer (a new writer epoch), which
//     fences a running writer exactly as Open does and replays the WAL that
//     writer left;
//  2. it checkpoints the current state, everything durable in the store
//     (SSTs and WAL) as of the fence, as ro.Undo;
//  3. it writes a manifest whose tables are the checkpoint's and whose
//     flushed WAL id covers every WAL object so far (so no write of the
//     replaced state is replayed on top of the restored one), keeping the
//     last sequence number, the checkpoints and the database id;
//  4. it closes, and writes a restore marker (FencedByRestore) so that the
//     fenced writer knows it was fenced by a restore, not by another
//     writer, and may open the database again.
//
// A local journal left by the fenced writer is never applied on top of
// the restore: its epoch is not the store's any more, so Open sets it
// aside (see the package comment). What that writer acknowledged only in
// its journal, and what it had not yet made durable, is in neither state.
func Restore(ctx context.Context, store objstore.Store, ro RestoreOptions) (RestoreMarker, error) {
	if ro.Checkpoint == "" || ro.Undo == "" {
		return RestoreMarker{}, errors.New("lsm: restore needs a checkpoint and an undo checkpoint name")
	}
	if ro.Undo == ro.Checkpoint {
		return RestoreMarker{}, fmt.Errorf("lsm: the undo checkpoint must not be the restored one (%q)", ro.Undo)
	}
	log := ro.Logger
	if log == nil {
		log = slog.Default()
	}
	// Check before fencing anyone.
	latest, err := loadLatestManifest(ctx, store)
	if err != nil {
		return RestoreMarker{}, err
	}
	if latest == nil {
		return RestoreMarker{}, fmt.Errorf("%w: %w", ErrNoDatabase, objstore.ErrNotFound)
	}
	if _, ok := latest.FindCheckpoint(ro.Checkpoint); !ok {
		return RestoreMarker{}, fmt.Errorf("%w: %q", ErrCheckpointNotFound, ro.Checkpoint)
	}
	if _, ok := latest.FindCheckpoint(ro.Undo); ok {
		return RestoreMarker{}, fmt.Errorf("%w: %q", ErrCheckpointExists, ro.Undo)
	}

	db, err := Open(ctx, store, Options{
		Logger:              log,
		GCInterval:          -1,            // collects nothing
		L0CompactionTrigger: math.MaxInt32, // compacts nothing
		BlockCacheBytes:     -1,
	})
	if err != nil {
		return RestoreMarker{}, fmt.Errorf("lsm: restore: opening as writer: %w", err)
	}
	marker, err := db.restore(ctx, ro)
	if cerr := db.Close(ctx); err == nil && cerr != nil {
		err = fmt.Errorf("lsm: restore: closing: %w", cerr)
	}
	if err != nil {
		return RestoreMarker{}, err
	}
	data, err := json.Marshal(marker)
	if err != nil {
		return RestoreMarker{}, err
	}
	if err := store.PutIfAbsent(ctx, restoreKey(marker.Epoch), data); err != nil {
		return RestoreMarker{}, fmt.Errorf("lsm: restore done, but writing its marker %s failed (a fenced writer will not reopen by itself): %w", restoreKey(marker.Epoch), err)
	}
	log.Info("lsm: restored", "checkpoint", ro.Checkpoint, "undo", ro.Undo, "epoch", marker.Epoch, "manifest", marker.ManifestID)
	return marker, nil
}

// restore does steps 2 and 3 of Restore on a writer nobody else writes to.
func (db *DB) restore(ctx context.Context, ro RestoreOptions) (RestoreMarker, error) {
	if _, err := db.Checkpoint(ctx, ro.Undo); err != nil {
		return RestoreMarker{}, fmt.Errorf("lsm: restore: checkpointing the current state as %q: %w", ro.Undo, err)
	}
	db.commitMu.Lock()
	fenceID := db.nextWALID - 1 // no write since Open: the fence is the last WAL object
	db.commitMu.Unlock()
	man, err := db.updateManifest(ctx, func(next *manifest.Manifest) error {
		c, ok := next.FindCheckpoint(ro.Checkpoint)
		if !ok {
			return fmt.Errorf("%w: %q (deleted during the restore)", ErrCheckpointNotFound, ro.Checkpoint)
		}
		cm, err := readManifest(ctx, db.store, c.ManifestID)
		if err != nil {
			return fmt.Errorf("lsm: restore: reading checkpoint %q: %w", ro.Checkpoint, err)
		}
		next.L0 = slices.Clone(cm.L0)
		next.Runs = slices.Clone(cm.Runs)
		next.WALIDFlushed = max(next.WALIDFlushed, fenceID)
		return nil
	}, func(m *manifest.Manifest) {
		db.installVersion(m, nil)
	})
	if err != nil {
		return RestoreMarker{}, err
	}
	return RestoreMarker{Epoch: db.epoch, Checkpoint: ro.Checkpoint, Undo: ro.Undo, ManifestID: man.ID, Time: db.now().UTC()}, nil
}

// FencedByRestore returns the restore marker that fenced a writer of
// epoch, if a restore did: the restore opened the database as the very
// next writer, so its marker is at epoch+1. A marker further above means
// another writer fenced this one first (the restore then fenced that one),
// and the fenced writer must not come back: two servers would take the
// store from each other in turn.
func FencedByRestore(ctx context.Context, store objstore.Store, epoch uint64) (RestoreMarker, bool, error) {
	data, err := store.Get(ctx, restoreKey(epoch+1))
	if errors.Is(err, objstore.ErrNotFound) {
		return RestoreMarker{}, false, nil
	}
	if err != nil {
		return RestoreMarker{}, false, fmt.Errorf("lsm: reading %s: %w", restoreKey(epoch+1), err)
	}
	var m RestoreMarker
	if err := json.Unmarshal(data, &m); err != nil {
		return RestoreMarker{}, false, fmt.Errorf("lsm: %s: %w: %w", restoreKey(epoch+1), ErrCorrupt, err)
	}
	return m, true, nil
}

// CheckFence looks for a manifest written after the writer's own (one HEAD
// request; a listing only when one exists) and, when it carries another
// writer epoch (a restore, another writer), fences the database now
// rather than at its next write, so that an idle writer stops serving a
// state the store no longer holds. It returns ErrFenced when the database
// is fenced, nil otherwise (and for a read-only database).
func (db *DB) CheckFence(ctx context.Context) error {
	if db.fenced.Load() {
		return ErrFenced
	}
	if db.readOnly {
		return nil
	}
	start := db.now() // before the check: a pause after it must not count as confirmed
	if !db.unfencedRecently() {
		// A newer writer's first manifest may have been collected, so
		// that the next id is free although it exists: list them all
		// (unfenced.go).
		reason, err := db.newerWriter(ctx)
		if err != nil {
			return err
		}
		if reason != "" {
			db.fence(reason)
			return ErrFenced
		}
		return nil
	}
	db.manifestMu.Lock()
	next := max(db.man.ID, db.fenceCheckedID) + 1
	db.manifestMu.Unlock()
	if _, err := db.store.Head(ctx, manifestKey(next)); errors.Is(err, objstore.ErrNotFound) {
		db.markUnfenced(start)
		return nil
	} else if err != nil {
		return fmt.Errorf("lsm: checking for a newer manifest: %w", err)
	}
	latest, err := loadLatestManifest(ctx, db.store)
	if err != nil {
		return err
	}
	if latest.WriterEpoch != db.epoch {
		db.fence(fmt.Sprintf("manifest %d has writer epoch %d, ours is %d", latest.ID, latest.WriterEpoch, db.epoch))
		return ErrFenced
	}
	// Written with our epoch (a checkpoint made from outside): look past it.
	db.manifestMu.Lock()
	db.fenceCheckedID = max(db.fenceCheckedID, latest.ID)
	db.manifestMu.Unlock()
	db.markUnfenced(start)
	return nil
}
