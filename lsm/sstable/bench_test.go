package sstable

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchEntries returns n entries with 16-byte big-endian-ish keys (like
// kvfs inode and chunk keys) and values of valueSize bytes.
func benchEntries(n, valueSize int) []entry {
	rng := rand.New(rand.NewPCG(99, 99))
	es := make([]entry, n)
	for i := range es {
		key := make([]byte, 17)
		key[0] = 0x04
		binary.BigEndian.PutUint64(key[1:], uint64(i/16))
		binary.BigEndian.PutUint64(key[9:], uint64(i%16))
		es[i] = entry{key: key, seq: uint64(n - i), kind: KindSet, value: randomValue(rng, valueSize)}
	}
	return es
}

func BenchmarkWriterAdd(b *testing.B) {
	for _, tc := range []struct {
		n, valueSize int
		comp         Compression
		sizeHint     int
	}{
		{100000, 100, CompressionNone, 0},
		{100000, 100, CompressionNone, 16 << 20},
		{100000, 100, CompressionSnappy, 0},
		{100000, 100, CompressionZstd, 0},
		{512, 64 << 10, CompressionNone, 0},
		{512, 64 << 10, CompressionNone, 34 << 20},
		{512, 64 << 10, CompressionSnappy, 0},
		{512, 64 << 10, CompressionZstd, 0},
	} {
		es := benchEntries(tc.n, tc.valueSize)
		size := 0
		for _, e := range es {
			size += len(e.key) + len(e.value)
		}
		b.Run(fmt.Sprintf("value=%d/%s/hint=%d", tc.valueSize, tc.comp, tc.sizeHint), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				w := NewWriter(WriterOptions{Compression: tc.comp, SizeHint: tc.sizeHint})
				for _, e := range es {
					if err := w.Add(e.key, e.seq, e.kind, e.value); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := w.Finish(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*tc.n)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

func BenchmarkGetCached(b *testing.B) {
	ctx := context.Background()
	for _, valueSize := range []int{100, 64 << 10} {
		n := 100000
		if valueSize > 1000 {
			n = 512
		}
		es := benchEntries(n, valueSize)
		data := buildSST(b, WriterOptions{Compression: CompressionSnappy}, es)
		r, _ := openSST(b, data, ReaderOptions{Cache: NewBlockCache(1 << 30), CacheID: 1})
		for _, e := range es { // warm the cache
			if _, _, _, found, err := r.Get(ctx, e.key, MaxSeq); !found || err != nil {
				b.Fatal(found, err)
			}
		}
		b.Run(fmt.Sprintf("value=%d", valueSize), func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				e := es[(i*7919)%len(es)]
				if _, _, _, found, err := r.Get(ctx, e.key, MaxSeq); !found || err != nil {
					b.Fatal(found, err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gets/s")
		})
	}
}

func BenchmarkIterate(b *testing.B) {
	ctx := context.Background()
	for _, valueSize := range []int{100, 64 << 10} {
		n := 100000
		if valueSize > 1000 {
			n = 512
		}
		es := benchEntries(n, valueSize)
		for _, comp := range []Compression{CompressionNone, CompressionSnappy, CompressionZstd} {
			data := buildSST(b, WriterOptions{Compression: comp}, es)
			for _, cached := range []bool{false, true} {
				var cache *BlockCache
				if cached {
					cache = NewBlockCache(1 << 30)
				}
				r, _ := openSST(b, data, ReaderOptions{Cache: cache, CacheID: 1})
				b.Run(fmt.Sprintf("value=%d/%s/cached=%v", valueSize, comp, cached), func(b *testing.B) {
					b.SetBytes(int64(r.Properties().RawKeySize + r.Properties().RawValueSize))
					b.ReportAllocs()
					for b.Loop() {
						it := r.NewIter(ctx, nil, nil)
						count := 0
						for ok := it.First(); ok; ok = it.Next() {
							_ = it.Value()
							count++
						}
						if err := it.Close(); err != nil || count != n {
							b.Fatal(count, err)
						}
					}
				})
			}
		}
	}
}

// BenchmarkSmallSST writes WAL-sized SSTs (50 entries): with zstd, sharing
// Codecs between writers saves building an encoder for each.
func BenchmarkSmallSST(b *testing.B) {
	es := benchEntries(50, 200)
	for _, tc := range []struct {
		comp   Compression
		codecs *Codecs
	}{{CompressionNone, nil}, {CompressionSnappy, nil}, {CompressionZstd, nil}, {CompressionZstd, NewCodecs()}} {
		b.Run(fmt.Sprintf("%s/shared=%v", tc.comp, tc.codecs != nil), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				w := NewWriter(WriterOptions{Compression: tc.comp, Codecs: tc.codecs})
				for _, e := range es {
					if err := w.Add(e.key, e.seq, e.kind, e.value); err != nil {
						b.Fatal(err)
					}
				}
				if _, err := w.Finish(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
