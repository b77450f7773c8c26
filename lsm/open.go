package lsm

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/zerofs-go/zerofsd/lsm/journal"
	"github.com/zerofs-go/zerofsd/lsm/manifest"
	"github.com/zerofs-go/zerofsd/lsm/memtable"
	"github.com/zerofs-go/zerofsd/lsm/wal"
	"github.com/zerofs-go/zerofsd/objstore"
)

// Open opens (creating if needed) the database in store as its writer. It
// first recovers a local journal left in Options.JournalDir (shipping its
// tail to the store as WAL objects, or setting it aside when another writer
// took over), then fences any earlier writer: bumps the writer epoch in a
// new manifest, replays the WAL objects the manifest does not cover into
// the memtable, and puts an empty WAL object at the next id so the earlier
// writer's next WAL PUT fails.
func Open(ctx context.Context, store objstore.Store, opts Options) (*DB, error) {
	opts = opts.withDefaults()
	if opts.Durability == DurabilityLocal && opts.JournalDir == "" {
		return nil, errors.New("lsm: local durability needs a journal directory (Options.JournalDir)")
	}
	db := newDB(store, opts, opts.DiskCache, opts.CacheNamespace, opts.BlockCacheBytes)
	if err := db.openJournalDir(); err != nil {
		return nil, err
	}
	opened := false
	defer func() {
		if !opened {
			db.closeJournal(false)
		}
	}()
	found, err := db.recoverJournal(ctx)
	if err != nil {
		return nil, err
	}
	bumped := db.now()
	man, journalNum, err := db.bumpEpoch(ctx, found)
	if err != nil {
		return nil, err
	}
	db.man = man
	db.epoch = man.WriterEpoch
	mem := &memTable{Memtable: newMemtable()}
	lastSeq, fenceID, err := db.recoverWAL(ctx, man, mem)
	if err != nil {
		return nil, err
	}
	db.lastSeq = max(lastSeq, man.LastSeq)
	db.visibleSeq.Store(db.lastSeq)
	db.gcSeq = db.lastSeq
	if err := db.startJournal(man, journalNum); err != nil {
		return nil, err
	}
	opened = true
	db.markUnfenced(bumped) // our manifest was the latest then
	fenceSeg := &walSegment{id: fenceID, done: make(chan struct{})}
	close(fenceSeg.done)
	db.lastSeal = fenceSeg
	db.nextWALID = fenceID + 1
	db.seg = newSegment(0)
	db.mu.Lock()
	db.v.Store(db.versionFromManifestLocked(man, mem, nil))
	db.mu.Unlock()
	db.log.Info("lsm: opened", "manifest", man.ID, "epoch", db.epoch, "wal_fence", fenceID,
		"replayed_entries", mem.Len(), "l0", len(man.L0), "runs", len(man.Runs), "durability", opts.Durability.String())
	db.wg.Add(3)
	go db.walLoop()
	go db.flushLoop()
	go db.compactLoop()
	if opts.GCInterval > 0 {
		db.wg.Add(1)
		go db.gcLoop()
	}
	if mem.Size() >= int64(opts.MemtableBytes) {
		db.commitMu.Lock()
		db.freezeLocked()
		db.commitMu.Unlock()
	}
	return db, nil
}

// bumpEpoch writes a manifest with the writer epoch incremented (creating
// the first manifest of a new database, and giving a database its id).
// With local durability it first begins the new epoch's journal file (so
// the manifest never names a journal that does not exist) and returns its
// number. found is the journal recovery found for the current epoch: if the
// current writer journaled locally, did not close cleanly and its journal
// is not that one, what it acknowledged may be lost, and that is logged.
func (db *DB) bumpEpoch(ctx context.Context, found journalFound) (*manifest.Manifest, uint64, error) {
	for {
		cur, err := loadLatestManifest(ctx, db.store)
		if err != nil {
			return nil, 0, err
		}
		if cur == nil {
			cur = &manifest.Manifest{}
		}
		next := cur.Clone()
		next.ID = cur.ID + 1
		next.WriterEpoch = cur.WriterEpoch + 1
		next.CreatedUnixNano = db.now().UnixNano()
		if next.DBID == ([16]byte{}) {
			next.DBID = newDBID()
		}
		next.JournalOwner = ""
		var journalNum uint64
		if db.opts.Durability == DurabilityLocal {
			next.JournalOwner = journalOwner(db.jdir.Path())
			if journalNum, err = db.jdir.Begin(journal.Header{DBID: next.DBID, Epoch: next.WriterEpoch}); err != nil {
				return nil, 0, fmt.Errorf("lsm: starting the journal: %w", err)
			}
		}
		err = db.store.PutIfAbsent(ctx, manifestKey(next.ID), manifest.Encode(next))
		if err == nil {
			db.checkPreviousJournal(cur, found)
			return next, journalNum, nil
		}
		if !errors.Is(err, objstore.ErrPreconditionFailed) {
			return nil, 0, fmt.Errorf("lsm: writing %s: %w", manifestKey(next.ID), err)
		}
		// Someone else moved the manifest: reload and try again.
	}
}

// walIDsAbove lists the WAL objects with ids above flushed, in order, and
// checks that none is missing.
func walIDsAbove(ctx context.Context, store objstore.Store, flushed uint64) ([]uint64, error) {
	objs, err := listAll(ctx, store, walPrefix)
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, o := range objs {
		if id, ok := parseID(o.Key, walPrefix, walSuffix); ok && id > flushed {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	next := flushed + 1
	for _, id := range ids {
		if id != next {
			return nil, corrupt(walKey(next), fmt.Errorf("WAL object missing (found %s after it)", walKey(id)))
		}
		next++
	}
	return ids, nil
}

// recoverWAL replays WAL objects newer than the manifest into mem, then
// fences: it puts an empty WAL object at the next id, replaying any object
// an older writer managed to write meanwhile. It returns the highest
// replayed sequence number and the fence object's id.
func (db *DB) recoverWAL(ctx context.Context, man *manifest.Manifest, mem *memTable) (lastSeq, fenceID uint64, err error) {
	ids, err := walIDsAbove(ctx, db.store, man.WALIDFlushed)
	if err != nil {
		return 0, 0, err
	}
	next := man.WALIDFlushed + 1 + uint64(len(ids))
	err = db.fetchWAL(ctx, ids, func(id uint64, data []byte) error {
		lastSeq, err = db.replayWAL(walKey(id), id, data, mem, lastSeq)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	fence := wal.AppendHeader(nil, wal.Header{WriterEpoch: db.epoch, WALID: 0})
	for {
		fence = wal.AppendHeader(fence[:0], wal.Header{WriterEpoch: db.epoch, WALID: next})
		err := db.putWALObject(ctx, walKey(next), fence)
		if err == nil {
			return lastSeq, next, nil
		}
		if !errors.Is(err, objstore.ErrPreconditionFailed) {
			return 0, 0, fmt.Errorf("lsm: writing WAL fence %s: %w", walKey(next), err)
		}
		// An older writer wrote this id after we listed: replay it too.
		data, err := db.store.Get(ctx, walKey(next))
		if err != nil {
			return 0, 0, fmt.Errorf("lsm: reading %s: %w", walKey(next), err)
		}
		h, _, derr := wal.Decode(data)
		if derr == nil && h.WriterEpoch > db.epoch {
			return 0, 0, fmt.Errorf("%w: %s written by epoch %d during open", ErrFenced, walKey(next), h.WriterEpoch)
		}
		if lastSeq, err = db.replayWAL(walKey(next), next, data, mem, lastSeq); err != nil {
			return 0, 0, err
		}
		next++
	}
}

// walFetchAhead is how many WAL objects recovery reads ahead of the one it
// replays: on an object store each GET is a round trip, and a crashed
// writer can leave hundreds of WAL objects behind.
const walFetchAhead = 16

// fetchWAL reads the WAL objects ids with up to walFetchAhead GETs in flight
// and calls apply for each in id order. It stops at the first error.
func (db *DB) fetchWAL(ctx context.Context, ids []uint64, apply func(id uint64, data []byte) error) error {
	type fetched struct {
		data []byte
		err  error
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]chan fetched, len(ids))
	for i := range results {
		results[i] = make(chan fetched, 1)
	}
	slots := make(chan struct{}, walFetchAhead)
	go func() {
		for i, id := range ids {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				data, err := db.store.Get(ctx, walKey(id))
				results[i] <- fetched{data, err}
			}()
		}
	}()
	for i, id := range ids {
		var f fetched
		select {
		case f = <-results[i]:
		case <-ctx.Done():
			return fmt.Errorf("lsm: reading %s: %w", walKey(id), ctx.Err())
		}
		<-slots
		if f.err != nil {
			return fmt.Errorf("lsm: reading %s: %w", walKey(id), f.err)
		}
		if err := apply(id, f.data); err != nil {
			return err
		}
	}
	return nil
}

// replayWAL applies one WAL object to mem, compressed values decoded (the
// memtable also learns where and in what form they are stored). A corrupt
// object (a compressed value that does not decode included) stops recovery
// with ErrCorrupt: since objects are written atomically, damage is not a torn
// tail of a crash, and skipping it could drop acknowledged writes.
func (db *DB) replayWAL(key string, id uint64, data []byte, mem *memTable, lastSeq uint64) (uint64, error) {
	h, recs, err := wal.Decode(data)
	if err != nil {
		return 0, corrupt(key, err)
	}
	if h.WALID != id {
		return 0, corrupt(key, fmt.Errorf("header names WAL id %d", h.WALID))
	}
	for _, r := range recs {
		seq := r.FirstSeq
		if err := r.ForEachAt(func(kind wal.Kind, k, v []byte, off int) error {
			kind, v, storedLen, storedCRC, err := db.decodeWALValue(kind, v)
			if err != nil {
				return fmt.Errorf("entry %d (sequence number %d): %w", seq-r.FirstSeq, seq, err)
			}
			mem.AddAt(seq, kind, k, v, memtable.Loc{WALID: id, Off: uint64(r.EntriesOff + off), StoredLen: storedLen, StoredCRC: storedCRC})
			seq++
			return nil
		}); err != nil {
			return 0, corrupt(key, err)
		}
		lastSeq = max(lastSeq, seq-1)
	}
	return lastSeq, nil
}
