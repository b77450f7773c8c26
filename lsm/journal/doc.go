// Package journal is the local write-ahead journal of an lsm database opened
// with local durability: an append-only file on local disk that holds every
// committed batch before the batch reaches the object store, so that a
// write can be acknowledged after one local fdatasync instead of one WAL PUT.
//
// # Directory layout
//
//	<dir>/LOCK                     flock: one owner (process) per directory
//	<dir>/%020d.journal            journal files, numbered in write order
//	<dir>/orphaned/<time>/         tails set aside by recovery (journal files and a REASON file)
//
// One directory belongs to one database. Files are never rewritten: the
// writer appends to the newest file and starts the next one once it holds
// FileBytes; a file whose records are all in the object store is deleted.
//
// # File format (version 1)
//
//	+-------+---------+--------+--------------+-----------------+
//	| magic | version |  dbID  | writerEpoch  | crc32c (header) |   header, 33 bytes
//	| ZJNL  |  (1 B)  | (16 B) |    (8 LE)    |     (4 LE)      |
//	+-------+---------+--------+--------------+-----------------+
//	| length (4 LE) | crc32c(payload) (4 LE) | payload           |   record, repeated
//	+---------------+------------------------+-------------------+
//
// Records are WAL records (package wal), byte for byte: one committed batch
// each, in sequence-number order, with no gap. They are in the WAL's current
// record format, whose entries may hold compressed values
// (wal.KindSetCompressed); records written before that are a subset of it,
// so an older journal still reads. The file version stays 1: a program of
// before compressed values takes a file of unknown version at the end of
// the journal for a torn header and removes it, while it only sets aside
// (or cuts off, at the very end) a record it cannot parse. The header names the
// database (its id from the manifest) and the writer epoch that wrote the
// file, so a journal is never applied to another database, nor after
// another writer took the database over. Consecutive files with the same
// header form a group: the journal of one writer epoch.
//
// # Writing and durability
//
// Append (called in commit order) buffers a record; the Writer's goroutine
// writes everything buffered with one write and one fdatasync (group
// commit): every caller of Sync waiting meanwhile shares that fsync, and
// appends nobody waits for are written within Interval. Sync returns once
// the records up to the given sequence number are on disk. A failed write
// or fsync (a full disk, an I/O error) fails the callers waiting for it —
// their writes are not acknowledged — and is retried with backoff from the
// last good offset with the same bytes, so what is durable is always a
// contiguous prefix of the commit order. A file and a directory entry are
// fsynced before any record in them is acknowledged.
//
// # Reading after a crash
//
// Scan reads every file. A record cut short, or a damaged record with
// nothing valid after it, at the end of the newest file is a torn write
// that was never acknowledged: it is ignored and TrimTorn cuts it off. A
// damaged record followed by valid ones, a damaged record in an older file,
// or a sequence number out of order is damage: the records before it are
// returned, the rest of the group is reported as Damage, and SetAside moves
// it under orphaned/ instead of dropping it. A file that starts after a gap
// is not damage: the files of the gap were removed once shipped, and an
// older file whose removal was not yet durable came back after a crash; the
// records before the gap are dropped (the lsm checks that what is left
// continues what the store holds). The database (package lsm)
// decides what to replay and what to set aside; `zerofsd journal list` and
// `zerofsd journal extract` read what was set aside.
//
// # What it does not do
//
// It is not a database on its own: records are shipped to the object store
// by the lsm WAL writer, and only the lsm knows which records are stored.
// A journal on a disk that is lost takes with it the records not yet
// shipped. It trusts the file system's fdatasync.
package journal
