package exports

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zerofs-go/zerofsd/cache"
	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/crypt"
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
	// Logger receives the registry's logs: a store's database and
	// filesystem log with a "store" attribute (its identity), the NFS layer
	// with an "export" attribute. Default slog.Default().
	Logger *slog.Logger
	// OpenStore builds an export's object store. Default: OpenStore, the
	// store named by the export's URL (local directory, S3 or memory),
	// logging to Logger. A reload applies new S3 connection settings to a
	// store it returns only if it is an *objstore.S3.
	OpenStore func(ctx context.Context, e config.Export) (objstore.Store, error)
	// StoreLatency, when set, returns the observer of the named export's
	// object-store request durations (for latency histograms). A store
	// reports to the export that serves it now.
	StoreLatency func(export string) objstore.LatencyObserver
	// Clock is the time of scheduled snapshots (snapshot_every). Default
	// the system clock.
	Clock Clock
	// FenceCheckInterval is how often the registry looks for stores fenced
	// by a restore (zerofsd checkpoint restore) to open them again.
	// Default 2s.
	FenceCheckInterval time.Duration
}

// ErrReloadRefused is matched (errors.Is) by Reload's error when the new
// config was refused and nothing changed: every running export serves on
// exactly as before.
var ErrReloadRefused = errors.New("reload refused")

// Registry holds the open exports. It implements nfs.ExportSet.
type Registry struct {
	opts Options
	log  *slog.Logger

	reloadMu sync.Mutex // serializes Reload and Close
	set      atomic.Pointer[exportSet]
	closed   bool
	// shared is the config that every open database was opened with
	// ([lsm], cache.memory_mb, cache.read_ahead_mb), guarded by reloadMu.
	shared sharedSettings
	// cfg is the config in force (for reopening a store a restore fenced),
	// guarded by reloadMu.
	cfg *config.Config
	// watch reopens the stores a restore fenced.
	watch *fenceWatch
}

var _ nfs.ExportSet = (*Registry)(nil)

// sharedSettings are the settings of a database fixed when it opens.
type sharedSettings struct {
	lsm                   config.LSM
	memoryMB, readAheadMB int
	journalDir            string
}

func sharedSettingsOf(cfg *config.Config) sharedSettings {
	return sharedSettings{lsm: cfg.LSM, memoryMB: cfg.Cache.MemoryMB, readAheadMB: cfg.Cache.ReadAheadMB, journalDir: cfg.Cache.JournalDir}
}

// exportSet is an immutable snapshot of the open exports.
type exportSet struct {
	byName  map[string]*openExport
	byPath  map[string]*openExport
	byFSID  map[uint64]*openExport
	byStore map[storeID]*database
	all     []*nfs.Export // sorted by path
	// snapshotted are the exports with a snapshot directory.
	snapshotted []*openExport
}

// openExport is one export: its config, the database of its store, and what
// the NFS server sees of it.
type openExport struct {
	cfg config.Export
	db  *database
	nfs *nfs.Export
	// snapExports caches the nfs.Export of each snapshot, by FSID.
	snapExports sync.Map
}

// Open opens every export of cfg. On error, the databases opened so far are
// closed.
func Open(ctx context.Context, cfg *config.Config, opts Options) (*Registry, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if opts.FenceCheckInterval <= 0 {
		opts.FenceCheckInterval = 2 * time.Second
	}
	r := &Registry{opts: opts, log: opts.Logger}
	p, err := r.prepare(ctx, cfg, emptySet())
	if err != nil {
		return nil, err
	}
	r.commit(p)
	r.shared = sharedSettingsOf(cfg)
	r.cfg = cfg
	r.watch = r.startFenceWatch()
	return r, nil
}

func emptySet() *exportSet {
	return &exportSet{
		byName:  make(map[string]*openExport),
		byPath:  make(map[string]*openExport),
		byFSID:  make(map[uint64]*openExport),
		byStore: make(map[storeID]*database),
	}
}

// ByPath returns the export mounted at path.
func (r *Registry) ByPath(path string) (*nfs.Export, bool) {
	if e, ok := r.set.Load().byPath[path]; ok {
		return e.nfs, true
	}
	return nil, false
}

// ByFSID returns the export whose filesystem has this id, or the snapshot
// (read-only, with its export's access rules) that has it.
func (r *Registry) ByFSID(fsid uint64) (*nfs.Export, bool) {
	set := r.set.Load()
	if e, ok := set.byFSID[fsid]; ok {
		return e.nfs, true
	}
	return set.snapshotByFSID(fsid)
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
	return e.db.fs, true
}

// FSStats is what an export's filesystem serves, for metrics.
type FSStats struct {
	// DataBytes is the size of the files' data (kvfs.FS.DataBytes).
	DataBytes int64
	// ReadAhead is the filesystem's read-ahead; for a replica, the sum
	// over every state it served since it opened.
	ReadAhead kvfs.ReadAheadStats
}

// FSStats returns the filesystem statistics of the named export: of the
// filesystem that serves it (a replica's current state, not the one it
// opened with).
func (r *Registry) FSStats(name string) (FSStats, bool) {
	e, ok := r.set.Load().byName[name]
	if !ok {
		return FSStats{}, false
	}
	if rfs := e.db.rfs.Load(); rfs != nil {
		return rfs.stats(), true
	}
	return FSStats{DataBytes: e.db.fs.DataBytes(), ReadAhead: e.db.fs.ReadAheadStats()}, true
}

// DB returns the database of the named export (for checkpoints and stats).
func (r *Registry) DB(name string) (*lsm.DB, bool) {
	e, ok := r.set.Load().byName[name]
	if !ok {
		return nil, false
	}
	return e.db.db, true
}

// StoreStats returns the object-store request counters of every export, by
// name (counted since its store was opened).
func (r *Registry) StoreStats() map[string]objstore.Stats {
	out := make(map[string]objstore.Stats)
	for name, e := range r.set.Load().byName {
		out[name] = e.db.store.Stats()
	}
	return out
}

// ReplicaStats returns how far behind its writer each replica export is,
// by name.
func (r *Registry) ReplicaStats() map[string]lsm.ReplicaStats {
	out := make(map[string]lsm.ReplicaStats)
	for name, e := range r.set.Load().byName {
		if e.db.replica != nil {
			out[name] = e.db.replicaStats()
		}
	}
	return out
}

// SnapshotStats returns the snapshot counters of every export, by name.
func (r *Registry) SnapshotStats() map[string]SnapshotStats {
	out := make(map[string]SnapshotStats)
	for name, e := range r.set.Load().byName {
		var st SnapshotStats
		if e.db.sched != nil {
			st.Taken, st.Failed, st.Deleted = e.db.sched.stats()
		}
		st.OpenReaders = e.db.snaps.OpenReaders()
		out[name] = st
	}
	return out
}

// Flush makes every export's changes durable.
func (r *Registry) Flush(ctx context.Context) error {
	var errs []error
	for name, e := range r.set.Load().byName {
		if err := e.db.fs.Flush(ctx); err != nil {
			errs = append(errs, fmt.Errorf("export %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Reload applies cfg; see the package comment for what it guarantees. An
// error matching ErrReloadRefused means nothing changed. Any other error
// means cfg was applied but a database no longer used failed to flush or
// close (logged as well).
func (r *Registry) Reload(ctx context.Context, cfg *config.Config) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	if r.closed {
		return fmt.Errorf("%w: the registry is closed", ErrReloadRefused)
	}
	old := r.set.Load()
	p, err := r.prepare(ctx, cfg, old)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrReloadRefused, err)
	}
	r.commit(p)
	r.cfg = cfg
	if shared := sharedSettingsOf(cfg); shared != r.shared {
		r.log.Warn("[lsm], cache.memory_mb, cache.read_ahead_mb and cache.journal_dir apply to stores opened from now on; the stores kept open keep their settings until they are reopened (restart)")
		if shared.journalDir != r.shared.journalDir {
			r.log.Warn("cache.journal_dir changed: a local export opened from now on keeps its journal in the new directory; a journal tail left in the old one is not found there (move it while its store is not open: see docs/config.md)",
				"old", r.shared.journalDir, "new", shared.journalDir)
		}
		r.shared = shared
	}
	if cfg.Server.ShutdownTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Server.ShutdownTimeout)
		defer cancel()
	}
	return r.retire(ctx, old, p.set)
}

// Close flushes and closes every export, all at once, each retrying failed
// WAL writes until ctx ends. An export it could not flush entirely is
// logged at ERROR with what was not made durable, and its error returned
// (joined with the others').
func (r *Registry) Close(ctx context.Context) error {
	// The fence watch first, and without reloadMu: a reopen after a
	// restore holds reloadMu for as long as the store holds it up (up to
	// reopenTimeout); stopping the watch cancels it.
	r.watch.stop()
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	set := r.set.Load()
	r.set.Store(emptySet())
	return closeAll(ctx, slices.Collect(maps.Values(set.byStore)))
}

// closeAll closes dbs at once and joins their errors.
func closeAll(ctx context.Context, dbs []*database) error {
	var wg sync.WaitGroup
	errs := make([]error, len(dbs))
	for i, d := range dbs {
		wg.Go(func() { errs[i] = d.close(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// plan is a new export set ready to be published, and what publishing it
// takes.
type plan struct {
	set *exportSet
	// opened are the databases opened for it: closed again if it is given up.
	opened []*database
	// clients are the S3 connection settings to swap into kept databases.
	clients map[*database]*objstore.S3Client
	// creds are the new keys of kept encrypted databases, checked to
	// unlock their keyrings.
	creds map[*database]*crypt.Credential
}

// prepare builds the export set of cfg without changing anything the
// running set serves. It reuses old's database of every store old serves
// (applying nothing yet), and opens the others:
//
//  1. every export's store identity is computed, and two exports naming one
//     store are refused;
//  2. the new S3 settings of kept databases are validated and their clients
//     built (not yet used), and their encryption checked: not switched on
//     or off, and a changed key unlocks their keyring;
//  3. the stores old does not serve are opened. Their identities differ from
//     every running one, so a new writer fences no database we serve;
//  4. last, a store old serves read-only that cfg makes writable gets its
//     writer, beside the read-only instance, which holds no fence and goes
//     on reading what it read.
//
// On error, what steps 3 and 4 opened is closed again and old is untouched.
func (r *Registry) prepare(ctx context.Context, cfg *config.Config, old *exportSet) (*plan, error) {
	ids := make([]storeID, len(cfg.Exports))
	byID := make(map[storeID]string)
	for i, ec := range cfg.Exports {
		id, err := identify(ec)
		if err != nil {
			return nil, err
		}
		if other, dup := byID[id]; dup {
			return nil, fmt.Errorf("exports %s and %s name the same store (%s): one store has one writer", other, ec.Name, id)
		}
		byID[id] = ec.Name
		ids[i] = id
	}

	p := &plan{set: emptySet(), clients: make(map[*database]*objstore.S3Client), creds: make(map[*database]*crypt.Credential)}
	fail := func(err error) (*plan, error) {
		for _, d := range p.opened {
			if cerr := d.close(ctx); cerr != nil {
				r.log.Warn("closing a store opened for a refused config", "store", string(d.id), "err", cerr)
			}
		}
		return nil, err
	}
	dbs := make([]*database, len(cfg.Exports))
	for i, ec := range cfg.Exports {
		cur := old.byStore[ids[i]]
		// A writer is kept whatever ec says (read_only and replica then
		// refuse changes at the NFS layer); a read-only store only while ec
		// wants it read-only, and a replica only as a replica.
		if cur == nil || (!cur.writer && (ec.Writable() || (cur.replica != nil) != ec.Replica)) {
			continue // opened below
		}
		client, err := cur.prepareS3(ctx, ec)
		if err != nil {
			return fail(err)
		}
		if client != nil {
			p.clients[cur] = client
		}
		cred, err := cur.prepareEncryption(ctx, ec)
		if err != nil {
			return fail(err)
		}
		if cred != nil {
			p.creds[cur] = cred
		}
		dbs[i] = cur
	}
	// Stores old does not serve first, then writers for stores old serves
	// read-only: a config refused for another export then opens no writer
	// beside a running reader (which would fence a writer elsewhere for
	// nothing).
	for _, upgrades := range []bool{false, true} {
		for i, ec := range cfg.Exports {
			if dbs[i] != nil || (old.byStore[ids[i]] != nil) != upgrades {
				continue
			}
			d, err := r.openDatabase(ctx, cfg, ec, ids[i], ec.Writable(), nil)
			if err != nil {
				return fail(err)
			}
			p.opened = append(p.opened, d)
			dbs[i] = d
		}
	}

	for i, ec := range cfg.Exports {
		d := dbs[i]
		if err := p.set.add(&openExport{cfg: ec, db: d, nfs: nfsExport(ec, d, r.log)}); err != nil {
			return fail(err)
		}
	}
	p.set.sort()
	return p, nil
}

// add puts e into s; two exports of one filesystem are refused.
func (s *exportSet) add(e *openExport) error {
	fsid := e.db.fs.FSID()
	if other, dup := s.byFSID[fsid]; dup {
		return fmt.Errorf("exports %s and %s hold the same filesystem (fsid %016x): one store was copied from the other", other.cfg.Name, e.cfg.Name, fsid)
	}
	s.byName[e.cfg.Name] = e
	s.byPath[e.cfg.Path] = e
	s.byFSID[fsid] = e
	s.byStore[e.db.id] = e.db
	s.all = append(s.all, e.nfs)
	if e.cfg.SnapshotDir != "" {
		s.snapshotted = append(s.snapshotted, e)
	}
	return nil
}

// sort orders s.all by mount path, once every export is added.
func (s *exportSet) sort() {
	slices.SortFunc(s.all, func(a, b *nfs.Export) int { return strings.Compare(a.Path, b.Path) })
}

// commit applies the live settings of p to the databases it keeps and
// publishes p's set: the next request sees it. It cannot fail.
func (r *Registry) commit(p *plan) {
	for _, e := range p.set.byName {
		e.db.apply(e.cfg, p.clients[e.db], p.creds[e.db])
		e.db.observeAs(r.opts.StoreLatency, e.cfg.Name)
		if !e.cfg.Writable() && e.db.writer {
			r.log.Info("read_only or replica export kept as its store's writer: NFS refuses every change; the store stays fenced against other writers until the export is removed or the daemon restarts",
				"export", e.cfg.Name)
		}
		r.log.Info("serving export", "export", e.cfg.Name, "path", e.cfg.Path, "store", string(e.db.id),
			"fsid", fmt.Sprintf("%016x", e.db.fs.FSID()), "read_only", e.cfg.ReadOnly, "replica", e.cfg.Replica, "secure", e.cfg.Secure,
			"sync", syncName(e.nfs.StrictSync), "squash", string(e.cfg.Squash))
	}
	r.set.Store(p.set)
}

// retire flushes and closes the databases of old that next no longer uses,
// retrying failed flushes until ctx ends (Reload bounds it by
// server.shutdown_timeout). Requests that resolved an export of old just
// before the swap may still be running on them: Close makes what they
// acknowledged durable, and refuses what comes after. It holds reloadMu
// throughout, so no later reload opens one of these stores again before it
// is closed.
func (r *Registry) retire(ctx context.Context, old, next *exportSet) error {
	var gone []*database
	for id, d := range old.byStore {
		if next.byStore[id] != d {
			d.log.Info("closing store no export uses any more", "export", d.exportName())
			gone = append(gone, d)
		}
	}
	err := closeAll(ctx, gone)
	if err != nil {
		r.log.Error("closing a store no longer served failed: what it could not flush is listed above", "err", err)
	}
	return err
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

// syncName is the sync mode an export's replies follow (config.Export's
// StrictSyncWith: a defaulted sync follows the durability in use).
func syncName(strict bool) string {
	if strict {
		return string(config.SyncStrict)
	}
	return string(config.SyncCommit)
}

func nfsExport(ec config.Export, d *database, log *slog.Logger) *nfs.Export {
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
		FS:             d.exportedFS(ec),
		ReadOnly:       !ec.Writable(),
		Secure:         ec.Secure,
		AllowedClients: ec.AllowedClients,
		Squash:         squash,
		AnonUID:        ec.AnonUID,
		AnonGID:        ec.AnonGID,
		StrictSync:     ec.StrictSyncWith(d.durability),
		WriteVerifier:  d.verifier,
		Logger:         log.With("export", ec.Name),
	}
}
