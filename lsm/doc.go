// Package lsm is a key-value database that lives entirely in an object
// store (SlateDB's design): a write-ahead log of immutable objects,
// in-memory memtables, SSTs, and a manifest updated by compare-and-swap.
// The local disk is at most a cache.
//
// # Layout under the store
//
//	manifest/%020d.manifest   versioned manifests (package manifest); the highest id is current
//	wal/%020d.sst             WAL objects (package wal), one per group commit, ids strictly increasing
//	compacted/<id>.sst        L0 SSTs and sorted-run SSTs (package sstable); id = 48-bit ms time + 80 random bits
//	values/<id>.val           value objects (package vlog): live values a value compaction copied
//	restore/%020d.restore     restore markers (Restore), named after the restore's writer epoch
//	leases/<id>.lease         one per replica (OpenReplica): the manifests it reads, and a TTL
//
// No object name is a "directory" of another. With local durability the
// database also has a local journal directory (package journal).
//
// # Write path and durability
//
// Put, Delete and Write take the commit lock, give the batch consecutive
// sequence numbers, append it as one record to the open WAL segment and
// insert it into the mutable memtable; readers see it once the whole batch
// is in (visible sequence number). The WAL writer seals the open segment
// once FlushInterval has passed since its previous PUT began (so at most one
// PUT per interval while writes flow, none while idle, and no wait for the
// first write after a quiet period), or at once for Flush, at WALMaxBytes
// or when the memtable is frozen, and PUTs segments strictly in id order
// with PutIfAbsent. When the store transforms what it stores (sealing, for
// an encrypted export: objstore.PutPreparer), the first two queued
// segments are prepared in the background, so the next one is sealed while
// the current one is written. With bucket durability a write with AwaitDurable
// returns when its segment is stored; Flush (and FlushWAL in both modes)
// seals and waits. A failed PUT is retried with backoff (same id, same
// bytes); waiters get the error at once and the write is then
// unacknowledged. Because segments are written in order and
// never skipped, what survives a crash is always a prefix of the write
// order, and a batch is never split.
//
// Close flushes the WAL (to the store, in both durability modes) and the
// memtables. If its context ends first, or a PUT fails, it stops anyway,
// failing the writes not yet in WAL objects (none of them acknowledged as
// durable with bucket durability; with local durability they stay in the
// journal, up to what it made durable if its disk fails too), and returns
// an *UnflushedError counting them (batches, puts and deletes, sequence
// numbers, WAL bytes; without those the journal keeps, as of when its
// writer stopped) and the memtable bytes not written as SSTs. A failure
// of the journal itself at the end (closing it, or removing its files
// after a clean close) is an error of its own, beside that one.
//
// # Durability modes
//
// Options.Durability says what AwaitDurable and Flush wait for. With
// DurabilityBucket (the default) that is the WAL PUT above. With
// DurabilityLocal every committed record is also appended, under the
// commit lock, to a local journal (package journal), and they wait for the
// journal's fdatasync instead, which concurrent waiters share; the WAL
// writer ships the same records in the background (one PUT per
// ShipInterval, or at WALMaxBytes) and the journal deletes files once
// their records are stored. FlushWAL (used by Close, FlushMemtable and
// Checkpoint) waits for the store in both modes. A failed journal write
// fails its waiters (unacknowledged) and is retried with the same bytes.
// Writers block (never fail) at MaxUnflushedBytes when the store is down:
// memtables are written out only after their WAL objects are stored, so
// the unshipped journal is bounded by the unflushed memtables. Stats
// report the bytes and age not yet in the store.
//
// A local writer names its journal in the manifest (JournalOwner) and
// clears it on a clean close. Open recovers a journal left in JournalDir
// (in either mode) before it fences: the files whose header names the
// store's database id and current writer epoch belong to the writer that
// crashed, and the records the store lacks are PUT as WAL objects at the
// next ids with that epoch — what its WAL writer would have done — then
// replayed as usual. A journal of another database or of a replaced epoch
// (another writer took over), or one that does not continue the store's
// WAL, is never applied: it is set aside under orphaned/ and logged at
// error level. A torn write at the end of the journal (never acknowledged)
// is cut off; a damaged record followed by valid ones, or by a later
// journal file, stops the replay there and the rest is set aside. A
// previous local writer that did not close cleanly and whose journal is
// not found is logged at error level ("JOURNAL MISSING"): what it
// acknowledged and had not shipped may be lost.
// With Options.JournalCipher (an encrypted database) the journal's records
// are sealed (package journal, format version 2): a record that fails
// authentication is damage, set aside like any; a journal in the clear is
// set aside, never applied; a sealed journal without the cipher fails
// Open before anything is written.
// Losing the journal's disk loses at most the unshipped tail; a takeover
// while a local writer is alive loses what it acknowledged before it
// learned it was fenced (at its next WAL PUT or manifest update).
//
// # Memtables, L0 flush and the manifest
//
// A memtable over MemtableBytes is frozen together with its WAL segment;
// once that segment is durable it is written as an L0 SST, and a new
// manifest records the SST, the WAL id it covers (WALIDFlushed) and the
// last sequence number.
//
// # Value separation
//
// A value of at least ValueThreshold bytes (default 512) is written to the
// store once: in its WAL object. With Compression set, the writer's
// goroutine compresses it before taking the commit lock, and the WAL
// record holds the compressed form (entry kind wal.KindSetCompressed, a
// self-describing vlog compressed value) when that saves at least an
// eighth, else the value as it is: incompressible data pays nothing but
// the attempt. The memtable keeps the plain value and remembers where it
// is stored (the WAL id the open segment will get when sealed, the offset
// in it, and for a compressed value the stored length and CRC), and
// the L0 SST — written only once those WAL objects are stored — holds a
// pointer instead (package vlog: object, offset and length of the stored
// bytes, their CRC32C, and for a compressed value its decoded size; entry
// kind sstable.KindPointer). Compactions copy pointers, not values; each
// SST records which objects it points into and how many stored bytes (its
// value refs property). Reads resolve pointers with ranged reads of exactly
// the stored bytes through the disk cache (which so holds them compressed),
// check the CRC, then decompress; an iterator resolves the pointers of up to 128
// entries it has taken ahead at once, coalescing nearby values of one
// object into one read, and only when a value is asked for (ValueLen never
// reads one: the pointer has the decoded size). A pointer to a missing
// object fails the read (Get reads again from a newer version, as for a
// collected SST); a value that fails its CRC or does not decode to its
// size is ErrCorrupt, never returned. WAL replay (Open, read-only
// databases, replicas, a recovered journal) decodes compressed entries; one
// that does not decode stops it with ErrCorrupt, like any damaged record. Writers wait (backpressure) only when frozen plus
// mutable memtables exceed MaxUnflushedBytes. Every manifest change is a
// PutIfAbsent at id+1; on conflict the latest manifest is reloaded: another
// writer epoch means we are fenced, our own epoch means an earlier attempt
// landed and the (idempotent) change is applied again on top of it.
//
// # Fencing and recovery
//
// Open writes a manifest with the writer epoch incremented, replays WAL
// objects above WALIDFlushed into the memtable, then PUTs an empty WAL
// object (carrying its epoch) at the next id, replaying and skipping any
// object an older writer wrote meanwhile. The older writer's next WAL
// PutIfAbsent fails; when the existing object is not byte-identical to its
// own (a retry whose first answer was lost) it is fenced: it logs at error
// level, fails every pending and later write and flush with ErrFenced and
// never acknowledges another write. A corrupt WAL object (which atomic
// PUTs cannot produce by crashing) stops Open with ErrCorrupt naming it,
// rather than silently dropping writes that may have been acknowledged.
// GC keeps flushed WAL objects (a fence among them) for GCMinAge, and a
// writer that has not known itself the newest for GCMinAge/2 lists the
// manifests before it takes a successful WAL or manifest PUT for durable
// (unfenced.go): a writer cut off from the store can never write into the
// collected id of a newer writer's fence or manifest.
//
// # Reads
//
// Get and iterators read the mutable memtable, frozen memtables (newest
// first), L0 SSTs (newest first) and sorted runs (newest first), skipping
// SSTs by key range and bloom filter, through the memory block cache and
// the optional disk cache; a value separated into a value or WAL object is
// read through the optional memory value cache (Options.ValueCacheBytes),
// which holds it checked and decompressed. An iterator pins the version (memtables and
// SSTs) and the sequence number current when it was created, so it sees one
// consistent snapshot; GC never deletes an SST a live iterator uses.
//
// Options.WrapStore, when set, wraps every view of the store above the disk
// cache (an encrypting wrapper, package crypt): the database reads and
// writes plaintext, the disk cache and the store hold what the wrapper
// writes. StoredCheckpoints and the other functions that take a store work
// on whatever store they are given: pass them the wrapped one.
//
// # Compaction, GC, checkpoints
//
// When L0 holds L0CompactionTrigger SSTs, every L0 SST and the newest
// sorted runs of similar size (size-tiered, ratio 2) are merged into one new
// sorted run split at TargetSSTBytes, keeping only the newest version of
// each key and dropping tombstones when the output is the oldest run.
// GC deletes WAL objects below WALIDFlushed and value objects (both once
// older than GCMinAge) that no SST points into, SSTs referenced by no manifest
// that matters (current, checkpointed) nor by a live iterator once older
// than GCMinAge, and old unpinned manifests; "an SST points into" counts
// the SSTs of the current and checkpointed manifests, of the versions live
// iterators pin, and those uploaded but not yet in a manifest. The
// background GC skips a round while the manifest is that of a round that
// left nothing for later: nothing spared for being young, nothing kept
// only for a live iterator or View, a replica's lease or a pending upload
// (pins that end without a new manifest), no value compaction put off.
// Before deleting, a GC round runs a value compaction when the garbage in objects
// holding values — their bytes no pointer uses, plus an estimate of the
// values newer versions shadow — exceeds ValueGarbageRatio (0.2) of their
// live bytes, or twice that if anything was written since the previous
// round (and ValueGCMinBytes, and half the SST bytes it would rewrite):
// every SST is merged into one run; a first pass measures what
// each object still holds, the emptiest objects that no checkpoint pins
// (under 90% live) are chosen until the garbage left would be at most half
// the ratio used, their live values are copied into value objects (16 MiB
// each, uploaded before the manifest names them), and the merge writes
// pointers to the copies; a value is copied as it is stored (a compressed
// one stays compressed, checked by its CRC, never decoded). The deletion
// that follows removes the emptied
// objects. A value the value compaction cannot read (its object fails to
// read, or its bytes fail their CRC) is not copied: its pointer stays, so
// its object is kept; it is logged with the object's name and counted
// (Stats.UnreadableValues), the rest is relocated, and that object is left
// out of value compactions for an hour when it is damaged or missing (so
// neither read nor logged again meanwhile), five minutes when the read
// itself failed (the store's objstore.ErrCorrupt tells damage from a
// failing request). A value compaction that fails does not stop the deletion
// part of its round. A compaction (value compaction or not) that fails
// before it tries its manifest update deletes what it uploaded at once (no
// manifest can name it); once it has tried, it leaves it to GC, since an
// unanswered manifest PUT may have landed. The background compaction
// retries a failing compaction after a delay doubling from 10ms to a
// minute, logging each failure. A checkpoint pins a manifest
// (and so its SSTs) until deleted; OpenReadOnly reads at a checkpoint or
// at the latest state. DB.Checkpoint first writes the memtables out, so it
// holds every write made before it; CreateCheckpoint, RemoveCheckpoint and
// StoredCheckpoints work on the store from outside the writer (another
// process) with the same manifest compare-and-swap, keep the writer epoch
// and so fence nobody, and hold only what is already in SSTs. Usage (on a
// writer or a read-only database) reports what the store holds by kind of
// object, what the latest manifest uses and what only checkpoints keep.
//
// # Restore
//
// Restore rolls a database back to a checkpoint from outside its writer: it
// opens the database as writer (a new epoch, fencing a running writer),
// checkpoints the current state (SSTs and the WAL the fenced writer left)
// under the undo name, writes a manifest whose tables are the checkpoint's
// and whose flushed WAL id covers every WAL object so far, closes, and last
// writes a restore marker, restore/%020d.restore (the restore's epoch;
// JSON, never collected). A fenced writer that finds the marker of the
// epoch right above its own (FencedByRestore) knows a restore fenced it,
// not another writer, and may open the database again; a marker further
// above was written after another writer had fenced it, and it stays
// fenced. Its local journal then has an old epoch and
// is set aside, never applied on top of the restored state.
//
// # Replicas
//
// OpenReplica follows the writer of a store, in this or another process,
// and never writes to the database: no fence, manifest or WAL object, only
// its own lease, leases/<id>.lease (JSON: manifest ids and a TTL). Every
// Poll it lists the manifests, leases the newest (with those of the state
// it serves and of live Views) before reading it, replays the WAL objects
// above it (only the new ones while the manifest is unchanged), and
// installs the new state only if no newer manifest appeared meanwhile: a GC
// round that did not see the lease yet took a manifest no newer than the
// one read as current, so kept its SSTs. The writer's GC keeps every
// manifest a live lease names and its SSTs (an SST of one already gone, as
// when a replica whose lease lapsed renews it on its old state, is logged
// and skipped); a lease not rewritten for its TTL (by the store's clock:
// ModTime against the writer's clock) no longer protects anything, and is
// deleted a day later. A replica reads through
// Views (DB.View): one consistent state each, so a batch is never seen in
// part. Its staleness is ReplicaStats.Lag: the time since its last
// successful refresh began, normally under Poll plus one refresh, plus the
// writer's own flush interval for writes not yet in the store.
//
// A replica, and a read-only database following the latest state, serve
// one database: its DBID (in the manifest). A manifest of another DBID,
// whatever its id, is refused: the refresh fails and the state served
// stays. A store put back from an older copy of the same database never
// replaces the state served with an older one: a replica's refresh fails
// (a manifest older than the one served, or another manifest written
// under the id it serves), a read-only database's installs nothing and
// keeps what it serves. A manifest is never rewritten, so a replica reads
// the one under the id it serves again only when the listing shows another
// object there (size or modification time); an object replaced within the
// store's time resolution with the same size is not seen until the next
// manifest.
//
// # What it does not do
//
// There is one writer per store prefix (others are fenced), no
// transactions beyond atomic batches, no persistent snapshots other than
// checkpoints, and a reader following the latest state (not a checkpoint)
// is not protected from the writer's GC. Separated values are compressed
// one by one, never with their neighbours (a 4 KiB value compresses less
// than a block of many), and kept in the value cache (when there is one),
// not in the block cache; the disk cache keeps their pages, compressed.
// A value too small to be separated
// is compressed with its SST block.
//
// # Formats
//
// Manifests are written in format version 4 (package manifest), SSTs in
// format version 2 (package sstable), WAL objects in format version 2
// (package wal); each package reads the older versions, so a database
// written before value separation or before compressed values opens, and
// its old SSTs (values inline) and plain values live on beside new ones
// (plain values keep pointer tags 1 and 2, which never changed). A program
// that knows only manifest versions 1 and 2 refuses version 3, because its
// GC would delete WAL objects the SSTs point into; one that knows only
// versions 1 to 3 refuses version 4, because it cannot read compressed
// values. The first manifest a writer writes (at Open) upgrades the
// database: there is no going back to an older program. Such a program
// must also not be given the local journal of a newer one: it would take
// a compressed record for a torn or damaged one.
package lsm
