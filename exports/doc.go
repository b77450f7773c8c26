// Package exports is the export registry: it turns the [[exports]] of a
// config into served filesystems — one object store, one lsm database and
// one kvfs filesystem per export — and answers the NFS server's questions
// (which export has this mount path, which has this file-system id).
//
// Every export is independent: its own bucket/prefix or directory, its own
// database (so its own WAL, fencing and durability), its own file-handle
// namespace (the filesystem's FSID, kept in its database). Lookups take no
// lock: the set of exports is an immutable snapshot swapped atomically on
// Reload.
//
// # Store identity
//
// An export's data is known by its store's identity, not by the export's
// name: the bucket and prefix of an S3 store (not its endpoint, region,
// credentials or allow_http, which only say how to reach it), the directory
// of a file store made absolute and clean with its symlinks resolved (those
// of its longest existing ancestor when it does not exist yet), and the
// export's name for a memory store. The registry opens each store at most
// once as a writer: two exports of one config naming the same store are
// refused, and a reload keeps the open database of every store the new config
// still names, whatever export names it now. The disk cache keeps a store's
// pages under its identity.
//
// The writer of a file store removes, in the background while it is open,
// the temp files a crash left in the directory more than an hour ago
// (objstore.Local.RemoveStaleTemps); nothing that opens a store read-only
// does.
//
// # Encryption
//
// An export with encryption = true is opened through package crypt: its
// keyring is unlocked with the configured key file or passphrase (created in
// a store that holds nothing yet) before the database opens, so a wrong key
// is refused without writing anything and never fences a running writer; the
// sealing wrapper goes to lsm (Options.WrapStore), above the disk cache, so
// the cache holds sealed bytes; cache.memory_mb is split in halves between
// the block cache and the Sealer's cache of decrypted frames (file data
// values, which the block cache does not hold, would otherwise be decrypted
// again on every read); with durability = "local" the same keys seal
// its local journal (Options.JournalCipher), and `zerofsd journal` reads a
// sealed journal with the export's key (JournalCipher). An export without
// encryption is refused when
// its store holds a keyring, and an encrypted one when its store holds data
// but no keyring. fsck and checkpoint tools open stores the same way
// (OpenReadOnly, OpenDatabaseStore) but never create a keyring. An export's
// compression comes from its own setting (default [lsm]'s).
//
// # Read-only exports
//
// An export with read_only = true (and not replica) is opened with lsm.OpenReadOnly at the
// latest durable state of its store (manifest plus WAL) when it opens: it
// writes nothing (no fence, manifest or WAL object), so it never disturbs a
// writer of the same store in another process, and it does not follow that
// writer's later changes until it is reopened (restart, or a reload that
// removes and adds it again). A read-only export of a store that holds no
// filesystem yet fails to open with an error saying so.
//
// # Replicas
//
// An export with replica = true opens its store with lsm.OpenReplica (it
// writes nothing to the database but its lease) and serves it through
// replicaFS: every NFS call runs on the kvfs filesystem of one lsm.View
// (the state current when it began), so no call mixes two states of the
// writer; a new state (the replica's OnRefresh) gets a new filesystem, and
// an old one is closed once its calls are done. A new state whose
// filesystem fails to open is tried again at the next poll (OnRefresh
// comes after every refresh), the previous one served meanwhile. The database's own
// filesystem (Registry.FS) reads the latest state without caches.
// ReplicaStats gives each replica's lag.
//
// # Snapshots
//
// An export with snapshot_dir shows its store's checkpoints under that
// hidden directory at its root (package snapdir does the directory; this
// package gives it the checkpoints, lsm.StoredCheckpoints, and opens each
// read-only at its checkpoint, lsm.OpenReadOnly, with a small block and
// inode cache and the shared disk cache). Each snapshot is its own
// filesystem with an FSID derived from the export's FSID and the
// checkpoint's name and pinned manifest: ByFSID finds it (after the
// exports' own FSIDs) and serves it with the export's access rules,
// read-only, under the export's name. The set of snapshots belongs to the
// open database, so it outlives reloads; a reload that clears snapshot_dir
// makes every snapshot handle stale.
//
// An export with snapshot_every has its store's writer take a checkpoint
// (lsm.DB.Checkpoint: every write made before it) named ScheduledName(now)
// that often, counted from the newest scheduled checkpoint (so a restart
// keeps the rhythm; the first at once), and delete the oldest scheduled
// ones beyond snapshot_keep; checkpoints of other names are never deleted.
// A failed one is logged, counted and tried again within a minute. The
// schedule belongs to the open writer and takes a reload's new settings
// (Options.Clock is its time, for tests). SnapshotStats counts them.
//
// # Restore
//
// Restore (zerofsd checkpoint restore) is lsm.Restore on an export's
// store. A registry notices that one of its writers was fenced, even while
// idle (lsm.DB.CheckFence every Options.FenceCheckInterval); when a restore
// marker above the writer's epoch is in the store, it closes that database
// (first: a store is never open twice in one process), opens the store
// again as writer and publishes an export set where the store's exports
// serve the new database (same FSID, new write verifier). A fence without a
// marker for a minute is another writer's: logged once, left fenced.
//
// # Reload
//
// Reload applies a new config in three steps:
//
//  1. Prepare, changing nothing that serves: compute every export's store
//     identity; validate the new S3 settings of kept stores and build their
//     clients; refuse a kept store's encryption switched on or off, and
//     check that a changed key unlocks its keyring (so that the next start
//     opens it); open the stores the running set does not serve (a writer of
//     one of them fences no database we serve, since identities differ); last,
//     open a writer for each store served read-only that the new config makes
//     writable. If anything fails, what this reload opened is closed again,
//     the error (matching ErrReloadRefused) is returned, and every running
//     export serves on exactly as before: nothing of it is closed, fenced or
//     reconfigured.
//  2. Commit, which cannot fail: apply the new settings to the kept stores —
//     S3 connection settings (credentials, endpoint, region, allow_http) for
//     their later requests, size_limit_gb, inode_cache_entries — and publish
//     the new set atomically, so the next request sees every changed option:
//     name, path, allowed_clients, secure, squash, anon_uid/anon_gid,
//     read_only, sync.
//  3. Retire: flush and close the databases no export uses any more, like
//     Close, retrying failed flushes for up to server.shutdown_timeout. Their
//     acknowledged writes become durable in their own store; with durability
//     "local", what could not be shipped by then stays in the local journal
//     (logged at WARN with its directory) until the store is next opened as
//     writer, which a config that no longer names it never does: an export
//     of that store added back ships it. A failure here
//     does not undo the reload; Reload returns it (not matching
//     ErrReloadRefused) and logs it.
//
// So a reload that renames an export, changes its mount path or options,
// rotates its credentials or moves its endpoint keeps its database open:
// writes acknowledged just before (UNSTABLE data, metadata not yet durable)
// are kept, and its write verifier (nfs.Export.WriteVerifier, random for each
// open of a database) stays. Two exports may swap stores, or a store may move
// to another export name, in one reload: each open database is kept. An export
// whose store identity changes serves a newly opened database, with a new
// write verifier, so clients resend what they had not committed; the old
// database is flushed and closed.
//
// read_only toggles: writable to read-only keeps the writer open (changes are
// refused at the NFS layer; the store stays fenced against other writers
// until the export is removed or the daemon restarts); read-only to writable
// opens the writer (step 1) and closes the reader (step 3). [lsm] and
// cache.memory_mb apply to databases opened after the change; stores kept
// open keep the settings they were opened with (a warning is logged).
//
// # Close
//
// Close flushes every export at once, each retrying failed WAL writes until
// its context ends, then closes them. An export it could not flush entirely
// is logged at ERROR, with its name, the writes not made durable (none of
// them acknowledged as durable: they are lost) or the memtables not written
// as SSTs (replayed from the WAL at the next start); with durability =
// "local" such writes stay in the local journal and the next start ships
// them (logged at WARN).
//
// An export with durability = "local" keeps its local journal in
// JournalDir(cfg, export), named after its store's identity (so a rename
// finds it again); its durability is read when its database is opened: a
// reload that changes it logs a warning and the new durability applies at
// the next start (the sync default keeps following the durability in use).
//
// It does not speak NFS (package nfs does) and knows nothing of file formats.
package exports
