package lsm

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/zerofs-go/zerofsd/lsm/manifest"
	"github.com/zerofs-go/zerofsd/lsm/memtable"
	"github.com/zerofs-go/zerofsd/lsm/sstable"
	"github.com/zerofs-go/zerofsd/objstore"
)

// memTable is a memtable plus the WAL segment holding its last write (set
// when it is frozen): it may become an L0 SST only once that segment is
// durable, and the SST then covers the WAL up to that segment's id.
type memTable struct {
	*memtable.Memtable
	lastSeg *walSegment
	// sst is the L0 SST uploaded for this memtable (only the flusher
	// touches it): a retried flush reuses it, so an update whose first
	// answer was lost does not add the same data twice.
	sst      manifest.Table
	uploaded bool
}

// table is one SST the database may read; its reader is opened on first use.
type table struct {
	meta    manifest.Table
	store   objstore.Store
	cache   *sstable.BlockCache
	cacheID uint64

	mu     sync.Mutex // serializes opening
	reader atomic.Pointer[sstable.Reader]
}

type storeSource struct {
	store objstore.Store
	key   string
}

func (s storeSource) ReadAt(ctx context.Context, off, n int64) ([]byte, error) {
	return s.store.GetRange(ctx, s.key, off, n)
}

func (t *table) open(ctx context.Context) (*sstable.Reader, error) {
	if r := t.reader.Load(); r != nil {
		return r, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.reader.Load(); r != nil {
		return r, nil
	}
	key := tableKey(t.meta.ID)
	r, err := sstable.Open(ctx, key, t.meta.Size, storeSource{t.store, key},
		sstable.ReaderOptions{Cache: t.cache, CacheID: t.cacheID})
	if err != nil {
		return nil, wrapTableErr(key, err)
	}
	t.reader.Store(r)
	return r, nil
}

func wrapTableErr(key string, err error) error {
	if isCorrupt(err) {
		return corrupt(key, err)
	}
	return fmt.Errorf("lsm: reading %s: %w", key, err)
}

func isCorrupt(err error) bool {
	return err != nil && (errorsIs(err, sstable.ErrCorrupt) || errorsIs(err, ErrCorrupt))
}

// run is a sorted run: tables in key order, non-overlapping.
type run struct {
	id     uint64
	tables []*table
}

// find returns the table that may hold key, or nil.
func (r *run) find(key []byte) *table {
	i := sort.Search(len(r.tables), func(i int) bool {
		return bytes.Compare(r.tables[i].meta.Largest, key) >= 0
	})
	if i == len(r.tables) || bytes.Compare(r.tables[i].meta.Smallest, key) > 0 {
		return nil
	}
	return r.tables[i]
}

// version is an immutable view of everything a read consults. A new
// version is published (atomically) on every memtable freeze, L0 flush and
// compaction; readers and iterators keep the one they started with.
type version struct {
	mem  *memTable
	imm  []*memTable // frozen, newest first
	l0   []*table    // newest first
	runs []*run      // newest first
	// manifestID is the manifest the SSTs come from.
	manifestID uint64
	// seq, in a read-only database, is the sequence number the version is
	// read at (see readState); a writer's versions leave it 0.
	seq uint64
}

// tableList returns every SST of the version.
func (v *version) tableList() []*table {
	ts := slices.Clone(v.l0)
	for _, r := range v.runs {
		ts = append(ts, r.tables...)
	}
	return ts
}

func (v *version) tableIDs(into map[string]bool) {
	for _, t := range v.l0 {
		into[t.meta.ID] = true
	}
	for _, r := range v.runs {
		for _, t := range r.tables {
			into[t.meta.ID] = true
		}
	}
}

func (v *version) unflushedBytes() int64 {
	n := v.mem.Size()
	for _, m := range v.imm {
		n += m.Size()
	}
	return n
}
