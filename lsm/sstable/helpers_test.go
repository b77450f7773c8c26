package sstable

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync/atomic"
	"testing"
)

// memSource serves an SST from memory, returning fresh copies like a real
// object store would, and counts reads.
type memSource struct {
	data  []byte
	reads atomic.Int64
	bytes atomic.Int64
}

func (s *memSource) ReadAt(ctx context.Context, off, n int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.reads.Add(1)
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("memSource: bad range [%d,+%d)", off, n)
	}
	if off >= int64(len(s.data)) {
		return []byte{}, nil
	}
	end := min(off+n, int64(len(s.data)))
	s.bytes.Add(end - off)
	return append([]byte(nil), s.data[off:end]...), nil
}

// entry is one internal entry of the model.
type entry struct {
	key   []byte
	seq   uint64
	kind  Kind
	value []byte
}

func (e entry) String() string {
	return fmt.Sprintf("%q#%d,%s=%d bytes", e.key, e.seq, e.kind, len(e.value))
}

func sortEntries(es []entry) {
	sort.Slice(es, func(i, j int) bool {
		return compareInternal(es[i].key, es[i].seq, es[j].key, es[j].seq) < 0
	})
}

func buildSST(t testing.TB, opts WriterOptions, es []entry) []byte {
	t.Helper()
	w := NewWriter(opts)
	for _, e := range es {
		if err := w.Add(e.key, e.seq, e.kind, e.value); err != nil {
			t.Fatalf("Add(%v): %v", e, err)
		}
	}
	data, err := w.Finish()
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	return data
}

func openSST(t testing.TB, data []byte, ropts ReaderOptions) (*Reader, *memSource) {
	t.Helper()
	src := &memSource{data: data}
	r, err := Open(context.Background(), "test.sst", int64(len(data)), src, ropts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return r, src
}

// modelGet is the reference answer for Get.
func modelGet(es []entry, key []byte, maxSeq uint64) (entry, bool) {
	for _, e := range es { // sorted: the first match is the newest visible
		if bytes.Equal(e.key, key) && e.seq <= maxSeq {
			return e, true
		}
	}
	return entry{}, false
}

// collect iterates it from its current position to the end.
func collect(t testing.TB, it *Iter, ok bool) []entry {
	t.Helper()
	var out []entry
	for ; ok; ok = it.Next() {
		out = append(out, entry{key: it.Key(), seq: it.Seq(), kind: it.Kind(), value: it.Value()})
	}
	if err := it.Err(); err != nil {
		t.Fatalf("iterate: %v", err)
	}
	return out
}

func sameEntries(t testing.TB, what string, got, want []entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d entries, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if !bytes.Equal(g.key, w.key) || g.seq != w.seq || g.kind != w.kind || !bytes.Equal(g.value, w.value) {
			t.Fatalf("%s: entry %d = %v, want %v", what, i, g, w)
		}
	}
}
