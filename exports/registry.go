package exports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/zerofs-go/zerofsd/cache"
	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/lsm/sstable"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/objstore"
)

// Options configure a Registry.
type Options struct {
	// DiskCache is the local cache shared by every export (optional).
	DiskCache *cache.Disk
	// Logger receives the registry's logs; each export logs with an
	// "export" attribute. Default slog.Default().
	Logger *slog.Logger
	// OpenStore builds an export's object store. Default: the store named by
	// the export's URL (local directory, S3 or memory).
	OpenStore func(ctx context.Context, e config.Export) (objstore.Store, error)
	// StoreLatency, when set, returns the observer of the named export's
	// object-store request durations (for latency histograms).
	StoreLatency func(export string) objstore.LatencyObserver
}

// Registry holds the open exports. It implements nfs.ExportSet.
type Registry struct {
	opts Options
	log  *slog.Logger

	reloadMu sync.Mutex // serializes Reload and Close
	set      atomic.Pointer[exportSet]
	closed   bool
}

var _ nfs.ExportSet = (*Registry)(nil)

// exportSet is an immutable snapshot of the open exports.
type exportSet struct {
	byName map[string]*openExport
	byPath map[string]*openExport
	byFSID map[uint64]*openExport
	all    []*nfs.Export // sorted by path
}

// openExport is one export's open store, database and filesystem.
type openExport struct {
	cfg      config.Export
	store    *objstore.Counting
	db       *lsm.DB
	fs       *kvfs.FS
	nfs      *nfs.Export
	memStore objstore.Store // memory:// stores survive a Reload that keeps them
	log      *slog.Logger   // with the export's name
}

// Open opens every export of cfg. On error, the exports opened so far are closed.
func Open(ctx context.Context, cfg *config.Config, opts Options) (*Registry, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.OpenStore == nil {
		opts.OpenStore = OpenStore
	}
	r := &Registry{opts: opts, log: opts.Logger}
	set, err := r.build(ctx, cfg, &exportSet{})
	if err != nil {
		return nil, err
	}
	r.set.Store(set)
	return r, nil
}

// ByPath returns the export mounted at path.
func (r *Registry) ByPath(path string) (*nfs.Export, bool) {
	if e, ok := r.set.Load().byPath[path]; ok {
		return e.nfs, true
	}
	return nil, false
}

// ByFSID returns the export whose filesystem has this id.
func (r *Registry) ByFSID(fsid uint64) (*nfs.Export, bool) {
	if e, ok := r.set.Load().byFSID[fsid]; ok {
		return e.nfs, true
	}
	return nil, false
}

// All returns every export, sorted by mount path.
func (r *Registry) All() []*nfs.Export {
	return r.set.Load().all
}

// FS returns the filesystem of the named export (for fsck and tests).
func (r *Registry) FS(name string) (*kvfs.FS, bool) {
	e, ok := r.set.Load().byName[name]
	if !ok {
		return nil, false
	}
	return e.fs, true
}

// DB returns the database of the named export (for checkpoints and stats).
func (r *Registry) DB(name string) (*lsm.DB, bool) {
	e, ok := r.set.Load().byName[name]
	if !ok {
		return nil, false
	}
	return e.db, true
}

// StoreStats returns the object-store request counters of every export, by name.
func (r *Registry) StoreStats() map[string]objstore.Stats {
	out := make(map[string]objstore.Stats)
	for name, e := range r.set.Load().byName {
		out[name] = e.store.Stats()
	}
	return out
}

// Flush makes every export's changes durable.
func (r *Registry) Flush(ctx context.Context) error {
	var errs []error
	for name, e := range r.set.Load().byName {
		if err := e.fs.Flush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("export %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Reload applies cfg: see the package comment. On error the old set keeps serving.
func (r *Registry) Reload(ctx context.Context, cfg *config.Config) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	if r.closed {
		return errors.New("exports: registry is closed")
	}
	old := r.set.Load()
	next, err := r.build(ctx, cfg, old)
	if err != nil {
		return err
	}
	r.set.Store(next)
	// Close what the new set no longer uses.
	var errs []error
	for name, e := range old.byName {
		if n, ok := next.byName[name]; ok && n.db == e.db {
			continue
		}
		r.log.Info("closing export", "export", name, "path", e.cfg.Path)
		if err := e.close(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close flushes and closes every export, all at once, each retrying failed
// WAL writes until ctx ends. An export it could not flush entirely is
// logged at ERROR with what was not made durable, and its error returned
// (joined with the others').
func (r *Registry) Close(ctx context.Context) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	set := r.set.Load()
	r.set.Store(&exportSet{})
	var wg sync.WaitGroup
	errs := make(chan error, len(set.byName))
	for _, e := range set.byName {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// close reports a flush that did not succeed in the end.
			_ = e.flushRetrying(ctx)
			errs <- e.close(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// flushRetrying makes every write durable, retrying until ctx ends: a failed
// WAL PUT ends one Flush with its error while the database retries the PUT
// in the background, and the next Flush waits for that retry.
func (e *openExport) flushRetrying(ctx context.Context) error {
	for {
		err := e.db.Flush(ctx)
		if err == nil || ctx.Err() != nil ||
			errors.Is(err, lsm.ErrFenced) || errors.Is(err, lsm.ErrClosed) || errors.Is(err, lsm.ErrReadOnly) {
			return err
		}
	}
}

// build opens the exports of cfg, reusing those of old whose store is unchanged.
// New exports opened before a failure are closed again.
func (r *Registry) build(ctx context.Context, cfg *config.Config, old *exportSet) (*exportSet, error) {
	next := &exportSet{
		byName: make(map[string]*openExport),
		byPath: make(map[string]*openExport),
		byFSID: make(map[uint64]*openExport),
	}
	var opened []*openExport
	fail := func(err error) (*exportSet, error) {
		for _, e := range opened {
			_ = e.close(ctx)
		}
		return nil, err
	}
	for _, ec := range cfg.Exports {
		var e *openExport
		if prev, ok := old.byName[ec.Name]; ok && sameStore(prev.cfg, ec) {
			// Same database: only the serving options may change.
			e = &openExport{cfg: ec, store: prev.store, db: prev.db, fs: prev.fs, memStore: prev.memStore, log: prev.log}
		} else {
			var err error
			e, err = r.open(ctx, cfg, ec)
			if err != nil {
				return fail(err)
			}
			opened = append(opened, e)
		}
		e.nfs = nfsExport(ec, e.fs, r.log)
		if other, dup := next.byFSID[e.fs.FSID()]; dup {
			return fail(fmt.Errorf("exports %s and %s hold the same filesystem (fsid %016x): one store was copied from the other", other.cfg.Name, ec.Name, e.fs.FSID()))
		}
		next.byName[ec.Name] = e
		next.byPath[ec.Path] = e
		next.byFSID[e.fs.FSID()] = e
		next.all = append(next.all, e.nfs)
	}
	slices.SortFunc(next.all, func(a, b *nfs.Export) int {
		switch {
		case a.Path < b.Path:
			return -1
		case a.Path > b.Path:
			return 1
		}
		return 0
	})
	return next, nil
}

// sameStore reports whether two configs of one export name the same database
// with the same connection settings.
func sameStore(a, b config.Export) bool {
	return a.Store == b.Store && a.S3 == b.S3
}

func (r *Registry) open(ctx context.Context, cfg *config.Config, ec config.Export) (*openExport, error) {
	log := r.log.With("export", ec.Name)
	raw, err := r.opts.OpenStore(ctx, ec)
	if err != nil {
		return nil, fmt.Errorf("export %s: opening store %s: %w", ec.Name, ec.Store, err)
	}
	var observe objstore.LatencyObserver
	if r.opts.StoreLatency != nil {
		observe = r.opts.StoreLatency(ec.Name)
	}
	store := objstore.NewCountingObserved(raw, observe)
	blockCache := int64(cfg.Cache.MemoryMB) << 20
	if blockCache == 0 {
		blockCache = -1 // memory_mb = 0 turns the block cache off
	}
	db, err := lsm.Open(ctx, store, lsm.Options{
		FlushInterval:   cfg.LSM.FlushInterval,
		MemtableBytes:   cfg.LSM.MemtableMB << 20,
		Compression:     compression(cfg.LSM.Compression),
		BlockCacheBytes: blockCache,
		DiskCache:       r.opts.DiskCache,
		CacheNamespace:  ec.Name,
		Logger:          log,
	})
	if err != nil {
		return nil, fmt.Errorf("export %s: opening database in %s: %w", ec.Name, ec.Store, err)
	}
	fs, err := kvfs.Open(ctx, dbKV{db: db}, kvfs.Options{
		InodeCacheEntries: ec.InodeCacheEntries,
		SizeLimitBytes:    uint64(ec.SizeLimitBytes()),
		Logger:            log,
	})
	if err != nil {
		_ = db.Close(ctx)
		return nil, fmt.Errorf("export %s: opening filesystem: %w", ec.Name, err)
	}
	log.Info("export open", "path", ec.Path, "store", ec.Store.String(), "fsid", fmt.Sprintf("%016x", fs.FSID()),
		"read_only", ec.ReadOnly, "secure", ec.Secure, "sync", string(ec.Sync), "squash", string(ec.Squash))
	return &openExport{cfg: ec, store: store, db: db, fs: fs, memStore: raw, log: log}, nil
}

func (e *openExport) close(ctx context.Context) error {
	var errs []error
	if err := e.fs.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := e.db.Close(ctx); err != nil {
		e.logUnflushed(err)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("export %s: closing: %w", e.cfg.Name, err)
	}
	return nil
}

// logUnflushed logs at ERROR what a failed database Close says it could not
// flush.
func (e *openExport) logUnflushed(err error) {
	var ue *lsm.UnflushedError
	if !errors.As(err, &ue) {
		return
	}
	attrs := []any{"lost_batches", ue.Batches, "lost_writes", ue.Writes, "lost_wal_bytes", ue.WALBytes,
		"memtable_bytes_not_in_ssts", ue.MemtableBytes, "err", ue.Err}
	if ue.Batches == 0 {
		e.log.Error("export closed before its memtables were written as SSTs; every write is durable in the WAL and is replayed at the next start", attrs...)
		return
	}
	attrs = append(attrs, "lost_seqs", fmt.Sprintf("%d-%d", ue.FirstSeq, ue.LastSeq))
	e.log.Error("export closed without making every write durable: the changes listed are lost; "+
		"none was acknowledged as durable (UNSTABLE writes not yet committed, requests that failed or were canceled), "+
		"and every acknowledged change is in the store", attrs...)
}

func compression(c config.Compression) sstable.Compression {
	switch c {
	case config.CompressionZstd:
		return sstable.CompressionZstd
	case config.CompressionNone:
		return sstable.CompressionNone
	default:
		return sstable.CompressionSnappy
	}
}

func nfsExport(ec config.Export, fs *kvfs.FS, log *slog.Logger) *nfs.Export {
	squash := nfs.SquashNone
	switch ec.Squash {
	case config.SquashRoot:
		squash = nfs.SquashRoot
	case config.SquashAll:
		squash = nfs.SquashAll
	}
	return &nfs.Export{
		Name:           ec.Name,
		Path:           ec.Path,
		FS:             fs,
		ReadOnly:       ec.ReadOnly,
		Secure:         ec.Secure,
		AllowedClients: ec.AllowedClients,
		Squash:         squash,
		AnonUID:        ec.AnonUID,
		AnonGID:        ec.AnonGID,
		StrictSync:     ec.StrictSync(),
		Logger:         log.With("export", ec.Name),
	}
}
