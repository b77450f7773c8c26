package sstable

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/zerofs-go/zerofsd/lsm/compress"
)

// seedSSTs returns a few small SSTs of different shapes for fuzz seeds.
func seedSSTs(t testing.TB) [][]byte {
	es := randomEntries(rand.New(rand.NewPCG(31, 31)), 30)
	for i := range es {
		if len(es[i].value) > 40 {
			es[i].value = es[i].value[:40]
		}
	}
	var out [][]byte
	for _, opts := range []WriterOptions{
		{BlockSize: 128, RestartInterval: 2},
		{BlockSize: 4096, Compression: CompressionSnappy},
		{BlockSize: 256, Compression: CompressionZstd, BloomBitsPerKey: -1},
	} {
		out = append(out, buildSST(t, opts, es))
	}
	return append(out, buildSST(t, WriterOptions{}, nil))
}

// seedBlocks returns the stored data blocks (with trailers) of the seed SSTs.
func seedBlocks(t testing.TB) [][]byte {
	var out [][]byte
	for _, data := range seedSSTs(t) {
		r, _ := openSST(t, data, ReaderOptions{})
		for _, e := range r.index {
			out = append(out, data[e.handle.off:e.handle.end()])
		}
	}
	return out
}

// walkBlock iterates and seeks through a parsed block; it must never panic
// or loop, whatever the block holds.
func walkBlock(b *block) {
	var it blockIter
	it.init(b)
	n := 0
	for ok := it.first(); ok; ok = it.nextEntry() {
		if n++; n > len(b.data) {
			panic("block iteration does not advance")
		}
	}
	for _, k := range [][]byte{nil, []byte("k/0"), []byte("k/0015"), []byte("\xff\xff")} {
		it.init(b)
		it.seekGE(k, MaxSeq)
		it.seekGE(k, 0)
	}
}

func FuzzBlockDecode(f *testing.F) {
	for _, b := range seedBlocks(f) {
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0})
	dec := compress.NewCodecs() // one zstd decoder for every input
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, raw []byte) {
		// As a stored block: trailer, checksum, decompression, parsing.
		if p, err := unframeBlock(raw, dec, limit); err == nil {
			if b, err := parseBlock(p); err == nil {
				walkBlock(b)
			} else if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("parseBlock error without ErrCorrupt: %v", err)
			}
		} else if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("unframeBlock error without ErrCorrupt: %v", err)
		}
		// As a payload that passed its checksum: the entry decoder alone.
		if b, err := parseBlock(raw); err == nil {
			walkBlock(b)
		}
		// With a valid trailer added, every compression byte.
		for kind := byte(0); kind < 4; kind++ {
			framed := append(bytes.Clone(raw), kind)
			framed = binary.LittleEndian.AppendUint32(framed, checksum(framed))
			if p, err := unframeBlock(framed, dec, limit); err == nil {
				if kind == 0 && !bytes.Equal(p, raw) {
					t.Fatal("uncompressed block payload changed")
				}
				if b, err := parseBlock(p); err == nil {
					walkBlock(b)
				}
			}
		}
	})
}

func FuzzFooterDecode(f *testing.F) {
	for _, data := range seedSSTs(f) {
		f.Add(data[len(data)-footerSize:], uint64(len(data)))
	}
	f.Add(make([]byte, footerSize), uint64(footerSize))
	f.Fuzz(func(t *testing.T, b []byte, size uint64) {
		ft, err := decodeFooter(b, size)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error without ErrCorrupt: %v", err)
			}
			return
		}
		for _, h := range []blockHandle{ft.index, ft.filter, ft.properties} {
			if h.end() > size-footerSize || h.end() < h.off {
				t.Fatalf("accepted handle %+v outside an object of %d bytes", h, size)
			}
		}
		if again := ft.encode(nil); !bytes.Equal(again, b) {
			t.Fatalf("footer does not round-trip:\n%x\n%x", b, again)
		}
	})
}

func FuzzIndexDecode(f *testing.F) {
	for _, data := range seedSSTs(f) {
		r, _ := openSST(f, data, ReaderOptions{})
		var payload []byte
		payload = binary.AppendUvarint(payload, uint64(len(r.index)))
		for _, e := range r.index {
			payload = encodeIndexEntry(payload, e, KindSet)
		}
		f.Add(payload, r.Properties().DataSize)
	}
	f.Fuzz(func(t *testing.T, b []byte, dataEnd uint64) {
		entries, err := decodeIndex(b, dataEnd)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error without ErrCorrupt: %v", err)
			}
			return
		}
		next := uint64(0)
		for i, e := range entries {
			if e.handle.off != next || e.handle.end() > dataEnd {
				t.Fatalf("accepted entry %d with handle %+v (expected offset %d, data end %d)", i, e.handle, next, dataEnd)
			}
			next = e.handle.end()
		}
	})
}

func FuzzPropertiesDecode(f *testing.F) {
	for _, data := range seedSSTs(f) {
		r, _ := openSST(f, data, ReaderOptions{})
		p := r.Properties()
		f.Add(encodeProperties(nil, &p))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeProperties(b, FormatVersion)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error without ErrCorrupt: %v", err)
			}
			return
		}
		if p.NumEntries == 0 {
			return
		}
		again, err := decodeProperties(encodeProperties(nil, &p), FormatVersion)
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("properties do not round-trip: %v\n%+v\n%+v", err, p, again)
		}
	})
}

func FuzzFilterDecode(f *testing.F) {
	f.Add(buildFilter([]uint64{1, 2, 3}, 10))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		flt, err := decodeFilter(b)
		if err != nil {
			return
		}
		for _, k := range [][]byte{nil, []byte("a"), b} {
			flt.mayContain(hashKey(k))
		}
	})
}

// FuzzOpen feeds whole objects to Open, Get and an iterator: every error
// must wrap ErrCorrupt, nothing may panic.
func FuzzOpen(f *testing.F) {
	for _, data := range seedSSTs(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		check := func(err error) {
			if err != nil && !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error without ErrCorrupt: %v", err)
			}
		}
		r, err := Open(ctx, "fuzz.sst", int64(len(data)), &memSource{data: data}, ReaderOptions{Cache: NewBlockCache(1 << 20)})
		if err != nil {
			check(err)
			return
		}
		for _, k := range [][]byte{r.Properties().SmallestKey, r.Properties().LargestKey, []byte("k/0010")} {
			r.MayContain(k)
			_, _, _, _, err := r.Get(ctx, k, MaxSeq)
			check(err)
		}
		it := r.NewIter(ctx, nil, nil)
		n := 0
		for ok := it.First(); ok && n < 100000; ok = it.Next() {
			n++
		}
		check(it.Close())
	})
}
