package lsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/objstore"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// smallOptions make memtables, flushes and compactions happen after little data.
func smallOptions() Options {
	return Options{
		FlushInterval:       2 * time.Millisecond,
		MemtableBytes:       16 << 10,
		L0CompactionTrigger: 3,
		TargetSSTBytes:      8 << 10,
		BlockSize:           512,
		GCInterval:          -1,
		GCMinAge:            time.Hour,
		Logger:              quietLogger(),
	}
}

func mustOpen(t testing.TB, store objstore.Store, opts Options) *DB {
	t.Helper()
	db, err := Open(context.Background(), store, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return db
}

func mustGet(t testing.TB, db *DB, key string) string {
	t.Helper()
	v, err := db.Get(context.Background(), []byte(key))
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return string(v)
}

func scanAll(t testing.TB, db *DB, lower, upper []byte) []string {
	t.Helper()
	it, err := db.NewIterator(context.Background(), lower, upper)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for it.Next() {
		out = append(out, string(it.Key())+"="+string(it.Value()))
	}
	if err := it.Close(); err != nil {
		t.Fatalf("iterator: %v", err)
	}
	return out
}

func TestBasicOperations(t *testing.T) {
	ctx := context.Background()
	for _, stage := range []string{"memtable", "l0", "compacted", "reopened"} {
		t.Run(stage, func(t *testing.T) {
			store := objstore.NewMemory()
			db := mustOpen(t, store, smallOptions())
			must := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}
			must(db.Put(ctx, []byte("a"), []byte("1"), WriteOptions{}))
			must(db.Put(ctx, []byte("b"), []byte("2"), WriteOptions{}))
			must(db.Put(ctx, []byte("c"), []byte("3"), WriteOptions{AwaitDurable: true}))
			must(db.Delete(ctx, []byte("b"), WriteOptions{}))
			var b Batch
			b.Put([]byte("d"), []byte("4"))
			b.Put([]byte("a"), []byte("1b"))
			b.Delete([]byte("c"))
			b.Put([]byte(""), []byte("empty key"))
			must(db.Write(ctx, &b, WriteOptions{}))
			switch stage {
			case "l0":
				must(db.FlushMemtable(ctx))
				if s := db.Stats(); s.L0Tables != 1 {
					t.Fatalf("L0 tables = %d, want 1", s.L0Tables)
				}
			case "compacted":
				must(db.FlushMemtable(ctx))
				if _, err := db.Compact(ctx, true); err != nil {
					t.Fatal(err)
				}
				if s := db.Stats(); s.L0Tables != 0 || s.SortedRuns != 1 {
					t.Fatalf("after compaction: %+v", s)
				}
			case "reopened":
				must(db.Close(ctx))
				db = mustOpen(t, store, smallOptions())
			}
			if got := mustGet(t, db, "a"); got != "1b" {
				t.Errorf("a = %q", got)
			}
			if got := mustGet(t, db, ""); got != "empty key" {
				t.Errorf("empty key = %q", got)
			}
			for _, k := range []string{"b", "c", "zz"} {
				if _, err := db.Get(ctx, []byte(k)); !errors.Is(err, ErrNotFound) {
					t.Errorf("Get(%q) = %v, want ErrNotFound", k, err)
				}
			}
			want := []string{"=empty key", "a=1b", "d=4"}
			if got := scanAll(t, db, nil, nil); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("scan = %v, want %v", got, want)
			}
			if got := scanAll(t, db, []byte("a"), []byte("d")); fmt.Sprint(got) != "[a=1b]" {
				t.Errorf("bounded scan = %v", got)
			}
			must(db.Close(ctx))
			if err := db.Put(ctx, []byte("x"), nil, WriteOptions{}); !errors.Is(err, ErrClosed) {
				t.Errorf("Put after Close = %v, want ErrClosed", err)
			}
		})
	}
}

func TestIteratorSnapshot(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t, objstore.NewMemory(), smallOptions())
	defer db.Close(ctx)
	for i := 0; i < 100; i++ {
		if err := db.Put(ctx, []byte(fmt.Sprintf("k%03d", i)), []byte("v1"), WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	it, err := db.NewIterator(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Overwrite, delete, add, flush and compact under the iterator.
	for i := 0; i < 100; i++ {
		k := []byte(fmt.Sprintf("k%03d", i))
		if i%2 == 0 {
			db.Delete(ctx, k, WriteOptions{})
		} else {
			db.Put(ctx, k, bytes.Repeat([]byte("v2"), 100), WriteOptions{})
		}
		db.Put(ctx, []byte(fmt.Sprintf("k%03d-new", i)), []byte("x"), WriteOptions{})
	}
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Compact(ctx, true); err != nil {
		t.Fatal(err)
	}
	n := 0
	for it.Next() {
		if want := fmt.Sprintf("k%03d", n); string(it.Key()) != want || string(it.Value()) != "v1" {
			t.Fatalf("entry %d = %s=%s, want %s=v1", n, it.Key(), it.Value(), want)
		}
		n++
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if n != 100 {
		t.Fatalf("snapshot iterator saw %d keys, want 100", n)
	}
}
