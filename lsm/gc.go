package lsm

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/zerofs-go/zerofsd/internal/retry"
	"github.com/zerofs-go/zerofsd/lsm/manifest"
	"github.com/zerofs-go/zerofsd/lsm/vlog"
	"github.com/zerofs-go/zerofsd/objstore"
)

// gcLoop collects every GCInterval (gcTick).
func (db *DB) gcLoop() {
	defer db.wg.Done()
	var st gcLoopState
	for retry.Sleep(db.bgCtx, db.opts.GCInterval) == nil {
		if db.fenced.Load() {
			return
		}
		db.gcTick(db.bgCtx, &st)
	}
}

// gcLoopState is what the GC loop remembers between rounds: the manifest
// of its last round, and whether that round left nothing for later.
type gcLoopState struct {
	lastManifest uint64
	settled      bool
}

// gcTick is one turn of the GC loop: it runs a round unless the manifest
// has not changed since a round that left nothing for later (no object
// spared only for being young or for a pin that ends without a new
// manifest, no value compaction put off while writes flowed), so an idle
// database makes no requests. It reports whether it ran one.
func (db *DB) gcTick(ctx context.Context, st *gcLoopState) bool {
	db.manifestMu.Lock()
	cur := db.man.ID
	db.manifestMu.Unlock()
	if st.settled && cur == st.lastManifest {
		return false
	}
	res, err := db.gc(ctx)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			db.log.Warn("lsm: garbage collection failed", "err", err)
		}
		st.settled = false
		return true
	}
	st.lastManifest, st.settled = cur, res.Young == 0 && res.Held == 0 && !res.ValueCompactionDeferred
	return true
}

// GCResult counts the objects one collection deleted, those it spared only
// because they were younger than GCMinAge (Young), and those it kept only
// for a live iterator or View of this process, a replica's lease, or an
// upload not yet in a manifest (Held): pins that end without a new
// manifest. ValueCompaction says whether it ran a value compaction first,
// ValueCompactionDeferred that it put one off because writes flowed since
// the previous round (the next round runs it if they have stopped).
type GCResult struct {
	WALs, Tables, Manifests, ValueObjects int
	Young                                 int
	Held                                  int
	ValueCompaction                       bool
	ValueCompactionDeferred               bool
}

// RunGC collects garbage. First, when the separated values' garbage
// warrants it (Options.ValueGarbageRatio; twice that when anything was
// written since the previous round), a value compaction relocates the live
// values of mostly-dead objects (leaving those it cannot read where they
// are). Then, even if that failed (its error is returned as well), it
// deletes objects nothing needs any more:
//   - WAL objects below the current manifest's flushed WAL id (their
//     writes are in SSTs) that no SST points into;
//   - value objects no SST points into, once older than GCMinAge;
//   - SSTs that neither the current manifest, a checkpointed manifest, a
//     manifest a live replica lease names, nor an open iterator of this
//     process references, once older than GCMinAge (a younger one may be an
//     upload whose manifest is pending); an SST a leased manifest names
//     but the store no longer holds is logged and skipped;
//   - manifests older than the current one, except checkpointed and leased
//     ones, once older than GCMinAge.
//
// "An SST points into" counts the SSTs of the current manifest, of every
// checkpointed and every leased manifest, of every version a live iterator
// pins, and those uploaded but not yet in a manifest.
func (db *DB) RunGC(ctx context.Context) (GCResult, error) {
	return db.gc(ctx)
}

// gcView is what one GC pass keeps: the current manifest (with the
// checkpoints of the latest stored one), the tables and objects it and
// everything else that matters references. The held sets are what is kept
// only for a pin that ends without a new manifest (a live iterator or
// View, a replica's lease, a pending upload), not for a manifest of ours
// (current, the store's latest, checkpointed).
type gcView struct {
	cur        *manifest.Manifest
	keepTables map[string]bool
	keepMans   map[uint64]bool
	referenced map[vlog.Object]bool // by any SST that matters
	pinned     map[vlog.Object]bool // by the SSTs of checkpointed or leased manifests
	heldTables map[string]bool
	heldMans   map[uint64]bool
	heldObjs   map[vlog.Object]bool
}

func (db *DB) gc(ctx context.Context) (GCResult, error) {
	var res GCResult
	if err := db.checkWritable(); err != nil {
		return res, err
	}
	db.gcMu.Lock()
	defer db.gcMu.Unlock()
	l, err := db.gcList(ctx)
	if err != nil {
		return res, err
	}
	// Values still being overwritten die soon after being copied: while
	// writes flow, collect only at twice the garbage.
	seq := db.visibleSeq.Load()
	busy := seq != db.gcSeq
	db.gcSeq = seq
	var vcErr error
	res.ValueCompaction, res.ValueCompactionDeferred, vcErr = db.maybeCollectValues(ctx, l.view.cur, l.view.pinned, l.objs, busy)
	switch {
	case vcErr != nil:
		// What is garbage stays garbage: delete it from the listing made
		// before the value compaction (it lists nothing the compaction
		// wrote, so nothing a manifest of it that may have landed names),
		// unless we were fenced or stopped meanwhile.
		vcErr = fmt.Errorf("lsm: gc: value compaction: %w", vcErr)
		if err := db.checkWritable(); err != nil || ctx.Err() != nil {
			return res, vcErr
		}
	case res.ValueCompaction:
		// The merge changed what is referenced: look again.
		if l, err = db.gcList(ctx); err != nil {
			return res, err
		}
	}
	err = db.deleteGarbage(ctx, &res, l)
	return res, errors.Join(vcErr, err)
}

// gcListing is the store's objects and what must be kept of them.
type gcListing struct {
	tables []objstore.ObjectInfo
	objs   map[vlog.Object]objstore.ObjectInfo
	view   *gcView
}

// gcList lists the store, then computes what must be kept. In that order:
// an object in the listing was registered as pending before its upload, so
// by the time the keep set is computed it is pending or referenced.
func (db *DB) gcList(ctx context.Context) (gcListing, error) {
	var l gcListing
	var err error
	if l.tables, err = listAll(ctx, db.store, tablePrefix); err != nil {
		return l, err
	}
	if l.objs, err = db.valueObjects(ctx); err != nil {
		return l, err
	}
	l.view, err = db.gcView(ctx)
	return l, err
}

// gcView computes what must be kept. It reads the latest stored manifest
// (for checkpoints made from outside) and fences us if another writer wrote it.
func (db *DB) gcView(ctx context.Context) (*gcView, error) {
	db.manifestMu.Lock()
	cur := db.man.Clone()
	db.manifestMu.Unlock()
	// Checkpoints may also be created from outside the writer
	// (CreateCheckpoint): honour those of the latest stored manifest too.
	latest, err := loadLatestManifest(ctx, db.store)
	if err != nil {
		return nil, err
	}
	if latest != nil && latest.WriterEpoch != db.epoch {
		db.fence(fmt.Sprintf("manifest %d has writer epoch %d, ours is %d", latest.ID, latest.WriterEpoch, db.epoch))
		return nil, ErrFenced
	}
	// A newer manifest of our own epoch is one a checkpoint made from
	// outside wrote, or ours whose PUT landed although we were told it
	// failed (so cur is behind the store): keep what it names as well as
	// its checkpoints, since it is what the next open reads.
	var later *manifest.Manifest
	if latest != nil && latest.ID > cur.ID {
		later = latest
		for _, c := range latest.Checkpoints {
			if _, ok := cur.FindCheckpoint(c.Name); !ok {
				cur.Checkpoints = append(cur.Checkpoints, c)
			}
		}
	}
	view := &gcView{
		cur:        cur,
		keepTables: make(map[string]bool),
		keepMans:   map[uint64]bool{cur.ID: true},
		referenced: make(map[vlog.Object]bool),
		pinned:     make(map[vlog.Object]bool),
		heldTables: make(map[string]bool),
		heldMans:   make(map[uint64]bool),
		heldObjs:   make(map[vlog.Object]bool),
	}
	var metas []manifest.Table
	addManifest := func(m *manifest.Manifest, pin bool) error {
		tables := manifestTables(m)
		metas = append(metas, tables...)
		if !pin {
			return nil
		}
		for _, t := range tables {
			refs, err := db.tableRefs(ctx, t)
			if err != nil {
				return err
			}
			for o := range refs {
				view.pinned[o] = true
			}
		}
		return nil
	}
	if err := addManifest(cur, false); err != nil {
		return nil, err
	}
	if later != nil {
		view.keepMans[later.ID] = true
		if err := addManifest(later, false); err != nil {
			return nil, err
		}
	}
	for _, c := range cur.Checkpoints {
		view.keepMans[c.ManifestID] = true
		m, err := readManifest(ctx, db.store, c.ManifestID)
		if err != nil {
			return nil, fmt.Errorf("lsm: gc: checkpoint %q: %w", c.Name, err)
		}
		if err := addManifest(m, true); err != nil {
			return nil, fmt.Errorf("lsm: gc: checkpoint %q: %w", c.Name, err)
		}
	}
	// Up to here, what our manifests name; from here on, what is held.
	ours := len(metas)
	// Replicas (OpenReplica) lease the manifests they read: those, their
	// SSTs and the objects their SSTs point into stay.
	leased, err := leasedManifests(ctx, db.store, db.now(), db.log)
	if err != nil {
		return nil, err
	}
	for _, id := range leased {
		if view.keepMans[id] {
			continue
		}
		view.keepMans[id] = true
		view.heldMans[id] = true
		m, err := readManifest(ctx, db.store, id)
		if errors.Is(err, objstore.ErrNotFound) {
			continue // collected before the replica leased it: it moves on
		}
		if err != nil {
			return nil, fmt.Errorf("lsm: gc: leased manifest %d: %w", id, err)
		}
		if err := db.keepLeased(ctx, view, m); err != nil {
			return nil, fmt.Errorf("lsm: gc: leased manifest %d: %w", id, err)
		}
	}
	var pendingTables []string
	db.mu.Lock()
	for _, v := range append(slices.Collect(maps.Keys(db.live)), db.v.Load()) {
		for _, t := range v.tableList() {
			metas = append(metas, t.meta)
		}
	}
	for id := range db.pending {
		pendingTables = append(pendingTables, id)
	}
	for o := range db.pendingObjs {
		view.referenced[o] = true
	}
	db.mu.Unlock()
	oursTables := make(map[string]bool)
	oursObjs := make(map[vlog.Object]bool)
	for i, t := range metas {
		view.keepTables[t.ID] = true
		refs, err := db.tableRefs(ctx, t)
		if err != nil {
			return nil, err
		}
		for o := range refs {
			view.referenced[o] = true
			if i < ours {
				oursObjs[o] = true
			}
		}
		if i < ours {
			oursTables[t.ID] = true
		}
	}
	for _, id := range pendingTables {
		view.keepTables[id] = true
		refs, _ := db.refs.get(id) // recorded before the upload began
		for o := range refs {
			view.referenced[o] = true
		}
	}
	for o := range view.pinned {
		view.referenced[o] = true
	}
	for id := range view.keepTables {
		if !oursTables[id] {
			view.heldTables[id] = true
		}
	}
	for o := range view.referenced {
		if !oursObjs[o] {
			view.heldObjs[o] = true
		}
	}
	return view, nil
}

// keepLeased keeps the SSTs of a manifest a replica leases, and pins what
// they point into. One of them may be gone: replaced by a compaction and
// collected before the replica leased the manifest (a replica whose lease
// lapsed renews it on its old state), or lost from the store. A missing
// SST points at nothing anyone can read through it, so it keeps nothing;
// it is logged, since the replica's reads of it fail until it moves on,
// and it fails no round (a round that fails deletes nothing at all). An
// SST missing from the current manifest still fails the round.
func (db *DB) keepLeased(ctx context.Context, view *gcView, m *manifest.Manifest) error {
	var missing []string
	for _, t := range manifestTables(m) {
		view.keepTables[t.ID] = true
		refs, err := db.tableRefs(ctx, t)
		if errors.Is(err, objstore.ErrNotFound) {
			missing = append(missing, tableKey(t.ID))
			continue
		}
		if err != nil {
			return err
		}
		for o := range refs {
			view.pinned[o] = true
		}
	}
	if len(missing) > 0 {
		db.log.Warn("lsm: gc: a leased manifest names SSTs the store does not hold; the replica reading it fails until it moves on",
			"manifest", m.ID, "missing", missing)
	}
	return nil
}

// manifestTables returns every table m lists.
func manifestTables(m *manifest.Manifest) []manifest.Table {
	ts := slices.Clone(m.L0)
	for _, r := range m.Runs {
		ts = append(ts, r.Tables...)
	}
	return ts
}

// deleteGarbage deletes what nothing needs (see RunGC), from a listing
// made by gcList. Callers hold gcMu.
func (db *DB) deleteGarbage(ctx context.Context, res *GCResult, l gcListing) error {
	tables, objs, view := l.tables, l.objs, l.view
	cutoff := db.now().Add(-db.opts.GCMinAge)
	del := func(key string) error {
		if err := db.store.Delete(ctx, key); err != nil && !errors.Is(err, objstore.ErrNotFound) {
			return fmt.Errorf("lsm: gc: deleting %s: %w", key, err)
		}
		db.stats.gcDeleted.Add(1)
		return nil
	}

	var stored int64
	for _, o := range slices.SortedFunc(maps.Keys(objs), vlog.Object.Compare) {
		info := objs[o]
		switch {
		case view.referenced[o]:
			if view.heldObjs[o] && (o.Kind == vlog.ValueObject || o.WALID < view.cur.WALIDFlushed) {
				res.Held++
			}
		case o.Kind == vlog.WALObject && o.WALID < view.cur.WALIDFlushed && info.ModTime.Before(cutoff):
			// Kept for GCMinAge even when flushed: one of them may be the
			// fence a cut-off older writer's next PUT must fail on
			// (unfenced.go).
			if err := del(info.Key); err != nil {
				return err
			}
			res.WALs++
			continue
		case o.Kind == vlog.WALObject && o.WALID < view.cur.WALIDFlushed:
			res.Young++
		case o.Kind == vlog.ValueObject && info.ModTime.Before(cutoff):
			if err := del(info.Key); err != nil {
				return err
			}
			res.ValueObjects++
			continue
		case o.Kind == vlog.ValueObject:
			res.Young++
		}
		stored += info.Size
	}

	for _, o := range tables {
		id, ok := parseTableKey(o.Key)
		if !ok || view.keepTables[id] {
			if ok && view.heldTables[id] {
				res.Held++
			}
			stored += o.Size
			continue
		}
		if !o.ModTime.Before(cutoff) {
			res.Young++
			stored += o.Size
			continue
		}
		if err := del(o.Key); err != nil {
			return err
		}
		res.Tables++
	}

	manifests, err := listAll(ctx, db.store, manifestPrefix)
	if err != nil {
		return err
	}
	for _, o := range manifests {
		id, ok := parseID(o.Key, manifestPrefix, manifestSuffix)
		if !ok || id >= view.cur.ID || view.keepMans[id] {
			if ok && id < view.cur.ID && view.heldMans[id] {
				res.Held++
			}
			stored += o.Size
			continue
		}
		if !o.ModTime.Before(cutoff) {
			res.Young++
			stored += o.Size
			continue
		}
		if err := del(o.Key); err != nil {
			return err
		}
		res.Manifests++
	}
	db.refs.retain(view.keepTables)
	db.stats.storedBytes.Store(stored)
	return nil
}
