// Package kvfs is a POSIX filesystem stored in an ordered key-value store
// with atomic batches (the KV interface; in production an lsm database, in
// tests MemKV). It knows nothing of NFS: package nfs calls it.
//
// # Guarantees
//
//   - Every operation is one atomic batch (KV.Write): after a crash at any
//     instant the tree is consistent (no entry without its inode, no wrong
//     link count, no lost directory); a rename replacing a target is atomic.
//     Changes become durable at Flush (or within the KV's own flush interval).
//   - Inode ids are never reused: they are reserved in blocks, and each
//     reservation is written ahead of any batch using its ids. (An id handed
//     out only in batches a crash lost may be handed out again; the inode
//     then has another random generation, so old handles stay stale.)
//   - Open on an empty store creates the filesystem: its root directory
//     (inode RootIno) gets Options.Root's owner and mode (default 0:0,
//     0755; only permission, setgid and sticky bits). An existing
//     filesystem's root keeps what it has: Options.Root is not applied.
//   - Hard links keep nlink right. NFS has no open state, so a file's data is
//     reclaimed as soon as its last link goes; a client still writing to an
//     unlinked file gets ESTALE (the Linux client hides this with
//     "silly rename" to .nfsXXXX names).
//   - File data lives in chunks of the filesystem's chunk size, fixed when
//     it is formatted (Options.ChunkSize, default 4 KiB; filesystems of
//     format version 1 have 64 KiB). A write touches only the chunks it
//     covers (read-modify-write for partial chunks, so an aligned write of
//     whole chunks reads nothing); a missing chunk is a hole and reads as
//     zeros; a chunk never holds bytes past the file size. A read of a few
//     chunks makes one point read per chunk, concurrently; a longer one scans
//     ranges of consecutive chunks with iterators. Files up to MaxFileSize
//     (1 PiB); beyond, EFBIG.
//   - A file read sequentially (two reads in a row near where the earlier
//     ones ended, or a first read at offset 0) is read ahead: the next 2 to 8 MiB past the reader are fetched
//     in the background in 1 MiB segments, so that on an object store a
//     read finds its bytes in memory instead of waiting a round trip. A
//     read elsewhere in the file cancels the fetches; every change of the
//     file drops its segments before it returns, so a read never returns
//     bytes older than a change that returned before it began. Memory is
//     bounded by Options.ReadAheadBytes (segments held or being fetched,
//     all files together) and at most 64 files are followed.
//   - The chunks of unlinked files and of large truncations are deleted in the
//     background by a reclaimer, found through 0x05 keys written in the same
//     batch as the unlink or truncate, so reclaim resumes after a restart.
//     A truncated range stays pending in the inode ([truncFrom, truncTo));
//     a write or truncate that would extend the file over a pending range
//     finishes its reclaim first.
//   - Directories hold millions of entries: a lookup is one point read;
//     ReadDir pages by cookie over an index ordered by cookie. Each directory
//     hands out cookies in increasing order (the counter is in its inode), an
//     entry keeps its cookie while it exists, so a listing interrupted by
//     creates and deletes never repeats or skips an entry that existed
//     unchanged throughout. Cookies 0-2 are never used (0 = start; 1 and 2
//     are left to the server for "." and "..").
//   - Space (bytes of chunk data) and inode counts for StatFS are kept in 16
//     counter shards, updated in the same batch as the change, so they are
//     right after a crash; a shard is chosen by inode id so that concurrent
//     writers rarely share one. SizeLimitBytes makes writes fail with ENOSPC;
//     a write reserves its growth first (one atomic compare-and-swap), so
//     concurrent writers never exceed the limit together. The limit and the
//     cache size can change on an open filesystem (SetSizeLimit,
//     SetInodeCacheEntries); a new limit holds for writes that begin after it.
//   - Permissions follow POSIX as Linux and its NFS server apply them
//     (docs/nfs-semantics.md): chown and chgrp as with
//     _POSIX_CHOWN_RESTRICTED, checked even when the values do not change;
//     setuid/setgid dropped on ownership changes and on writes by others
//     than root; the owner may always read and write its file's data, and
//     whoever may execute a regular file may read it.
//   - Every operation that changes inodes returns their attributes just
//     before and just after it (Change; NewEntry and Renamed hold them for
//     the directories), both read under the locks of the change, so no
//     other change falls between Before and After (NFSv3's weak cache
//     consistency data).
//   - Errors are syscall.Errno values wrapped with context (errors.As and
//     errors.Is find them); ErrStale (ESTALE) for a missing inode. A
//     failure of the KV beneath is a *StorageError (errors.As finds it)
//     whatever it wraps, so that an errno of the storage (an unreadable
//     store directory, a missing object) is never taken for the
//     filesystem's own answer; a KV that takes no writes (ErrKVReadOnly,
//     a fenced or read-only store) is EROFS.
//
// # Key layout
//
// All integers are big-endian, so keys sort numerically. kvfs owns the keys
// whose first byte is 0x00 to 0x05; a database may hold other keys from 0x06 up.
//
//	0x00 "format"          -> format record: format version, fsid, chunk size
//	0x00 "nextino"         -> first inode id not yet reserved
//	0x00 "counter" shard   -> bytes used and inodes used by this shard (signed)
//	0x01 ino(8)            -> inode record
//	0x02 dir(8) name       -> entry record: child ino, type, cookie
//	0x03 dir(8) cookie(8)  -> READDIR index record: child ino, type, name
//	0x04 ino(8) chunk(8)   -> raw file data of chunk, 1..chunk size bytes; absent = hole
//	0x05 ino(8)            -> pending reclaim record: kind (unlinked | truncated)
//
// # Record formats
//
// Every record starts with a version byte (1) and ends with a CRC32C
// (Castagnoli) of everything before it:
//
//	inode:   ver | type | flags | mode(4) | nlink(4) | uid(4) | gid(4) | gen(4) |
//	         size(8) | used(8) | major(4) | minor(4) | atime(8) | mtime(8) | ctime(8) |
//	         parent(8) | nextCookie(8) | truncFrom(8) | truncTo(8) | verifier(8) |
//	         targetLen(2) | target | crc(4)
//	entry:   ver | type | ino(8) | cookie(8) | crc(4)
//	index:   ver | type | ino(8) | name | crc(4)
//	reclaim: ver | kind | crc(4)
//	format:  ver | formatVersion(4)=2 | fsid(8) | chunkSize(4) | crc(4)
//	         (format version 1: ver | formatVersion(4)=1 | fsid(8) | crc(4), 64 KiB chunks)
//	nextino: ver | id(8) | crc(4)
//	counter: ver | bytes(8) | inodes(8) | crc(4)
//
// Times are signed nanoseconds since the Unix epoch (1677-09-21 to
// 2262-04-11); a time given outside that range is stored clamped to its
// nearest end. Data chunks are raw
// bytes without a header: the KV checksums its own blocks. Directories store
// their parent (for ".." and the rename subtree check) and their next cookie;
// an exclusive CREATE's verifier is kept in the inode, so a retransmitted
// CREATE with the same verifier succeeds, until a write, a size or a time
// set on the file retires it (clears the flag and the field), as Linux's
// server accepts the replay only while the file is as the create left it.
//
// # Locking and caching
//
// Locks are per inode: a table of 4096 striped RWMutexes indexed by a hash of
// the inode id. An operation looks up the entries it needs without locks,
// then write-locks the stripes of every inode it will change (directories
// and children) in ascending stripe order (the one lock order), re-checks
// the entries and retries if they changed. Renames that move a directory to
// another parent also take one filesystem-wide rename mutex first, so the
// "not into its own subtree" check walks parents that cannot change; no other
// path takes a global lock. Reads of data take no lock.
//
// Inodes and directory entries are cached in two LRUs
// (hashicorp/golang-lru, Options.InodeCacheEntries each, split into 16
// independently locked shards). A cache miss fills
// the cache under the stripe's read lock; writers update the cache under the
// write lock after their batch is written, so the caches never hold stale
// values. Cached inodes are immutable: writers copy, change and replace.
//
// # Other entry points
//
// Fsck walks one consistent snapshot and reports broken invariants (links,
// the index, orphans, directories cut off from the root, counters; for
// "zerofsd fsck"). Options.ReadOnly serves a checkpoint: nothing is written.
// NewMemKV is an in-memory KV for tests, with crash simulation
// (MemKV.Crash, MemKV.CrashKeeping); package kvfstest holds the model-based
// crash test as a suite any crashable KV can run.
//
// # What it does not do
//
// No atime updates on read or readdir (as with noatime). No ACLs, no
// extended attributes. Fsck is read-only and does not repair. A write or
// truncate that extends a file over a range still awaiting background
// reclaim (a big file truncated, then grown again) first finishes that
// reclaim, in the request.
package kvfs
