package kvfstest

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
)

// callerFlushStore is a Store on a MemKV whose Flush, called by a worker
// of the model, makes durable only the batches up to that worker's last
// one: a prefix of the write order, as a KV must keep, but not everything
// written before the flush. The batches other workers wrote after it are
// lost by a crash although their operations had returned before the flush
// began. A Flush from no worker makes everything durable.
type callerFlushStore struct {
	mu  sync.Mutex
	mem *kvfs.MemKV
	// persisted is how many of mem's pending batches a flush made durable;
	// last holds the index among them of each worker's last batch.
	persisted int
	last      map[int]int
}

func newCallerFlushStore() *callerFlushStore {
	return &callerFlushStore{mem: kvfs.NewMemKV(), last: map[int]int{}}
}

func (s *callerFlushStore) KV() kvfs.KV { return callerFlushKV{s} }

// Crash keeps exactly what the flushes made durable.
func (s *callerFlushStore) Crash(ctx context.Context, rng *rand.Rand) (kvfs.KV, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mem = s.mem.CrashKeeping(s.persisted)
	s.persisted, s.last = 0, map[int]int{}
	return callerFlushKV{s}, nil
}

// callerFlushKV is the KV of a callerFlushStore.
type callerFlushKV struct{ s *callerFlushStore }

// mem is the store's MemKV now (Crash replaces it while the filesystem
// of the round before may still read).
func (k callerFlushKV) mem() *kvfs.MemKV {
	k.s.mu.Lock()
	defer k.s.mu.Unlock()
	return k.s.mem
}

func (k callerFlushKV) Get(ctx context.Context, key []byte) ([]byte, error) {
	return k.mem().Get(ctx, key)
}

func (k callerFlushKV) NewIterator(ctx context.Context, lower, upper []byte) (kvfs.KVIterator, error) {
	return k.mem().NewIterator(ctx, lower, upper)
}

func (k callerFlushKV) Write(ctx context.Context, ops []kvfs.KVOp, durable bool) error {
	s := k.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.mem.Write(ctx, ops, durable); err != nil {
		return err
	}
	if durable {
		s.persisted, s.last = 0, map[int]int{}
	} else if w, ok := ctx.Value(workerKey{}).(int); ok {
		s.last[w] = s.mem.Pending() - 1
	}
	return nil
}

func (k callerFlushKV) Flush(ctx context.Context) error {
	s := k.s
	s.mu.Lock()
	defer s.mu.Unlock()
	w, ok := ctx.Value(workerKey{}).(int)
	if !ok {
		s.persisted, s.last = 0, map[int]int{}
		return s.mem.Flush(ctx)
	}
	if l, ok := s.last[w]; ok {
		s.persisted = max(s.persisted, l+1)
	}
	return nil
}

// TestModelCatchesAFlushOfTheCallersWritesOnly: the model holds a flush to
// making durable what every worker had done when it began, not only what
// the worker that flushed had done. A store whose Flush persists only up
// to the caller's last write fails it. (The workers run concurrently, so
// whether a seed catches it depends on the interleaving: a few are tried.)
func TestModelCatchesAFlushOfTheCallersWritesOnly(t *testing.T) {
	var err error
	for seed := uint64(1); seed <= 10 && err == nil; seed++ {
		err = runModel(newCallerFlushStore(), ModelOptions{Seed: seed, Rounds: 40, Steps: 60, Workers: 4,
			FS: kvfs.Options{InodeCacheEntries: 64, InlineTruncateChunks: 1}})
	}
	if err == nil {
		t.Fatal("the model passed a store whose flush loses other workers' writes")
	}
	if !strings.Contains(err.Error(), "matches no prefix") {
		t.Fatalf("the model failed otherwise than on the state after a crash: %v", err)
	}
	t.Logf("caught: %.200s", err)
}
