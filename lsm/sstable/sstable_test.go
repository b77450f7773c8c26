package sstable

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	for _, comp := range []Compression{CompressionNone, CompressionSnappy, CompressionZstd} {
		for _, blockSize := range []int{1, 64, 4096, 64 << 10} {
			for _, restart := range []int{1, 3, 16} {
				for _, bloom := range []int{-1, 0} {
					name := fmt.Sprintf("%s/block=%d/restart=%d/bloom=%d", comp, blockSize, restart, bloom)
					t.Run(name, func(t *testing.T) {
						seed := uint64(blockSize*31 + restart)
						es := randomEntries(rand.New(rand.NewPCG(seed, 7)), 600)
						opts := WriterOptions{BlockSize: blockSize, RestartInterval: restart, Compression: comp, BloomBitsPerKey: bloom}
						data := buildSST(t, opts, es)
						r, _ := openSST(t, data, ReaderOptions{Cache: NewBlockCache(1 << 20), CacheID: 1})
						p := r.Properties()
						if p.NumEntries != uint64(len(es)) || p.FormatVersion != FormatVersion || p.Compression != comp {
							t.Fatalf("properties %v", p)
						}
						var deletes, rawKeys, rawValues uint64
						minSeq, maxSeq := es[0].seq, es[0].seq
						for _, e := range es {
							if e.kind == KindDelete {
								deletes++
							}
							rawKeys += uint64(len(e.key))
							rawValues += uint64(len(e.value))
							minSeq, maxSeq = min(minSeq, e.seq), max(maxSeq, e.seq)
						}
						if p.NumDeletes != deletes || p.RawKeySize != rawKeys || p.RawValueSize != rawValues ||
							p.MinSeq != minSeq || p.MaxSeq != maxSeq || p.DataSize == 0 || p.NumDataBlocks == 0 ||
							!reflect.DeepEqual(p, mustProps(t, opts, es)) {
							t.Fatalf("properties %+v", p)
						}
						if !bytes.Equal(p.SmallestKey, es[0].key) || !bytes.Equal(p.LargestKey, es[len(es)-1].key) {
							t.Fatalf("key range [%q,%q], want [%q,%q]", p.SmallestKey, p.LargestKey, es[0].key, es[len(es)-1].key)
						}
						it := r.NewIter(ctx, nil, nil)
						sameEntries(t, "full scan", collect(t, it, it.First()), es)
						if err := it.Close(); err != nil {
							t.Fatal(err)
						}
						for _, e := range es {
							for _, maxSeq := range []uint64{e.seq, e.seq + 1, e.seq - 1, MaxSeq} {
								checkGet(t, r, es, e.key, maxSeq)
							}
						}
						checkGet(t, r, es, []byte("absent"), MaxSeq)
					})
				}
			}
		}
	}
}

// mustProps returns what Writer.Properties says after writing es.
func mustProps(t testing.TB, opts WriterOptions, es []entry) Properties {
	w := NewWriter(opts)
	for _, e := range es {
		if err := w.Add(e.key, e.seq, e.kind, e.value); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	return w.Properties()
}

func checkGet(t testing.TB, r *Reader, es []entry, key []byte, maxSeq uint64) {
	t.Helper()
	v, seq, kind, found, err := r.Get(context.Background(), key, maxSeq)
	if err != nil {
		t.Fatalf("Get(%q, %d): %v", key, maxSeq, err)
	}
	want, ok := modelGet(es, key, maxSeq)
	if found != ok {
		t.Fatalf("Get(%q, %d): found=%v, want %v", key, maxSeq, found, ok)
	}
	if !ok {
		return
	}
	if seq != want.seq || kind != want.kind || !bytes.Equal(v, want.value) {
		t.Fatalf("Get(%q, %d) = #%d %s %d bytes, want %v", key, maxSeq, seq, kind, len(v), want)
	}
	if !r.MayContain(key) {
		t.Fatalf("MayContain(%q) = false for a present key", key)
	}
}

// randomEntries returns n sorted entries: keys with shared prefixes, several
// versions per key, tombstones, empty and large values, pointers.
func randomEntries(rng *rand.Rand, n int) []entry {
	seen := map[string]bool{}
	var es []entry
	seq := uint64(1000)
	for len(es) < n {
		key := fmt.Sprintf("k/%04d/%s", rng.IntN(n), bytes.Repeat([]byte{'x'}, rng.IntN(20)))
		versions := 1 + rng.IntN(4)
		for v := 0; v < versions && len(es) < n; v++ {
			seq += 1 + uint64(rng.IntN(3))
			id := fmt.Sprintf("%s#%d", key, seq)
			if seen[id] {
				continue
			}
			seen[id] = true
			e := entry{key: []byte(key), seq: seq, kind: KindSet}
			switch rng.IntN(10) {
			case 0:
				e.kind = KindDelete
			case 1:
				e.value = []byte{}
			case 2:
				e.value = randomValue(rng, 3000+rng.IntN(70000))
			case 3:
				e.kind, e.value = KindPointer, randomValue(rng, 8+rng.IntN(20))
			default:
				e.value = randomValue(rng, rng.IntN(200))
			}
			es = append(es, e)
		}
	}
	sortEntries(es)
	return es
}

// randomValue is half random, half repetitive, so that it compresses somewhat.
func randomValue(rng *rand.Rand, n int) []byte {
	v := make([]byte, n)
	for i := 0; i < n/2; i++ {
		v[i] = byte(rng.Uint32())
	}
	for i := n / 2; i < n; i++ {
		v[i] = byte('a' + i%7)
	}
	return v
}

func TestAddOrder(t *testing.T) {
	tests := []struct {
		name      string
		first     entry
		second    entry
		wantError bool
	}{
		{"ascending keys", entry{key: []byte("a"), seq: 1}, entry{key: []byte("b"), seq: 9}, false},
		{"same key newer first", entry{key: []byte("a"), seq: 9}, entry{key: []byte("a"), seq: 1}, false},
		{"same key older first", entry{key: []byte("a"), seq: 1}, entry{key: []byte("a"), seq: 9}, true},
		{"same key same seq", entry{key: []byte("a"), seq: 5}, entry{key: []byte("a"), seq: 5}, true},
		{"descending keys", entry{key: []byte("b"), seq: 1}, entry{key: []byte("a"), seq: 1}, true},
		{"empty key first", entry{key: []byte{}, seq: 1}, entry{key: []byte("a"), seq: 1}, false},
		{"prefix after longer", entry{key: []byte("ab"), seq: 1}, entry{key: []byte("a"), seq: 1}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := NewWriter(WriterOptions{})
			if err := w.Add(tc.first.key, tc.first.seq, KindSet, nil); err != nil {
				t.Fatal(err)
			}
			err := w.Add(tc.second.key, tc.second.seq, KindSet, nil)
			if (err != nil) != tc.wantError {
				t.Fatalf("second Add: err=%v, want error %v", err, tc.wantError)
			}
			if err != nil && !errors.Is(err, ErrOutOfOrder) {
				t.Fatalf("error %v does not wrap ErrOutOfOrder", err)
			}
			// The writer is still usable after a refused entry.
			data, err := w.Finish()
			if err != nil {
				t.Fatal(err)
			}
			r, _ := openSST(t, data, ReaderOptions{})
			want := uint64(2)
			if tc.wantError {
				want = 1
			}
			if n := r.Properties().NumEntries; n != want {
				t.Fatalf("%d entries, want %d", n, want)
			}
		})
	}
}

func TestAddRejectsBadInput(t *testing.T) {
	w := NewWriter(WriterOptions{})
	if err := w.Add([]byte("a"), MaxSeq+1, KindSet, nil); err == nil {
		t.Error("seq above MaxSeq accepted")
	}
	if err := w.Add([]byte("a"), 1, Kind(7), nil); err == nil {
		t.Error("unknown kind accepted")
	}
	if err := w.Add([]byte("a"), 1, KindSet, make([]byte, MaxEntrySize)); !errors.Is(err, ErrEntryTooLarge) {
		t.Errorf("entry above MaxEntrySize: %v", err)
	}
	if _, err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := w.Add([]byte("b"), 1, KindSet, nil); !errors.Is(err, ErrWriterFinished) {
		t.Errorf("Add after Finish: %v", err)
	}
	if _, err := w.Finish(); !errors.Is(err, ErrWriterFinished) {
		t.Errorf("second Finish: %v", err)
	}
}

func TestEmptySST(t *testing.T) {
	ctx := context.Background()
	data := buildSST(t, WriterOptions{}, nil)
	r, _ := openSST(t, data, ReaderOptions{})
	p := r.Properties()
	if p.NumEntries != 0 || p.NumDataBlocks != 0 || p.SmallestKey != nil {
		t.Fatalf("properties of an empty SST: %v", p)
	}
	if _, _, _, found, err := r.Get(ctx, []byte("a"), MaxSeq); found || err != nil {
		t.Fatalf("Get on empty SST: found=%v err=%v", found, err)
	}
	if r.MayContain([]byte("a")) {
		t.Error("empty SST may contain a key")
	}
	it := r.NewIter(ctx, nil, nil)
	if it.First() || it.SeekGE([]byte("a")) || it.Err() != nil {
		t.Fatalf("iterator over empty SST: valid or err=%v", it.Err())
	}
}

// TestSizeHintDoesNotChangeOutput builds SSTs of a few MiB (several buffer
// segments) with different size hints: the bytes must be the same.
func TestSizeHintDoesNotChangeOutput(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 15))
	var es []entry
	for i := 0; i < 3000; i++ {
		es = append(es, entry{key: []byte(fmt.Sprintf("chunk/%06d", i)), seq: 9, kind: KindSet, value: randomValue(rng, 1+rng.IntN(3000))})
	}
	es = append(es, entry{key: []byte("zzz"), seq: 1, kind: KindSet, value: randomValue(rng, 200<<10)})
	want := buildSST(t, WriterOptions{}, es)
	if len(want) < 3*segmentSize {
		t.Fatalf("test SST of %d bytes does not span several segments", len(want))
	}
	for _, hint := range []int{1, 100 << 10, len(want) / 2, len(want), 4 * len(want)} {
		if got := buildSST(t, WriterOptions{SizeHint: hint}, es); !bytes.Equal(got, want) {
			t.Fatalf("SizeHint %d changed the output", hint)
		}
	}
	r, _ := openSST(t, want, ReaderOptions{})
	for _, e := range es[len(es)-5:] {
		checkGet(t, r, es, e.key, MaxSeq)
	}
}

func TestSharedCodecs(t *testing.T) {
	es := randomEntries(rand.New(rand.NewPCG(16, 16)), 400)
	opts := WriterOptions{BlockSize: 1024, Compression: CompressionZstd}
	want := buildSST(t, opts, es)
	opts.Codecs = NewCodecs()
	results := make(chan []byte, 4)
	for g := 0; g < 4; g++ {
		go func() {
			w := NewWriter(opts)
			for _, e := range es {
				if err := w.Add(e.key, e.seq, e.kind, e.value); err != nil {
					results <- nil
					return
				}
			}
			data, _ := w.Finish()
			results <- data
		}()
	}
	for g := 0; g < 4; g++ {
		if got := <-results; !bytes.Equal(got, want) {
			t.Fatal("a writer sharing Codecs produced different bytes")
		}
	}
}

// TestWriterPropertiesMatchReader: the lsm records a new SST in the manifest
// from its Writer's properties, without reading the SST back, so they must
// be what a Reader of the object reports.
func TestWriterPropertiesMatchReader(t *testing.T) {
	for _, n := range []int{0, 1, 500} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			w := NewWriter(WriterOptions{BlockSize: 256, Compression: CompressionSnappy})
			for i := range n {
				kind := KindSet
				if i%7 == 3 {
					kind = KindDelete
				}
				if err := w.Add(fmt.Appendf(nil, "key%05d", i), uint64(1000+i), kind, bytes.Repeat([]byte{byte(i)}, i%300)); err != nil {
					t.Fatal(err)
				}
			}
			data, err := w.Finish()
			if err != nil {
				t.Fatal(err)
			}
			r, _ := openSST(t, data, ReaderOptions{})
			if got, want := w.Properties(), r.Properties(); !reflect.DeepEqual(got, want) {
				t.Fatalf("writer properties\n%+v\nreader properties\n%+v", got, want)
			}
		})
	}
}
