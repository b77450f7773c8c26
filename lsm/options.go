package lsm

import (
	"log/slog"
	"time"

	"github.com/zerofs-go/zerofsd/cache"
	"github.com/zerofs-go/zerofsd/lsm/journal"
	"github.com/zerofs-go/zerofsd/lsm/sstable"
	"github.com/zerofs-go/zerofsd/objstore"
)

// Durability says when a write counts as durable: when a write with
// AwaitDurable returns, and what Flush waits for.
type Durability int

const (
	// DurabilityBucket: durable once it is in a WAL object in the store.
	// A crash of the process or the machine, or the loss of its disks,
	// loses nothing acknowledged. The default.
	DurabilityBucket Durability = iota
	// DurabilityLocal: durable once it is fsynced to the local journal
	// (JournalDir); WAL objects follow in the background. A crash of the
	// process or the machine loses nothing acknowledged (Open ships the
	// journal's tail to the store); the loss of the journal's disk loses
	// what was not yet in the store (Stats.UnshippedBytes, UnshippedAge).
	DurabilityLocal
)

func (d Durability) String() string {
	if d == DurabilityLocal {
		return "local"
	}
	return "bucket"
}

// Defaults of Options that the daemon's configuration also documents
// (package config renders them in its own units).
const (
	DefaultFlushInterval   = 50 * time.Millisecond
	DefaultShipInterval    = 500 * time.Millisecond
	DefaultMemtableBytes   = 64 << 20
	DefaultBlockCacheBytes = 256 << 20
	// DefaultMaxUnflushedBytes is the default of MaxUnflushedBytes.
	DefaultMaxUnflushedBytes = 256 << 20
)

// Options configure a writer opened with Open. Zero fields take the
// documented defaults.
type Options struct {
	// FlushInterval is how often the WAL buffer is written as one object
	// while writes flow (group commit). Default DefaultFlushInterval (50ms).
	FlushInterval time.Duration
	// ShipInterval is how often, with DurabilityLocal, the journal's
	// records are shipped to the store as one WAL object while writes flow.
	// Nobody waits for these PUTs, so they can be far apart: each ships
	// everything since the previous one, and begins one interval after the
	// first write it carries (or when the PUT before it ends, if later).
	// So while PUTs take less than the interval, the loss of the journal's
	// disk loses at most the writes of this much plus one PUT. Default
	// DefaultShipInterval (500ms). Unused with DurabilityBucket.
	ShipInterval time.Duration
	// WALMaxBytes writes the WAL buffer early once it holds this many
	// bytes. Default 4 MiB.
	WALMaxBytes int
	// MemtableBytes freezes the mutable memtable (to be written as an L0
	// SST) once it holds about this many bytes. Default DefaultMemtableBytes
	// (64 MiB).
	MemtableBytes int
	// MaxUnflushedBytes bounds the memory of memtables not yet written as
	// SSTs; writers wait (backpressure) above it. Default
	// DefaultMaxUnflushedBytes (256 MiB), and never less than
	// 2*MemtableBytes. The WAL objects not yet in the store hold the same
	// changes (a memtable is written out only after its WAL objects), so
	// they take at most as much memory again. With DurabilityLocal it
	// bounds the records waiting in memory for the journal's disk too:
	// writers also wait while the journal holds that many bytes not yet
	// written (its disk slower than the writes, or failing).
	MaxUnflushedBytes int64
	// L0CompactionTrigger starts a compaction once this many L0 SSTs exist.
	// Default 8.
	L0CompactionTrigger int
	// TargetSSTBytes splits compaction output into SSTs of about this size.
	// Default 64 MiB.
	TargetSSTBytes int
	// BlockSize is the SST data block size. Default 4 KiB.
	BlockSize int
	// Compression of SST data blocks and of separated values (each value
	// on its own, in the WAL record that first stores it). A block or a
	// value is stored compressed only when that saves at least an eighth.
	// The zero value is no compression. It may differ between runs: what
	// is stored says how it is compressed.
	Compression sstable.Compression
	// ZstdLevel is the zstd level (compress.MinZstdLevel to MaxZstdLevel)
	// of what is compressed with zstd. Default compress.DefaultZstdLevel.
	ZstdLevel int
	// BlockCacheBytes sizes the in-memory cache of decoded SST blocks.
	// Default DefaultBlockCacheBytes (256 MiB); negative disables it.
	BlockCacheBytes int64
	// ValueCacheBytes sizes the in-memory cache of values read from value
	// and WAL objects (file data), which the block cache does not hold.
	// Default 0: none (an encrypted export caches them as decrypted frames
	// below the database instead).
	ValueCacheBytes int64
	// DiskCache, when set, caches SST byte ranges on local disk under
	// CacheNamespace (which should name the database, e.g. the identity of
	// its store).
	DiskCache      *cache.Disk
	CacheNamespace string
	// Durability is when a write counts as durable. Default DurabilityBucket.
	Durability Durability
	// JournalDir is the directory of the database's local journal, one
	// directory per database (it is locked). Required with
	// DurabilityLocal. With DurabilityBucket, a journal an earlier run in
	// local mode left there is still recovered by Open.
	JournalDir string
	// JournalFS is the file system JournalDir is on. Default the OS's.
	JournalFS journal.FS
	// JournalFileBytes starts a new journal file once the current one
	// holds this many bytes. Default 64 MiB.
	JournalFileBytes int64
	// JournalCipher, when set, seals the local journal's records (an
	// encrypted database: package crypt's Sealer, the same keys as
	// WrapStore's). Open then refuses to apply a journal left in the
	// clear: it sets it aside. Without it the journal is written in the
	// clear, and a sealed journal in JournalDir fails Open
	// (journal.ErrSealed).
	JournalCipher journal.Cipher
	// WrapStore, when set, wraps every view of the store the database
	// reads and writes through, above the disk cache: reads go WrapStore,
	// then the disk cache, then the store, so the cache holds what
	// WrapStore writes (ciphertext, for an encrypting wrapper). It is
	// called once per view.
	WrapStore func(objstore.Store) objstore.Store
	// GCInterval is how often obsolete objects are collected (rounds are
	// skipped while nothing changed). Default 1m; negative disables
	// background GC (RunGC still works).
	GCInterval time.Duration
	// GCMinAge protects unreferenced SSTs, value objects and old manifests
	// younger than this (an SST being written has no manifest reference
	// yet). Default 10m.
	GCMinAge time.Duration
	// ValueThreshold: a value at least this long is stored once, in its WAL
	// object (compressed with Compression when that pays), and the SSTs
	// hold a pointer to it (value separation; see package vlog). Default
	// 512 bytes; negative keeps every value in the SSTs.
	ValueThreshold int
	// ValueGarbageRatio: a GC round starts a compaction of every SST that
	// also relocates the live values of mostly-dead objects once the
	// garbage in the objects holding values is estimated above this
	// fraction of their live bytes, and relocates until the garbage is under
	// half of it. While writes flow (anything written since the previous
	// round) it waits for twice the garbage: values still being overwritten
	// die soon after a copy. Default 0.2.
	ValueGarbageRatio float64
	// ValueGCMinBytes: no such compaction for less garbage than this.
	// Default 16 MiB.
	ValueGCMinBytes int64
	// Logger receives the database's logs. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.FlushInterval <= 0 {
		o.FlushInterval = DefaultFlushInterval
	}
	if o.ShipInterval <= 0 {
		o.ShipInterval = DefaultShipInterval
	}
	if o.WALMaxBytes <= 0 {
		o.WALMaxBytes = 4 << 20
	}
	if o.MemtableBytes <= 0 {
		o.MemtableBytes = DefaultMemtableBytes
	}
	if o.MaxUnflushedBytes <= 0 {
		o.MaxUnflushedBytes = DefaultMaxUnflushedBytes
	}
	if o.MaxUnflushedBytes < 2*int64(o.MemtableBytes) {
		o.MaxUnflushedBytes = 2 * int64(o.MemtableBytes)
	}
	if o.L0CompactionTrigger <= 0 {
		o.L0CompactionTrigger = 8
	}
	if o.TargetSSTBytes <= 0 {
		o.TargetSSTBytes = 64 << 20
	}
	if o.BlockSize <= 0 {
		o.BlockSize = 4 << 10
	}
	if o.BlockCacheBytes == 0 {
		o.BlockCacheBytes = DefaultBlockCacheBytes
	}
	if o.GCInterval == 0 {
		o.GCInterval = time.Minute
	}
	if o.GCMinAge <= 0 {
		o.GCMinAge = 10 * time.Minute
	}
	if o.ValueThreshold == 0 {
		o.ValueThreshold = 512
	}
	if o.ValueGarbageRatio <= 0 {
		o.ValueGarbageRatio = 0.2
	}
	if o.ValueGCMinBytes <= 0 {
		o.ValueGCMinBytes = 16 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// WriteOptions configure one write.
type WriteOptions struct {
	// AwaitDurable makes the write return only once it is durable (see
	// Durability): in a WAL object in the store, or fsynced to the local
	// journal. Concurrent writers share the PUT or the fsync.
	AwaitDurable bool
}

// ReadOnlyOptions configure OpenReadOnly.
type ReadOnlyOptions struct {
	// Checkpoint pins the reader to the named checkpoint; empty follows the
	// latest manifest and WAL as of Open (and of each Refresh).
	Checkpoint string
	// CheckpointManifestID, with Checkpoint, opens that checkpoint only if
	// it pins this manifest (else ErrCheckpointNotFound): a checkpoint
	// deleted and created again under the same name is another one.
	CheckpointManifestID uint64
	BlockCacheBytes      int64
	ValueCacheBytes      int64 // as Options.ValueCacheBytes
	DiskCache            *cache.Disk
	CacheNamespace       string
	WrapStore            func(objstore.Store) objstore.Store
	Logger               *slog.Logger
}
