package lsm

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

// benchKey writes a 16-byte key for i: a scrambled prefix (random order)
// and i itself (unique).
func benchKey(dst []byte, i uint64) []byte {
	dst = binary.BigEndian.AppendUint64(dst[:0], i*0x9E3779B97F4A7C15)
	return binary.BigEndian.AppendUint64(dst, i)
}

func benchOptions() Options {
	o := Options{Logger: quietLogger(), GCInterval: -1}
	return o
}

func reportRequests(b *testing.B, db *DB, before int64, writes int) {
	after := db.Stats().Requests.Total().Requests
	if writes > 0 {
		b.ReportMetric(float64(after-before)*1000/float64(writes), "requests/1000writes")
	}
}

func BenchmarkPut(b *testing.B) {
	for _, size := range []int{100, 4096} {
		b.Run(fmt.Sprintf("value=%d/unawaited", size), func(b *testing.B) {
			ctx := context.Background()
			db := mustOpen(b, objstore.NewMemory(), benchOptions())
			defer db.Close(ctx)
			value := make([]byte, size)
			key := make([]byte, 0, 16)
			before := db.Stats().Requests.Total().Requests
			b.SetBytes(int64(size + 16))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				key = benchKey(key, uint64(i))
				if err := db.Put(ctx, key, value, WriteOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			reportRequests(b, db, before, b.N)
		})
	}
	for _, size := range []int{100, 4096} {
		b.Run(fmt.Sprintf("value=%d/awaited-64-writers", size), func(b *testing.B) {
			ctx := context.Background()
			db := mustOpen(b, objstore.NewMemory(), benchOptions())
			defer db.Close(ctx)
			value := make([]byte, size)
			var n atomic.Uint64
			before := db.Stats().Requests.Total().Requests
			b.SetBytes(int64(size + 16))
			b.SetParallelism(32) // 64 writers on 2 CPUs
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				key := make([]byte, 0, 16)
				for pb.Next() {
					key = benchKey(key, n.Add(1))
					if err := db.Put(ctx, key, value, WriteOptions{AwaitDurable: true}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			reportRequests(b, db, before, b.N)
		})
	}
}

// loadDB writes n 100-byte values and places them as asked.
func loadDB(b *testing.B, store objstore.Store, opts Options, n int, where string) *DB {
	ctx := context.Background()
	db := mustOpen(b, store, opts)
	value := make([]byte, 100)
	key := make([]byte, 0, 16)
	var batch Batch
	for i := 0; i < n; i++ {
		batch.Put(benchKey(key, uint64(i)), value)
		if batch.Len() == 1000 {
			if err := db.Write(ctx, &batch, WriteOptions{}); err != nil {
				b.Fatal(err)
			}
			batch.Reset()
		}
	}
	db.Write(ctx, &batch, WriteOptions{})
	if where != "memtable" {
		if err := db.FlushMemtable(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := db.Compact(ctx, true); err != nil {
			b.Fatal(err)
		}
	}
	return db
}

func BenchmarkGet(b *testing.B) {
	const n = 100000
	cases := []struct {
		name  string
		where string
		cache int64
	}{
		{"memtable", "memtable", 0},
		{"cached-sst", "sst", 0},
		{"cold-sst", "sst", -1},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			opts := benchOptions()
			opts.BlockCacheBytes = tc.cache
			var store objstore.Store = objstore.NewMemory()
			if tc.name == "cold-sst" {
				local, err := objstore.NewLocal(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				store = local
			}
			db := loadDB(b, store, opts, n, tc.where)
			defer db.Close(ctx)
			// Warm the cache (and the SST handles).
			key := make([]byte, 0, 16)
			for i := 0; i < n; i++ {
				db.Get(ctx, benchKey(key, uint64(i)))
			}
			before := db.Stats().Requests.Total().Requests
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := rand.New(rand.NewPCG(rand.Uint64(), 0))
				key := make([]byte, 0, 16)
				for pb.Next() {
					if _, err := db.Get(ctx, benchKey(key, uint64(r.IntN(n)))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(db.Stats().Requests.Total().Requests-before)/float64(b.N), "requests/get")
		})
	}
}

func BenchmarkScan(b *testing.B) {
	const n = 100000
	for _, where := range []string{"memtable", "sst"} {
		b.Run(where, func(b *testing.B) {
			ctx := context.Background()
			db := loadDB(b, objstore.NewMemory(), benchOptions(), n, where)
			defer db.Close(ctx)
			b.ResetTimer()
			var bytes int64
			for i := 0; i < b.N; i++ {
				it, err := db.NewIterator(ctx, nil, nil)
				if err != nil {
					b.Fatal(err)
				}
				for it.Next() {
					bytes += int64(len(it.Key()) + len(it.Value()))
				}
				if err := it.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(bytes)/1e6/b.Elapsed().Seconds(), "MB/s")
		})
	}
}

// BenchmarkFlushedPutSlowStore is one writer that makes every Put durable
// with Flush, as the NFS server does for a strict metadata change or a
// FILE_SYNC write (a single-threaded tar), on a store whose PUTs take 20ms
// as in a real region: bucket durability pays a PUT per write, local
// durability an fdatasync of the journal (in the test's temporary
// directory).
func BenchmarkFlushedPutSlowStore(b *testing.B) {
	for _, durability := range []Durability{DurabilityBucket, DurabilityLocal} {
		b.Run(durability.String(), func(b *testing.B) {
			ctx := context.Background()
			store := faultstore.New(objstore.NewMemory(), faultstore.Options{})
			store.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPut, objstore.OpPutIfAbsent}, Action: faultstore.DelayOnly, Latency: 20 * time.Millisecond})
			opts := benchOptions()
			opts.Durability = durability
			if durability == DurabilityLocal {
				opts.JournalDir = b.TempDir()
			}
			db := mustOpen(b, store, opts)
			defer db.Close(ctx)
			value := make([]byte, 4096)
			key := make([]byte, 0, 16)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				key = benchKey(key, uint64(i))
				if err := db.Put(ctx, key, value, WriteOptions{}); err != nil {
					b.Fatal(err)
				}
				if err := db.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
