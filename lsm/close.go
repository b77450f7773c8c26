package lsm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zerofs-go/zerofsd/lsm/wal"
)

// Close makes every write durable in the store, writes the memtables as
// SSTs, stops the background work and releases the database (with local
// durability, records the clean close in the manifest and removes the
// journal). Later calls return ErrClosed. If ctx ends first (or a WAL or
// SST write fails), Close stops anyway and returns an *UnflushedError
// saying what was not flushed; everything acknowledged as durable stays
// durable (with local durability, what is not in the store stays in the
// journal for the next Open, up to what the journal made durable). With
// local durability, a failure to close the journal, or to remove its files
// after a clean close, is returned on its own (joined to the
// *UnflushedError, if any): it loses nothing.
func (db *DB) Close(ctx context.Context) error {
	if db.closed.Load() {
		return ErrClosed
	}
	var flushErr error
	clean, journaled := false, false
	if !db.readOnly && !db.fenced.Load() {
		db.commitMu.Lock()
		db.freezeLocked()
		newest := db.newestFrozen()
		db.closing = true
		db.commitMu.Unlock()
		flushErr = db.FlushWAL(ctx)
		if flushErr == nil {
			flushErr = db.waitFlushed(ctx, newest)
		}
		if flushErr == nil && db.journal != nil {
			flushErr = db.markCleanClose(ctx)
			clean = flushErr == nil
		}
		if flushErr != nil && db.journal != nil {
			if err := db.keepInJournal(ctx); err != nil {
				flushErr = errors.Join(flushErr, err)
			} else {
				journaled = true
			}
		}
		// An in-flight compaction is cancelled below; its uploaded output,
		// if any, is collected later as unreferenced.
	}
	if !db.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	close(db.stop)
	db.bgCancel()
	db.mu.Lock()
	db.roomCond.Broadcast() // writers waiting for room see ErrClosed
	db.mu.Unlock()
	db.wg.Wait()
	lost := db.failQueued(ErrClosed)
	db.commitMu.Lock()
	if db.seg != nil && !db.seg.empty() {
		lost = append(lost, db.seg)
		db.seg.finish(ErrClosed)
	}
	db.commitMu.Unlock()
	// The journal's own failure (to close, or to remove its files after a
	// clean close) loses nothing: it is reported apart from what the
	// flush left undone.
	var journalErr error
	if err := db.closeJournal(clean); err != nil {
		journalErr = fmt.Errorf("lsm: close: closing the local journal: %w", err)
		if clean {
			journalErr = fmt.Errorf("lsm: close: every write is in the store, but closing the local journal failed (the next open removes its files): %w", err)
		}
	}
	if db.fenced.Load() && !db.readOnly {
		return errors.Join(fmt.Errorf("lsm: close: %w", errors.Join(flushErr, ErrFenced)), journalErr)
	}
	if flushErr != nil {
		var ue *UnflushedError
		switch {
		case journaled:
			ue = newUnflushedError(flushErr, lost, 0, db.v.Load().unflushedBytes())
			ue.Journaled = true
		case db.journal != nil:
			// The journal failed too: what it made durable before it
			// stopped (a failed write may have succeeded on a retry
			// since) is kept for the next Open all the same; only the
			// rest is lost.
			journalSeq := db.journal.Durable()
			ue = newUnflushedError(flushErr, lost, journalSeq, db.v.Load().unflushedBytes())
			ue.JournalSeq, ue.JournalDir = journalSeq, db.opts.JournalDir
		default:
			ue = newUnflushedError(flushErr, lost, 0, db.v.Load().unflushedBytes())
		}
		return errors.Join(fmt.Errorf("lsm: close: %w", ue), journalErr)
	}
	return journalErr
}

// UnflushedError is Close's error when it stopped before everything was
// flushed. Nothing acknowledged as durable is lost: with bucket durability
// those writes were in WAL objects already; with local durability they are
// in the journal (and with Journaled, so is everything it counts).
type UnflushedError struct {
	// Batches write batches, holding Writes puts and deletes with sequence
	// numbers FirstSeq to LastSeq (WALBytes bytes of WAL records), were not
	// made durable: they are lost, unless a WAL PUT cut off by the close
	// (or with local durability a journal write that failed) landed all
	// the same. None of them was acknowledged as durable.
	Batches           int
	Writes            uint64
	FirstSeq, LastSeq uint64
	WALBytes          int64
	// MemtableBytes is the size of the memtables not written as SSTs; the
	// part of them that is in WAL objects is replayed at the next Open.
	MemtableBytes int64
	// Journaled (local durability): the batches counted are not lost but
	// durable in the local journal, and the next Open ships them.
	Journaled bool
	// JournalDir (local durability, when the journal could not keep
	// everything either, so Journaled is false) is the local journal's
	// directory: the writes not in the store up to sequence number
	// JournalSeq are durable there, and the next Open ships them. The
	// batches counted above are the later ones.
	JournalDir string
	JournalSeq uint64
	// Err is why the flush stopped (ctx's error, or the store's).
	Err error
}

// newUnflushedError counts the batches of the lost segments after sequence
// number durable (the ones up to it are durable in the local journal).
func newUnflushedError(err error, lost []*walSegment, durable uint64, memtableBytes int64) *UnflushedError {
	e := &UnflushedError{Err: err, MemtableBytes: memtableBytes}
	count := func(batches int, firstSeq, lastSeq uint64, bytes int) {
		if e.Batches == 0 || firstSeq < e.FirstSeq {
			e.FirstSeq = firstSeq
		}
		e.LastSeq = max(e.LastSeq, lastSeq)
		e.Batches += batches
		e.WALBytes += int64(bytes)
	}
	for _, s := range lost {
		switch {
		case s.empty() || s.lastSeq <= durable:
		case s.firstSeq > durable:
			count(s.records, s.firstSeq, s.lastSeq, len(s.buf)-wal.HeaderSize)
		default:
			// The segment straddles durable: count its records after it.
			recs := s.buf[wal.HeaderSize:]
			for len(recs) > 0 {
				r, n, err := wal.DecodeRecord(recs)
				if err != nil {
					break // our own records: cannot happen
				}
				if r.LastSeq() > durable {
					count(1, r.FirstSeq, r.LastSeq(), n)
				}
				recs = recs[n:]
			}
		}
	}
	if e.Batches > 0 {
		e.Writes = e.LastSeq - e.FirstSeq + 1
	}
	return e
}

func (e *UnflushedError) Error() string {
	if e.Journaled {
		return fmt.Sprintf("%d write batches (%d puts and deletes, %d bytes of WAL records) and %d bytes of memtables are not in the store yet; they are durable in the local journal, which the next open ships: %v",
			e.Batches, e.Writes, e.WALBytes, e.MemtableBytes, e.Err)
	}
	inJournal := ""
	if e.JournalDir != "" {
		inJournal = fmt.Sprintf("; the writes not in the store up to sequence number %d are durable in the local journal %s, which the next open ships",
			e.JournalSeq, e.JournalDir)
	}
	if e.Batches == 0 {
		if e.JournalDir != "" {
			return fmt.Sprintf("every write is durable in the WAL or the local journal, but %d bytes of memtables were not written as SSTs (the next open replays them)%s: %v",
				e.MemtableBytes, inJournal, e.Err)
		}
		return fmt.Sprintf("every write is durable in the WAL, but %d bytes of memtables were not written as SSTs (the next open replays them from the WAL): %v",
			e.MemtableBytes, e.Err)
	}
	return fmt.Sprintf("%d write batches (%d puts and deletes, sequence numbers %d to %d, %d bytes of WAL records), none acknowledged as durable, were not made durable and are lost%s: %v",
		e.Batches, e.Writes, e.FirstSeq, e.LastSeq, e.WALBytes, inJournal, e.Err)
}

func (e *UnflushedError) Unwrap() error { return e.Err }

// kill stops the database without flushing anything, as if the process
// had died (for crash tests).
func (db *DB) kill() {
	if !db.closed.CompareAndSwap(false, true) {
		return
	}
	close(db.stop)
	db.bgCancel()
	db.wg.Wait()
	db.closeJournal(false)
}

// keepInJournal makes every write durable in the journal when Close could
// not get it into the store: the next Open ships it.
func (db *DB) keepInJournal(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := db.journal.Sync(ctx, db.visibleSeq.Load()); err != nil {
		return fmt.Errorf("lsm: keeping unshipped writes in the journal: %w", err)
	}
	db.log.Warn("lsm: closing with writes not yet in the store; they stay in the local journal and the next open ships them",
		"unshipped_bytes", db.unshipped.Load(), "journal", db.jdir.Path())
	return nil
}
