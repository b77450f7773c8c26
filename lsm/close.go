package lsm

import (
	"context"
	"errors"
	"fmt"

	"github.com/zerofs-go/zerofsd/lsm/wal"
)

// Close makes every write durable, writes the memtables as SSTs, stops the
// background work and releases the database. Later calls return ErrClosed.
// If ctx ends first (or a WAL or SST write fails), Close stops anyway and
// returns an *UnflushedError saying what was not flushed; everything
// acknowledged as durable stays durable.
func (db *DB) Close(ctx context.Context) error {
	if db.closed.Load() {
		return ErrClosed
	}
	var flushErr error
	if !db.readOnly && !db.fenced.Load() {
		db.commitMu.Lock()
		db.freezeLocked()
		db.closing = true
		db.commitMu.Unlock()
		flushErr = db.Flush(ctx)
		if flushErr == nil {
			flushErr = db.waitFlushed(ctx)
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
	if db.fenced.Load() && !db.readOnly {
		return fmt.Errorf("lsm: close: %w", errors.Join(flushErr, ErrFenced))
	}
	if flushErr != nil {
		return fmt.Errorf("lsm: close: %w", newUnflushedError(flushErr, lost, db.v.Load().unflushedBytes()))
	}
	return nil
}

// UnflushedError is Close's error when it stopped before everything was
// flushed. Nothing acknowledged as durable is in it: those writes were in
// WAL objects already.
type UnflushedError struct {
	// Batches write batches, holding Writes puts and deletes with sequence
	// numbers FirstSeq to LastSeq (WALBytes bytes of WAL records), were not
	// made durable: they are lost, unless a WAL PUT cut off by the close
	// landed all the same. None of them was acknowledged as durable.
	Batches           int
	Writes            uint64
	FirstSeq, LastSeq uint64
	WALBytes          int64
	// MemtableBytes is the size of the memtables not written as SSTs; the
	// part of them that is in WAL objects is replayed at the next Open.
	MemtableBytes int64
	// Err is why the flush stopped (ctx's error, or the store's).
	Err error
}

func newUnflushedError(err error, lost []*walSegment, memtableBytes int64) *UnflushedError {
	e := &UnflushedError{Err: err, MemtableBytes: memtableBytes}
	for _, s := range lost {
		if s.empty() {
			continue
		}
		if e.Batches == 0 || s.firstSeq < e.FirstSeq {
			e.FirstSeq = s.firstSeq
		}
		e.LastSeq = max(e.LastSeq, s.lastSeq)
		e.Batches += s.records
		e.WALBytes += int64(len(s.buf) - wal.HeaderSize)
	}
	if e.Batches > 0 {
		e.Writes = e.LastSeq - e.FirstSeq + 1
	}
	return e
}

func (e *UnflushedError) Error() string {
	if e.Batches == 0 {
		return fmt.Sprintf("every write is durable in the WAL, but %d bytes of memtables were not written as SSTs (the next open replays them from the WAL): %v",
			e.MemtableBytes, e.Err)
	}
	return fmt.Sprintf("%d write batches (%d puts and deletes, sequence numbers %d to %d, %d bytes of WAL records), none acknowledged as durable, were not made durable and are lost: %v",
		e.Batches, e.Writes, e.FirstSeq, e.LastSeq, e.WALBytes, e.Err)
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
}
