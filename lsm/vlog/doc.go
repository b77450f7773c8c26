// Package vlog defines where an lsm database keeps large values outside its
// SSTs (value separation), and the formats that say so.
//
// A value at least Options.ValueThreshold long is written once, in the WAL
// object its batch went into. When its memtable is written out as an L0
// SST (only after those WAL objects are stored), the SST holds a Pointer to
// the value's bytes in that WAL object instead of the bytes; compactions
// copy pointers, not values. A WAL object below the manifest's flushed WAL
// id is then not garbage until no SST that matters points into it. A
// compaction that relocates the live values of mostly-dead objects copies
// them (their stored bytes, as they are) into value objects
// (values/<id>.val), written once like SSTs, and points at them from then
// on. Package lsm decides all of that; this package only defines the
// encodings and checks them.
//
// A value is stored either as it is (plain) or compressed, when the
// database compresses (lsm.Options.Compression) and that saves at least an
// eighth of it. Values below the threshold stay in SST blocks, which are
// compressed as blocks.
//
// # Pointer (the value of a KindPointer entry in an SST)
//
//	+------+--------------------------+----------+----------+------------------+----------------+
//	| tag  | object id                | offset   | length   | size (uvarint)   | crc32c (4, LE) |
//	| (1)  | tags 1, 3: WAL id        | (uvarint)| (uvarint)| tags 3 and 4     | of the stored  |
//	|      |   (uvarint)              |          |          | only: the value's| bytes          |
//	|      | tags 2, 4: value object  |          |          | decoded length   |                |
//	|      |   id (16)                |          |          |                  |                |
//	+------+--------------------------+----------+----------+------------------+----------------+
//
// The stored bytes are [offset, offset+length) of the object. Tags 1 (WAL
// object) and 2 (value object) point at a plain value: the stored bytes
// are the value. Tags 3 (WAL object) and 4 (value object) point at a
// compressed value, which decodes to size bytes. The tag is also the
// format version: a later format uses new tags. A reader fetches exactly
// the stored bytes, checks their CRC32C (Castagnoli) and then decompresses:
// the checksum covers what is stored, so damage is caught before the
// decompressor sees it, and a relocation or a check can verify a value
// without decoding it. A decoded value must have exactly size bytes.
// (A compressor that decoded to different bytes of the same length would
// not be caught; snappy and zstd are deterministic libraries, and the CRC
// is the same as for plain values: over what the object holds.)
//
// # Compressed value
//
//	+-----------+----------------------------------------------------------+
//	| codec (1) | payload (package compress): decoded length (uvarint),    |
//	| 1 snappy  | then the compressed bytes                                |
//	| 2 zstd    |                                                          |
//	+-----------+----------------------------------------------------------+
//
// It is self-describing: the WAL holds it as the value of an entry of kind
// wal.KindSetCompressed, and a compressed pointer points at it. Codec 0
// never appears: a value that does not compress is stored plain, with no
// marker at all, as before compression existed.
//
// # Value refs (an SST property)
//
//	version(1)=1 | count(uvarint) | count x ( object | bytes(uvarint) | values(uvarint) )
//	object = tag(1) | id (tag 1: WAL id uvarint; tag 2: 16 bytes)
//
// For every object an SST points into: how many values and how many value
// bytes. Objects appear once each, in ascending order (WAL objects by id,
// then value objects by id). GC deletes an object only when no SST of the
// current manifest, a checkpointed manifest, a live iterator or an upload
// in progress names it; the byte counts say how much of an object is still
// referenced.
//
// # Value object (values/<32 hex digits>.val)
//
//	+--------------+-------------+-----------+------------------------+
//	| magic "ZVAL" | version (1) | id (16)   | crc32c of the 21 bytes |   header, 25 bytes
//	+--------------+-------------+-----------+------------------------+
//	| value | value | ...                                             |   stored bytes, each covered by its pointer's CRC
//	+-----------------------------------------------------------------+
//
// The id is the object's name (48 bits of milliseconds, then 80 random
// bits), so a value object is never confused with another.
package vlog
