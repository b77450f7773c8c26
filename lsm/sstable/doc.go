// Package sstable reads and writes sorted string tables (SSTs): the immutable
// objects in which the LSM tree keeps its data in object storage.
//
// An SST holds internal entries — a user key, a sequence number, a kind (set,
// delete, or pointer: a set whose value is a reference to bytes kept
// elsewhere, which the caller resolves) and a value — sorted in internal
// order: user key ascending, then sequence number descending (newest version
// first). A Writer builds a whole SST in memory and returns it as one byte
// slice; a Reader opens it through a Source (ranged reads, e.g. over
// objstore GetRange), keeps its index, bloom filter and properties in memory,
// and reads data blocks on demand, through an optional shared BlockCache of
// decoded blocks.
//
// Guarantees:
//   - Every block carries a CRC32C; the footer carries its own. A damaged or
//     truncated object is reported as an error wrapping ErrCorrupt that names
//     the SST and the offset of the bad block. Decoding never panics, and
//     never allocates more for one block than the largest block the SST
//     records in its properties (itself at most MaxEntrySize plus 1 KiB),
//     whatever the input. Read errors of the Source are wrapped as they are.
//   - An entry (key plus value) may be up to MaxEntrySize (64 MiB); one
//     larger than BlockSize gets a block of its own.
//   - Values returned by Reader.Get are copies owned by the caller. Keys and
//     values returned by an Iter stay valid after the iterator moves on or is
//     closed, but must not be modified: they may point into cached blocks.
//   - Readers and the BlockCache are safe for concurrent use; Writers and
//     Iters are not.
//
// Not done here: choosing object names, merging SSTs, deciding what is
// visible (the caller passes the sequence number bound), or caching raw
// object bytes on disk (that is the cache package, below the Source).
//
// Reads: Open makes one ranged read (two when the metadata exceeds 64 KiB);
// Get consults the bloom filter and then reads at most one data block; an
// iterator reads the block a seek lands in alone, then reads ahead, in one
// request each, runs of following blocks that double from 32 KiB to 512 KiB
// (never past its upper bound), so that a scan of a big SST costs a few dozen
// requests rather than one per block.
//
// # Object layout
//
//	+--------------+-----+--------------+----------------+-------------+------------------+--------+
//	| data block 0 | ... | data block n | filter block   | index block | properties block | footer |
//	|              |     |              | (optional)     |             |                  | 64 B   |
//	+--------------+-----+--------------+----------------+-------------+------------------+--------+
//
// Data blocks start at offset 0 and are contiguous. Everything from the first
// metadata block on is read when the SST is opened: one ranged read of the
// last 64 KiB, and a second one only when the metadata is larger than that.
//
// # Blocks
//
// Every block, data or metadata, is stored as
//
//	+-----------------------------+------------------+--------------------+
//	| payload (maybe compressed)  | compression (1B) | CRC32C (4B, LE)    |
//	+-----------------------------+------------------+--------------------+
//	                                the CRC covers the stored payload and the compression byte
//
// Compression is 0 none, 1 snappy, 2 zstd (package compress, whose payload
// format separated values share). A compressed payload starts with
// the uvarint length of the decoded payload, then the compressed bytes; a
// reader refuses lengths above the SST's MaxBlockSize property before
// allocating. The writer's compression applies to data blocks; a block that
// would not shrink by at least 1/8 is stored plain, so that incompressible
// file contents cost no CPU to read. Metadata blocks are always plain (a
// reader refuses compressed ones).
//
// # Data block payload
//
//	+---------+---------+-----+------------+-----+------------------+------------------+
//	| entry 0 | entry 1 | ... | restart[0] | ... | restart[r-1]     | r (uint32 LE)    |
//	+---------+---------+-----+------------+-----+------------------+------------------+
//	                          restart offsets: uint32 LE, relative to the block start
//
//	entry:
//	+----------------+------------------+------------------+-----------------+------------+-------+
//	| shared uvarint | unshared uvarint | valueLen uvarint | trailer uvarint | key suffix | value |
//	+----------------+------------------+------------------+-----------------+------------+-------+
//	trailer = seq<<8 | kind   (seq < 2^56; kind 0 delete, 1 set, 2 pointer from version 2)
//
// Keys are prefix-compressed against the previous entry; every RestartInterval
// entries (default 16) a restart point stores a whole key (shared = 0), so a
// seek binary-searches the restart points and scans at most one interval.
// Data blocks are closed at BlockSize (default 4 KiB); an entry larger than a
// block (a 64 KiB file chunk, say) gets a block of its own, so it is read and
// verified once, without being split or copied around.
//
// # Index block payload
//
//	count uvarint, then per data block:
//	+-----------------+----------------+-----------------+----------------+----------------+
//	| keyLen uvarint  | last user key  | trailer uvarint | offset uvarint | length uvarint |
//	+-----------------+----------------+-----------------+----------------+----------------+
//
// The last internal key (user key and sequence number) of each block: one
// user key's versions may span blocks, and a point lookup at a sequence
// number bound goes straight to the block that holds the answer.
//
// # Filter block payload
//
//	+-------------+------------------------+
//	| probes k 1B | bit array (>= 8 bytes) |
//	+-------------+------------------------+
//
// A bloom filter over the distinct user keys (default 10 bits per key, k =
// 0.69 * bits per key, about 1% false positives). Each key is hashed once with
// a fixed 64-bit function defined in this package (stable across processes
// and machines); probe i sets bit (h + i*delta) mod m, delta = rotl(h,21)|1.
//
// # Properties block payload
//
// uvarints: compression, entries, deletes, data blocks, min seq, max seq,
// data size, raw key bytes, raw value bytes, max (decoded) data block size;
// then the smallest and largest user key and (from version 2) the value
// refs, each as a uvarint length and the bytes. The value refs are the
// caller's (package lsm/vlog: what the pointer entries point into).
//
// # Footer (64 bytes, little-endian)
//
//	 0      1          4                 20                 36                   52        60       64
//	+-------+----------+-----------------+------------------+--------------------+---------+--------+
//	|version| reserved | index off,len   | filter off,len   | properties off,len | magic   | CRC32C |
//	|  (1)  | (3, zero)| (2 x uint64)    | (2 x uint64; 0,0 | (2 x uint64)       | uint64  | of 0:60|
//	|       |          |                 |  = no filter)    |                    |         |        |
//	+-------+----------+-----------------+------------------+--------------------+---------+--------+
//
// The version byte (FormatVersion, currently 2) leads the footer; the magic
// number is the ASCII string "zeroSST1" read as a big-endian uint64. Readers
// open versions 1 (no pointer entries, no value refs) and 2.
package sstable
