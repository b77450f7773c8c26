package lsm

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/zerofs-go/zerofsd/lsm/manifest"
	"github.com/zerofs-go/zerofsd/lsm/sstable"
	"github.com/zerofs-go/zerofsd/lsm/vlog"
)

// Value separation: values of at least Options.ValueThreshold bytes are
// written once, in their WAL object, and SSTs hold vlog pointers to them.
// This file resolves pointers and keeps what each SST points into.

// separate reports whether an entry of the given kind and value, found at
// loc in the WAL, is written to an SST as a pointer.
func (db *DB) separate(kind sstable.Kind, value []byte, walID uint64) bool {
	return kind == sstable.KindSet && walID != 0 && db.opts.ValueThreshold > 0 && len(value) >= db.opts.ValueThreshold
}

// readValue resolves one pointer: a ranged read of its stored bytes
// (through the disk cache), checked against the pointer's length and
// checksum, then decompressed if the value is compressed. A missing object
// is an error matching objstore.ErrNotFound (Get then reads again from a
// newer version).
func (db *DB) readValue(ctx context.Context, raw []byte) ([]byte, error) {
	p, err := vlog.DecodePointer(raw)
	if err != nil {
		return nil, corrupt("value pointer", err)
	}
	if v, ok := db.values.get(p); ok {
		return v, nil
	}
	key := objectKey(p.Obj)
	data, err := db.sstStore.GetRange(ctx, key, int64(p.Off), int64(p.Len))
	if err != nil {
		return nil, fmt.Errorf("lsm: reading value [%d,+%d) of %s: %w", p.Off, p.Len, key, err)
	}
	v, err := p.Value(data, db.codecs)
	if err != nil {
		return nil, corrupt(key, err)
	}
	db.values.add(p, v)
	return v, nil
}

// refsCache holds what each SST points into (its value refs property),
// by table id. SSTs are immutable, so an entry never changes; the GC
// round drops the entries of SSTs nothing references any more.
type refsCache struct {
	mu sync.Mutex
	m  map[string]vlog.Refs
}

func (c *refsCache) get(id string) (vlog.Refs, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.m[id]
	return r, ok
}

func (c *refsCache) put(id string, r vlog.Refs) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string]vlog.Refs)
	}
	c.m[id] = r
}

// retain drops every entry whose id keep does not hold.
func (c *refsCache) retain(keep map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.m {
		if !keep[id] {
			delete(c.m, id)
		}
	}
}

// tableRefs returns what SST meta points into: from the cache, or from its
// properties (opening it, through the handle of a version when there is
// one).
func (db *DB) tableRefs(ctx context.Context, meta manifest.Table) (vlog.Refs, error) {
	if r, ok := db.refs.get(meta.ID); ok {
		return r, nil
	}
	db.mu.Lock()
	t, ok := db.tables[meta.ID]
	db.mu.Unlock()
	var props sstable.Properties
	if ok {
		r, err := t.open(ctx)
		if err != nil {
			return nil, err
		}
		props = r.Properties()
	} else {
		key := tableKey(meta.ID)
		r, err := sstable.Open(ctx, key, meta.Size, storeSource{db.sstStore, key}, sstable.ReaderOptions{})
		if err != nil {
			return nil, wrapTableErr(key, err)
		}
		props = r.Properties()
	}
	refs, err := vlog.DecodeRefs(props.ValueRefs)
	if err != nil {
		return nil, corrupt(tableKey(meta.ID), err)
	}
	db.refs.put(meta.ID, refs)
	return refs, nil
}

// refsBuilder collects the value refs of an SST being written.
type refsBuilder struct {
	refs vlog.Refs
}

// add counts entry (kind, value) written to the SST; a pointer that does
// not decode is an error (it would point nowhere).
func (b *refsBuilder) add(kind sstable.Kind, value []byte) error {
	if kind != sstable.KindPointer {
		return nil
	}
	p, err := vlog.DecodePointer(value)
	if err != nil {
		return corrupt("value pointer", err)
	}
	if b.refs == nil {
		b.refs = vlog.Refs{}
	}
	b.refs.Add(p.Obj, p.Len)
	return nil
}

// finish sets the refs property of w and returns the refs (reset for the
// next SST).
func (b *refsBuilder) finish(w *sstable.Writer) vlog.Refs {
	refs := b.refs
	if refs == nil {
		refs = vlog.Refs{}
	}
	w.SetValueRefs(vlog.EncodeRefs(refs))
	b.refs = nil
	return refs
}

// resolveBatch is the most a batched resolution reads in one request, and
// resolveGap the largest hole between two values it reads through rather
// than splitting the request.
const (
	resolveBatch = 4 << 20
	resolveGap   = 16 << 10
	// resolveParallel bounds the ranged reads one batch has in flight.
	resolveParallel = 8
)

// pendingValue is a pointer an iterator has yet to resolve, and where its
// value goes.
type pendingValue struct {
	p   vlog.Pointer
	out *[]byte
	err *error
}

// resolveValues reads the values of ps, coalescing pointers into nearby
// bytes of one object into one ranged read (up to resolveBatch stored
// bytes, reading through holes of up to resolveGap) and making up to
// resolveParallel reads at once. Each value's stored bytes are checked
// against its pointer, then decompressed if compressed; a failed read sets
// the error of every value it was to serve.
func (db *DB) resolveValues(ctx context.Context, ps []pendingValue) {
	if db.values != nil {
		// Cached values need no read; an iterator's value is not to be
		// changed by its caller, so the cached bytes serve as they are.
		missing := ps[:0:0]
		for _, v := range ps {
			if val, ok := db.values.peek(v.p); ok {
				*v.out = val
				continue
			}
			missing = append(missing, v)
		}
		ps = missing
	}
	slices.SortFunc(ps, func(a, b pendingValue) int {
		if c := a.p.Obj.Compare(b.p.Obj); c != 0 {
			return c
		}
		return cmp.Compare(a.p.Off, b.p.Off)
	})
	type span struct {
		obj      vlog.Object
		off, end uint64
		vals     []pendingValue
	}
	var spans []span
	for _, v := range ps {
		end := v.p.Off + v.p.Len
		if n := len(spans); n > 0 {
			s := &spans[n-1]
			if s.obj == v.p.Obj && v.p.Off <= s.end+resolveGap && max(end, s.end)-s.off <= resolveBatch {
				s.end = max(s.end, end)
				s.vals = append(s.vals, v)
				continue
			}
		}
		spans = append(spans, span{obj: v.p.Obj, off: v.p.Off, end: end, vals: []pendingValue{v}})
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, resolveParallel)
	for i := range spans {
		s := &spans[i]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			key := objectKey(s.obj)
			data, err := db.sstStore.GetRange(ctx, key, int64(s.off), int64(s.end-s.off))
			if err != nil {
				err = fmt.Errorf("lsm: reading values [%d,%d) of %s: %w", s.off, s.end, key, err)
			}
			for _, v := range s.vals {
				if err != nil {
					*v.err = err
					continue
				}
				lo, hi := v.p.Off-s.off, v.p.Off-s.off+v.p.Len
				if hi > uint64(len(data)) {
					*v.err = corrupt(key, fmt.Errorf("value [%d,+%d) runs past the end of the object (%d bytes read from %d)", v.p.Off, v.p.Len, len(data), s.off))
					continue
				}
				val, verr := v.p.Value(data[lo:hi:hi], db.codecs)
				if verr != nil {
					*v.err = corrupt(key, verr)
					continue
				}
				*v.out = val
				db.values.add(v.p, val)
			}
		}()
	}
	wg.Wait()
}
