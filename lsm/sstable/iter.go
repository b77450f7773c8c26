package sstable

import (
	"bytes"
	"context"
	"errors"
	"fmt"
)

// Read-ahead of a sequential scan: the first block after a seek is read
// alone; each further miss reads twice as many bytes of following blocks in
// one request, up to maxReadahead.
const (
	minReadahead = 32 << 10
	maxReadahead = 512 << 10
)

var errIterClosed = errors.New("sstable: iterator closed")

// Iter walks the internal entries (every version, tombstones included) of
// one SST whose user keys lie in [lower, upper), in internal order.
//
// Key and Value return slices that stay valid after the iterator moves on or
// is closed; they must not be modified (Value points into a block that may
// be shared through the cache). An Iter is not safe for concurrent use.
type Iter struct {
	r            *Reader
	ctx          context.Context
	lower, upper []byte

	blockIdx int // current data block
	bi       blockIter
	valid    bool
	err      error
	closed   bool

	key      []byte // stable copy of the current key, nil until Key is called
	keyArena []byte

	fillCache  bool     // put blocks read from the source into the cache
	lastBlock  int      // the last block that can hold keys < upper
	ahead      []*block // blocks read ahead, for aheadStart, aheadStart+1, ...
	aheadStart int
	readahead  int64
}

// IterOptions configure NewIterWithOptions.
type IterOptions struct {
	// Lower and Upper bound the user keys: Lower <= key < Upper (nil = open).
	Lower, Upper []byte
	// DontFillCache keeps the blocks this iterator reads out of the block
	// cache (blocks already cached are still used). For compactions, which
	// read every block once and would otherwise evict the hot ones.
	DontFillCache bool
}

// NewIter returns an iterator over the entries with lower <= key < upper
// (nil bounds are open). It is not positioned: call First or SeekGE.
func (r *Reader) NewIter(ctx context.Context, lower, upper []byte) *Iter {
	return r.NewIterWithOptions(ctx, IterOptions{Lower: lower, Upper: upper})
}

// NewIterWithOptions is NewIter with more options.
func (r *Reader) NewIterWithOptions(ctx context.Context, opts IterOptions) *Iter {
	lower, upper := opts.Lower, opts.Upper
	it := &Iter{r: r, ctx: ctx, lower: lower, upper: upper, lastBlock: len(r.index) - 1, fillCache: !opts.DontFillCache}
	if upper != nil {
		// The first block whose last key is >= upper is the last that can
		// hold keys below it.
		if i := r.blockFor(upper, ^uint64(0)); i < len(r.index) {
			it.lastBlock = i
		}
	}
	return it
}

// First positions at the first entry (>= lower) and reports whether there is one.
func (it *Iter) First() bool {
	if it.lower != nil {
		return it.SeekGE(it.lower)
	}
	if !it.reset() {
		return false
	}
	if !it.loadBlock(0, false) {
		return false
	}
	it.bi.first()
	return it.settle()
}

// SeekGE positions at the first entry whose user key is >= key (and >= lower).
func (it *Iter) SeekGE(key []byte) bool {
	if !it.reset() {
		return false
	}
	if it.lower != nil && bytes.Compare(key, it.lower) < 0 {
		key = it.lower
	}
	i := it.r.blockFor(key, ^uint64(0))
	if !it.loadBlock(i, false) {
		return false
	}
	it.bi.seekGE(key, ^uint64(0))
	return it.settle()
}

// Next moves to the next entry and reports whether there is one.
func (it *Iter) Next() bool {
	if !it.valid {
		return false
	}
	it.key = nil
	it.bi.nextEntry()
	return it.settle()
}

// settle moves past exhausted blocks and applies the upper bound.
func (it *Iter) settle() bool {
	it.key = nil
	for !it.bi.valid {
		if it.bi.err != nil {
			return it.fail(fmt.Errorf("sst %s: block at %d: %w", it.r.name, it.r.index[it.blockIdx].handle.off, it.bi.err))
		}
		if !it.loadBlock(it.blockIdx+1, true) {
			return false
		}
		it.bi.first()
	}
	if it.upper != nil && bytes.Compare(it.bi.key, it.upper) >= 0 {
		it.valid = false
		return false
	}
	it.valid = true
	return true
}

func (it *Iter) reset() bool {
	it.valid = false
	it.key = nil
	if it.closed {
		it.err = errIterClosed
	}
	return it.err == nil
}

func (it *Iter) fail(err error) bool {
	it.err = err
	it.valid = false
	return false
}

// loadBlock makes block i current. It returns false at the end (or past
// the upper bound) and on errors.
func (it *Iter) loadBlock(i int, sequential bool) bool {
	it.valid = false
	if i >= len(it.r.index) || i > it.lastBlock {
		it.bi.b = nil
		return false
	}
	if err := it.ctx.Err(); err != nil {
		return it.fail(fmt.Errorf("sst %s: %w", it.r.name, err))
	}
	it.blockIdx = i
	if k := i - it.aheadStart; k >= 0 && k < len(it.ahead) && it.ahead[k] != nil {
		it.bi.init(it.ahead[k])
		it.ahead[k] = nil
		return true
	}
	it.ahead = it.ahead[:0]
	if !sequential {
		it.readahead = 0
	} else if b := it.r.cached(i); b != nil {
		it.bi.init(b)
		return true
	}
	if it.readahead == 0 {
		it.readahead = minReadahead / 2
		b, err := it.r.readBlock(it.ctx, i, it.fillCache)
		if err != nil {
			return it.fail(err)
		}
		it.bi.init(b)
		return true
	}
	it.readahead = min(it.readahead*2, maxReadahead)
	if err := it.readAhead(i); err != nil {
		return it.fail(err)
	}
	it.bi.init(it.ahead[0])
	it.ahead[0] = nil
	return true
}

// readAhead reads blocks i, i+1, ... (up to it.readahead bytes, at least one
// block, never past lastBlock) in one request and decodes them into it.ahead.
func (it *Iter) readAhead(i int) error {
	r := it.r
	first := r.index[i].handle
	end := first.end()
	j := i + 1
	for j <= it.lastBlock && j < len(r.index) && r.index[j].handle.end()-first.off <= uint64(it.readahead) {
		end = r.index[j].handle.end()
		j++
	}
	raw, err := r.read(it.ctx, int64(first.off), int64(end-first.off), "blocks")
	if err != nil {
		return err
	}
	it.ahead = it.ahead[:0]
	it.aheadStart = i
	for k := i; k < j; k++ {
		h := r.index[k].handle
		lo := h.off - first.off
		b, err := r.decodeDataBlock(raw[lo:lo+h.length:lo+h.length], h)
		if err != nil {
			return err
		}
		if c := r.opts.Cache; c != nil && it.fillCache {
			c.put(r.opts.CacheID, h.off, b)
		}
		it.ahead = append(it.ahead, b)
	}
	return nil
}

// Valid reports whether the iterator is positioned at an entry.
func (it *Iter) Valid() bool { return it.valid }

// Key returns the current user key (see Iter for its lifetime).
func (it *Iter) Key() []byte {
	if !it.valid {
		return nil
	}
	if it.key == nil {
		k := it.bi.key
		if len(it.keyArena)+len(k) > cap(it.keyArena) {
			it.keyArena = make([]byte, 0, max(4096, len(k)))
		}
		n := len(it.keyArena)
		it.keyArena = append(it.keyArena, k...)
		it.key = it.keyArena[n : n+len(k) : n+len(k)]
	}
	return it.key
}

// Seq returns the current entry's sequence number.
func (it *Iter) Seq() uint64 { return it.bi.seq }

// Kind returns the current entry's kind.
func (it *Iter) Kind() Kind { return it.bi.kind }

// Value returns the current value (empty for tombstones). It stays valid
// after the iterator moves but must not be modified.
func (it *Iter) Value() []byte {
	if !it.valid {
		return nil
	}
	return it.bi.value
}

// Err returns the error that stopped the iterator, if any.
func (it *Iter) Err() error { return it.err }

// Close releases the iterator and returns its error, if any.
func (it *Iter) Close() error {
	it.closed = true
	it.valid = false
	it.ahead = nil
	it.bi = blockIter{}
	err := it.err
	if errors.Is(err, errIterClosed) {
		err = nil
	}
	return err
}
