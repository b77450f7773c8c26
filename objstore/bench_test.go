package objstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/objstore"
)

// Benchmarks of 4 KiB objects on each backend:
//
//	go test -run '^$' -bench . -benchtime 2000x ./objstore/
func BenchmarkStores(b *testing.B) {
	backends := []struct {
		name string
		new  func(b *testing.B) objstore.Store
	}{
		{"memory", func(b *testing.B) objstore.Store { return objstore.NewMemory() }},
		{"local", func(b *testing.B) objstore.Store {
			s, err := objstore.NewLocal(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"local-nosync", func(b *testing.B) objstore.Store {
			s, err := objstore.NewLocalNoSync(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"versitygw", func(b *testing.B) objstore.Store { return testenv.S3Store(b) }},
	}
	data := make([]byte, 4096)
	for i := range data {
		data[i] = byte(i)
	}
	ctx := context.Background()
	for _, be := range backends {
		b.Run(be.name+"/Put4K", func(b *testing.B) {
			s := be.new(b)
			b.SetBytes(int64(len(data)))
			i := 0
			for b.Loop() {
				if err := s.Put(ctx, fmt.Sprintf("bench/%08d", i%1000), data); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(be.name+"/PutIfAbsent4K", func(b *testing.B) {
			s := be.new(b)
			b.SetBytes(int64(len(data)))
			i := 0
			for b.Loop() {
				if err := s.PutIfAbsent(ctx, fmt.Sprintf("bench/%08d", i), data); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(be.name+"/Get4K", func(b *testing.B) {
			s := be.new(b)
			for i := range 100 {
				if err := s.Put(ctx, fmt.Sprintf("bench/%08d", i), data); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(int64(len(data)))
			i := 0
			for b.Loop() {
				got, err := s.Get(ctx, fmt.Sprintf("bench/%08d", i%100))
				if err != nil || len(got) != len(data) {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(be.name+"/Put4KParallel", func(b *testing.B) {
			s := be.new(b)
			b.SetBytes(int64(len(data)))
			var next atomic.Int64
			b.SetParallelism(8) // 8 writers per CPU: object stores reward concurrency
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Put(ctx, fmt.Sprintf("bench/%08d", next.Add(1)%1000), data); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run(be.name+"/GetRange1K", func(b *testing.B) {
			s := be.new(b)
			if err := s.Put(ctx, "bench/obj", make([]byte, 1<<20)); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(1024)
			i := int64(0)
			for b.Loop() {
				if _, err := s.GetRange(ctx, "bench/obj", (i*4096)%(1<<20), 1024); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
