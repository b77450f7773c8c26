package sstable

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestBlockCacheHits(t *testing.T) {
	es := randomEntries(rand.New(rand.NewPCG(21, 21)), 300)
	data := buildSST(t, WriterOptions{BlockSize: 512}, es)
	cache := NewBlockCache(16 << 20)
	r, src := openSST(t, data, ReaderOptions{Cache: cache, CacheID: 1})
	afterOpen := src.reads.Load()
	if afterOpen != 1 {
		t.Fatalf("Open took %d reads, want 1", afterOpen)
	}
	key := es[len(es)/2].key
	checkGet(t, r, es, key, MaxSeq)
	s1 := cache.Stats()
	if s1.Misses != 1 || s1.Hits != 0 || s1.Blocks != 1 || s1.Bytes <= 0 {
		t.Fatalf("after first Get: %+v", s1)
	}
	checkGet(t, r, es, key, MaxSeq)
	s2 := cache.Stats()
	if s2.Hits != 1 || s2.Misses != 1 || src.reads.Load() != afterOpen+1 {
		t.Fatalf("second Get was not served from the cache: %+v, %d reads", s2, src.reads.Load())
	}
	// A second reader of the same SST with another id does not see those blocks.
	r2, _ := openSST(t, data, ReaderOptions{Cache: cache, CacheID: 2})
	checkGet(t, r2, es, key, MaxSeq)
	if s := cache.Stats(); s.Misses != 2 || s.Blocks != 2 {
		t.Fatalf("second SST: %+v", s)
	}
	cache.EvictSST(1)
	if s := cache.Stats(); s.Blocks != 1 || s.Bytes != s2.Bytes {
		t.Fatalf("after EvictSST(1): %+v (one block of %d bytes expected)", s, s2.Bytes)
	}
}

func TestBlockCacheByteBound(t *testing.T) {
	ctx := context.Background()
	es := randomEntries(rand.New(rand.NewPCG(22, 22)), 2000)
	data := buildSST(t, WriterOptions{BlockSize: 1024}, es)
	for _, capacity := range []int64{0, 1, 3000, 20 << 10, 1 << 30} {
		t.Run(fmt.Sprint(capacity), func(t *testing.T) {
			cache := NewBlockCache(capacity)
			r, _ := openSST(t, data, ReaderOptions{Cache: cache, CacheID: 7})
			rng := rand.New(rand.NewPCG(uint64(capacity), 1))
			for i := 0; i < 2000; i++ {
				e := es[rng.IntN(len(es))]
				checkGet(t, r, es, e.key, MaxSeq)
				if s := cache.Stats(); s.Bytes > capacity || s.Bytes < 0 {
					t.Fatalf("cache holds %d bytes, capacity %d", s.Bytes, capacity)
				}
			}
			it := r.NewIter(ctx, nil, nil)
			sameEntries(t, "scan", collect(t, it, it.First()), es)
			s := cache.Stats()
			if s.Bytes > capacity {
				t.Fatalf("cache holds %d bytes, capacity %d", s.Bytes, capacity)
			}
			blocks := int(r.Properties().NumDataBlocks)
			switch {
			case capacity == 0 && (s.Blocks != 0 || s.Hits != 0):
				t.Fatalf("zero-capacity cache kept blocks: %+v", s)
			case capacity == 1<<30 && (s.Blocks != blocks || s.Evictions != 0):
				t.Fatalf("large cache: %+v, want all %d blocks and no evictions", s, blocks)
			case capacity == 20<<10 && (s.Evictions == 0 || s.Hits == 0):
				t.Fatalf("small cache neither hit nor evicted: %+v", s)
			}
		})
	}
}

func TestBlockCacheLRUOrder(t *testing.T) {
	c := NewBlockCache(3 * 100)
	blk := func() *block { return &block{data: make([]byte, 100), charge: 100} }
	for off := uint64(0); off < 3; off++ {
		c.put(1, off, blk())
	}
	if c.get(1, 0) == nil { // 0 becomes the most recent; 1 is now the oldest
		t.Fatal("block 0 missing")
	}
	c.put(1, 3, blk())
	if c.get(1, 1) != nil {
		t.Fatal("least recently used block 1 was not evicted")
	}
	for _, off := range []uint64{0, 2, 3} {
		if c.get(1, off) == nil {
			t.Fatalf("block %d evicted out of order", off)
		}
	}
	c.put(1, 9, &block{data: make([]byte, 10000), charge: 10000}) // larger than the cache
	if s := c.Stats(); s.Blocks != 3 || c.get(1, 9) != nil {
		t.Fatalf("oversized block: %+v", s)
	}
	c.put(1, 0, blk()) // replacing keeps the byte count right
	if s := c.Stats(); s.Blocks != 3 || s.Bytes != 3*100 {
		t.Fatalf("after replacing a block: %+v", s)
	}
}

func TestConcurrentReaders(t *testing.T) {
	ctx := context.Background()
	es := randomEntries(rand.New(rand.NewPCG(23, 23)), 1000)
	cache := NewBlockCache(32 << 10)
	var readers []*Reader
	for i, comp := range []Compression{CompressionNone, CompressionSnappy, CompressionZstd} {
		data := buildSST(t, WriterOptions{BlockSize: 512, Compression: comp}, es)
		r, _ := openSST(t, data, ReaderOptions{Cache: cache, CacheID: uint64(i)})
		readers = append(readers, r)
	}
	var wg sync.WaitGroup
	for g := 0; g < 6; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 0))
			for i := 0; i < 300; i++ {
				r := readers[rng.IntN(len(readers))]
				e := es[rng.IntN(len(es))]
				v, seq, _, found, err := r.Get(ctx, e.key, e.seq)
				if err != nil || !found || seq != e.seq || !bytes.Equal(v, e.value) {
					t.Errorf("Get(%q): seq=%d found=%v err=%v", e.key, seq, found, err)
					return
				}
				if i%50 == 0 {
					it := r.NewIter(ctx, e.key, nil)
					n := 0
					for ok := it.First(); ok && n < 100; ok = it.Next() {
						n++
					}
					if err := it.Close(); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}(g)
	}
	wg.Wait()
	if s := cache.Stats(); s.Bytes > s.Capacity {
		t.Fatalf("cache over capacity: %+v", s)
	}
}

func TestLargeValuesGetTheirOwnBlocks(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(24, 24))
	var es []entry
	for i := 0; i < 40; i++ {
		// a small inode record, then one 64 KiB chunk of "file data"
		es = append(es, entry{key: []byte(fmt.Sprintf("f/%03d/a", i)), seq: 5, kind: KindSet, value: []byte("attr")})
		es = append(es, entry{key: []byte(fmt.Sprintf("f/%03d/c", i)), seq: 5, kind: KindSet, value: randomValue(rng, 64<<10)})
	}
	for _, comp := range []Compression{CompressionNone, CompressionSnappy, CompressionZstd} {
		data := buildSST(t, WriterOptions{Compression: comp}, es)
		r, src := openSST(t, data, ReaderOptions{})
		if n := r.Properties().NumDataBlocks; n != 80 {
			t.Fatalf("%s: %d data blocks, want one per entry (80)", comp, n)
		}
		before := src.bytes.Load()
		checkGet(t, r, es, []byte("f/017/a"), MaxSeq)
		if read := src.bytes.Load() - before; read > 100 {
			t.Fatalf("%s: reading a small record read %d bytes", comp, read)
		}
		checkGet(t, r, es, []byte("f/017/c"), MaxSeq)
		it := r.NewIter(ctx, nil, nil)
		reads := src.reads.Load()
		sameEntries(t, "scan", collect(t, it, it.First()), es)
		if n := src.reads.Load() - reads; n > 20 {
			t.Fatalf("%s: scanning 80 blocks took %d reads; read-ahead should batch them", comp, n)
		}
	}
}

func TestOpenReadsLargeMetadataInTwoReads(t *testing.T) {
	var es []entry
	for i := 0; i < 20000; i++ {
		es = append(es, entry{key: []byte(fmt.Sprintf("key-%08d-with-some-length", i)), seq: 1, kind: KindSet, value: []byte("v")})
	}
	data := buildSST(t, WriterOptions{BlockSize: 64}, es)
	r, src := openSST(t, data, ReaderOptions{})
	if n := src.reads.Load(); n != 2 {
		t.Fatalf("Open read %d times, want 2 (index is %d blocks)", n, r.Properties().NumDataBlocks)
	}
	for _, i := range []int{0, 1, 9999, 19999} {
		checkGet(t, r, es, es[i].key, MaxSeq)
	}
}

func TestBloomFilter(t *testing.T) {
	var es []entry
	for i := 0; i < 10000; i++ {
		es = append(es, entry{key: []byte(fmt.Sprintf("present-%06d", i)), seq: 1, kind: KindSet})
	}
	tests := []struct {
		bits    int
		maxRate float64
	}{{0, 0.02}, {5, 0.15}, {16, 0.005}, {-1, 1}}
	for _, tc := range tests {
		data := buildSST(t, WriterOptions{BloomBitsPerKey: tc.bits}, es)
		r, _ := openSST(t, data, ReaderOptions{})
		for _, e := range es {
			if !r.MayContain(e.key) {
				t.Fatalf("bits=%d: false negative for %q", tc.bits, e.key)
			}
		}
		fp := 0
		const probes = 20000
		for i := 0; i < probes; i++ {
			if r.MayContain([]byte(fmt.Sprintf("absent-%06d", i))) {
				fp++
			}
		}
		if rate := float64(fp) / probes; rate > tc.maxRate {
			t.Errorf("bits=%d: false positive rate %.4f above %.4f", tc.bits, rate, tc.maxRate)
		}
	}
}

func TestIterDontFillCache(t *testing.T) {
	ctx := context.Background()
	es := randomEntries(rand.New(rand.NewPCG(25, 25)), 500)
	data := buildSST(t, WriterOptions{BlockSize: 512}, es)
	cache := NewBlockCache(64 << 20)
	r, _ := openSST(t, data, ReaderOptions{Cache: cache, CacheID: 1})
	checkGet(t, r, es, es[0].key, MaxSeq) // one block cached
	it := r.NewIterWithOptions(ctx, IterOptions{DontFillCache: true})
	sameEntries(t, "scan", collect(t, it, it.First()), es)
	it.Close()
	if s := cache.Stats(); s.Blocks != 1 {
		t.Fatalf("a scan that should not fill the cache left %d blocks in it", s.Blocks)
	}
	it = r.NewIterWithOptions(ctx, IterOptions{Lower: es[100].key, Upper: es[200].key})
	sameEntries(t, "bounded scan", collect(t, it, it.First()), modelRange(es, es[100].key, es[200].key))
	it.Close()
	if s := cache.Stats(); s.Blocks <= 1 {
		t.Fatalf("a normal scan did not fill the cache: %+v", s)
	}
}
