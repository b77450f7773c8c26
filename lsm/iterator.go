package lsm

import (
	"bytes"
	"container/heap"
	"context"
	"errors"

	"github.com/zerofs-go/zerofsd/lsm/memtable"
	"github.com/zerofs-go/zerofsd/lsm/sstable"
	"github.com/zerofs-go/zerofsd/lsm/vlog"
)

// internalIter walks internal entries (every version, tombstones included)
// in internal order: user key ascending, sequence number descending.
type internalIter interface {
	First() bool
	Next() bool
	Valid() bool
	Key() []byte
	Seq() uint64
	Kind() sstable.Kind
	Value() []byte
	Err() error
	Close() error
}

// memIter adapts a memtable iterator, bounded to [lower, upper).
type memIter struct {
	it           *memtable.Iter
	lower, upper []byte
	valid        bool
}

func newMemIter(m *memTable, lower, upper []byte) *memIter {
	return &memIter{it: m.NewIter(), lower: lower, upper: upper}
}

func (m *memIter) check(ok bool) bool {
	m.valid = ok && (m.upper == nil || bytes.Compare(m.it.Key(), m.upper) < 0)
	return m.valid
}
func (m *memIter) First() bool {
	if m.lower != nil {
		return m.check(m.it.SeekGE(m.lower))
	}
	return m.check(m.it.First())
}
func (m *memIter) Next() bool         { return m.check(m.it.Next()) }
func (m *memIter) Valid() bool        { return m.valid }
func (m *memIter) Key() []byte        { return m.it.Key() }
func (m *memIter) Seq() uint64        { return m.it.Seq() }
func (m *memIter) Kind() sstable.Kind { return m.it.Kind() }
func (m *memIter) Value() []byte      { return m.it.Value() }
func (m *memIter) Err() error         { return nil }
func (m *memIter) Close() error       { m.valid = false; return nil }

// tableIter opens its SST lazily and wraps errors with the object's name.
type tableIter struct {
	ctx          context.Context
	t            *table
	lower, upper []byte
	it           *sstable.Iter
	err          error
}

func (ti *tableIter) init() bool {
	if ti.it != nil {
		return true
	}
	if ti.err != nil {
		return false
	}
	r, err := ti.t.open(ti.ctx)
	if err != nil {
		ti.err = err
		return false
	}
	ti.it = r.NewIter(ti.ctx, ti.lower, ti.upper)
	return true
}
func (ti *tableIter) First() bool        { return ti.init() && ti.it.First() }
func (ti *tableIter) Next() bool         { return ti.it != nil && ti.it.Next() }
func (ti *tableIter) Valid() bool        { return ti.it != nil && ti.it.Valid() }
func (ti *tableIter) Key() []byte        { return ti.it.Key() }
func (ti *tableIter) Seq() uint64        { return ti.it.Seq() }
func (ti *tableIter) Kind() sstable.Kind { return ti.it.Kind() }
func (ti *tableIter) Value() []byte      { return ti.it.Value() }
func (ti *tableIter) Err() error {
	if ti.err != nil {
		return ti.err
	}
	if ti.it != nil && ti.it.Err() != nil {
		return wrapTableErr(tableKey(ti.t.meta.ID), ti.it.Err())
	}
	return nil
}
func (ti *tableIter) Close() error {
	if ti.it != nil {
		ti.it.Close()
	}
	return ti.Err()
}

// runIter concatenates the tables of a sorted run.
type runIter struct {
	ctx          context.Context
	r            *run
	lower, upper []byte
	i            int
	cur          *tableIter
	err          error
}

func (ri *runIter) open(i int) {
	if ri.cur != nil {
		if err := ri.cur.Close(); err != nil && ri.err == nil {
			ri.err = err
		}
	}
	ri.i = i
	ri.cur = nil
	if i < len(ri.r.tables) {
		ri.cur = &tableIter{ctx: ri.ctx, t: ri.r.tables[i], lower: ri.lower, upper: ri.upper}
	}
}

// skipEmpty moves on to later tables while the current one is exhausted.
func (ri *runIter) skipEmpty(ok bool) bool {
	for !ok {
		if ri.cur == nil || ri.err != nil {
			return false
		}
		if err := ri.cur.Err(); err != nil {
			ri.err = err
			return false
		}
		if ri.upper != nil && ri.i+1 < len(ri.r.tables) && bytes.Compare(ri.r.tables[ri.i+1].meta.Smallest, ri.upper) >= 0 {
			ri.open(len(ri.r.tables))
			return false
		}
		ri.open(ri.i + 1)
		if ri.cur == nil {
			return false
		}
		ok = ri.cur.First()
	}
	return true
}
func (ri *runIter) First() bool {
	start := 0
	if ri.lower != nil {
		start = ri.findFrom(ri.lower)
	}
	ri.open(start)
	return ri.cur != nil && ri.skipEmpty(ri.cur.First())
}
func (ri *runIter) findFrom(key []byte) int {
	for i, t := range ri.r.tables {
		if bytes.Compare(t.meta.Largest, key) >= 0 {
			return i
		}
	}
	return len(ri.r.tables)
}
func (ri *runIter) Next() bool         { return ri.cur != nil && ri.skipEmpty(ri.cur.Next()) }
func (ri *runIter) Valid() bool        { return ri.cur != nil && ri.err == nil && ri.cur.Valid() }
func (ri *runIter) Key() []byte        { return ri.cur.Key() }
func (ri *runIter) Seq() uint64        { return ri.cur.Seq() }
func (ri *runIter) Kind() sstable.Kind { return ri.cur.Kind() }
func (ri *runIter) Value() []byte      { return ri.cur.Value() }
func (ri *runIter) Err() error {
	if ri.err != nil {
		return ri.err
	}
	if ri.cur != nil {
		return ri.cur.Err()
	}
	return nil
}
func (ri *runIter) Close() error {
	ri.open(len(ri.r.tables))
	return ri.err
}

// mergeIter merges internal iterators into one in internal order.
type mergeIter struct {
	iters []internalIter
	h     iterHeap
	err   error
}

type iterHeap []internalIter

func (h iterHeap) Len() int { return len(h) }
func (h iterHeap) Less(i, j int) bool {
	c := bytes.Compare(h[i].Key(), h[j].Key())
	if c != 0 {
		return c < 0
	}
	return h[i].Seq() > h[j].Seq()
}
func (h iterHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *iterHeap) Push(x any)   { *h = append(*h, x.(internalIter)) }
func (h *iterHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func newMergeIter(iters []internalIter) *mergeIter { return &mergeIter{iters: iters} }

func (m *mergeIter) build(pos func(internalIter) bool) bool {
	m.h = m.h[:0]
	for _, it := range m.iters {
		if pos(it) {
			m.h = append(m.h, it)
		} else if err := it.Err(); err != nil {
			m.err = err
			return false
		}
	}
	heap.Init(&m.h)
	return len(m.h) > 0
}
func (m *mergeIter) First() bool { return m.build(internalIter.First) }
func (m *mergeIter) Next() bool {
	if len(m.h) == 0 || m.err != nil {
		return false
	}
	top := m.h[0]
	if top.Next() {
		heap.Fix(&m.h, 0)
	} else {
		if err := top.Err(); err != nil {
			m.err = err
			return false
		}
		heap.Pop(&m.h)
	}
	return len(m.h) > 0
}
func (m *mergeIter) Valid() bool        { return len(m.h) > 0 && m.err == nil }
func (m *mergeIter) Key() []byte        { return m.h[0].Key() }
func (m *mergeIter) Seq() uint64        { return m.h[0].Seq() }
func (m *mergeIter) Kind() sstable.Kind { return m.h[0].Kind() }
func (m *mergeIter) Value() []byte      { return m.h[0].Value() }
func (m *mergeIter) Err() error         { return m.err }
func (m *mergeIter) Close() error {
	var errs []error
	for _, it := range m.iters {
		errs = append(errs, it.Close())
	}
	errs = append(errs, m.err)
	return errors.Join(errs...)
}

// versionIters returns one internal iterator per memtable, L0 SST and run.
func versionIters(ctx context.Context, v *version, lower, upper []byte) []internalIter {
	var iters []internalIter
	if v.mem != nil {
		iters = append(iters, newMemIter(v.mem, lower, upper))
	}
	for _, m := range v.imm {
		iters = append(iters, newMemIter(m, lower, upper))
	}
	for _, t := range v.l0 {
		if upper != nil && bytes.Compare(t.meta.Smallest, upper) >= 0 {
			continue
		}
		if lower != nil && bytes.Compare(t.meta.Largest, lower) < 0 {
			continue
		}
		iters = append(iters, &tableIter{ctx: ctx, t: t, lower: lower, upper: upper})
	}
	for _, r := range v.runs {
		iters = append(iters, &runIter{ctx: ctx, r: r, lower: lower, upper: upper})
	}
	return iters
}

// Iterator walks the live keys of [lower, upper) in order, as of the moment
// it was created: later writes are not seen, and the memtables and SSTs it
// reads stay readable until Close. Call Next before the first Key.
//
// It takes entries ahead (up to iterWindow, or resolveBatch bytes of
// separated values) and resolves the pointers among them only when a Value
// is asked for, all at once: values written together (a file's chunks) come
// back in one ranged read. ValueLen never reads a separated value.
type Iterator struct {
	db      *DB
	ctx     context.Context
	v       *version
	seq     uint64
	m       *mergeIter
	started bool
	last    []byte // the user key last taken from m: its older versions are skipped
	hasLast bool
	done    bool // m is exhausted (or failed)

	win    []iterEntry // entries taken ahead
	pos    int         // the current entry of win
	err    error
	closed bool
}

// iterEntry is one live entry an Iterator took ahead.
type iterEntry struct {
	key   []byte
	value []byte // the value (inline, or once resolved)
	ptr   []byte // the pointer of a separated value not yet resolved
	vlen  int
	err   error // resolving the value failed
}

// iterWindow is how many entries an Iterator takes ahead.
const iterWindow = 128

// NewIterator returns an iterator over [lower, upper); a nil bound is open.
func (db *DB) NewIterator(ctx context.Context, lower, upper []byte) (*Iterator, error) {
	if db.closed.Load() {
		return nil, ErrClosed
	}
	db.mu.Lock()
	v, seq := db.readState()
	db.live[v]++
	db.mu.Unlock()
	lower, upper = bytes.Clone(lower), bytes.Clone(upper)
	return &Iterator{db: db, ctx: ctx, v: v, seq: seq, m: newMergeIter(versionIters(ctx, v, lower, upper))}, nil
}

// Next advances to the next live key and reports whether there is one.
func (it *Iterator) Next() bool {
	if it.closed || it.err != nil {
		return false
	}
	if it.pos+1 < len(it.win) {
		it.pos++
		return true
	}
	if it.done {
		it.win, it.pos = it.win[:0], 0
		return false
	}
	it.fill()
	if it.err != nil || len(it.win) == 0 {
		it.win, it.pos = it.win[:0], 0
		return false
	}
	return true
}

// fill takes the next window of live entries from the merge.
func (it *Iterator) fill() {
	clear(it.win)
	it.win, it.pos = it.win[:0], 0
	var ok bool
	if !it.started {
		it.started = true
		ok = it.m.First()
	} else {
		ok = it.m.Valid()
	}
	pointed := 0
	for ; ok; ok = it.m.Next() {
		if len(it.win) >= iterWindow || pointed >= resolveBatch {
			return // m stays at an entry not taken yet
		}
		if it.m.Seq() > it.seq {
			continue
		}
		k := it.m.Key()
		if it.hasLast && bytes.Equal(k, it.last) {
			continue
		}
		it.last = append(it.last[:0], k...)
		it.hasLast = true
		e := iterEntry{key: bytes.Clone(k)}
		switch it.m.Kind() {
		case sstable.KindDelete:
			continue
		case sstable.KindPointer:
			e.ptr = it.m.Value()
			p, err := vlog.DecodePointer(e.ptr)
			if err != nil {
				it.err = corrupt("value pointer", err)
				return
			}
			e.vlen = int(p.ValueLen())
			pointed += int(p.Len)
		default:
			e.value = it.m.Value()
			e.vlen = len(e.value)
		}
		it.win = append(it.win, e)
	}
	it.done = true
	it.err = it.m.Err()
}

// Key is the current key; valid until the next call to Next.
func (it *Iterator) Key() []byte {
	if it.pos >= len(it.win) {
		return nil
	}
	return it.win[it.pos].key
}

// Value is the current value; valid until the next call to Next and must
// not be modified. A separated value that cannot be read returns nil, and
// the iteration stops with the error (Err, Close).
func (it *Iterator) Value() []byte {
	if it.pos >= len(it.win) {
		return nil
	}
	e := &it.win[it.pos]
	if e.ptr != nil {
		it.resolve()
	}
	if e.err != nil {
		if it.err == nil {
			it.err = e.err
		}
		return nil
	}
	return e.value
}

// ValueLen is the length of the current value, without reading it.
func (it *Iterator) ValueLen() int {
	if it.pos >= len(it.win) {
		return 0
	}
	return it.win[it.pos].vlen
}

// resolve reads every separated value of the window from the current entry on.
func (it *Iterator) resolve() {
	var ps []pendingValue
	for i := it.pos; i < len(it.win); i++ {
		e := &it.win[i]
		if e.ptr == nil {
			continue
		}
		p, err := vlog.DecodePointer(e.ptr)
		e.ptr = nil
		if err != nil {
			e.err = corrupt("value pointer", err)
			continue
		}
		ps = append(ps, pendingValue{p: p, out: &e.value, err: &e.err})
	}
	it.db.resolveValues(it.ctx, ps)
}

// Err returns the error that stopped the iteration, if any.
func (it *Iterator) Err() error { return it.err }

// Close releases the iterator's snapshot.
func (it *Iterator) Close() error {
	if it.closed {
		return nil
	}
	it.closed = true
	err := it.m.Close()
	it.db.unpin(it.v)
	it.win = nil
	if it.err != nil {
		return it.err
	}
	return err
}
