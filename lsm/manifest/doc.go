// Package manifest defines the manifest of an lsm database: the versioned,
// checksummed record of which SSTs make up the tree, how much of the WAL they
// cover, which writer currently owns the database (its epoch) and which
// checkpoints pin older manifests.
//
// A manifest is stored as one immutable object, manifest/%020d.manifest; the
// object with the highest id is current. New manifests are only ever created
// with PutIfAbsent at id+1, which makes the update protocol a compare-and-swap
// (that protocol lives in package lsm; this package only encodes and decodes).
//
// Binary format (version 4), all integers unsigned varints unless noted:
//
//	+---------+--------------------------------------------+---------------+
//	| version |                   body                     | crc32c (4 LE) |
//	|  (1 B)  |                                            | over ver+body |
//	+---------+--------------------------------------------+---------------+
//
//	body    = id writerEpoch walIDFlushed lastSeq createdUnixNano
//	          count(L0) table*            (newest first)
//	          count(runs) run*            (newest first)
//	          count(checkpoints) checkpoint*
//	          dbID(16 bytes)  len journalOwner-bytes     (from version 2)
//	run     = runID count(tables) table*  (ascending, non-overlapping keys)
//	table   = len id-bytes  size  len smallest  len largest  minSeq maxSeq numEntries
//	checkpoint = len name-bytes  manifestID  createdUnixNano
//
// Version 1 is version 2 without the database id and journal owner.
// Version 3 has the body of version 2; it marks a database whose SSTs may
// point into WAL objects below WALIDFlushed and into value objects (value
// separation, package lsm/vlog), which a program knowing only versions 1
// and 2 would delete as garbage, so such a program refuses it. Version 4
// has the same body again; it marks a database whose separated values may
// be compressed (WAL objects of format 2, pointers with tags 3 and 4),
// which a program knowing only versions 1 to 3 cannot read, so it refuses
// it. Decode reads all four (databases written before keep opening),
// Encode writes version 4; the first manifest a new program writes (at
// Open, its writer epoch) upgrades a database for good.
//
// Decode never panics on arbitrary input: a short, oversized or
// checksum-mismatched object is reported as ErrCorrupt.
package manifest
