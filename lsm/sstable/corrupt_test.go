package sstable

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// checkCorruptOrCorrect opens data and reads everything; every error must
// wrap ErrCorrupt and name the SST, and everything read without error must be
// right. It reports whether any error was seen.
func checkCorruptOrCorrect(t *testing.T, what string, data []byte, size int64, es []entry) bool {
	t.Helper()
	ctx := context.Background()
	bad := func(err error) bool {
		if err == nil {
			return false
		}
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "sst test.sst") {
			t.Fatalf("%s: error %q does not wrap ErrCorrupt or does not name the SST", what, err)
		}
		return true
	}
	r, err := Open(ctx, "test.sst", size, &memSource{data: data}, ReaderOptions{})
	if bad(err) {
		return true
	}
	sawError := false
	for _, e := range es {
		v, seq, kind, found, err := r.Get(ctx, e.key, e.seq)
		if bad(err) {
			sawError = true
			continue
		}
		if !found || seq != e.seq || kind != e.kind || !bytes.Equal(v, e.value) {
			t.Fatalf("%s: Get(%q, %d) returned wrong data without an error: seq=%d kind=%v found=%v", what, e.key, e.seq, seq, kind, found)
		}
	}
	it := r.NewIter(ctx, nil, nil)
	var got []entry
	for ok := it.First(); ok; ok = it.Next() {
		got = append(got, entry{key: it.Key(), seq: it.Seq(), kind: it.Kind(), value: it.Value()})
	}
	if bad(it.Close()) {
		return true
	}
	sameEntries(t, what+": scan without error", got, es)
	return sawError
}

func TestEveryByteFlipIsDetected(t *testing.T) {
	es := randomEntries(rand.New(rand.NewPCG(11, 11)), 40)
	for i := range es { // keep it small: every byte is flipped in turn
		if len(es[i].value) > 30 {
			es[i].value = es[i].value[:30]
		}
	}
	for _, comp := range []Compression{CompressionNone, CompressionSnappy, CompressionZstd} {
		t.Run(comp.String(), func(t *testing.T) {
			data := buildSST(t, WriterOptions{BlockSize: 256, RestartInterval: 3, Compression: comp}, es)
			for pos := range data {
				for _, mask := range []byte{0x01, 0x80, 0xff} {
					bad := bytes.Clone(data)
					bad[pos] ^= mask
					what := fmt.Sprintf("byte %d of %d ^ %#x", pos, len(data), mask)
					if !checkCorruptOrCorrect(t, what, bad, int64(len(bad)), es) {
						t.Fatalf("%s: corruption went unnoticed", what)
					}
				}
			}
		})
	}
}

func TestTruncatedObject(t *testing.T) {
	es := randomEntries(rand.New(rand.NewPCG(12, 12)), 60)
	for i := range es { // every length is tried: keep the object small
		if len(es[i].value) > 100 {
			es[i].value = es[i].value[:100]
		}
	}
	data := buildSST(t, WriterOptions{BlockSize: 300}, es)
	for n := 0; n < len(data); n++ {
		// The object really is shorter...
		if !checkCorruptOrCorrect(t, fmt.Sprintf("object cut to %d bytes", n), data[:n], int64(n), es) {
			t.Fatalf("object cut to %d of %d bytes opened without error", n, len(data))
		}
		// ...or the store returns less than the size we were told.
		checkCorruptOrCorrect(t, fmt.Sprintf("short reads at %d bytes", n), data[:n], int64(len(data)), es)
	}
	// Trailing garbage moves the footer.
	grown := append(bytes.Clone(data), make([]byte, 10)...)
	if !checkCorruptOrCorrect(t, "trailing garbage", grown, int64(len(grown)), es) {
		t.Fatal("object with trailing garbage opened without error")
	}
}

type failingSource struct{ err error }

func (s failingSource) ReadAt(context.Context, int64, int64) ([]byte, error) { return nil, s.err }

func TestReadErrorsAreNotCorruption(t *testing.T) {
	ioErr := errors.New("connection reset")
	_, err := Open(context.Background(), "x.sst", 1000, failingSource{ioErr}, ReaderOptions{})
	if !errors.Is(err, ioErr) || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "x.sst") {
		t.Fatalf("Open over a failing source: %v", err)
	}
}

// flakySource fails reads after the first n.
type flakySource struct {
	memSource
	okReads int64
}

func (s *flakySource) ReadAt(ctx context.Context, off, n int64) ([]byte, error) {
	if s.reads.Load() >= s.okReads {
		return nil, errors.New("injected read failure")
	}
	return s.memSource.ReadAt(ctx, off, n)
}

func TestBlockReadErrorsSurface(t *testing.T) {
	ctx := context.Background()
	es := randomEntries(rand.New(rand.NewPCG(13, 13)), 200)
	data := buildSST(t, WriterOptions{BlockSize: 256}, es)
	src := &flakySource{memSource: memSource{data: data}, okReads: 1}
	r, err := Open(ctx, "flaky.sst", int64(len(data)), src, ReaderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, _, err := r.Get(ctx, es[0].key, MaxSeq); err == nil || errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get over failing reads: %v", err)
	}
	it := r.NewIter(ctx, nil, nil)
	if it.First() || it.Err() == nil || it.Close() == nil {
		t.Fatal("iterator over failing reads reported no error")
	}
}

// TestChecksummedGarbageNeverPanics flips each byte of every block and then
// fixes the block's checksum, as a buggy writer might: the damage can no
// longer always be detected, but Open, Get and iteration must not panic,
// must not loop, and may only fail with ErrCorrupt.
func TestChecksummedGarbageNeverPanics(t *testing.T) {
	ctx := context.Background()
	es := randomEntries(rand.New(rand.NewPCG(14, 14)), 30)
	for i := range es {
		if len(es[i].value) > 20 {
			es[i].value = es[i].value[:20]
		}
	}
	for _, comp := range []Compression{CompressionNone, CompressionSnappy} {
		data := buildSST(t, WriterOptions{BlockSize: 200, RestartInterval: 3, Compression: comp}, es)
		r, _ := openSST(t, data, ReaderOptions{})
		var blocks []blockHandle
		for _, e := range r.index {
			blocks = append(blocks, e.handle)
		}
		ft, err := decodeFooter(data[len(data)-footerSize:], uint64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, ft.filter, ft.index, ft.properties)
		for _, h := range blocks {
			for pos := h.off; pos < h.end()-4; pos++ {
				bad := bytes.Clone(data)
				bad[pos] ^= 0x41
				crcAt := h.end() - 4
				binary.LittleEndian.PutUint32(bad[crcAt:], checksum(bad[h.off:crcAt]))
				check := func(err error) {
					if err != nil && !errors.Is(err, ErrCorrupt) {
						t.Fatalf("%s: byte %d: error without ErrCorrupt: %v", comp, pos, err)
					}
				}
				r, err := Open(ctx, "test.sst", int64(len(bad)), &memSource{data: bad}, ReaderOptions{Cache: NewBlockCache(1 << 20)})
				if err != nil {
					check(err)
					continue
				}
				for _, e := range es {
					r.MayContain(e.key)
					_, _, _, _, err := r.Get(ctx, e.key, e.seq)
					check(err)
				}
				it := r.NewIter(ctx, nil, nil)
				n := 0
				for ok := it.First(); ok; ok = it.Next() {
					if n++; n > 10*len(es) {
						t.Fatalf("%s: byte %d: iteration does not end", comp, pos)
					}
				}
				check(it.Close())
				for _, e := range es[:5] {
					it := r.NewIter(ctx, e.key, nil)
					it.SeekGE(e.key)
					check(it.Close())
				}
			}
		}
	}
}
