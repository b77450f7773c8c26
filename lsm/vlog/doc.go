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
// them into value objects (values/<id>.val), written once like SSTs, and
// points at them from then on. Package lsm decides all of that; this
// package only defines the encodings and checks them.
//
// # Pointer (the value of a KindPointer entry in an SST)
//
//	+------+---------------------------+------------------+------------------+----------------+
//	| tag  | object id                 | offset (uvarint) | length (uvarint) | crc32c (4, LE) |
//	| (1)  | tag 1: WAL id (uvarint)   |                  |                  | of the value   |
//	|      | tag 2: value object (16)  |                  |                  |                |
//	+------+---------------------------+------------------+------------------+----------------+
//
// The tag is also the format version: a later format uses new tags. The
// value is the bytes [offset, offset+length) of the object; a reader checks
// their CRC32C (Castagnoli) before returning them.
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
//	| value | value | ...                                             |   each covered by its pointer's CRC
//	+-----------------------------------------------------------------+
//
// The id is the object's name (48 bits of milliseconds, then 80 random
// bits), so a value object is never confused with another.
package vlog
