package lsm

import (
	"bytes"
	"context"
	"sync/atomic"
)

// View is one consistent state of a database: every Get and iterator of a
// View reads the same version at the same sequence number, whatever the
// database does meanwhile (writes, flushes, compactions, a read-only
// database's Refresh). It pins that version like an iterator, so this
// process's GC keeps its SSTs (and a Replica's lease names its manifest)
// until Release.
type View struct {
	db       *DB
	v        *version
	seq      uint64
	released atomic.Bool
}

// View returns the current state of the database, pinned until Release.
func (db *DB) View() (*View, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	db.mu.Lock()
	v, seq := db.readState()
	db.live[v]++
	db.mu.Unlock()
	return &View{db: db, v: v, seq: seq}, nil
}

// Get returns the value of key in the view (ErrNotFound if absent).
func (vw *View) Get(ctx context.Context, key []byte) ([]byte, error) {
	if vw.db.closed.Load() {
		return nil, ErrClosed
	}
	return vw.db.getAt(ctx, vw.v, vw.seq, key)
}

// NewIterator returns an iterator over [lower, upper) of the view; it
// pins the view's version on its own until its Close.
func (vw *View) NewIterator(ctx context.Context, lower, upper []byte) (*Iterator, error) {
	db := vw.db
	if db.closed.Load() {
		return nil, ErrClosed
	}
	db.mu.Lock()
	db.live[vw.v]++
	db.mu.Unlock()
	lower, upper = bytes.Clone(lower), bytes.Clone(upper)
	return &Iterator{db: db, ctx: ctx, v: vw.v, seq: vw.seq, m: newMergeIter(versionIters(ctx, vw.v, lower, upper))}, nil
}

// ManifestID is the manifest whose SSTs the view reads.
func (vw *View) ManifestID() uint64 { return vw.v.manifestID }

// Seq is the sequence number the view reads at.
func (vw *View) Seq() uint64 { return vw.seq }

// Release unpins the view; it must not be used afterwards. Releasing twice
// is harmless.
func (vw *View) Release() {
	if vw.released.CompareAndSwap(false, true) {
		vw.db.unpin(vw.v)
	}
}
