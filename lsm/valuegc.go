package lsm

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/zerofs-go/zerofsd/lsm/manifest"
	"github.com/zerofs-go/zerofsd/lsm/sstable"
	"github.com/zerofs-go/zerofsd/lsm/vlog"
	"github.com/zerofs-go/zerofsd/objstore"
)

// Garbage collection of separated values.
//
// A WAL object below WALIDFlushed, or a value object, holds values some of
// which the SSTs still point at. Its garbage (bytes no pointer of the current
// manifest uses, and values shadowed by newer versions that only a merge
// into one run reveals) is reclaimed by a value compaction: a compaction of
// every SST into one run that first measures what each object still holds,
// copies the live values of the emptiest objects (the victims) into new
// value objects, and writes pointers to the copies. Once its manifest is
// written no SST points into the victims, and the deletion part of GC
// removes them (unless a checkpoint or a live iterator still points into
// them).

// relocations maps a victim object and the offset of a value in it to the
// pointer to its copy.
type relocations map[vlog.Object]map[uint64]vlog.Pointer

const (
	// valueObjectBytes is the size at which a value compaction starts a
	// new value object.
	valueObjectBytes = 16 << 20
	// maxVictimLive: an object whose values are at least this fraction live
	// is never relocated (copying it frees too little).
	maxVictimLive = 0.9
	// maxRelocateBytes bounds the live bytes one value compaction copies.
	maxRelocateBytes = 1 << 30
	// unreadableRetry is how long an object a value compaction found
	// damaged or missing stays out of the candidates (and so is neither
	// read again nor logged again).
	unreadableRetry = time.Hour
	// failedReadRetry is how long an object whose read failed otherwise (a
	// request the store could not answer, after its own retries) stays out:
	// the failure may pass, and its garbage is worth collecting once it has.
	failedReadRetry = 5 * time.Minute
)

// valueObjects lists the objects that may hold values: WAL objects and
// value objects, with their sizes.
func (db *DB) valueObjects(ctx context.Context) (map[vlog.Object]objstore.ObjectInfo, error) {
	out := make(map[vlog.Object]objstore.ObjectInfo)
	wals, err := listAll(ctx, db.store, walPrefix)
	if err != nil {
		return nil, err
	}
	for _, o := range wals {
		if id, ok := parseID(o.Key, walPrefix, walSuffix); ok {
			out[vlog.WAL(id)] = o
		}
	}
	vals, err := listAll(ctx, db.store, valuePrefix)
	if err != nil {
		return nil, err
	}
	for _, o := range vals {
		if id, ok := parseValueKey(o.Key); ok {
			out[vlog.Value(id)] = o
		}
	}
	return out, nil
}

// manifestRefs sums the value refs of every SST of m. shadowing estimates
// how much of them newer versions may hide, which only a merge into one run
// reveals: taking the part of the tree (an L0 SST, or a run) that points at
// the most bytes as the base, the bytes everything else points at or, if
// less, the bytes of the base.
func (db *DB) manifestRefs(ctx context.Context, m *manifest.Manifest) (refs vlog.Refs, shadowing uint64, err error) {
	refs = vlog.Refs{}
	var total, base uint64
	part := func(ts []manifest.Table) error {
		var n uint64
		for _, t := range ts {
			r, err := db.tableRefs(ctx, t)
			if err != nil {
				return err
			}
			refs.Merge(r)
			n += r.Bytes()
		}
		total += n
		base = max(base, n)
		return nil
	}
	for _, t := range m.L0 {
		if err := part([]manifest.Table{t}); err != nil {
			return nil, 0, err
		}
	}
	for _, r := range m.Runs {
		if err := part(r.Tables); err != nil {
			return nil, 0, err
		}
	}
	return refs, min(total-base, base), nil
}

// valueCandidates returns the objects a value compaction may relocate, with
// their sizes: those the current manifest points into, below its flushed
// WAL id for WAL objects, that no checkpoint pins (copying the values of a
// pinned object frees nothing) and that are not in skip (objects found
// unreadable lately: relocating them again would free nothing either).
func valueCandidates(cur *manifest.Manifest, refs vlog.Refs, pinned, skip map[vlog.Object]bool,
	objs map[vlog.Object]objstore.ObjectInfo) map[vlog.Object]int64 {
	out := make(map[vlog.Object]int64)
	for o := range refs {
		info, ok := objs[o]
		if !ok || pinned[o] || skip[o] || (o.Kind == vlog.WALObject && o.WALID >= cur.WALIDFlushed) {
			continue
		}
		out[o] = info.Size
	}
	return out
}

// maybeCollectValues runs a value compaction when the garbage it could
// reclaim is estimated above ValueGarbageRatio of the live value bytes, or
// twice that when busy (and above ValueGCMinBytes, and above half the SST
// bytes it would rewrite). It reports whether it ran one, and whether it
// put one off for being busy. Callers hold gcMu.
func (db *DB) maybeCollectValues(ctx context.Context, cur *manifest.Manifest, pinned map[vlog.Object]bool,
	objs map[vlog.Object]objstore.ObjectInfo, busy bool) (ran, deferred bool, err error) {
	refs, shadowing, err := db.manifestRefs(ctx, cur)
	if err != nil {
		return false, false, err
	}
	cands := valueCandidates(cur, refs, pinned, db.recentlyUnreadable(), objs)
	var stored, referenced int64
	for o, size := range cands {
		stored += size
		referenced += int64(refs[o].Bytes)
	}
	garbage := stored - referenced + int64(shadowing)
	live := max(referenced-int64(shadowing), 0)
	var tableBytes int64
	for _, t := range cur.L0 {
		tableBytes += t.Size
	}
	for _, r := range cur.Runs {
		tableBytes += r.Size()
	}
	ratio := db.opts.ValueGarbageRatio
	if garbage < db.opts.ValueGCMinBytes || float64(garbage) <= ratio*float64(live) || garbage < tableBytes/2 {
		return false, false, nil
	}
	if busy && float64(garbage) <= 2*ratio*float64(live) {
		return false, true, nil
	}
	if busy {
		ratio *= 2
	}
	return true, false, db.compactValues(ctx, cands, ratio)
}

// compactValues merges every SST into one run, relocating the live values
// of the emptiest candidate objects until their garbage would be at most
// half of ratio times their live bytes (see the comment at the top).
func (db *DB) compactValues(ctx context.Context, cands map[vlog.Object]int64, ratio float64) error {
	db.compactMu.Lock()
	defer db.compactMu.Unlock()
	start := time.Now()
	db.manifestMu.Lock()
	plan := &compactionPlan{l0: db.man.L0, runs: db.man.Runs, bottom: true}
	db.manifestMu.Unlock()
	if len(plan.l0) == 0 && len(plan.runs) == 0 {
		return nil
	}
	// Pass 1: what each object still holds once older versions are gone.
	live := make(map[vlog.Object]uint64)
	if err := db.scanPointers(ctx, plan, func(p vlog.Pointer) { live[p.Obj] += p.Len }); err != nil {
		return err
	}
	victims := pickVictims(cands, live, ratio/2)
	var reloc relocations
	var objs []vlog.Object
	defer func() { db.unpendObjects(objs...) }()
	if len(victims) > 0 {
		// Pass 2: copy the live values of the victims.
		var ptrs []vlog.Pointer
		if err := db.scanPointers(ctx, plan, func(p vlog.Pointer) {
			if victims[p.Obj] {
				ptrs = append(ptrs, p)
			}
		}); err != nil {
			return err
		}
		var err error
		reloc, objs, err = db.relocate(ctx, ptrs)
		if err != nil {
			db.discard(ctx, nil, objs) // no manifest names them
			return err
		}
	}
	// Pass 3: the merge itself, pointing at the copies.
	if err := db.runCompaction(ctx, plan, start, reloc, objs); err != nil {
		return err
	}
	var moved int64
	for _, m := range reloc {
		for _, p := range m {
			moved += int64(p.Len)
		}
	}
	db.stats.valueCompactions.Add(1)
	db.stats.valueBytesRelocated.Add(moved)
	db.log.Debug("lsm: value compaction", "victims", len(victims), "relocated_bytes", moved,
		"value_objects", len(objs), "took", time.Since(start))
	return nil
}

// pickVictims chooses, emptiest first, objects to relocate until the garbage
// left in the candidates is at most keep times their live bytes. Objects
// with nothing live need no copying (the merge frees them) and are not
// returned.
func pickVictims(cands map[vlog.Object]int64, live map[vlog.Object]uint64, keep float64) map[vlog.Object]bool {
	type cand struct {
		o          vlog.Object
		size, live int64
	}
	var cs []cand
	var garbage, total int64
	for o, size := range cands {
		l := min(int64(live[o]), size)
		if l == 0 {
			continue // the merge frees it
		}
		garbage += size - l
		total += l
		cs = append(cs, cand{o, size, l})
	}
	slices.SortFunc(cs, func(a, b cand) int {
		// a.live/a.size < b.live/b.size, without division
		if c := cmp.Compare(a.live*b.size, b.live*a.size); c != 0 {
			return c
		}
		return a.o.Compare(b.o)
	})
	victims := make(map[vlog.Object]bool)
	var moved int64
	for _, c := range cs {
		if float64(garbage) <= keep*float64(total) || float64(c.live) >= maxVictimLive*float64(c.size) ||
			moved+c.live > maxRelocateBytes {
			break
		}
		victims[c.o] = true
		garbage -= c.size - c.live
		moved += c.live
	}
	return victims
}

// scanPointers calls fn with the pointer of the newest version of every key
// of the plan's inputs that is a separated value.
func (db *DB) scanPointers(ctx context.Context, plan *compactionPlan, fn func(vlog.Pointer)) error {
	iters, _ := db.planIters(ctx, plan)
	it := newMergeIter(iters)
	defer it.Close()
	return newestEntries(it, plan.bottom, func(_ []byte, _ uint64, kind sstable.Kind, value []byte) error {
		if kind != sstable.KindPointer {
			return nil
		}
		p, err := vlog.DecodePointer(value)
		if err != nil {
			return corrupt("value pointer", err)
		}
		fn(p)
		return nil
	})
}

// relocate copies the values ptrs point at into new value objects, reading
// each victim whole once, and returns where each went and the objects it
// wrote (pending until the caller's manifest names them; on error, those
// it wrote or tried to). Values are copied as they are stored (a
// compressed value stays compressed, never decoded). A value it cannot
// read (its object fails to read, or the value runs past its end or fails
// its checksum) is left where it is: with no relocation, the merge keeps
// its pointer and its object stays referenced. Damaged data is never
// copied, and never stops the relocation of the other values. Callers hold
// gcMu.
func (db *DB) relocate(ctx context.Context, ptrs []vlog.Pointer) (relocations, []vlog.Object, error) {
	slices.SortFunc(ptrs, func(a, b vlog.Pointer) int {
		if c := a.Obj.Compare(b.Obj); c != 0 {
			return c
		}
		return cmp.Compare(a.Off, b.Off)
	})
	reloc := make(relocations)
	var written []vlog.Object
	var b *vlog.Builder
	flush := func() error {
		if b == nil || b.Empty() {
			return nil
		}
		obj := b.Object()
		written = append(written, obj)
		if err := db.putValueObject(ctx, obj, b.Bytes()); err != nil {
			return err
		}
		b = nil
		return nil
	}
	var data []byte
	var readErr error // of the current object's read
	var cur vlog.Object
	var skipped []unreadable
	defer func() { db.noteUnreadable(skipped) }()
	skip := func(err error) {
		if n := len(skipped); n > 0 && skipped[n-1].obj == cur {
			skipped[n-1].values++
			return
		}
		skipped = append(skipped, unreadable{obj: cur, values: 1, err: err, retry: retryUnreadable(err)})
	}
	for i, p := range ptrs {
		if i == 0 || p.Obj != cur {
			cur = p.Obj
			if data, readErr = db.store.Get(ctx, objectKey(p.Obj)); readErr != nil {
				if ctx.Err() != nil {
					return nil, written, fmt.Errorf("lsm: value compaction: reading %s: %w", objectKey(p.Obj), readErr)
				}
				readErr = fmt.Errorf("reading %s: %w", objectKey(p.Obj), readErr)
			}
		}
		if i > 0 && p == ptrs[i-1] {
			continue
		}
		if readErr != nil {
			skip(readErr)
			continue
		}
		if p.Off+p.Len > uint64(len(data)) {
			skip(corrupt(objectKey(p.Obj), fmt.Errorf("value [%d,+%d) runs past the end (%d bytes)", p.Off, p.Len, len(data))))
			continue
		}
		val := data[p.Off : p.Off+p.Len]
		if err := p.Check(val); err != nil {
			skip(corrupt(objectKey(p.Obj), err))
			continue
		}
		if b != nil && b.Size()+len(val) > valueObjectBytes {
			if err := flush(); err != nil {
				return nil, written, err
			}
		}
		if b == nil {
			b = vlog.NewBuilder(newObjectID(db.now()), valueObjectBytes)
		}
		if reloc[p.Obj] == nil {
			reloc[p.Obj] = make(map[uint64]vlog.Pointer)
		}
		reloc[p.Obj][p.Off] = b.Copy(p, val)
	}
	if err := flush(); err != nil {
		return nil, written, err
	}
	return reloc, written, nil
}

// unreadable is an object some of whose values a value compaction could
// not read: how many, the first reason, and how long to leave it out.
type unreadable struct {
	obj    vlog.Object
	values int
	err    error
	retry  time.Duration
}

// retryUnreadable is how long an object whose value could not be read for
// err stays out of value compactions: unreadableRetry when it is damaged
// (the value fails its checksum or runs past the object's end, or the
// store found the bytes damaged) or missing, failedReadRetry when the read
// itself failed.
func retryUnreadable(err error) time.Duration {
	if errors.Is(err, ErrCorrupt) || errors.Is(err, objstore.ErrCorrupt) || errors.Is(err, objstore.ErrNotFound) {
		return unreadableRetry
	}
	return failedReadRetry
}

// noteUnreadable counts and logs the values a value compaction left where
// they were, and keeps their objects out of the candidates for their
// retry period, so that each is logged once per period, not at every
// round. Callers hold gcMu.
func (db *DB) noteUnreadable(skipped []unreadable) {
	now := db.now()
	for _, u := range skipped {
		db.stats.unreadableValues.Add(int64(u.values))
		if db.unreadable == nil {
			db.unreadable = make(map[vlog.Object]time.Time)
		}
		db.unreadable[u.obj] = now.Add(u.retry)
		db.log.Warn("lsm: value compaction could not read values; they stay where they are, and so does their object",
			"object", objectKey(u.obj), "values", u.values, "retry_after", u.retry, "err", u.err)
	}
}

// recentlyUnreadable returns the objects a value compaction could not read
// whose retry period has not ended, forgetting the others. Callers hold
// gcMu.
func (db *DB) recentlyUnreadable() map[vlog.Object]bool {
	now := db.now()
	out := make(map[vlog.Object]bool)
	for o, until := range db.unreadable {
		if !now.Before(until) {
			delete(db.unreadable, o)
			continue
		}
		out[o] = true
	}
	return out
}

// putValueObject uploads a value object, registering it as pending first so
// that GC in this process never deletes it before a manifest references it.
func (db *DB) putValueObject(ctx context.Context, o vlog.Object, data []byte) error {
	db.mu.Lock()
	db.pendingObjs[o] = true
	db.mu.Unlock()
	if err := db.store.Put(ctx, objectKey(o), data); err != nil {
		return fmt.Errorf("lsm: writing %s: %w", objectKey(o), err)
	}
	return nil
}

// unpendObjects forgets pending value objects (once referenced, or abandoned).
func (db *DB) unpendObjects(objs ...vlog.Object) {
	db.mu.Lock()
	for _, o := range objs {
		delete(db.pendingObjs, o)
	}
	db.mu.Unlock()
}
