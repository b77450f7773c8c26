package sstable

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/objstore"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestObjectStores(t *testing.T) {
	ctx := context.Background()
	es := randomEntries(rand.New(rand.NewPCG(41, 41)), 300)
	data := buildSST(t, WriterOptions{BlockSize: 1024, Compression: CompressionSnappy}, es)
	local, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	stores := []struct {
		name  string
		store func(t *testing.T) objstore.Store
	}{
		{"memory", func(*testing.T) objstore.Store { return objstore.NewMemory() }},
		{"local", func(*testing.T) objstore.Store { return local }},
		{"s3", func(t *testing.T) objstore.Store { return testenv.S3Store(t) }},
	}
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			store := sc.store(t)
			key := "compacted/01JTEST.sst"
			if err := store.Put(ctx, key, data); err != nil {
				t.Fatal(err)
			}
			r, err := OpenObject(ctx, store, key, ReaderOptions{Cache: NewBlockCache(1 << 20), CacheID: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range es[:50] {
				checkGet(t, r, es, e.key, e.seq)
			}
			it := r.NewIter(ctx, nil, nil)
			sameEntries(t, "scan", collect(t, it, it.First()), es)
			it.Close()
			if _, err := OpenObject(ctx, store, "compacted/missing.sst", ReaderOptions{}); !errors.Is(err, objstore.ErrNotFound) {
				t.Fatalf("opening a missing object: %v", err)
			}
		})
	}
}
