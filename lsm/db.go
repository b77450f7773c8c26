package lsm

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zerofs-go/zerofsd/cache"
	"github.com/zerofs-go/zerofsd/lsm/compress"
	"github.com/zerofs-go/zerofsd/lsm/journal"
	"github.com/zerofs-go/zerofsd/lsm/manifest"
	"github.com/zerofs-go/zerofsd/lsm/sstable"
	"github.com/zerofs-go/zerofsd/lsm/vlog"
	"github.com/zerofs-go/zerofsd/objstore"
)

// DB is a key-value database stored in an object store. All methods are
// safe for concurrent use.
type DB struct {
	opts     Options
	log      *slog.Logger
	counting *objstore.Counting
	store    objstore.Store // counted, wrapped by Options.WrapStore
	sstStore objstore.Store // counted, behind the disk cache when configured, then wrapped
	cache    *sstable.BlockCache
	values   *valueCache // nil without Options.ValueCacheBytes
	// codecs is the compression state every SST writer and every value
	// compression and decompression of the database shares (one zstd
	// encoder and decoder instead of one per SST or value).
	codecs *compress.Codecs
	// walBatches recycles the scratch of compressBatch (*walBatch).
	walBatches sync.Pool
	// diskCache is the optional shared disk cache (for its statistics,
	// and to forget the names WAL writes reuse); cacheNS is the database's
	// namespace in it.
	diskCache *cache.Disk
	cacheNS   string
	readOnly  bool
	// roCheckpoint is the checkpoint a read-only database is pinned to.
	roCheckpoint string
	// roCheckpointID, when not 0, is the manifest roCheckpoint must pin.
	roCheckpointID uint64
	// replica is set for the database of a Replica.
	replica bool
	// roDBID is the database (manifest DBID) whose state a read-only
	// database serves; zero before the first install and for a database
	// made before DBIDs. Guarded by mu.
	roDBID [16]byte
	// fenceCheckedID is the newest manifest CheckFence found written with
	// our epoch by someone else; guarded by manifestMu.
	fenceCheckedID uint64
	epoch          uint64
	// unfencedAt is when (db.now, in Unix nanoseconds) the writer last
	// knew that no newer writer had opened the database (unfenced.go).
	unfencedAt atomic.Int64

	// jdir is the locked journal directory (local durability, or a
	// journal left by an earlier run in local mode), nil without one;
	// journal is the journal writer with local durability, else nil.
	jdir    *journal.Dir
	journal *journal.Writer
	// unshipped counts record bytes committed but not yet in a WAL object.
	unshipped atomic.Int64

	// commitMu serializes the write path: sequence numbers, the open WAL
	// segment and inserts into the mutable memtable.
	commitMu  sync.Mutex
	lastSeq   uint64      // guarded by commitMu
	seg       *walSegment // open segment, guarded by commitMu
	lastSeal  *walSegment // most recently sealed segment, guarded by commitMu
	nextWALID uint64      // guarded by commitMu
	closing   bool        // guarded by commitMu

	visibleSeq atomic.Uint64
	v          atomic.Pointer[version]

	// mu guards version publication, the WAL queue, the live-version set
	// and the table set; roomCond signals memory being freed.
	mu         sync.Mutex
	roomCond   *sync.Cond
	walQueue   []*walSegment
	walFailCh  chan struct{} // closed and replaced on every failed WAL PUT
	walLastErr error
	live       map[*version]int
	tables     map[string]*table
	// pending holds SSTs and value objects (by object key) uploaded but
	// not yet in a manifest: GC keeps them.
	pending     map[string]bool
	pendingObjs map[vlog.Object]bool
	nextCache   uint64
	// refs caches what each SST points into (value separation).
	refs refsCache

	manifestMu sync.Mutex
	man        *manifest.Manifest // current manifest, guarded by manifestMu

	fencing atomic.Bool // fence has begun (once)
	fenced  atomic.Bool // writes are refused with ErrFenced
	closed  atomic.Bool
	// flushWanted asks the WAL writer to seal and write the open segment
	// as soon as it is free (a Flush waits for it). Set under commitMu.
	flushWanted atomic.Bool

	walKick      chan struct{}
	flushKick    chan struct{}
	compactKick  chan struct{}
	flushedCh    chan struct{} // closed and replaced whenever an L0 flush finishes or fails
	flushErrs    int           // failed flush attempts, guarded by mu
	flushLastErr error         // guarded by mu
	stop         chan struct{}
	bgCtx        context.Context
	bgCancel     context.CancelFunc
	wg           sync.WaitGroup
	gcMu         sync.Mutex
	// gcSeq is the visible sequence number when the last GC round began
	// (guarded by gcMu): a round that finds it unchanged knows nothing was
	// written meanwhile.
	gcSeq uint64
	// unreadable holds the objects a value compaction could not read
	// values of, and until when (guarded by gcMu) they are no candidates
	// (noteUnreadable).
	unreadable map[vlog.Object]time.Time
	compactMu  sync.Mutex

	stats dbCounters
}

type dbCounters struct {
	walPuts, walBytes         atomic.Int64
	l0Flushes, l0FlushNanos   atomic.Int64
	compactions, compactNanos atomic.Int64
	compactBytesIn            atomic.Int64
	compactBytesOut           atomic.Int64
	gcDeleted                 atomic.Int64
	backpressureWaits         atomic.Int64
	valueCompactions          atomic.Int64
	valueBytesRelocated       atomic.Int64
	unreadableValues          atomic.Int64
	// storedBytes is the size of every object of the store, as the last
	// GC round left it.
	storedBytes atomic.Int64
}

func newDB(store objstore.Store, opts Options, diskCache *cache.Disk, ns string, blockCacheBytes int64) *DB {
	counting := objstore.NewCounting(store)
	wrap := opts.WrapStore
	if wrap == nil {
		wrap = func(s objstore.Store) objstore.Store { return s }
	}
	db := &DB{
		opts:        opts,
		log:         opts.Logger,
		counting:    counting,
		store:       wrap(counting),
		sstStore:    wrap(cache.NewCachingStore(counting, diskCache, ns)),
		codecs:      compress.NewCodecsLevel(opts.ZstdLevel),
		live:        make(map[*version]int),
		tables:      make(map[string]*table),
		pending:     make(map[string]bool),
		pendingObjs: make(map[vlog.Object]bool),
		walFailCh:   make(chan struct{}),
		walKick:     make(chan struct{}, 1),
		flushKick:   make(chan struct{}, 1),
		compactKick: make(chan struct{}, 1),
		flushedCh:   make(chan struct{}),
		stop:        make(chan struct{}),
	}
	db.walBatches.New = db.newWALBatch
	db.diskCache, db.cacheNS = diskCache, ns
	if blockCacheBytes > 0 {
		db.cache = sstable.NewBlockCache(blockCacheBytes)
	}
	db.values = newValueCache(opts.ValueCacheBytes)
	db.roomCond = sync.NewCond(&db.mu)
	db.bgCtx, db.bgCancel = context.WithCancel(context.Background())
	return db
}

// tableFor returns the shared handle of an SST, creating it. Callers hold mu.
func (db *DB) tableForLocked(meta manifest.Table) *table {
	if t, ok := db.tables[meta.ID]; ok {
		return t
	}
	db.nextCache++
	t := &table{meta: meta, store: db.sstStore, cache: db.cache, cacheID: db.nextCache}
	db.tables[meta.ID] = t
	return t
}

// versionFromManifestLocked builds the SST part of a version. Callers hold mu.
func (db *DB) versionFromManifestLocked(m *manifest.Manifest, mem *memTable, imm []*memTable) *version {
	v := &version{mem: mem, imm: imm, manifestID: m.ID}
	for _, t := range m.L0 {
		v.l0 = append(v.l0, db.tableForLocked(t))
	}
	for _, r := range m.Runs {
		rr := &run{id: r.ID}
		for _, t := range r.Tables {
			rr.tables = append(rr.tables, db.tableForLocked(t))
		}
		v.runs = append(v.runs, rr)
	}
	return v
}

// forgetTablesLocked drops handles no longer referenced by the current
// version or a live one, evicting their cached blocks.
func (db *DB) forgetTablesLocked() {
	keep := make(map[string]bool)
	db.v.Load().tableIDs(keep)
	for v := range db.live {
		v.tableIDs(keep)
	}
	for id, t := range db.tables {
		if !keep[id] {
			delete(db.tables, id)
			if db.cache != nil {
				db.cache.EvictSST(t.cacheID)
			}
		}
	}
}

// readState returns a version and a sequence number such that every write
// with a sequence number <= seq is visible through the version.
//
// A writer's visible sequence number moves on without a new version (a
// commit inserts into the mutable memtable, then stores visibleSeq), and
// every version it publishes holds every write visible when it is
// published. The version loaded twice around visibleSeq was therefore
// current when seq was loaded, and holds every write up to seq.
//
// A read-only database replaces its whole state at once: a new manifest
// (whose compaction may have merged K@old into K@new and dropped K@old)
// with a new sequence number. Published by two stores, a reader between
// them could pair the new version with the old sequence number and miss
// K. Storing the sequence number first is not enough either: concurrent
// refreshes may install states out of order. So its versions carry their
// sequence number (installReadOnlyLocked): one atomic pointer holds both.
func (db *DB) readState() (*version, uint64) {
	if db.readOnly {
		v := db.v.Load()
		return v, v.seq
	}
	for {
		v := db.v.Load()
		seq := db.visibleSeq.Load()
		if db.v.Load() == v {
			return v, seq
		}
	}
}

// unpin releases a version pinned by an iterator (NewIterator pins it, so
// GC keeps its SSTs).
func (db *DB) unpin(v *version) {
	db.mu.Lock()
	if db.live[v]--; db.live[v] <= 0 {
		delete(db.live, v)
	}
	db.mu.Unlock()
}

func (db *DB) now() time.Time { return db.opts.Now() }

// checkWritable returns the error a write must fail with, if any.
func (db *DB) checkWritable() error {
	switch {
	case db.readOnly:
		return ErrReadOnly
	case db.closed.Load():
		return ErrClosed
	case db.fenced.Load():
		return ErrFenced
	}
	return nil
}

// putTable uploads an SST, registering it as pending first so that GC in
// this process never deletes it before a manifest references it.
func (db *DB) putTable(ctx context.Context, id string, data []byte) error {
	db.mu.Lock()
	db.pending[id] = true
	db.mu.Unlock()
	err := db.store.Put(ctx, tableKey(id), data)
	if err != nil {
		db.unpend(id) // maybe landed: then an orphan, collected after GCMinAge
	}
	return err
}

// unpend forgets pending SSTs (once referenced, or abandoned).
func (db *DB) unpend(ids ...string) {
	db.mu.Lock()
	for _, id := range ids {
		delete(db.pending, id)
	}
	db.mu.Unlock()
}
