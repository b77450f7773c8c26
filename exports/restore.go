package exports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/lsm"
)

// Restore rolls export ec's store back to checkpoint (lsm.Restore): the
// current state becomes checkpoint undo first, a running writer (another
// zerofsd serving the export) is fenced, and that daemon opens the store
// again by itself once the restore is complete (Registry's fence watch).
func Restore(ctx context.Context, ec config.Export, checkpoint, undo string, log *slog.Logger) (lsm.RestoreMarker, error) {
	if log == nil {
		log = slog.Default()
	}
	store, err := OpenDatabaseStore(ctx, ec, log)
	if err != nil {
		return lsm.RestoreMarker{}, err
	}
	m, err := lsm.Restore(ctx, store, lsm.RestoreOptions{Checkpoint: checkpoint, Undo: undo, Logger: log.With("export", ec.Name)})
	if err != nil {
		return lsm.RestoreMarker{}, fmt.Errorf("export %s: restoring checkpoint %q: %w", ec.Name, checkpoint, err)
	}
	return m, nil
}

// fenceWatch looks, every Options.FenceCheckInterval, whether a writer
// store was fenced (lsm.DB.CheckFence: one HEAD request per store and
// interval, so an idle writer learns of it too); one fenced by a restore
// (a marker above its epoch) is closed and opened again, so its exports
// serve the restored tree. One still without a marker after
// anotherWriterGrace was fenced by another writer: it is left fenced and
// logged once (two daemons must not take a store from each other in turn).
type fenceWatch struct {
	r      *Registry
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	// fencedAt is when each fenced database was first seen fenced.
	fencedAt map[*database]time.Time
	// told are the databases already logged as fenced by another writer.
	told map[*database]bool
}

// reopenTimeout bounds closing and opening a store again after a restore
// (it holds the registry's reload lock); a failure is tried again at the
// next check.
const reopenTimeout = 2 * time.Minute

// anotherWriterGrace is how long a fenced store waits for a restore's
// marker (written when the restore is complete) before the fence is taken
// for another writer's.
const anotherWriterGrace = time.Minute

func (r *Registry) startFenceWatch() *fenceWatch {
	w := &fenceWatch{r: r, done: make(chan struct{}), fencedAt: make(map[*database]time.Time), told: make(map[*database]bool)}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	go w.run()
	return w
}

func (w *fenceWatch) stop() {
	w.cancel()
	<-w.done
}

func (w *fenceWatch) run() {
	defer close(w.done)
	t := time.NewTicker(w.r.opts.FenceCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
		}
		for _, d := range w.r.set.Load().byStore {
			if !d.writer {
				continue
			}
			if err := d.db.CheckFence(w.ctx); err == nil || !errors.Is(err, lsm.ErrFenced) {
				continue // a failed check is tried again at the next tick
			}
			w.check(d)
		}
		w.forgetGone()
	}
}

// forgetGone drops what the watch remembers of databases the registry no
// longer serves (removed by a reload, closed by a restore's reopen), so
// that it does not keep them in memory.
func (w *fenceWatch) forgetGone() {
	set := w.r.set.Load()
	for d := range w.fencedAt {
		if set.byStore[d.id] != d {
			delete(w.fencedAt, d)
			delete(w.told, d)
		}
	}
}

// check reopens d if a restore fenced it.
func (w *fenceWatch) check(d *database) {
	epoch := d.db.Stats().WriterEpoch
	m, ok, err := lsm.FencedByRestore(w.ctx, d.dbStore(), epoch)
	switch {
	case err != nil:
		if w.ctx.Err() == nil {
			d.log.Warn("store fenced: looking for a restore failed", "export", d.exportName(), "err", err)
		}
		return
	case !ok:
		if w.fencedAt[d].IsZero() {
			w.fencedAt[d] = time.Now()
		}
		if time.Since(w.fencedAt[d]) >= anotherWriterGrace && !w.told[d] {
			w.told[d] = true
			d.log.Error("store fenced by another writer (not by a restore): its exports refuse changes; a restart of zerofsd (or removing the export and adding it back by two reloads) takes the store back from that writer",
				"export", d.exportName(), "epoch", epoch)
		}
		return
	}
	ctx, cancel := context.WithTimeout(w.ctx, reopenTimeout)
	defer cancel()
	if err := w.r.reopenRestored(ctx, d, m); err != nil {
		d.log.Error("reopening a store after a restore failed; trying again", "export", d.exportName(), "err", err)
	}
}

// reopenRestored closes d, which a restore fenced, opens its store again as
// writer and publishes an export set where every export of d serves the new
// database (a new write verifier: clients resend what they had not
// committed). The old database is closed before the new one opens: one
// store is never open twice in one process.
func (r *Registry) reopenRestored(ctx context.Context, d *database, m lsm.RestoreMarker) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	set := r.set.Load()
	if r.closed || set.byStore[d.id] != d {
		return nil // closed or reloaded meanwhile
	}
	var ec config.Export
	var names []string
	for _, e := range set.byName {
		if e.db == d {
			ec = e.cfg
			names = append(names, e.cfg.Name)
		}
	}
	d.log.Warn("store fenced by a restore: opening it again to serve the restored tree",
		"exports", names, "checkpoint", m.Checkpoint, "undo", m.Undo, "restore_epoch", m.Epoch)
	if !d.closedForRestore {
		if err := d.close(ctx); err != nil {
			d.log.Info("the fenced store's unflushed writes are not in the restored tree", "err", err)
		}
		d.closedForRestore = true
	}
	// With d's keys: the configured credential may be one a key rotation
	// has replaced since this process read it.
	nd, err := r.openDatabase(ctx, r.cfg, ec, d.id, true, d.keys)
	if err != nil {
		return err
	}
	nd.cred = d.cred
	next := emptySet()
	for _, e := range set.byName {
		if e.db == d {
			e = &openExport{cfg: e.cfg, db: nd, nfs: nfsExport(e.cfg, nd, r.log)}
			nd.apply(e.cfg, nil, nil)
			nd.observeAs(r.opts.StoreLatency, e.cfg.Name)
		}
		if err := next.add(e); err != nil {
			_ = nd.close(ctx)
			return err
		}
	}
	next.sort()
	r.set.Store(next)
	nd.log.Info("serving the restored tree", "exports", names, "checkpoint", m.Checkpoint, "fsid", fmt.Sprintf("%016x", nd.fs.FSID()))
	return nil
}
