package lsm

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zerofs-go/zerofsd/internal/retry"
	"github.com/zerofs-go/zerofsd/lsm/manifest"
	"github.com/zerofs-go/zerofsd/lsm/sstable"
	"github.com/zerofs-go/zerofsd/lsm/vlog"
	"github.com/zerofs-go/zerofsd/objstore"
)

// sizeRatio: a sorted run joins a compaction when it is at most this many
// times the size of everything newer already chosen (size-tiered).
const sizeRatio = 2

var errCompactionConflict = errors.New("lsm: compaction inputs changed")

// compactionPlan names the inputs of one compaction: every L0 SST and the
// newest runs of similar size.
type compactionPlan struct {
	l0     []manifest.Table
	runs   []manifest.Run
	bottom bool // the output is the oldest run: tombstones can be dropped
}

func pickCompaction(m *manifest.Manifest, trigger int) *compactionPlan {
	if len(m.L0) < trigger || len(m.L0) == 0 {
		return nil
	}
	p := &compactionPlan{l0: m.L0}
	var size int64
	for _, t := range m.L0 {
		size += t.Size
	}
	k := 0
	for k < len(m.Runs) && m.Runs[k].Size() <= sizeRatio*size {
		size += m.Runs[k].Size()
		k++
	}
	p.runs = m.Runs[:k]
	p.bottom = k == len(m.Runs)
	return p
}

// compactRetryMax caps the delay before a failed compaction is tried
// again. A compaction fails again and again when one of its inputs stays
// unreadable: each attempt reads the inputs up to the damage, so the delay
// keeps growing, to one attempt and one log line a minute.
const compactRetryMax = time.Minute

// compactBackoff is the delay between attempts of a failing compaction:
// 10ms, doubling to compactRetryMax.
func compactBackoff() retry.Backoff {
	return retry.Backoff{Base: 10 * time.Millisecond, Max: compactRetryMax}
}

func (db *DB) compactLoop() {
	defer db.wg.Done()
	bo := compactBackoff()
	for {
		select {
		case <-db.stop:
			return
		case <-db.compactKick:
		}
		for !db.fenced.Load() {
			did, err := db.compactOnce(db.bgCtx)
			if err != nil {
				if errors.Is(err, ErrFenced) {
					break
				}
				d := bo.Next()
				db.log.Warn("lsm: compaction failed; retrying", "retry_in", d, "err", err)
				if retry.Sleep(db.bgCtx, d) != nil {
					return
				}
				continue
			}
			bo.Reset()
			if !did {
				break
			}
		}
	}
}

// Compact runs one compaction now if the L0 count reaches the trigger (or,
// with force, whenever there is any L0 SST). It reports whether it compacted.
func (db *DB) Compact(ctx context.Context, force bool) (bool, error) {
	if err := db.checkWritable(); err != nil {
		return false, err
	}
	if force {
		return db.compact(ctx, 1)
	}
	return db.compactOnce(ctx)
}

func (db *DB) compactOnce(ctx context.Context) (bool, error) {
	return db.compact(ctx, db.opts.L0CompactionTrigger)
}

func (db *DB) compact(ctx context.Context, trigger int) (bool, error) {
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	start := time.Now()
	db.manifestMu.Lock()
	plan := pickCompaction(db.man, trigger)
	db.manifestMu.Unlock()
	if plan == nil {
		return false, nil
	}
	return true, db.runCompaction(ctx, plan, start, nil, nil)
}

// planIters returns one internal iterator per L0 SST and run of the plan,
// and the bytes they hold.
func (db *DB) planIters(ctx context.Context, plan *compactionPlan) ([]internalIter, int64) {
	var iters []internalIter
	var bytesIn int64
	db.mu.Lock()
	defer db.mu.Unlock()
	for _, t := range plan.l0 {
		iters = append(iters, &tableIter{ctx: ctx, t: db.tableForLocked(t)})
		bytesIn += t.Size
	}
	for _, r := range plan.runs {
		rr := &run{id: r.ID}
		for _, t := range r.Tables {
			rr.tables = append(rr.tables, db.tableForLocked(t))
			bytesIn += t.Size
		}
		iters = append(iters, &runIter{ctx: ctx, r: rr})
	}
	return iters, bytesIn
}

// runCompaction merges the plan's inputs into one new sorted run, moving
// the values reloc names (see writeMerged) to valueObjs, the value objects
// written for it. If it fails before it tries its manifest update, no
// manifest can name its outputs: it deletes them and valueObjs at once.
// Once it has tried (an unanswered PUT may have landed), it leaves them to
// GC, which keeps what a landed manifest names. Callers hold compactMu.
func (db *DB) runCompaction(ctx context.Context, plan *compactionPlan, start time.Time, reloc relocations, valueObjs []vlog.Object) error {
	iters, bytesIn := db.planIters(ctx, plan)
	outputs, err := db.writeMerged(ctx, newMergeIter(iters), plan.bottom, reloc)
	defer func() {
		for _, t := range outputs {
			db.unpend(t.ID)
		}
	}()
	if err != nil {
		db.discard(ctx, outputs, valueObjs)
		return err
	}
	db.manifestMu.Lock()
	runID := uint64(db.now().UnixNano())
	for _, r := range db.man.Runs {
		runID = max(runID, r.ID+1) // unique even with a coarse or fake clock
	}
	db.manifestMu.Unlock()
	newRun := manifest.Run{ID: runID, Tables: outputs}
	_, err = db.updateManifest(ctx, func(next *manifest.Manifest) error {
		return applyCompaction(next, plan, newRun)
	}, func(newMan *manifest.Manifest) { db.installVersion(newMan, nil) })
	if err != nil {
		return err
	}
	var bytesOut int64
	for _, t := range outputs {
		bytesOut += t.Size
	}
	db.stats.compactions.Add(1)
	db.stats.compactNanos.Add(int64(time.Since(start)))
	db.stats.compactBytesIn.Add(bytesIn)
	db.stats.compactBytesOut.Add(bytesOut)
	db.log.Debug("lsm: compacted", "l0", len(plan.l0), "runs", len(plan.runs), "bottom", plan.bottom,
		"outputs", len(outputs), "bytes_in", bytesIn, "bytes_out", bytesOut, "relocated_objects", len(reloc), "took", time.Since(start))
	return nil
}

// discard deletes the SSTs and value objects of a compaction that failed
// before it tried its manifest update (no manifest names them); callers
// then forget them as pending. What it cannot delete (the store fails, or
// ctx is done: the database is closing) is left to GC, which collects it
// once GCMinAge old.
func (db *DB) discard(ctx context.Context, tables []manifest.Table, objs []vlog.Object) {
	keys := make([]string, 0, len(tables)+len(objs))
	for _, t := range tables {
		keys = append(keys, tableKey(t.ID))
	}
	for _, o := range objs {
		keys = append(keys, objectKey(o))
	}
	var left []string
	var firstErr error
	for _, key := range keys {
		if ctx.Err() != nil {
			return
		}
		if err := db.store.Delete(ctx, key); err != nil && !errors.Is(err, objstore.ErrNotFound) {
			left = append(left, key)
			firstErr = cmp.Or(firstErr, err)
		}
	}
	if len(left) > 0 && ctx.Err() == nil {
		db.log.Warn("lsm: could not delete what a failed compaction wrote; GC collects it once GCMinAge old",
			"objects", left, "err", firstErr)
	}
}

// applyCompaction replaces the plan's inputs with the new run. It is
// idempotent: when the new run is already there, nothing changes.
func applyCompaction(m *manifest.Manifest, plan *compactionPlan, newRun manifest.Run) error {
	if slices.ContainsFunc(m.Runs, func(r manifest.Run) bool { return r.ID == newRun.ID }) {
		return nil
	}
	inL0 := make(map[string]bool)
	for _, t := range plan.l0 {
		inL0[t.ID] = true
	}
	n := len(m.L0)
	m.L0 = slices.DeleteFunc(m.L0, func(t manifest.Table) bool { return inL0[t.ID] })
	if n-len(m.L0) != len(plan.l0) {
		return errCompactionConflict
	}
	if len(m.Runs) < len(plan.runs) {
		return errCompactionConflict
	}
	for i, r := range plan.runs {
		if m.Runs[i].ID != r.ID {
			return errCompactionConflict
		}
	}
	rest := m.Runs[len(plan.runs):]
	m.Runs = m.Runs[:0:0]
	if len(newRun.Tables) > 0 {
		m.Runs = append(m.Runs, newRun)
	}
	m.Runs = append(m.Runs, rest...)
	return nil
}

// writeMerged writes the newest version of every key of it as a sorted run
// of SSTs of about TargetSSTBytes (dropping tombstones when bottom). A
// pointer into an object of reloc is replaced by the pointer to where its
// value was copied (one not found there is kept: its object then stays
// referenced). On error it still returns the SSTs it uploaded or tried to
// (a failed PUT may have landed), for the caller to delete and unpend.
func (db *DB) writeMerged(ctx context.Context, it internalIter, bottom bool, reloc relocations) ([]manifest.Table, error) {
	defer it.Close()
	var outputs []manifest.Table
	var w *sstable.Writer
	var rb refsBuilder
	finish := func() error {
		meta, data, err := db.finishSST(w, &rb)
		if err != nil {
			return err
		}
		if err := db.putTable(ctx, meta.ID, data); err != nil {
			outputs = append(outputs, meta)
			return fmt.Errorf("lsm: writing compaction output %s: %w", tableKey(meta.ID), err)
		}
		outputs = append(outputs, meta)
		w = nil
		return nil
	}
	var ptr []byte
	err := newestEntries(it, bottom, func(k []byte, seq uint64, kind sstable.Kind, value []byte) error {
		if kind == sstable.KindPointer && len(reloc) > 0 {
			p, err := vlog.DecodePointer(value)
			if err != nil {
				return corrupt("value pointer", err)
			}
			if np, ok := reloc[p.Obj][p.Off]; ok && np.Len == p.Len && np.CRC == p.CRC {
				ptr = vlog.AppendPointer(ptr[:0], np)
				value = ptr
			}
		}
		if w == nil {
			w = db.newSSTWriter()
		}
		if err := rb.add(kind, value); err != nil {
			return err
		}
		if err := w.Add(k, seq, kind, value); err != nil {
			return fmt.Errorf("lsm: compaction output: %w", err)
		}
		if w.EstimatedSize() >= db.opts.TargetSSTBytes {
			return finish()
		}
		return nil
	})
	if err != nil {
		return outputs, err
	}
	if w != nil {
		if err := finish(); err != nil {
			return outputs, err
		}
	}
	return outputs, nil
}

// newestEntries calls fn with the newest version of every key of it, in key
// order, leaving out tombstones when bottom (nothing older remains for them
// to hide). It does not close it.
func newestEntries(it internalIter, bottom bool, fn func(key []byte, seq uint64, kind sstable.Kind, value []byte) error) error {
	var last []byte
	hasLast := false
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if hasLast && bytes.Equal(k, last) {
			continue // an older version
		}
		last = append(last[:0], k...)
		hasLast = true
		if bottom && it.Kind() == sstable.KindDelete {
			continue
		}
		if err := fn(k, it.Seq(), it.Kind(), it.Value()); err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return fmt.Errorf("lsm: compaction input: %w", err)
	}
	return nil
}
