package lsm

import (
	"context"
	"errors"
	"fmt"
)

// Close makes every write durable, writes the memtables as SSTs, stops the
// background work and releases the database. Later calls return ErrClosed.
// If ctx ends first, Close stops anyway and reports what was not flushed
// (everything acknowledged as durable stays durable).
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
	db.failQueued(ErrClosed)
	db.commitMu.Lock()
	if db.seg != nil && !db.seg.empty() {
		db.seg.finish(ErrClosed)
	}
	db.commitMu.Unlock()
	if db.fenced.Load() && !db.readOnly {
		flushErr = errors.Join(flushErr, ErrFenced)
	}
	if flushErr != nil {
		return fmt.Errorf("lsm: close: %w", flushErr)
	}
	return nil
}

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
