package lsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/zerofs-go/zerofsd/internal/retry"
	"github.com/zerofs-go/zerofsd/lsm/wal"
	"github.com/zerofs-go/zerofsd/objstore"
)

// walLoop is the group-commit writer. A write into an empty WAL buffer kicks
// it; it then waits until one FlushInterval has passed since the previous
// WAL PUT began (collecting every write that arrives meanwhile), seals the
// buffer and PUTs it as the next WAL object. So while writes flow there is
// at most one PUT per interval, and the first write after a quiet period
// is written at once (with local durability, whose writers wait for the
// journal and not for this PUT, one ShipInterval after the first write
// the buffer holds). Sealed segments
// (from WALMaxBytes or a memtable freeze) and a buffer a FlushWAL waits for
// are written as soon as the previous PUT has finished; Flushes that arrive during a PUT share the
// next one (group commit). Nothing is written while idle.
func (db *DB) walLoop() {
	defer db.wg.Done()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var lastPut time.Time
	for {
		select {
		case <-db.stop:
			return
		case <-db.walKick:
		}
		if db.journal != nil {
			// Nobody waits for this PUT (writes are durable in the
			// journal): collect an interval's writes into it, counted
			// from the first of them, which may have come during the
			// previous PUT: no write waits more than an interval for
			// its PUT to begin, beyond a PUT in progress.
			timer.Reset(db.shipWait())
		} else {
			timer.Reset(max(0, db.opts.FlushInterval-time.Since(lastPut)))
		}
	wait:
		for !db.walQueued() && !db.flushWanted.Load() {
			select {
			case <-db.stop:
				timer.Stop()
				return
			case <-db.walKick:
			case <-timer.C:
				break wait
			}
		}
		timer.Stop()
		db.commitMu.Lock()
		db.flushWanted.Store(false)
		db.sealLocked()
		db.commitMu.Unlock()
		lastPut = time.Now()
		db.writeQueuedWAL()
	}
}

// shipWait is how long the open segment may still collect writes with
// local durability: until one ShipInterval after its first write.
func (db *DB) shipWait() time.Duration {
	db.commitMu.Lock()
	first := time.Time{}
	if db.seg != nil && !db.seg.empty() {
		first = db.seg.firstAt
	}
	db.commitMu.Unlock()
	if first.IsZero() {
		return db.opts.ShipInterval
	}
	return max(0, db.opts.ShipInterval-db.now().Sub(first))
}

func (db *DB) walQueued() bool {
	db.mu.Lock()
	defer db.mu.Unlock()
	return len(db.walQueue) > 0
}

// writeQueuedWAL PUTs sealed segments in id order until the queue is empty,
// retrying failures with backoff (a failed segment blocks the later ones, so
// what is durable is always a prefix of the write order).
func (db *DB) writeQueuedWAL() {
	bo := newBackoff()
	for {
		if db.fenced.Load() {
			db.failQueued(ErrFenced)
			return
		}
		db.mu.Lock()
		if len(db.walQueue) == 0 {
			db.mu.Unlock()
			return
		}
		s := db.walQueue[0]
		db.prepareQueuedLocked()
		db.mu.Unlock()
		err := db.putWAL(db.bgCtx, s)
		if err == nil && !db.unfencedRecently() {
			// Out of touch with the store for long: the id may have been
			// a newer writer's fence, since collected (unfenced.go).
			var reason string
			if reason, err = db.newerWriter(db.bgCtx); err == nil && reason != "" {
				db.fence(reason + "; " + walKey(s.id) + " was written after it, into a collected id, and is not acknowledged")
				db.failQueued(ErrFenced)
				return
			}
		}
		if err == nil {
			db.stats.walPuts.Add(1)
			db.stats.walBytes.Add(int64(len(s.buf)))
			db.unshipped.Add(-int64(len(s.buf) - wal.HeaderSize))
			if db.journal != nil {
				db.journal.Shipped(s.lastSeq)
			}
			db.mu.Lock()
			// Clear the slot: the queue's array would otherwise keep the
			// shipped segment, and its buffer, until the array is
			// replaced.
			db.walQueue[0] = nil
			db.walQueue = db.walQueue[1:]
			// The segment is in the store: whoever still holds it
			// (lastSeal, a frozen memtable's lastSeg, a waiter) reads
			// only its id, done and err, so its buffer can go.
			s.buf, s.prep = nil, nil
			db.mu.Unlock()
			s.finish(nil)
			bo.Reset()
			continue
		}
		if errors.Is(err, ErrFenced) {
			db.fence(fmt.Sprintf("WAL object %s was written by another writer", walKey(s.id)))
			db.failQueued(ErrFenced)
			return
		}
		db.mu.Lock()
		db.walLastErr = err
		close(db.walFailCh)
		db.walFailCh = make(chan struct{})
		db.mu.Unlock()
		db.log.Warn("lsm: WAL PUT failed; retrying", "object", walKey(s.id), "err", err)
		if retry.Sleep(db.bgCtx, bo.Next()) != nil {
			return
		}
	}
}

// putWALObject writes a WAL object (a segment, a fence, a shipped journal
// tail) with PutIfAbsent, and on success drops whatever the disk cache
// holds under its name: WAL ids are sequential, so a store wiped and
// started again, or put back from an older copy, reuses names whose pages
// from the earlier database may still be cached (the pages of an object
// read through the cache are never checked against the store again).
func (db *DB) putWALObject(ctx context.Context, key string, data []byte) error {
	err := db.store.PutIfAbsent(ctx, key, data)
	if err == nil {
		db.diskCache.Forget(db.cacheNS, key)
	}
	return err
}

// walPrepAhead is how many queued segments have their objects prepared
// (objstore.PutPreparer; sealed, for an encrypted export) ahead of their
// PUT: the one being written and the next. The next one is then ready when
// its turn comes, so sealing costs the WAL writer no time of its own while
// segments queue up, and at most two sealed copies wait in memory.
const walPrepAhead = 2

// walPrep is a segment's object being prepared by the store in a
// goroutine of its own; done is closed when put or err is set.
type walPrep struct {
	done chan struct{}
	put  objstore.PreparedPut
	err  error
}

// prepareQueuedLocked starts preparing the first walPrepAhead queued
// segments that are not being prepared yet, if the store prepares objects.
// Queued segments never change, so their buffers can be read while the
// writers go on. Callers hold mu.
func (db *DB) prepareQueuedLocked() {
	pp, ok := db.store.(objstore.PutPreparer)
	if !ok {
		return
	}
	for _, s := range db.walQueue[:min(len(db.walQueue), walPrepAhead)] {
		if s.prep != nil {
			continue
		}
		p := &walPrep{done: make(chan struct{})}
		s.prep = p
		key, buf := walKey(s.id), s.buf
		// Not one of wg's goroutines (segments are sealed during Close
		// too): it touches nothing of the database and ends by itself.
		go func() {
			defer close(p.done)
			p.put, p.err = pp.PreparePut(key, buf)
		}()
	}
}

// putSegment writes segment s's object with PutIfAbsent: the prepared
// object when there is one (a retry writes the same bytes again), else the
// segment's buffer as it is. Like putWALObject, a success drops the disk
// cache's pages of the name.
func (db *DB) putSegment(ctx context.Context, s *walSegment) error {
	key := walKey(s.id)
	db.mu.Lock()
	p := s.prep
	db.mu.Unlock()
	if p == nil {
		return db.putWALObject(ctx, key, s.buf)
	}
	<-p.done // the work is CPU only: it ends without the context
	if p.err != nil {
		db.mu.Lock()
		s.prep = nil // the next attempt prepares it again
		db.mu.Unlock()
		return fmt.Errorf("preparing %s: %w", key, p.err)
	}
	err := p.put.PutIfAbsent(ctx)
	if err == nil {
		// Spent (the store may reuse its memory): should the segment be
		// written again (its PUT succeeded but confirming it failed), it is
		// prepared again, and the object found in place compared.
		db.mu.Lock()
		s.prep = nil
		db.mu.Unlock()
		db.diskCache.Forget(db.cacheNS, key)
	}
	return err
}

// putWAL writes one segment with PutIfAbsent. If the object already exists
// it is either ours (an earlier attempt landed but its answer was lost) or a
// newer writer's fence: compare the bytes to tell.
func (db *DB) putWAL(ctx context.Context, s *walSegment) error {
	key := walKey(s.id)
	err := db.putSegment(ctx, s)
	if err == nil {
		return nil
	}
	if !errors.Is(err, objstore.ErrPreconditionFailed) {
		return fmt.Errorf("lsm: writing %s: %w", key, err)
	}
	ours, err := db.walObjectIsOurs(ctx, key, s.buf)
	if err != nil || ours {
		return err
	}
	return fmt.Errorf("%w: %s exists", ErrFenced, key)
}

// walObjectIsOurs reads back a WAL object whose PutIfAbsent found the name
// taken and reports whether it holds exactly data: an earlier attempt of
// ours landed, but its answer was lost. Then, as after a PUT that
// succeeded (putWALObject), it drops the disk cache's pages of the name.
func (db *DB) walObjectIsOurs(ctx context.Context, key string, data []byte) (bool, error) {
	got, err := db.store.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("lsm: reading back existing %s: %w", key, err)
	}
	if !bytes.Equal(got, data) {
		return false, nil
	}
	db.diskCache.Forget(db.cacheNS, key)
	return true, nil
}

// failQueued ends every queued segment with err and returns them.
func (db *DB) failQueued(err error) []*walSegment {
	db.mu.Lock()
	q := db.walQueue
	db.walQueue = nil
	db.mu.Unlock()
	for _, s := range q {
		s.finish(err)
	}
	return q
}

// fence marks the database as fenced by a newer writer: no write is
// accepted or acknowledged any more. The log line comes before the flag, so
// no write is refused as fenced before the reason is in the log.
func (db *DB) fence(reason string) {
	if !db.fencing.CompareAndSwap(false, true) {
		return
	}
	db.log.Error("lsm: FENCED: another writer opened this database; this instance no longer accepts writes",
		"reason", reason, "epoch", db.epoch)
	db.fenced.Store(true)
	db.commitMu.Lock()
	db.sealLocked()
	db.commitMu.Unlock()
	kick(db.walKick)
	db.mu.Lock()
	db.roomCond.Broadcast()
	db.mu.Unlock()
}
