package sstable

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// goldenEntries is the content of the SSTs in testdata: a few keys with
// shared prefixes, versions, a tombstone, an empty and a larger value.
func goldenEntries() []entry {
	var es []entry
	for i := 0; i < 40; i++ {
		key := []byte(fmt.Sprintf("dir/%03d/name", i))
		es = append(es, entry{key: key, seq: uint64(100 + i), kind: KindSet, value: bytes.Repeat([]byte{byte(i)}, i*7)})
		if i%5 == 0 {
			es = append(es, entry{key: key, seq: uint64(50 + i), kind: KindDelete})
		}
	}
	es = append(es, entry{key: []byte("zz"), seq: 1, kind: KindSet, value: []byte{}})
	sortEntries(es)
	return es
}

// TestGoldenFiles reads SSTs written by format version 1 and checks that the
// writer still produces the same bytes. Regenerate (only when the format
// version changes) with ZEROFS_UPDATE_GOLDEN=1.
func TestGoldenFiles(t *testing.T) {
	ctx := context.Background()
	es := goldenEntries()
	tests := []struct {
		file string
		opts WriterOptions
	}{
		{"v1-none.sst", WriterOptions{BlockSize: 256, RestartInterval: 4}},
		{"v1-snappy.sst", WriterOptions{BlockSize: 512, Compression: CompressionSnappy}},
		{"v1-zstd.sst", WriterOptions{BlockSize: 512, Compression: CompressionZstd, BloomBitsPerKey: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			fresh := buildSST(t, tc.opts, es)
			if os.Getenv("ZEROFS_UPDATE_GOLDEN") == "1" {
				if err := os.WriteFile(path, fresh, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			golden, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := openSST(t, golden, ReaderOptions{})
			it := r.NewIter(ctx, nil, nil)
			sameEntries(t, "golden scan", collect(t, it, it.First()), es)
			for _, e := range es {
				checkGet(t, r, es, e.key, e.seq)
			}
			w := NewWriter(tc.opts)
			for _, e := range es {
				w.Add(e.key, e.seq, e.kind, e.value)
			}
			w.Finish()
			if wp, rp := w.Properties(), r.Properties(); !reflect.DeepEqual(wp, rp) {
				t.Fatalf("writer properties %+v, reader %+v", wp, rp)
			}
			// zstd output may change with the library version; the others are ours.
			if tc.opts.Compression != CompressionZstd && !bytes.Equal(fresh, golden) {
				t.Fatalf("the writer no longer produces %s byte for byte: format changed?", path)
			}
		})
	}
}
