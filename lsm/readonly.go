package lsm

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/zerofs-go/zerofsd/lsm/manifest"
	"github.com/zerofs-go/zerofsd/objstore"
)

// OpenReadOnly opens the database in store for reading only, without
// fencing the writer. With ro.Checkpoint it sees exactly the checkpoint's
// state for as long as it is open (the writer may go on writing and
// compacting: the checkpoint pins its SSTs). Without, it sees the latest
// manifest plus the WAL as of Open; Refresh moves it forward.
//
// A reader that follows the latest state holds SSTs no checkpoint pins: if
// the writer collects one of them, Get refreshes and reads again, but an
// open iterator fails with objstore.ErrNotFound (open a new one). An
// object the latest manifest names but the store lost makes Get fail with
// objstore.ErrNotFound after one refresh.
func OpenReadOnly(ctx context.Context, store objstore.Store, ro ReadOnlyOptions) (*DB, error) {
	opts := Options{Logger: ro.Logger, BlockCacheBytes: ro.BlockCacheBytes, ValueCacheBytes: ro.ValueCacheBytes, WrapStore: ro.WrapStore}.withDefaults()
	db := newDB(store, opts, ro.DiskCache, ro.CacheNamespace, opts.BlockCacheBytes)
	db.readOnly = true
	db.roCheckpoint = ro.Checkpoint
	db.roCheckpointID = ro.CheckpointManifestID
	if err := db.Refresh(ctx); err != nil {
		return nil, err
	}
	return db, nil
}

// Refresh reloads a read-only database's state (a no-op at a checkpoint,
// whose state never changes, and for a Replica's database, which follows
// the writer by itself).
func (db *DB) Refresh(ctx context.Context) error {
	if !db.readOnly {
		return nil
	}
	if db.closed.Load() {
		return ErrClosed
	}
	if (db.roCheckpoint != "" || db.replica) && db.v.Load() != nil {
		return nil // a checkpoint never changes; a Replica refreshes itself
	}
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		m, mem, seq, err := db.loadReadOnlyState(ctx)
		if err == nil {
			db.mu.Lock()
			defer db.mu.Unlock()
			if err := db.sameDatabaseLocked(m); err != nil {
				return err
			}
			db.installReadOnlyLocked(m, mem, seq)
			return nil
		}
		if !errors.Is(err, objstore.ErrNotFound) || errors.Is(err, ErrCheckpointNotFound) || errors.Is(err, ErrNoDatabase) {
			return err
		}
		lastErr = err // raced with the writer's GC; load again
	}
	return lastErr
}

// errStoreWentBack: the store's latest state is not a later state of the
// database served: older than it, or of another database (another DBID).
// Only a store wiped and made again, or put back from an older copy, does
// that; the reader keeps serving what it has.
var errStoreWentBack = errors.New("lsm: the store went back from the state served (wiped and made again, or put back from an older copy); open the database again to follow it")

// sameDatabaseLocked returns errStoreWentBack if m is a manifest of another
// database than the state installed. A database made before DBIDs has
// none until its next writer opens it: that one is taken as the same.
// Callers hold mu.
func (db *DB) sameDatabaseLocked(m *manifest.Manifest) error {
	if db.roDBID == ([16]byte{}) || m.DBID == db.roDBID {
		return nil
	}
	return fmt.Errorf("%w (manifest %d is of database %x, not %x)", errStoreWentBack, m.ID, m.DBID, db.roDBID)
}

// installReadOnlyLocked publishes a read-only database's new state: the
// SSTs of m and mem, read at seq. The version carries seq, so that no
// reader pairs it with the sequence number of another state (readState).
// A state older than the one installed (a Refresh that loaded it before a
// concurrent one loaded and installed a newer one) is not installed:
// reads never go back in time. It reports whether it installed the state.
// Callers hold mu and checked m with sameDatabaseLocked.
func (db *DB) installReadOnlyLocked(m *manifest.Manifest, mem *memTable, seq uint64) bool {
	if cur := db.v.Load(); cur != nil && (cur.manifestID > m.ID || cur.manifestID == m.ID && cur.seq > seq) {
		return false
	}
	v := db.versionFromManifestLocked(m, mem, nil)
	v.seq = seq
	db.v.Store(v)
	db.roDBID = m.DBID
	db.visibleSeq.Store(seq) // for Stats
	db.forgetTablesLocked()
	return true
}

func (db *DB) loadReadOnlyState(ctx context.Context) (*manifest.Manifest, *memTable, uint64, error) {
	latest, err := loadLatestManifest(ctx, db.store)
	if err != nil {
		return nil, nil, 0, err
	}
	if latest == nil {
		return nil, nil, 0, fmt.Errorf("%w: %w", ErrNoDatabase, objstore.ErrNotFound)
	}
	mem := &memTable{Memtable: newMemtable()}
	if db.roCheckpoint != "" {
		c, ok := latest.FindCheckpoint(db.roCheckpoint)
		if !ok {
			return nil, nil, 0, fmt.Errorf("%w: %q", ErrCheckpointNotFound, db.roCheckpoint)
		}
		if db.roCheckpointID != 0 && c.ManifestID != db.roCheckpointID {
			return nil, nil, 0, fmt.Errorf("%w: %q pins manifest %d, not %d (made again)", ErrCheckpointNotFound, db.roCheckpoint, c.ManifestID, db.roCheckpointID)
		}
		m, err := readManifest(ctx, db.store, c.ManifestID)
		if err != nil {
			return nil, nil, 0, err
		}
		return m, mem, m.LastSeq, nil
	}
	objs, err := listAll(ctx, db.store, walPrefix)
	if err != nil {
		return nil, nil, 0, err
	}
	var ids []uint64
	for _, o := range objs {
		if id, ok := parseID(o.Key, walPrefix, walSuffix); ok && id > latest.WALIDFlushed {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	seq := latest.LastSeq
	for i, id := range ids {
		if id != latest.WALIDFlushed+1+uint64(i) {
			break // a gap: a WAL object being written; stop at the prefix
		}
		data, err := db.store.Get(ctx, walKey(id))
		if err != nil {
			return nil, nil, 0, fmt.Errorf("lsm: reading %s: %w", walKey(id), err)
		}
		last, err := db.replayWAL(walKey(id), id, data, mem, 0)
		if err != nil {
			return nil, nil, 0, err
		}
		seq = max(seq, last)
	}
	return latest, mem, seq, nil
}
