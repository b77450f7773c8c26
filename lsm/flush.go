package lsm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zerofs-go/zerofsd/internal/retry"
	"github.com/zerofs-go/zerofsd/lsm/manifest"
	"github.com/zerofs-go/zerofsd/lsm/memtable"
	"github.com/zerofs-go/zerofsd/lsm/sstable"
	"github.com/zerofs-go/zerofsd/lsm/vlog"
)

func newMemtable() *memtable.Memtable { return memtable.New() }

// flushLoop writes frozen memtables as L0 SSTs, oldest first, and records
// each in a new manifest.
func (db *DB) flushLoop() {
	defer db.wg.Done()
	bo := newBackoff()
	for {
		select {
		case <-db.stop:
			return
		case <-db.flushKick:
		}
		for {
			v := db.v.Load()
			if len(v.imm) == 0 || db.fenced.Load() {
				break
			}
			err := db.flushOldest(db.bgCtx, v.imm[len(v.imm)-1])
			if err == nil {
				bo.Reset()
				continue
			}
			if errors.Is(err, ErrFenced) || errors.Is(err, ErrClosed) || db.fenced.Load() {
				// Fenced or closing: the memtable is replayed from the WAL
				// by whoever opens the database next; nothing to retry.
				break
			}
			db.log.Warn("lsm: memtable flush failed; retrying", "err", err)
			db.mu.Lock()
			db.flushErrs++
			db.flushLastErr = err
			close(db.flushedCh)
			db.flushedCh = make(chan struct{})
			db.mu.Unlock()
			if retry.Sleep(db.bgCtx, bo.Next()) != nil {
				return
			}
		}
	}
}

// flushOldest writes one frozen memtable as an L0 SST.
func (db *DB) flushOldest(ctx context.Context, m *memTable) error {
	start := time.Now()
	// The SST may only cover WAL objects that exist: wait for the segment
	// holding the memtable's last write.
	select {
	case <-m.lastSeg.done:
		if m.lastSeg.err != nil {
			return m.lastSeg.err
		}
	case <-db.stop:
		return ErrClosed
	}
	if !m.uploaded {
		meta, data, err := db.buildL0(m)
		if err != nil {
			return err
		}
		if data != nil {
			if err := db.putTable(ctx, meta.ID, data); err != nil {
				return fmt.Errorf("lsm: writing L0 %s: %w", tableKey(meta.ID), err)
			}
		}
		m.sst, m.uploaded = meta, true
	}
	meta, hasSST := m.sst, m.sst.ID != ""
	walID := m.lastSeg.id
	var l0 int
	_, err := db.updateManifest(ctx, func(next *manifest.Manifest) error {
		if hasSST && !slices.ContainsFunc(next.L0, func(t manifest.Table) bool { return t.ID == meta.ID }) {
			next.L0 = append([]manifest.Table{meta}, next.L0...)
		}
		next.WALIDFlushed = max(next.WALIDFlushed, walID)
		next.LastSeq = max(next.LastSeq, m.MaxSeq())
		return nil
	}, func(newMan *manifest.Manifest) {
		l0 = len(newMan.L0)
		db.installVersion(newMan, m)
	})
	if err != nil {
		return err
	}
	db.stats.l0Flushes.Add(1)
	db.stats.l0FlushNanos.Add(int64(time.Since(start)))
	if l0 >= db.opts.L0CompactionTrigger {
		kick(db.compactKick)
	}
	return nil
}

// installVersion publishes a version whose SSTs are the manifest's, dropping
// the frozen memtable that was just flushed (if any) and forgetting its SST
// as pending in the same step: whoever sees the memtable gone (a
// FlushMemtable caller, then GC) sees its SST as the manifest's only, so a
// compaction that replaced it frees it at once. Callers hold manifestMu,
// so versions follow manifest order.
func (db *DB) installVersion(m *manifest.Manifest, flushed *memTable) {
	db.mu.Lock()
	defer db.mu.Unlock()
	cur := db.v.Load()
	imm := cur.imm
	if flushed != nil {
		imm = slices.DeleteFunc(slices.Clone(cur.imm), func(x *memTable) bool { return x == flushed })
		delete(db.pending, flushed.sst.ID)
	}
	db.v.Store(db.versionFromManifestLocked(m, cur.mem, imm))
	db.forgetTablesLocked()
	if flushed != nil {
		db.roomCond.Broadcast()
		close(db.flushedCh)
		db.flushedCh = make(chan struct{})
	}
}

// buildL0 encodes a memtable as an SST (nil data when it is empty). Values
// of at least ValueThreshold bytes become pointers to where they are stored
// (as they are, or compressed) in the memtable's WAL objects, which are
// stored by now.
func (db *DB) buildL0(m *memTable) (manifest.Table, []byte, error) {
	if m.Empty() {
		return manifest.Table{}, nil, nil
	}
	w := db.newSSTWriter()
	var rb refsBuilder
	var ptr []byte
	it := m.NewIter()
	for ok := it.First(); ok; ok = it.Next() {
		kind, value := it.Kind(), it.Value()
		if loc := it.Loc(); db.separate(kind, value, loc.WALID) {
			p := vlog.Pointer{Obj: vlog.WAL(loc.WALID), Off: loc.Off, Len: uint64(len(value)), CRC: vlog.Checksum(value)}
			if loc.StoredLen > 0 {
				p.Len, p.CRC, p.Compressed, p.Size = uint64(loc.StoredLen), loc.StoredCRC, true, uint64(len(value))
			}
			ptr = vlog.AppendPointer(ptr[:0], p)
			kind, value = sstable.KindPointer, ptr
		}
		if err := rb.add(kind, value); err != nil {
			return manifest.Table{}, nil, err
		}
		if err := w.Add(it.Key(), it.Seq(), kind, value); err != nil {
			return manifest.Table{}, nil, fmt.Errorf("lsm: building L0 SST: %w", err)
		}
	}
	return db.finishSST(w, &rb)
}

func (db *DB) newSSTWriter() *sstable.Writer {
	return sstable.NewWriter(sstable.WriterOptions{BlockSize: db.opts.BlockSize, Compression: db.opts.Compression, Codecs: db.codecs})
}

// finishSST closes an SST whose value refs rb collected, and records the
// refs under the new SST's id (before it is uploaded, so GC knows what a
// pending SST points into).
func (db *DB) finishSST(w *sstable.Writer, rb *refsBuilder) (manifest.Table, []byte, error) {
	refs := rb.finish(w)
	data, err := w.Finish()
	if err != nil {
		return manifest.Table{}, nil, fmt.Errorf("lsm: finishing SST: %w", err)
	}
	id := newTableID(db.now())
	p := w.Properties()
	db.refs.put(id, refs)
	return manifest.Table{
		ID: id, Size: int64(len(data)), Smallest: p.SmallestKey, Largest: p.LargestKey,
		MinSeq: p.MinSeq, MaxSeq: p.MaxSeq, NumEntries: p.NumEntries,
	}, data, nil
}

// FlushMemtable makes everything written so far durable in the store and
// writes the memtables as L0 SSTs, so that recovery needs no WAL replay for
// them.
func (db *DB) FlushMemtable(ctx context.Context) error {
	if err := db.checkWritable(); err != nil {
		return err
	}
	db.commitMu.Lock()
	db.freezeLocked()
	newest := db.newestFrozen()
	db.commitMu.Unlock()
	if err := db.FlushWAL(ctx); err != nil {
		return err
	}
	return db.waitFlushed(ctx, newest)
}

// newestFrozen is the most recently frozen memtable (nil when none is
// frozen). Memtables are flushed oldest first, so once it is gone, every
// memtable frozen before it is too.
func (db *DB) newestFrozen() *memTable {
	if imm := db.v.Load().imm; len(imm) > 0 {
		return imm[0]
	}
	return nil
}

// waitFlushed waits until the frozen memtable newest (and so every one
// frozen before it) is written as an L0 SST. It does not wait for
// memtables frozen later: under steady writes there is always one, and
// waiting for none would never end. A failed flush attempt (which the
// flusher retries) ends the wait with its error.
func (db *DB) waitFlushed(ctx context.Context, newest *memTable) error {
	if newest == nil {
		return nil
	}
	db.mu.Lock()
	errs0 := db.flushErrs
	db.mu.Unlock()
	for {
		db.mu.Lock()
		pending := slices.Contains(db.v.Load().imm, newest)
		ch := db.flushedCh
		errs, lastErr := db.flushErrs, db.flushLastErr
		db.mu.Unlock()
		if !pending {
			return nil
		}
		if errs != errs0 {
			return fmt.Errorf("lsm: memtable flush failed (retrying in background): %w", lastErr)
		}
		if db.fenced.Load() {
			return ErrFenced
		}
		kick(db.flushKick)
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("lsm: waiting for memtable flush: %w", ctx.Err())
		case <-time.After(time.Second):
			// re-check fencing and failures periodically
		}
	}
}
