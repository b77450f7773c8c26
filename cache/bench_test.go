package cache

import (
	"context"
	"fmt"
	"testing"
)

// benchRange measures GetRange of n bytes at scattered offsets of a 64 MiB
// object once every page is resident (default 256 KiB pages).
func benchRange(b *testing.B, n int64) {
	const size = 64 << 20
	inner := newMemStore()
	inner.Put(context.Background(), "obj", patterned(size, 1))
	d, err := OpenDisk(b.TempDir(), 1<<30, testLogger())
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	s := NewCachingStore(inner, d, "ns")
	ctx := context.Background()
	if _, err := s.GetRange(ctx, "obj", 0, size); err != nil {
		b.Fatal(err)
	}
	before := inner.getRanges.Load()
	b.SetBytes(n)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		off := int64(i*7919*4096) % (size - n)
		if _, err := s.GetRange(ctx, "obj", off, n); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if inner.getRanges.Load() != before {
		b.Fatal("benchmark reads went to the inner store")
	}
}

func BenchmarkGetRangeCached4K(b *testing.B)  { benchRange(b, 4<<10) }
func BenchmarkGetRangeCached64K(b *testing.B) { benchRange(b, 64<<10) }

// BenchmarkGetRangeMiss measures a 4 KiB read of a page that is not resident:
// one inner GetRange of the 256 KiB page (from memory), writing the page file,
// indexing it.
func BenchmarkGetRangeMiss(b *testing.B) {
	inner := newMemStore()
	const objects = 64
	for i := range objects {
		inner.Put(context.Background(), fmt.Sprintf("obj%d", i), patterned(4<<20, byte(i)))
	}
	d, err := OpenDisk(b.TempDir(), 256<<20, testLogger())
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	s := NewCachingStore(inner, d, "ns")
	ctx := context.Background()
	b.SetBytes(4 << 10)
	for i := 0; b.Loop(); i++ {
		// Each (object, page) pair is read once per 64*16 iterations: with a
		// 256 MiB budget and 256 MiB of pages this keeps missing.
		key := fmt.Sprintf("obj%d", i%objects)
		page := int64(i/objects) % 16
		if i >= objects*16 {
			d.invalidate(objectID{"ns", key})
		}
		if _, err := s.GetRange(ctx, key, page*DefaultPageSize+100, 4<<10); err != nil {
			b.Fatal(err)
		}
	}
	if st := d.Stats(); st.Hits != 0 {
		b.Fatalf("miss benchmark had %d hits", st.Hits)
	}
}

// BenchmarkOpenScan measures OpenDisk over a directory of 2000 page files
// (the restart path): per-op time / 2000 is the cost of indexing one file.
func BenchmarkOpenScan(b *testing.B) {
	dir := b.TempDir()
	d, err := OpenDiskWithOptions(dir, DiskOptions{CapacityBytes: 1 << 30, PageSize: 16 << 10, Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	inner := newMemStore()
	inner.Put(context.Background(), "obj", patterned(2000*16<<10, 1))
	if _, err := NewCachingStore(inner, d, "ns").GetRange(context.Background(), "obj", 0, 2000*16<<10); err != nil {
		b.Fatal(err)
	}
	d.Close()
	for b.Loop() {
		d, err := OpenDiskWithOptions(dir, DiskOptions{CapacityBytes: 1 << 30, PageSize: 16 << 10, Logger: testLogger()})
		if err != nil {
			b.Fatal(err)
		}
		if d.Stats().Files != 2000 {
			b.Fatalf("indexed %d files", d.Stats().Files)
		}
		d.Close()
	}
}
