// Package wal defines the write-ahead-log object format of an lsm database.
//
// The WAL is a sequence of immutable objects, wal/%020d.sst, each written
// once with PutIfAbsent by the group-commit pipeline in package lsm. One
// object holds the records of every batch committed during one flush
// interval; a record is one whole batch, so a batch is never split across
// objects and recovery applies it entirely or not at all.
//
// Object layout (version 2):
//
//	+---------+-------------+---------+-----------------+
//	| version | writerEpoch |  walID  | crc32c (header) |   header, 21 bytes
//	|  (1 B)  |   (8 LE)    | (8 LE)  |     (4 LE)      |
//	+---------+-------------+---------+-----------------+
//	| length (4 LE) | crc32c(payload) (4 LE) | payload  |   record, repeated
//	+---------------+------------------------+----------+
//
//	payload = firstSeq(uvarint) count(uvarint) entry*
//	entry   = kind(1) len(key)(uvarint) key [len(value)(uvarint) value]
//	          (the value is present for KindSet and KindSetCompressed)
//
// Kinds: 0 delete, 1 set, 3 set a compressed value (the value is package
// vlog's compressed value: a codec byte, then the compressed payload;
// version 2 only). Version 1 is the same layout without kind 3: Decode
// reads both, so a database written before compression keeps opening. The
// records of the local journal (package lsm/journal) are these records.
//
// Entry i of a record has sequence number firstSeq+i.
//
// Because objects are written with single atomic PUTs, a crash can never
// leave a torn object: an object that fails to decode (short header, bad
// checksum, truncated record) is damage or a bug, and Decode reports it as
// ErrCorrupt. Package lsm refuses to open a database over a corrupt WAL
// object rather than silently dropping writes that may have been
// acknowledged.
//
// The writer epoch in the header makes every writer's objects distinct: the
// empty object a new writer puts to fence an older one can never be mistaken
// for the older writer's own retried PUT.
package wal
