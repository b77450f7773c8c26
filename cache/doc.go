// Package cache is the local disk cache of object byte ranges that sits
// between the LSM tree and the object store.
//
// A Disk is a directory (SLATEDB_CACHE_DIR) bounded by a byte capacity
// (SLATEDB_CACHE_SIZE_GB), shared by every database of the process. Each
// database wraps its object store with NewCachingStore under its own
// namespace (the identity of the export's store). Objects are cached in
// aligned pages (256 KiB by default): page i of an object holds its bytes
// [i*PageSize, (i+1)*PageSize).
// A page shorter than PageSize (possibly empty) is the last one: the object
// ends in it.
//
// Guarantees:
//   - Bytes are served from the cache only after verification: every page file
//     carries its full cache key and CRC32C checksums of its header and of each
//     4 KiB chunk of its payload; a read verifies the header, the key and every
//     chunk it returns. A file that is corrupt, truncated, misplaced or
//     unreadable is deleted, counted in DiskStats.Corrupt, logged at warn, and
//     the data is fetched again from the object store: it is never served.
//   - A GetRange fetches the missing pages it needs with one inner GetRange
//     spanning them; concurrent readers missing the same page wait for one
//     fetch instead of issuing their own. When that fetch fails, they get
//     its error rather than asking the store again (which has already
//     retried); only when its reader gave up (its context ended) does
//     another fetch the page.
//   - Writes and deletes made through a caching store, even concurrent ones
//     of one key, leave the cache serving what the store holds: a write
//     caches its bytes only if no other write, delete or Forget of the key
//     reached the cache while it ran (they may have landed in the store in
//     either order), and a read caches what it fetched only if none did
//     while it read.
//   - The cache never turns a working read into an error: failing cache
//     writes are logged and ignored, a deleted cache directory is recreated,
//     and a closed Disk passes every call through.
//   - Files are written to a temporary name and renamed into place, so a crash
//     leaves either a whole file or a temporary one (removed at the next open).
//   - The sum of file sizes (headers included) stays within the capacity,
//     files being written included: room for a page is made before its file
//     is written, by evicting the least recently used pages and removing
//     their files (a page whose room is held by other writes in flight is
//     not cached). OpenDisk indexes the files of the previous run (recency
//     approximated by modification time), so the cache is reused after a
//     restart.
//
// What it does not do: it assumes objects are immutable once written (the LSM
// names every object uniquely), so only Put, PutIfAbsent and Delete made
// through a caching store invalidate cached pages; an object changed by
// another process is not noticed. It does not fsync (a lost file is only a
// miss), does not cache Head or List, and is not a cache of decoded blocks
// (the sstable reader keeps its own block cache in memory).
//
// # Layout
//
//	<dir>/LOCK                                flock: one Disk per directory
//	<dir>/<ns>/<hh>/<hash>.<seq>              one page file
//	<dir>/<ns>/<hh>/tmp-*                     being written; removed at open
//
// <ns> is 16 hex digits of SHA-256(namespace); <hash> is 32 hex digits of
// SHA-256 of (namespace, key, page index); <hh> its first two digits; <seq> a
// hex number unique to each write, so a file removed by eviction can never be
// one written later for the same page.
//
// # Page file format (version 1, integers big-endian)
//
//	+--------+---------+-------+--------+--------+----------+--------+------------+
//	| magic  | version | chunk | ns len | key len| pageSize | page   | payloadLen |
//	| "ZCPG" |   1     | shift | uint16 | uint16 | uint32   | uint64 | uint32     |
//	|   4    |   1     | 1 (12)|   2    |   2    |    4     |   8    |    4       |
//	+--------+---------+-------+--------+--------+----------+--------+------------+
//	| namespace | key | chunk CRC32C x ceil(payloadLen/4096) | header CRC32C |
//	+-----------+-----+--------------------------------------+---------------+
//	| payload (payloadLen bytes)                                             |
//	+------------------------------------------------------------------------+
//
// The header CRC covers every header byte before it; chunk CRC i covers
// payload bytes [i*4096, min((i+1)*4096, payloadLen)). The file size must be
// exactly header length + payloadLen.
package cache
