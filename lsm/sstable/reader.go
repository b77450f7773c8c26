package sstable

import (
	"bytes"
	"context"
	"fmt"
	"sort"

	"github.com/zerofs-go/zerofsd/lsm/compress"
)

// Source reads byte ranges of one SST object, e.g. an adapter over
// objstore.Store.GetRange. ReadAt returns exactly n bytes unless the object
// ends first. The returned slice belongs to the caller: the reader may keep
// it (in the block cache) and never modifies it.
type Source interface {
	ReadAt(ctx context.Context, off, n int64) ([]byte, error)
}

// ReaderOptions configure a Reader. The zero value is usable.
type ReaderOptions struct {
	// Cache, when set, keeps decoded data blocks across reads and readers.
	Cache *BlockCache
	// CacheID identifies this SST within Cache; it must be unique among the
	// SSTs sharing the cache (e.g. a counter of opened SSTs).
	CacheID uint64
}

// openReadSize is how many bytes of the tail Open reads first. Most SSTs'
// metadata (filter, index, properties, footer) fits, so Open needs one read;
// otherwise it reads the rest in a second one.
const openReadSize = 64 << 10

// Reader reads one SST. Its metadata (index, filter, properties) is held in
// memory; data blocks are read on demand through the Source and the cache.
// A Reader is immutable after Open and safe for concurrent use.
type Reader struct {
	name      string
	size      int64
	src       Source
	opts      ReaderOptions
	props     Properties
	index     []indexEntry
	filter    bloomFilter
	hasFilter bool
	decomp    *compress.Codecs
}

// Open reads and verifies the footer, properties, index and filter of the
// SST called name (used in errors) of size bytes. A damaged object gives an
// error wrapping ErrCorrupt that names it; read errors are wrapped as they are.
func Open(ctx context.Context, name string, size int64, src Source, opts ReaderOptions) (*Reader, error) {
	r := &Reader{name: name, size: size, src: src, opts: opts}
	if opts.Cache != nil {
		r.decomp = &opts.Cache.decomp
	} else {
		r.decomp = compress.NewCodecs()
	}
	if size < footerSize {
		return nil, fmt.Errorf("sst %s: object of %d bytes is shorter than a footer: %w", name, size, ErrCorrupt)
	}
	tailStart := max(size-openReadSize, 0)
	buf, err := r.read(ctx, tailStart, size-tailStart, "tail")
	if err != nil {
		return nil, err
	}
	f, err := decodeFooter(buf[len(buf)-footerSize:], uint64(size))
	if err != nil {
		return nil, fmt.Errorf("sst %s: %w", name, err)
	}
	metaStart := f.metaStart()
	if metaStart < uint64(tailStart) {
		more, err := r.read(ctx, int64(metaStart), tailStart-int64(metaStart), "metadata")
		if err != nil {
			return nil, err
		}
		buf = append(more, buf...)
		tailStart = int64(metaStart)
	} else if skip := int64(metaStart) - tailStart; skip > 0 {
		// The tail read took some data blocks too: keep only the metadata,
		// which the reader holds for its lifetime.
		buf = bytes.Clone(buf[skip:])
		tailStart = int64(metaStart)
	}
	metaBlock := func(what string, h blockHandle) ([]byte, error) {
		lo := h.off - uint64(tailStart)
		p, err := unframeBlock(buf[lo:lo+h.length:lo+h.length], nil, 0)
		if err != nil {
			return nil, fmt.Errorf("sst %s: %s block at %d: %w", name, what, h.off, err)
		}
		return p, nil
	}

	p, err := metaBlock("properties", f.properties)
	if err != nil {
		return nil, err
	}
	if r.props, err = decodeProperties(p, f.version); err != nil {
		return nil, fmt.Errorf("sst %s: properties block at %d: %w", name, f.properties.off, err)
	}
	r.props.FormatVersion = f.version

	if p, err = metaBlock("index", f.index); err != nil {
		return nil, err
	}
	if r.index, err = decodeIndex(p, metaStart); err != nil {
		return nil, fmt.Errorf("sst %s: index block at %d: %w", name, f.index.off, err)
	}
	dataEnd := uint64(0)
	if n := len(r.index); n > 0 {
		dataEnd = r.index[n-1].handle.end()
	}
	if uint64(len(r.index)) != r.props.NumDataBlocks || dataEnd != r.props.DataSize || dataEnd != metaStart ||
		(len(r.index) == 0) != (r.props.NumEntries == 0) {
		return nil, fmt.Errorf("sst %s: index (%d blocks, %d bytes) disagrees with properties (%d blocks, %d bytes, %d entries): %w",
			name, len(r.index), dataEnd, r.props.NumDataBlocks, r.props.DataSize, r.props.NumEntries, ErrCorrupt)
	}

	if f.filter.length > 0 {
		if p, err = metaBlock("filter", f.filter); err != nil {
			return nil, err
		}
		if r.filter, err = decodeFilter(p); err != nil {
			return nil, fmt.Errorf("sst %s: filter block at %d: %w", name, f.filter.off, err)
		}
		r.hasFilter = true
	}
	return r, nil
}

// read reads exactly n bytes at off; a short read means the object is truncated.
func (r *Reader) read(ctx context.Context, off, n int64, what string) ([]byte, error) {
	b, err := r.src.ReadAt(ctx, off, n)
	if err != nil {
		return nil, fmt.Errorf("sst %s: read %s [%d,+%d): %w", r.name, what, off, n, err)
	}
	if int64(len(b)) != n {
		return nil, fmt.Errorf("sst %s: read %s [%d,+%d): got %d bytes (truncated object): %w",
			r.name, what, off, n, len(b), ErrCorrupt)
	}
	return b, nil
}

// Name returns the name given to Open.
func (r *Reader) Name() string { return r.name }

// Size returns the object size given to Open.
func (r *Reader) Size() int64 { return r.size }

// Properties returns the SST's properties. The key slices must not be modified.
func (r *Reader) Properties() Properties { return r.props }

// MayContain reports whether the SST may hold an entry for the user key,
// using the bloom filter; it is true when the SST has no filter. False means
// certainly absent.
func (r *Reader) MayContain(key []byte) bool {
	if !r.hasFilter {
		return r.props.NumEntries > 0
	}
	return r.filter.mayContain(hashKey(key))
}

// decodeDataBlock verifies and parses a stored data block.
func (r *Reader) decodeDataBlock(raw []byte, h blockHandle) (*block, error) {
	p, err := unframeBlock(raw, r.decomp, int(r.props.MaxBlockSize))
	if err == nil {
		var b *block
		if b, err = parseBlock(p); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("sst %s: block at %d: %w", r.name, h.off, err)
}

// readBlock returns data block i, from the cache or the source; fill says
// whether a block read from the source goes into the cache.
func (r *Reader) readBlock(ctx context.Context, i int, fill bool) (*block, error) {
	h := r.index[i].handle
	if c := r.opts.Cache; c != nil {
		if b := c.get(r.opts.CacheID, h.off); b != nil {
			return b, nil
		}
	}
	raw, err := r.read(ctx, int64(h.off), int64(h.length), "block")
	if err != nil {
		return nil, err
	}
	b, err := r.decodeDataBlock(raw, h)
	if err != nil {
		return nil, err
	}
	if c := r.opts.Cache; c != nil && fill {
		c.put(r.opts.CacheID, h.off, b)
	}
	return b, nil
}

// cached returns data block i if the cache holds it.
func (r *Reader) cached(i int) *block {
	if c := r.opts.Cache; c != nil {
		return c.get(r.opts.CacheID, r.index[i].handle.off)
	}
	return nil
}

// blockFor returns the index of the first data block whose last entry is
// >= (key, seq) in internal order, or len(r.index) when there is none.
func (r *Reader) blockFor(key []byte, seq uint64) int {
	return sort.Search(len(r.index), func(i int) bool {
		e := &r.index[i]
		return compareInternal(e.lastKey, e.lastSeq, key, seq) >= 0
	})
}

// Get returns the newest entry for key with seq <= maxSeq (found=false when
// there is none). A tombstone is returned as found with kind KindDelete. The
// value is a copy owned by the caller.
func (r *Reader) Get(ctx context.Context, key []byte, maxSeq uint64) (value []byte, seq uint64, kind Kind, found bool, err error) {
	if r.hasFilter && !r.filter.mayContain(hashKey(key)) {
		return nil, 0, 0, false, nil
	}
	i := r.blockFor(key, maxSeq)
	if i == len(r.index) {
		return nil, 0, 0, false, nil
	}
	b, err := r.readBlock(ctx, i, true)
	if err != nil {
		return nil, 0, 0, false, err
	}
	var it blockIter
	it.init(b)
	if !it.seekGE(key, maxSeq) {
		if it.err == nil {
			it.err = corruptf("block ends before its index key %q", r.index[i].lastKey)
		}
		return nil, 0, 0, false, fmt.Errorf("sst %s: block at %d: %w", r.name, r.index[i].handle.off, it.err)
	}
	if !bytes.Equal(it.key, key) {
		return nil, 0, 0, false, nil
	}
	if it.kind != KindDelete {
		value = append(make([]byte, 0, len(it.value)), it.value...)
	}
	return value, it.seq, it.kind, true, nil
}
