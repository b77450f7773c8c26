package kvfs_test

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/kvfs/lsmkv"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

// Benchmarks run on MemKV, measuring kvfs itself; with KVFS_BENCH_STORE=local
// they run on an lsm database in a local directory.

func BenchmarkCreate(b *testing.B) {
	ctx := context.Background()
	fs := newBenchFS(b, kvfs.Options{})
	dir := must[kvfs.NewEntry](b)(fs.Mkdir(ctx, root, kvfs.RootIno, "d", 0o755)).Attr.Ino
	var n atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := fs.Create(ctx, root, dir, fmt.Sprintf("f%d", n.Add(1)), kvfs.CreateRequest{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
}

func benchStat(b *testing.B, cacheEntries int) {
	ctx := context.Background()
	fs := newBenchFS(b, kvfs.Options{InodeCacheEntries: cacheEntries})
	const files = 10000
	inos := make([]uint64, files)
	for i := range inos {
		inos[i] = must[kvfs.NewEntry](b)(fs.Create(ctx, root, kvfs.RootIno, fmt.Sprintf("f%d", i), kvfs.CreateRequest{})).Attr.Ino
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 0))
		for pb.Next() {
			if _, err := fs.GetAttr(ctx, inos[r.IntN(files)]); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "stats/s")
}

func BenchmarkStatCached(b *testing.B) { benchStat(b, 100000) }
func BenchmarkStatCold(b *testing.B)   { benchStat(b, 1) }

const benchFileSize = 256 << 20

func benchFile(b *testing.B) (*kvfs.FS, uint64) {
	ctx := context.Background()
	fs := newBenchFS(b, kvfs.Options{})
	f := must[kvfs.NewEntry](b)(fs.Create(ctx, root, kvfs.RootIno, "f", kvfs.CreateRequest{})).Attr.Ino
	buf := make([]byte, 1<<20)
	for off := 0; off < benchFileSize; off += len(buf) {
		must[kvfs.Change](b)(fs.Write(ctx, root, f, uint64(off), buf))
	}
	return fs, f
}

func BenchmarkRandomWrite4K(b *testing.B) {
	ctx := context.Background()
	fs, f := benchFile(b)
	buf := make([]byte, 4096)
	r := rand.New(rand.NewPCG(1, 1))
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for range b.N {
		off := uint64(r.IntN(benchFileSize/4096)) * 4096
		if _, err := fs.Write(ctx, root, f, off, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

func BenchmarkRandomRead4K(b *testing.B) {
	ctx := context.Background()
	fs, f := benchFile(b)
	b.SetBytes(4096)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 4096)
		r := rand.New(rand.NewPCG(rand.Uint64(), 1))
		for pb.Next() {
			off := uint64(r.IntN(benchFileSize/4096)) * 4096
			if _, _, err := fs.Read(ctx, root, f, off, buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}

func BenchmarkSequentialWrite1M(b *testing.B) {
	ctx := context.Background()
	fs := newBenchFS(b, kvfs.Options{})
	f := must[kvfs.NewEntry](b)(fs.Create(ctx, root, kvfs.RootIno, "f", kvfs.CreateRequest{})).Attr.Ino
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for i := range b.N {
		off := uint64(i%1024) << 20 // stay within 1 GiB
		if _, err := fs.Write(ctx, root, f, off, buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSequentialRead1M(b *testing.B) {
	ctx := context.Background()
	fs, f := benchFile(b)
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for i := range b.N {
		off := uint64(i%(benchFileSize>>20)) << 20
		if _, _, err := fs.Read(ctx, root, f, off, buf); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadDir100k(b *testing.B) {
	ctx := context.Background()
	fs := newBenchFS(b, kvfs.Options{})
	dir := must[kvfs.NewEntry](b)(fs.Mkdir(ctx, root, kvfs.RootIno, "d", 0o755)).Attr.Ino
	const n = 100000
	for i := range n {
		must[kvfs.NewEntry](b)(fs.Create(ctx, root, dir, fmt.Sprintf("file-%06d", i), kvfs.CreateRequest{}))
	}
	b.ResetTimer()
	entries := 0
	for range b.N {
		var cookie uint64
		for {
			ents, eof, err := fs.ReadDir(ctx, root, dir, cookie, 1024, false)
			if err != nil {
				b.Fatal(err)
			}
			entries += len(ents)
			if len(ents) > 0 {
				cookie = ents[len(ents)-1].Cookie
			}
			if eof {
				break
			}
		}
	}
	if entries != n*b.N {
		b.Fatalf("listed %d entries, want %d", entries, n*b.N)
	}
	b.ReportMetric(float64(entries)/b.Elapsed().Seconds(), "entries/s")
}

func newBenchFS(b *testing.B, opts kvfs.Options) *kvfs.FS {
	b.Helper()
	fs, err := kvfs.Open(context.Background(), benchKV(b), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { fs.Close(context.Background()) })
	return fs
}

// BenchmarkParallelWrite64K has each goroutine write 64 KiB blocks to its own
// file: writers to different files do not contend.
func BenchmarkParallelWrite64K(b *testing.B) {
	ctx := context.Background()
	fs := newBenchFS(b, kvfs.Options{})
	var n atomic.Int64
	b.SetBytes(kvfs.DefaultChunkSize)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		f, err := fs.Create(ctx, root, kvfs.RootIno, fmt.Sprintf("p%d", n.Add(1)), kvfs.CreateRequest{})
		if err != nil {
			b.Error(err)
			return
		}
		buf := make([]byte, kvfs.DefaultChunkSize)
		for i := uint64(0); pb.Next(); i++ {
			if _, err := fs.Write(ctx, root, f.Attr.Ino, (i%4096)*kvfs.DefaultChunkSize, buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkParallelRandomWrite4KColdChunks has 16 goroutines write 4 KiB at
// random offsets of one file whose chunks are in SSTs behind an object store
// that takes 1 ms per ranged read (default block cache): writes to one file
// are serialized, and each partial chunk must be read before it is
// rewritten (the kernel's writeback of a randomly written file).
func BenchmarkParallelRandomWrite4KColdChunks(b *testing.B) {
	ctx := context.Background()
	const size = 64 << 20
	fs, f := coldFile(b, size, 0, time.Millisecond)
	var seed atomic.Uint64
	b.SetBytes(4096)
	b.SetParallelism(8) // 16 writers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(seed.Add(1), 7))
		buf := make([]byte, 4096)
		for pb.Next() {
			off := uint64(r.IntN(size/4096)) * 4096
			if _, err := fs.Write(ctx, root, f, off, buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

// BenchmarkSequentialRead1MColdChunks reads 1 MiB blocks of a file whose
// chunks are in SSTs behind an object store that takes 2 ms per ranged read,
// with no block or disk cache: every read goes to the store, as the first
// read of a file on S3 does.
func BenchmarkSequentialRead1MColdChunks(b *testing.B) {
	ctx := context.Background()
	const size = 32 << 20
	fs, f := coldFile(b, size, -1, 2*time.Millisecond)
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for i := range b.N {
		off := uint64(i%(size/len(buf))) * uint64(len(buf))
		n, _, err := fs.Read(ctx, root, f, off, buf)
		if err != nil || n != len(buf) {
			b.Fatalf("read at %d: %d bytes, %v", off, n, err)
		}
	}
}

// coldFile writes a file of size bytes on an lsm database over a memory
// store, flushes it to SSTs, and then makes every ranged read of the store
// wait latency. blockCacheBytes is lsm.Options.BlockCacheBytes (-1: none).
func coldFile(b *testing.B, size int, blockCacheBytes int64, latency time.Duration) (*kvfs.FS, uint64) {
	ctx := context.Background()
	faulty := faultstore.New(objstore.NewMemory(), faultstore.Options{})
	db, err := lsm.Open(ctx, faulty, lsm.Options{GCInterval: -1, BlockCacheBytes: blockCacheBytes, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close(context.Background()) })
	fs, err := kvfs.Open(ctx, lsmkv.New(db), kvfs.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { fs.Close(context.Background()) })
	f := must[kvfs.NewEntry](b)(fs.Create(ctx, root, kvfs.RootIno, "f", kvfs.CreateRequest{})).Attr.Ino
	buf := make([]byte, 1<<20)
	for off := 0; off < size; off += len(buf) {
		must[kvfs.Change](b)(fs.Write(ctx, root, f, uint64(off), buf))
	}
	if err := db.FlushMemtable(ctx); err != nil {
		b.Fatal(err)
	}
	faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpGetRange}, Action: faultstore.DelayOnly, Latency: latency})
	return fs, f
}
