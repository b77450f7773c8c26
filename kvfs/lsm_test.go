package kvfs_test

import (
	"bytes"
	"context"
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/kvfs/kvfstest"
	"github.com/zerofs-go/zerofsd/kvfs/lsmkv"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/objstore"
)

// lsmStore crashes an lsm database by opening a new writer on its object
// store (which fences the old one) without flushing the old one first.
type lsmStore struct {
	store objstore.Store
	db    *lsm.DB
	opts  lsm.Options
}

func newLSMStore(t testing.TB, store objstore.Store) *lsmStore {
	opts := lsm.Options{GCInterval: -1, Logger: slog.New(slog.DiscardHandler)}
	db, err := lsm.Open(context.Background(), store, opts)
	if err != nil {
		t.Fatal(err)
	}
	s := &lsmStore{store: store, db: db, opts: opts}
	t.Cleanup(func() { s.db.Close(context.Background()) })
	return s
}

func (s *lsmStore) KV() kvfs.KV { return lsmkv.New(s.db) }

func (s *lsmStore) Crash(ctx context.Context, rng *rand.Rand) (kvfs.KV, error) {
	db, err := lsm.Open(ctx, s.store, s.opts)
	if err != nil {
		return nil, err
	}
	old := s.db
	s.db = db
	old.Close(ctx) // fenced: fails without writing anything more
	return lsmkv.New(db), nil
}

func TestModelOnLSM(t *testing.T) {
	o := kvfstest.ModelOptions{Rounds: 15, Steps: 40}
	if testing.Short() {
		o.Rounds = 5
	}
	t.Run("memory", func(t *testing.T) {
		kvfstest.RunModel(t, newLSMStore(t, objstore.NewMemory()), o)
	})
	t.Run("local", func(t *testing.T) {
		local, err := objstore.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		kvfstest.RunModel(t, newLSMStore(t, local), o)
	})
}

// benchKV returns the KV benchmarks run on: MemKV, or with
// KVFS_BENCH_STORE=local an lsm database on a local directory.
func benchKV(b testing.TB) kvfs.KV {
	if os.Getenv("KVFS_BENCH_STORE") != "local" {
		return kvfs.NewMemKV()
	}
	local, err := objstore.NewLocal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	return newLSMStore(b, local).KV()
}

// TestFsckReadsEveryValue: fsck reads every chunk, so a chunk whose value
// is kept outside the SSTs (in a WAL object) and is gone or damaged there
// makes it fail, naming the object.
func TestFsckReadsEveryValue(t *testing.T) {
	ctx := context.Background()
	for _, damage := range []string{"deleted", "flipped"} {
		t.Run(damage, func(t *testing.T) {
			mem := objstore.NewMemory()
			db, err := lsm.Open(ctx, mem, lsm.Options{GCInterval: -1, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close(ctx)
			fs, err := kvfs.Open(ctx, lsmkv.New(db), kvfs.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer fs.Close(ctx)
			f := must[kvfs.NewEntry](t)(fs.Create(ctx, root, kvfs.RootIno, "f", kvfs.CreateRequest{})).Attr.Ino
			data := bytes.Repeat([]byte("abcdefgh"), 4096)
			must[kvfs.Change](t)(fs.Write(ctx, root, f, 0, data))
			if err := db.FlushMemtable(ctx); err != nil {
				t.Fatal(err)
			}
			checkFsck(t, fs)
			page, err := mem.List(ctx, "wal/", objstore.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			hit := false
			for _, o := range page.Objects {
				obj, err := mem.Get(ctx, o.Key)
				if err != nil {
					t.Fatal(err)
				}
				i := bytes.Index(obj, data[:4096])
				if i < 0 {
					continue
				}
				hit = true
				if damage == "deleted" {
					err = mem.Delete(ctx, o.Key)
				} else {
					obj = bytes.Clone(obj)
					obj[i+100] ^= 1
					err = mem.Put(ctx, o.Key, obj)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !hit {
				t.Fatal("the file's data is in no WAL object")
			}
			if rep, err := fs.Fsck(ctx); err == nil {
				t.Fatalf("fsck over a %s value: no error (%+v)", damage, rep)
			} else {
				t.Logf("fsck: %v", err)
			}
		})
	}
}
