package sstable

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// modelRange returns the entries with lower <= key < upper.
func modelRange(es []entry, lower, upper []byte) []entry {
	var out []entry
	for _, e := range es {
		if (lower == nil || bytes.Compare(e.key, lower) >= 0) && (upper == nil || bytes.Compare(e.key, upper) < 0) {
			out = append(out, e)
		}
	}
	return out
}

// probeKeys returns every distinct key, plus keys just before, just after
// and between them, plus keys outside the range.
func probeKeys(es []entry) [][]byte {
	probes := [][]byte{{}, []byte("\x00"), []byte("zzzz")}
	for i, e := range es {
		if i > 0 && bytes.Equal(es[i-1].key, e.key) {
			continue
		}
		probes = append(probes, e.key, append(bytes.Clone(e.key), 0))
		if len(e.key) > 0 {
			probes = append(probes, e.key[:len(e.key)-1])
		}
	}
	return probes
}

func TestIterSeekEveryPosition(t *testing.T) {
	ctx := context.Background()
	es := randomEntries(rand.New(rand.NewPCG(1, 2)), 300)
	for _, opts := range []WriterOptions{
		{BlockSize: 1, RestartInterval: 1},
		{BlockSize: 256, RestartInterval: 4, Compression: CompressionSnappy},
		{BlockSize: 4096, RestartInterval: 16, Compression: CompressionZstd},
	} {
		t.Run(fmt.Sprintf("block=%d/restart=%d", opts.BlockSize, opts.RestartInterval), func(t *testing.T) {
			data := buildSST(t, opts, es)
			r, _ := openSST(t, data, ReaderOptions{Cache: NewBlockCache(64 << 10), CacheID: 3})
			probes := probeKeys(es)
			bounds := [][2][]byte{{nil, nil}, {es[10].key, nil}, {nil, es[200].key}, {es[50].key, es[120].key},
				{[]byte("k/0100"), []byte("k/0150")}, {[]byte("zz"), nil}, {nil, []byte("a")}, {es[5].key, es[5].key}}
			for _, b := range bounds {
				lower, upper := b[0], b[1]
				it := r.NewIter(ctx, lower, upper)
				sameEntries(t, fmt.Sprintf("First in [%q,%q)", lower, upper), collect(t, it, it.First()), modelRange(es, lower, upper))
				for _, p := range probes {
					from := p
					if lower != nil && bytes.Compare(from, lower) < 0 {
						from = lower
					}
					want := modelRange(es, from, upper)
					sameEntries(t, fmt.Sprintf("SeekGE(%q) in [%q,%q)", p, lower, upper), collect(t, it, it.SeekGE(p)), want)
				}
				if err := it.Close(); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestIterRepositionMidScan seeks back and forth in one iterator, with
// partial scans in between, so that read-ahead state is exercised.
func TestIterRepositionMidScan(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(5, 5))
	es := randomEntries(rng, 2000)
	data := buildSST(t, WriterOptions{BlockSize: 512}, es)
	for _, cache := range []*BlockCache{nil, NewBlockCache(8 << 10), NewBlockCache(64 << 20)} {
		r, _ := openSST(t, data, ReaderOptions{Cache: cache, CacheID: 9})
		it := r.NewIter(ctx, nil, nil)
		probes := probeKeys(es)
		for i := 0; i < 200; i++ {
			p := probes[rng.IntN(len(probes))]
			want := modelRange(es, p, nil)
			ok := it.SeekGE(p)
			steps := rng.IntN(300)
			for j := 0; j < steps && j < len(want); j++ {
				if !ok {
					t.Fatalf("SeekGE(%q): ended after %d of %d entries (err %v)", p, j, len(want), it.Err())
				}
				if !bytes.Equal(it.Key(), want[j].key) || it.Seq() != want[j].seq || !bytes.Equal(it.Value(), want[j].value) {
					t.Fatalf("SeekGE(%q) step %d: %q#%d, want %v", p, j, it.Key(), it.Seq(), want[j])
				}
				ok = it.Next()
			}
		}
		if err := it.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestManyVersionsOfOneKey(t *testing.T) {
	ctx := context.Background()
	var es []entry
	for seq := uint64(300); seq >= 2; seq -= 2 { // even seqs, newest first
		e := entry{key: []byte("inode/7"), seq: seq, kind: KindSet, value: []byte(fmt.Sprintf("v%d", seq))}
		if seq%10 == 0 {
			e.kind, e.value = KindDelete, nil
		}
		es = append(es, e)
	}
	es = append([]entry{{key: []byte("inode/6"), seq: 1, kind: KindSet, value: []byte("six")}}, es...)
	es = append(es, entry{key: []byte("inode/8"), seq: 1, kind: KindSet, value: []byte("eight")})
	for _, blockSize := range []int{1, 100, 4096} {
		data := buildSST(t, WriterOptions{BlockSize: blockSize, RestartInterval: 4}, es)
		r, _ := openSST(t, data, ReaderOptions{})
		for maxSeq := uint64(0); maxSeq <= 305; maxSeq++ {
			checkGet(t, r, es, []byte("inode/7"), maxSeq)
		}
		// A tombstone is reported as found, with its kind.
		if _, seq, kind, found, err := r.Get(ctx, []byte("inode/7"), 101); err != nil || !found || seq != 100 || kind != KindDelete {
			t.Fatalf("Get at tombstone: seq=%d kind=%v found=%v err=%v", seq, kind, found, err)
		}
		if _, _, _, found, _ := r.Get(ctx, []byte("inode/7"), 1); found {
			t.Fatal("found a version older than every stored one")
		}
		if r.Properties().NumDeletes != 30 || r.Properties().MinSeq != 1 || r.Properties().MaxSeq != 300 {
			t.Fatalf("properties %v", r.Properties())
		}
	}
}

// TestRandomAgainstModel checks Get and bounded scans against a sorted model.
// ZEROFS_SST_SEED picks the seed; ZEROFS_SST_ROUNDS the number of SSTs.
func TestRandomAgainstModel(t *testing.T) {
	ctx := context.Background()
	seed := rand.Uint64()
	if s := os.Getenv("ZEROFS_SST_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	rounds := 6
	if testing.Short() {
		rounds = 2
	}
	if s := os.Getenv("ZEROFS_SST_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	t.Logf("seed %d (rerun with ZEROFS_SST_SEED=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	for round := 0; round < rounds; round++ {
		es := randomEntries(rng, 1+rng.IntN(3000))
		opts := WriterOptions{
			BlockSize:       1 + rng.IntN(8192),
			RestartInterval: 1 + rng.IntN(32),
			Compression:     Compression(rng.IntN(3)),
			BloomBitsPerKey: rng.IntN(16) - 1,
		}
		data := buildSST(t, opts, es)
		r, _ := openSST(t, data, ReaderOptions{Cache: NewBlockCache(int64(rng.IntN(1 << 20))), CacheID: uint64(round)})
		probes := probeKeys(es)
		for i := 0; i < 500; i++ {
			p := probes[rng.IntN(len(probes))]
			checkGet(t, r, es, p, uint64(rng.IntN(int(es[len(es)-1].seq)+1000)))
		}
		for i := 0; i < 30; i++ {
			lo, hi := probes[rng.IntN(len(probes))], probes[rng.IntN(len(probes))]
			if rng.IntN(4) == 0 {
				lo = nil
			}
			if rng.IntN(4) == 0 {
				hi = nil
			}
			it := r.NewIter(ctx, lo, hi)
			sameEntries(t, fmt.Sprintf("seed %d round %d scan [%q,%q)", seed, round, lo, hi),
				collect(t, it, it.First()), modelRange(es, lo, hi))
			it.Close()
		}
	}
}

func TestIterKeysAndValuesStayValid(t *testing.T) {
	ctx := context.Background()
	es := randomEntries(rand.New(rand.NewPCG(3, 3)), 500)
	data := buildSST(t, WriterOptions{BlockSize: 200, RestartInterval: 4}, es)
	r, _ := openSST(t, data, ReaderOptions{Cache: NewBlockCache(4 << 10), CacheID: 1})
	it := r.NewIter(ctx, nil, nil)
	got := collect(t, it, it.First()) // keeps Key() and Value() slices without copying
	it.Close()
	sameEntries(t, "retained slices", got, es)

	// A Get value is the caller's: scribbling on it changes nothing stored.
	cached, _ := openSST(t, data, ReaderOptions{Cache: NewBlockCache(1 << 20), CacheID: 2})
	for _, e := range es {
		if e.kind != KindSet || len(e.value) == 0 {
			continue
		}
		v, _, _, _, err := cached.Get(ctx, e.key, e.seq)
		if err != nil {
			t.Fatal(err)
		}
		for i := range v {
			v[i] ^= 0xff
		}
		checkGet(t, cached, es, e.key, e.seq)
	}
}

func TestIterContextCanceled(t *testing.T) {
	es := randomEntries(rand.New(rand.NewPCG(4, 4)), 500)
	data := buildSST(t, WriterOptions{BlockSize: 128}, es)
	r, _ := openSST(t, data, ReaderOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	it := r.NewIter(ctx, nil, nil)
	if !it.First() {
		t.Fatal(it.Err())
	}
	cancel()
	for it.Next() {
	}
	if it.Err() == nil || it.Close() == nil {
		t.Fatal("scan after cancel ended without an error")
	}
}
