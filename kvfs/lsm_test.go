package kvfs_test

import (
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
