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
// shared prefixes, versions, a tombstone, an empty and a larger value; and
// from format version 2, pointer entries.
func goldenEntries(version int) []entry {
	var es []entry
	for i := 0; i < 40; i++ {
		key := []byte(fmt.Sprintf("dir/%03d/name", i))
		es = append(es, entry{key: key, seq: uint64(100 + i), kind: KindSet, value: bytes.Repeat([]byte{byte(i)}, i*7)})
		if i%5 == 0 {
			es = append(es, entry{key: key, seq: uint64(50 + i), kind: KindDelete})
		}
		if version >= 2 && i%7 == 3 {
			es = append(es, entry{key: key, seq: uint64(20 + i), kind: KindPointer, value: []byte{1, byte(i), 21, 0x80, 0x20, 1, 2, 3, 4}})
		}
	}
	es = append(es, entry{key: []byte("zz"), seq: 1, kind: KindSet, value: []byte{}})
	sortEntries(es)
	return es
}

// goldenRefs is the value refs property of the format version 2 files.
var goldenRefs = []byte{1, 1, 1, 3, 0x80, 0x20, 6}

// TestGoldenFiles reads SSTs written by format versions 1 and 2, and checks
// that the writer still produces the version 2 files byte for byte.
// Regenerate those (only when the format version changes) with
// ZEROFS_UPDATE_GOLDEN=1; the version 1 files stay as they are.
func TestGoldenFiles(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		file    string
		version int
		opts    WriterOptions
	}{
		{"v1-none.sst", 1, WriterOptions{BlockSize: 256, RestartInterval: 4}},
		{"v1-snappy.sst", 1, WriterOptions{BlockSize: 512, Compression: CompressionSnappy}},
		{"v1-zstd.sst", 1, WriterOptions{BlockSize: 512, Compression: CompressionZstd, BloomBitsPerKey: -1}},
		{"v2-none.sst", 2, WriterOptions{BlockSize: 256, RestartInterval: 4}},
		{"v2-snappy.sst", 2, WriterOptions{BlockSize: 512, Compression: CompressionSnappy}},
		{"v2-zstd.sst", 2, WriterOptions{BlockSize: 512, Compression: CompressionZstd, BloomBitsPerKey: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			es := goldenEntries(tc.version)
			path := filepath.Join("testdata", tc.file)
			w := NewWriter(tc.opts)
			for _, e := range es {
				if err := w.Add(e.key, e.seq, e.kind, e.value); err != nil {
					t.Fatal(err)
				}
			}
			if tc.version >= 2 {
				w.SetValueRefs(goldenRefs)
			}
			fresh, err := w.Finish()
			if err != nil {
				t.Fatal(err)
			}
			if tc.version == FormatVersion && os.Getenv("ZEROFS_UPDATE_GOLDEN") == "1" {
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
			wp, rp := w.Properties(), r.Properties()
			if tc.version < FormatVersion {
				wp.FormatVersion = uint8(tc.version)
			}
			if !reflect.DeepEqual(wp, rp) {
				t.Fatalf("writer properties %+v, reader %+v", wp, rp)
			}
			// zstd output may change with the library version; the others are ours.
			if tc.version == FormatVersion && tc.opts.Compression != CompressionZstd && !bytes.Equal(fresh, golden) {
				t.Fatalf("the writer no longer produces %s byte for byte: format changed?", path)
			}
		})
	}
}
