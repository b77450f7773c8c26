package lsm

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/zerofs-go/zerofsd/objstore"
)

// TestValueCache: with a value cache, a value read once is read again from
// memory (no request to the store), as written, whatever the caller did
// to the bytes it got; the cache stays within its capacity; without one,
// every read goes to the store.
func TestValueCache(t *testing.T) {
	ctx := context.Background()
	value := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 8<<10+i) } // separated: over ValueThreshold
	for _, tc := range []struct {
		name     string
		capacity int64
	}{{"cache", 1 << 20}, {"none", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			opts := smallOptions()
			opts.ValueCacheBytes = tc.capacity
			db := mustOpen(t, objstore.NewMemory(), opts)
			defer db.Close(ctx)
			const n = 200 // 1.6 MiB of values: more than the capacity
			for i := range n {
				if err := db.Put(ctx, []byte(fmt.Sprintf("k%03d", i)), value(i), WriteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.FlushMemtable(ctx); err != nil {
				t.Fatal(err)
			}
			gets := func() int64 { return db.Stats().Requests[objstore.OpGetRange].Requests }
			read := func(i int) {
				t.Helper()
				got, err := db.Get(ctx, []byte(fmt.Sprintf("k%03d", i)))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, value(i)) {
					t.Fatalf("k%03d reads back other bytes", i)
				}
				clear(got) // the caller's to change: the next read is unaffected
			}
			read(7)
			before := gets()
			read(7)
			read(7)
			if again := gets() - before; tc.capacity > 0 && again != 0 {
				t.Errorf("reading a cached value again made %d store requests", again)
			} else if tc.capacity == 0 && again == 0 {
				t.Error("without a value cache, reading a value again made no store request")
			}
			for i := range n {
				read(i)
			}
			// An iterator resolves values through the cache too (40
			// values: less than the capacity).
			scan := func() {
				t.Helper()
				it, err := db.NewIterator(ctx, []byte("k000"), []byte("k040"))
				if err != nil {
					t.Fatal(err)
				}
				defer it.Close()
				i := 0
				for ; it.Next(); i++ {
					if !bytes.Equal(it.Value(), value(i)) {
						t.Fatalf("iterator: k%03d reads back other bytes", i)
					}
					if v := it.Value(); cap(v) != len(v) {
						t.Fatalf("iterator: k%03d's value has room past its end (an append would write into shared bytes)", i)
					}
				}
				if err := it.Err(); err != nil || i != 40 {
					t.Fatalf("iterator: %d values, %v", i, err)
				}
			}
			scan()
			before = gets()
			scan()
			if again := gets() - before; tc.capacity > 0 && again != 0 {
				t.Errorf("scanning cached values again made %d store requests", again)
			} else if tc.capacity == 0 && again == 0 {
				t.Error("without a value cache, scanning again made no store request")
			}
			st := db.Stats().ValueCache
			if st.Bytes > tc.capacity || st.Capacity != tc.capacity {
				t.Errorf("value cache holds %d bytes of %d; want at most %d", st.Bytes, st.Capacity, tc.capacity)
			}
			if tc.capacity > 0 && (st.Hits < 2 || st.Bytes == 0) {
				t.Errorf("value cache stats %+v: want the hits of the second reads and some bytes held", st)
			}
		})
	}
}
