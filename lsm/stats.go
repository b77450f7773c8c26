package lsm

import (
	"time"

	"github.com/zerofs-go/zerofsd/cache"
	"github.com/zerofs-go/zerofsd/lsm/journal"
	"github.com/zerofs-go/zerofsd/lsm/sstable"
	"github.com/zerofs-go/zerofsd/objstore"
)

// Stats is a snapshot of the database's state and counters.
type Stats struct {
	// MemtableBytes is the size of the mutable memtable.
	MemtableBytes int64
	// ImmutableMemtables and ImmutableBytes describe frozen memtables
	// waiting to be written as L0 SSTs.
	ImmutableMemtables int
	ImmutableBytes     int64
	L0Tables           int
	SortedRuns         int
	// Tables and TableBytes count every SST of the current version.
	Tables     int
	TableBytes int64
	// ManifestID is the current manifest; WriterEpoch our epoch.
	ManifestID  uint64
	WriterEpoch uint64
	LastSeq     uint64
	Fenced      bool
	// Requests counts object-store requests by operation (objstore.Op).
	Requests objstore.Stats
	// BlockCache is the memory block cache's counters.
	BlockCache sstable.CacheStats
	// ValueCache is the memory value cache's counters (zero without one).
	ValueCache ValueCacheStats
	// DiskCache is the shared disk cache's counters (all databases of the
	// process together), when one is configured.
	DiskCache *cache.DiskStats

	WALPuts, WALBytes  int64
	L0Flushes          int64
	L0FlushTime        time.Duration
	Compactions        int64
	CompactionTime     time.Duration
	CompactionBytesIn  int64
	CompactionBytesOut int64
	GCDeletedObjects   int64
	BackpressureWaits  int64
	// ValueCompactions counts value compactions (see RunGC) and
	// ValueBytesRelocated the bytes of live values they copied.
	ValueCompactions    int64
	ValueBytesRelocated int64
	// UnreadableValues counts the live values value compactions could
	// not read (their object missing or unreadable, or their stored bytes
	// damaged) and so left where they were, their object kept.
	UnreadableValues int64
	// StoredBytes is the size of every object of the store as the last GC
	// round left it (0 before the first round).
	StoredBytes int64

	// UnshippedBytes is the size of the committed records not yet in a
	// WAL object in the store, and UnshippedAge how long the oldest of them
	// has waited: with local durability, what the loss of the journal's
	// disk would lose.
	UnshippedBytes int64
	UnshippedAge   time.Duration
	// Journal is the local journal's counters (local durability only).
	Journal *journal.Stats
}

// Stats returns the current statistics.
func (db *DB) Stats() Stats {
	v := db.v.Load()
	s := Stats{
		MemtableBytes:      v.mem.Size(),
		ImmutableMemtables: len(v.imm),
		L0Tables:           len(v.l0),
		SortedRuns:         len(v.runs),
		ManifestID:         v.manifestID,
		WriterEpoch:        db.epoch,
		LastSeq:            db.visibleSeq.Load(),
		Fenced:             db.fenced.Load(),
		Requests:           db.counting.Stats(),
		WALPuts:            db.stats.walPuts.Load(),
		WALBytes:           db.stats.walBytes.Load(),
		L0Flushes:          db.stats.l0Flushes.Load(),
		L0FlushTime:        time.Duration(db.stats.l0FlushNanos.Load()),
		Compactions:        db.stats.compactions.Load(),
		CompactionTime:     time.Duration(db.stats.compactNanos.Load()),
		CompactionBytesIn:  db.stats.compactBytesIn.Load(),
		CompactionBytesOut: db.stats.compactBytesOut.Load(),
		GCDeletedObjects:   db.stats.gcDeleted.Load(),
		BackpressureWaits:  db.stats.backpressureWaits.Load(),

		ValueCompactions:    db.stats.valueCompactions.Load(),
		ValueBytesRelocated: db.stats.valueBytesRelocated.Load(),
		UnreadableValues:    db.stats.unreadableValues.Load(),
		StoredBytes:         db.stats.storedBytes.Load(),
	}
	for _, m := range v.imm {
		s.ImmutableBytes += m.Size()
	}
	s.UnshippedBytes, s.UnshippedAge = db.unshippedStats()
	if db.journal != nil {
		js := db.journal.Stats()
		s.Journal = &js
	}
	for _, t := range v.l0 {
		s.Tables++
		s.TableBytes += t.meta.Size
	}
	for _, r := range v.runs {
		for _, t := range r.tables {
			s.Tables++
			s.TableBytes += t.meta.Size
		}
	}
	if db.cache != nil {
		s.BlockCache = db.cache.Stats()
	}
	s.ValueCache = db.values.stats()
	if db.diskCache != nil {
		ds := db.diskCache.Stats()
		s.DiskCache = &ds
	}
	return s
}

// unshippedStats returns the bytes and age of the records not yet in a WAL
// object: the oldest is in the first queued segment, else in the open one.
func (db *DB) unshippedStats() (int64, time.Duration) {
	if db.readOnly {
		return 0, 0
	}
	var oldest time.Time
	db.mu.Lock()
	if len(db.walQueue) > 0 {
		oldest = db.walQueue[0].firstAt
	}
	db.mu.Unlock()
	if oldest.IsZero() {
		db.commitMu.Lock()
		if db.seg != nil && !db.seg.empty() {
			oldest = db.seg.firstAt
		}
		db.commitMu.Unlock()
	}
	if oldest.IsZero() {
		return db.unshipped.Load(), 0
	}
	return db.unshipped.Load(), db.now().Sub(oldest)
}
