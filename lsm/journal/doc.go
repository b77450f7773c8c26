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
// It starts the next file only after a successful round, and once that
// file's header is durable it writes nothing more into the one before: if
// the new file does not open, rounds fail, and are retried, until it does.
// So every file but the newest is complete.
// The writer reserves space ahead of its records (File.Allocate, 4 MiB at a
// time, never past FileBytes), so that writing a record changes no file
// metadata and its fdatasync writes data only; reserved space reads as
// zeros. Reserved space is still "unwritten" in the file system's extent
// map, and the first write to each of its blocks changes that map, so a
// small round (under 64 KiB: a strict reply's record, a small file's
// FILE_SYNC write) also writes zeros over the next MiB ahead, synced with
// it, and the rounds after it overwrite written blocks. The run of zero bytes at the end of any file is not part of it:
// its records end there (no record is all zeros; rotation gives reserved
// space back without a sync, so the zeros can come back after a crash).
//
// # File format in the clear (version 1)
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
// # Sealed file format (version 2)
//
// A Dir opened with a Cipher (an encrypted export's: package crypt) writes
// sealed files. Every file has a key of its own, which the Cipher derives
// from the export's data key and a random salt drawn for the file:
//
//	+-------+---------+--------+-------------+-----------+-----------+-----------------+
//	| magic | version |  dbID  | writerEpoch |   salt    | tag       | crc32c (header) |   header, 81 bytes
//	| ZJNL  |  2 (1)  | (16 B) |   (8 LE)    |  (32 B)   | (16 B)    |     (4 LE)      |
//	+-------+---------+--------+-------------+-----------+-----------+-----------------+
//	| length n (4 LE) | crc32c (4 LE) | firstSeq (8 LE) | AEAD(WAL record) | tag (16 B) |   record, repeated
//	+-----------------+---------------+-----------------+------------------+------------+
//
//	nonce        = kind (1: 'H' header, 'R' record) || 3 x 0 || firstSeq (8 LE; 0 for the header)
//	AD           = the header's first 61 bytes (magic to salt) || kind || firstSeq (8 LE)
//	header tag   = AEAD(file key, nonce 'H', AD, empty plaintext)
//
// n counts the bytes after the checksum (firstSeq, ciphertext and tag),
// and the checksum covers them: as in the clear, it tells a torn write
// (bytes cut or garbled by a crash) from a record, without the key. The
// sealed plaintext is the WAL record as a file in the clear would hold it.
// A record verifies only in a file with its header (hence its database,
// writer epoch and salt), under its export's key, at its first sequence
// number; sequence numbers are unique in a file, so the nonces are, and a
// failed write is retried with the same sealed bytes. Records are sealed by
// the writer's goroutine, not in Append. A record (or header) whose
// checksum matches but which fails authentication was changed on purpose,
// or comes from another file or another export: it is damage (ErrTampered),
// never a torn tail, even at the end of the newest file. Records moved
// within a file verify, but their sequence numbers then break the order,
// which is damage too.
//
// In the clear in a sealed file: the database id, the writer epoch, the
// salt, and per record its size (the batch's encoded size plus 32 bytes)
// and its first sequence number; file names and sizes, and the times files
// are written, rotated and removed; a set-aside tail's REASON. Sealed: the
// keys, values and entry counts of every batch.
//
// Reading a sealed file needs the Cipher (ErrSealed without one). Files in
// the clear are read with or without a Cipher; a Group says whether its
// files are sealed, and the lsm refuses to apply a group in the clear to an
// encrypted database.
//
// # Writing and durability
//
// Append (called in commit order) copies a record into the buffer, once:
// records wait in chunks, so what is buffered is never moved however far
// the writer is behind. In a sealed journal, Append leaves room around each
// record for its sealed framing, and the round seals it where it lies: the
// chunks are written as they are, sealed or not, and a round's chunks
// serve the records appended while the next one is written. A round writes
// everything buffered and fdatasyncs once (group commit):
// every caller of Sync waiting meanwhile shares that fsync, and appends
// nobody waits for are written within Interval by the Writer's goroutine.
// A caller of Sync that finds nobody writing writes the round itself, on
// its own goroutine (a single-threaded client, such as tar answered
// strictly, then pays one fdatasync per call and no thread hand-off);
// callers arriving meanwhile wake the Writer's goroutine, which writes the
// next round as soon as this one ends. Sync returns once the records up to the given sequence
// number are on disk. A failed write
// or fsync (a full disk, an I/O error) fails the callers waiting for it —
// their writes are not acknowledged — and is retried with backoff from the
// last good offset with the same bytes by the Writer's goroutine, with a
// backoff that callers of Sync honour too, so what is durable is always a
// contiguous prefix of the commit order. The records not yet on disk stay
// in memory until a write of them succeeds; the writer does not bound them
// (Backlog says how many bytes they are): its caller waits for a round
// (Sync) when they are too many. A file and a directory entry are
// fsynced before any record in them is acknowledged, and so is the entry of
// each directory OpenDir creates (the journal directory of a new database,
// and its missing parents) in its parent.
//
// # Reading after a crash
//
// Scan reads every file. A record cut short, or a damaged record with
// nothing valid after it, at the end of the newest file is a torn write
// that was never acknowledged: it is ignored and TrimTorn cuts it off. In
// an older file it is damage, even when every later file holds only a
// header (as after any rotation): the writer began the later file after a
// successful round and wrote nothing more into the older one, so every
// record in it was durable, and may have been acknowledged. (A file whose
// Begin failed is removed, and the writer goes on writing the one before;
// if a crash brings the removed file back, a torn end of the one before is
// taken for damage: set aside, never lost.) A header that does not read is
// a torn write too when its file holds no more than a header's length of
// bytes before its zeros and no later file holds more than a header: Begin
// makes a header durable before any record is written, so such a header
// was torn in its creation and the file holds no record; TrimTorn removes
// the file. A header that does not read in front of more than that, or in
// a file before one that holds records, was durable: the file belongs to
// no group and is reported as Damage at offset 0, to be set aside whole. A
// damaged record followed by valid ones, a damaged record in an older
// file, or a sequence number out of order is damage: the records before it
// are returned, the rest of the group is reported as Damage, and SetAside
// moves it under orphaned/ instead of dropping it. A file that starts
// after a gap is not damage: the files of the gap were removed once
// shipped, and an older file whose removal was not yet durable came back
// after a crash; the records before the gap are dropped (the lsm checks
// that what is left continues what the store holds). The database (package
// lsm) decides what to replay and what to set aside; `zerofsd journal
// list` and `zerofsd journal extract` read what was set aside.
//
// # What it does not do
//
// It is not a database on its own: records are shipped to the object store
// by the lsm WAL writer, and only the lsm knows which records are stored.
// A journal on a disk that is lost takes with it the records not yet
// shipped. It trusts the file system's fdatasync.
package journal
