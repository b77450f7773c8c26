package lsm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/zerofs-go/zerofsd/lsm/journal"
	"github.com/zerofs-go/zerofsd/lsm/memtable"
	"github.com/zerofs-go/zerofsd/lsm/wal"
)

// walSegment is the WAL buffer of one future WAL object. Writers append
// records to the open segment under commitMu; sealing assigns it the next
// WAL id and queues it for the WAL writer, which PUTs segments strictly in
// id order. done is closed once the object is durable (err == nil) or will
// never be (err is ErrFenced or ErrClosed).
type walSegment struct {
	id      uint64
	buf     []byte // header space + records
	records int
	// firstSeq and lastSeq are the sequence numbers of its first and last
	// entries (set with its first record; lastSeq grows with each).
	firstSeq, lastSeq uint64
	firstAt           time.Time // when the first record was appended
	done              chan struct{}
	err               error
	// prep is the segment's object prepared by the store ahead of its PUT
	// (objstore.PutPreparer), nil until that starts. Guarded by DB.mu.
	prep *walPrep
}

// newSegment returns an empty segment with room for capHint bytes (the
// size of the previous one, so a busy WAL does not regrow its buffer).
func newSegment(capHint int) *walSegment {
	return &walSegment{buf: make([]byte, wal.HeaderSize, max(capHint, 64<<10)), done: make(chan struct{})}
}

func (s *walSegment) empty() bool { return s.records == 0 }

func (s *walSegment) finish(err error) {
	s.err = err
	close(s.done)
}

// Put sets key to value.
func (db *DB) Put(ctx context.Context, key, value []byte, wo WriteOptions) error {
	b := NewBatch()
	b.Put(key, value)
	err := db.Write(ctx, b, wo)
	b.Release()
	return err
}

// Delete removes key (a missing key is not an error).
func (db *DB) Delete(ctx context.Context, key []byte, wo WriteOptions) error {
	b := NewBatch()
	b.Delete(key)
	err := db.Write(ctx, b, wo)
	b.Release()
	return err
}

// Write applies the batch atomically: readers see all of it or none of it,
// and after a crash it survives entirely or not at all. With AwaitDurable
// it returns once the batch is durable (in a WAL object, or with
// DurabilityLocal in the local journal); otherwise it may be lost in a
// crash (together with every later write, never an earlier one).
func (db *DB) Write(ctx context.Context, b *Batch, wo WriteOptions) error {
	if err := db.checkWritable(); err != nil {
		return err
	}
	if b.count == 0 {
		if wo.AwaitDurable {
			return db.Flush(ctx)
		}
		return nil
	}
	if err := db.waitForRoom(ctx); err != nil {
		return err
	}
	wb, err := db.compressBatch(b)
	if err != nil {
		return err
	}
	entries := b.entries
	if wb != nil {
		entries = wb.entries
	}
	db.commitMu.Lock()
	if err := db.checkWritable(); err != nil {
		db.commitMu.Unlock()
		db.releaseWALBatch(wb)
		return err
	}
	if db.closing {
		db.commitMu.Unlock()
		db.releaseWALBatch(wb)
		return ErrClosed
	}
	first := db.lastSeq + 1
	seg := db.seg
	wasEmpty := seg.empty()
	start := len(seg.buf)
	seg.buf = wal.AppendRecord(seg.buf, first, b.count, entries)
	seg.records++
	if wasEmpty {
		seg.firstAt = db.now()
	}
	mem := db.v.Load().mem
	seq := first
	// The open segment becomes WAL object nextWALID when it is sealed (only
	// sealLocked assigns ids, and it seals the open segment), so each
	// value's place in that object is known now: the memtable records it,
	// for the L0 SST to point at instead of copying the value. The
	// memtable gets the plain values of b; wb says where and in what form
	// they are stored when some are compressed.
	walID, entriesOff := db.nextWALID, len(seg.buf)-len(entries)
	i := 0
	err = wal.Record{FirstSeq: first, Count: b.count, Entries: b.entries}.ForEachAt(func(kind wal.Kind, key, value []byte, off int) error {
		loc := memtable.Loc{WALID: walID, Off: uint64(entriesOff + off)}
		if wb != nil {
			loc = wb.locs[i].loc(walID, entriesOff)
		}
		mem.AddAt(seq, kind, key, value, loc)
		seq++
		i++
		return nil
	})
	if err != nil {
		// The batch is built only by our own methods; this cannot happen.
		panic(fmt.Sprintf("lsm: malformed batch: %v", err))
	}
	db.lastSeq = seq - 1
	if wasEmpty {
		seg.firstSeq = first
	}
	seg.lastSeq = db.lastSeq
	db.unshipped.Add(int64(len(seg.buf) - start))
	if db.journal != nil {
		db.journal.Append(seg.buf[start:], db.lastSeq)
	}
	db.visibleSeq.Store(db.lastSeq)
	switch {
	case mem.Size() >= int64(db.opts.MemtableBytes):
		db.freezeLocked()
	case len(seg.buf) >= db.opts.WALMaxBytes:
		db.sealLocked()
		kick(db.walKick)
	case wasEmpty:
		kick(db.walKick) // start the flush-interval clock
	}
	last := db.lastSeq
	db.commitMu.Unlock()
	db.releaseWALBatch(wb)
	if !wo.AwaitDurable {
		return nil
	}
	if db.journal != nil {
		return db.awaitJournal(ctx, last)
	}
	return db.awaitSegment(ctx, seg)
}

// waitForRoom blocks while unflushed memtables exceed MaxUnflushedBytes,
// and with local durability while the journal holds as many bytes not yet
// written to its disk (its disk is slower than the writes, or failing).
func (db *DB) waitForRoom(ctx context.Context) error {
	if !db.memtablesFull() && !db.journalFull() {
		return nil
	}
	db.stats.backpressureWaits.Add(1)
	for {
		var err error
		switch {
		case db.memtablesFull():
			err = db.waitForFlush(ctx)
		case db.journalFull():
			err = db.waitForJournal(ctx)
		default:
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func (db *DB) memtablesFull() bool {
	return db.v.Load().unflushedBytes() >= db.opts.MaxUnflushedBytes
}

func (db *DB) journalFull() bool {
	return db.journal != nil && db.journal.Backlog() >= db.opts.MaxUnflushedBytes
}

// waitForJournal waits for the journal's next round (a write and fsync of
// everything appended to it), which it asks for: with its backlog written,
// the journal has room again. A failed round is retried by the journal's
// writer, after a backoff, and the next call waits for that.
func (db *DB) waitForJournal(ctx context.Context) error {
	if err := db.checkWritable(); err != nil {
		return err
	}
	err := db.journal.Sync(ctx, math.MaxUint64)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, journal.ErrClosed):
		return ErrClosed
	case ctx.Err() != nil:
		return fmt.Errorf("lsm: waiting for the journal's disk (backpressure): %w", ctx.Err())
	}
	return nil
}

// waitForFlush waits until the unflushed memtables are below
// MaxUnflushedBytes.
func (db *DB) waitForFlush(ctx context.Context) error {
	stopWake := context.AfterFunc(ctx, func() {
		db.mu.Lock()
		db.roomCond.Broadcast()
		db.mu.Unlock()
	})
	defer stopWake()
	db.mu.Lock()
	defer db.mu.Unlock()
	for db.memtablesFull() {
		if err := db.checkWritable(); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("lsm: waiting for memtable flush (backpressure): %w", err)
		}
		db.roomCond.Wait()
	}
	return nil
}

// sealLocked closes the open segment (if it holds records), assigns its WAL
// id and queues it. Callers hold commitMu.
func (db *DB) sealLocked() *walSegment {
	if db.seg.empty() {
		return db.lastSeal
	}
	s := db.seg
	s.id = db.nextWALID
	db.nextWALID++
	wal.AppendHeader(s.buf[:0], wal.Header{WriterEpoch: db.epoch, WALID: s.id})
	db.seg = newSegment(min(len(s.buf)+len(s.buf)/8, db.opts.WALMaxBytes+db.opts.WALMaxBytes/4))
	db.lastSeal = s
	db.mu.Lock()
	db.walQueue = append(db.walQueue, s)
	db.prepareQueuedLocked()
	db.mu.Unlock()
	return s
}

// freezeLocked turns the mutable memtable into a frozen one and starts a
// new one. Callers hold commitMu.
//
// Only a freeze replaces the mutable memtable, so it may be read without mu;
// the rest of the version (frozen memtables, SSTs) is replaced by flushes and
// compactions under mu, so the new version must be built from the one
// current under mu, or it would undo an install made in between.
func (db *DB) freezeLocked() {
	mem := db.v.Load().mem
	if mem.Empty() {
		return
	}
	mem.lastSeg = db.sealLocked()
	kick(db.walKick)
	db.mu.Lock()
	nv := *db.v.Load()
	nv.mem = &memTable{Memtable: newMemtable()}
	nv.imm = append([]*memTable{mem}, nv.imm...)
	db.v.Store(&nv)
	db.mu.Unlock()
	kick(db.flushKick)
}

// awaitSegment waits until seg is durable. A failed WAL PUT (which the WAL
// writer keeps retrying) ends the wait with that error: the write is then
// not acknowledged, and may or may not become durable later.
func (db *DB) awaitSegment(ctx context.Context, seg *walSegment) error {
	if seg == nil {
		return nil
	}
	db.mu.Lock()
	failCh := db.walFailCh
	db.mu.Unlock()
	select {
	case <-seg.done:
		return seg.err
	default:
	}
	select {
	case <-seg.done:
		return seg.err
	case <-failCh:
		select {
		case <-seg.done:
			return seg.err
		default:
		}
		db.mu.Lock()
		err := db.walLastErr
		db.mu.Unlock()
		return fmt.Errorf("lsm: write not durable, WAL PUT failed (retrying in background): %w", err)
	case <-ctx.Done():
		return fmt.Errorf("lsm: waiting for WAL object: %w", ctx.Err())
	}
}

// Flush makes every write made before it durable: in a WAL object in the
// store, or with DurabilityLocal fsynced to the local journal (concurrent
// calls share the fsync).
func (db *DB) Flush(ctx context.Context) error {
	if db.readOnly {
		return ErrReadOnly
	}
	if db.closed.Load() {
		return ErrClosed
	}
	if db.journal != nil {
		return db.awaitJournal(ctx, db.visibleSeq.Load())
	}
	return db.FlushWAL(ctx)
}

// awaitJournal waits until the journal holds every write up to seq. A
// failed journal write (which the journal writer keeps retrying) ends the
// wait with its error: the writes are then not acknowledged.
func (db *DB) awaitJournal(ctx context.Context, seq uint64) error {
	if err := db.journal.Sync(ctx, seq); err != nil {
		if errors.Is(err, journal.ErrClosed) {
			return ErrClosed
		}
		return fmt.Errorf("lsm: write not durable: %w", err)
	}
	if db.fenced.Load() {
		return ErrFenced
	}
	return nil
}

// FlushWAL makes every write made before it durable in the store (written
// to a WAL object), whatever the durability mode. Concurrent calls share
// WAL PUTs: at most one PUT is in flight, and the next one carries every
// write made before any FlushWAL waiting for it.
func (db *DB) FlushWAL(ctx context.Context) error {
	if db.readOnly {
		return ErrReadOnly
	}
	if db.closed.Load() {
		return ErrClosed
	}
	// Group commit: mark the open segment as wanted now and let the WAL
	// writer seal it as soon as it is free. Every call that arrives while
	// a WAL PUT is in flight joins the same next PUT, instead of sealing a
	// segment (and paying a PUT) of its own.
	db.commitMu.Lock()
	seg := db.lastSeal
	if !db.seg.empty() {
		seg = db.seg
		db.flushWanted.Store(true)
	}
	db.commitMu.Unlock()
	kick(db.walKick)
	if err := db.awaitSegment(ctx, seg); err != nil {
		return err
	}
	if db.fenced.Load() {
		return ErrFenced
	}
	return nil
}
