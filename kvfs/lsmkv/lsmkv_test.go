package lsmkv_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"syscall"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/kvfs/lsmkv"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/objstore"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func open(t *testing.T, store objstore.Store) *lsm.DB {
	t.Helper()
	db, err := lsm.Open(context.Background(), store, lsm.Options{GCInterval: -1, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	return db
}

func TestReadWrite(t *testing.T) {
	ctx := context.Background()
	kv := lsmkv.New(open(t, objstore.NewMemory()))
	if _, err := kv.Get(ctx, []byte("a")); err != kvfs.ErrNoKey {
		t.Fatalf("Get of a missing key = %v, want kvfs.ErrNoKey itself", err)
	}
	ops := []kvfs.KVOp{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b"), Value: []byte("2")}, {Key: []byte("c"), Value: []byte("3")}}
	if err := kv.Write(ctx, ops, true); err != nil {
		t.Fatal(err)
	}
	if err := kv.Write(ctx, []kvfs.KVOp{{Key: []byte("b"), Delete: true}}, false); err != nil {
		t.Fatal(err)
	}
	if v, err := kv.Get(ctx, []byte("a")); err != nil || string(v) != "1" {
		t.Fatalf("Get(a) = %q, %v", v, err)
	}
	if _, err := kv.Get(ctx, []byte("b")); err != kvfs.ErrNoKey {
		t.Fatalf("Get of a deleted key = %v, want kvfs.ErrNoKey", err)
	}
	it, err := kv.NewIterator(ctx, []byte("a"), []byte("z"))
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var got [][]byte
	for it.Next() {
		got = append(got, bytes.Clone(it.Key()))
	}
	if err := it.Err(); err != nil || len(got) != 2 || string(got[0]) != "a" || string(got[1]) != "c" {
		t.Fatalf("iterated %q, %v; want [a c]", got, err)
	}
	if err := kv.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestReadOnlyErrors: a fenced or read-only database fails writes with an
// error matching kvfs.ErrKVReadOnly, EROFS (what NFS answers) and the lsm
// cause.
func TestReadOnlyErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		db    func(t *testing.T) *lsm.DB
		cause error
	}{
		{"fenced", func(t *testing.T) *lsm.DB {
			store := objstore.NewMemory()
			old := open(t, store)
			open(t, store) // a newer writer fences old
			return old
		}, lsm.ErrFenced},
		{"read-only", func(t *testing.T) *lsm.DB {
			store := objstore.NewMemory()
			w := open(t, store)
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			db, err := lsm.OpenReadOnly(ctx, store, lsm.ReadOnlyOptions{Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close(context.Background()) })
			return db
		}, lsm.ErrReadOnly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := lsmkv.New(tt.db(t))
			err := kv.Write(ctx, []kvfs.KVOp{{Key: []byte("k"), Value: []byte("v")}}, true)
			if !errors.Is(err, kvfs.ErrKVReadOnly) || !errors.Is(err, syscall.EROFS) || !errors.Is(err, tt.cause) {
				t.Fatalf("Write = %v, want EROFS wrapping %v", err, tt.cause)
			}
		})
	}
}
