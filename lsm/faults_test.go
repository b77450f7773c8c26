package lsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

func prefixed(p string) func(string) bool {
	return func(k string) bool { return strings.HasPrefix(k, p) }
}

// reopenAndCheck reopens the store and checks every key of want.
func reopenAndCheck(t *testing.T, store objstore.Store, want map[string]string) {
	t.Helper()
	ctx := context.Background()
	db := mustOpen(t, store, smallOptions())
	defer db.Close(ctx)
	for k, v := range want {
		if got := mustGet(t, db, k); got != v {
			t.Fatalf("after reopen %s = %q, want %q", k, got, v)
		}
	}
}

func TestWALPutFailures(t *testing.T) {
	ctx := context.Background()
	for _, action := range []faultstore.Action{faultstore.FailBefore, faultstore.FailAfter} {
		t.Run(fmt.Sprint(action), func(t *testing.T) {
			faulty := faultstore.New(objstore.NewMemory(), faultstore.Options{})
			db := mustOpen(t, faulty, smallOptions())
			h := faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPutIfAbsent}, Key: prefixed(walPrefix), Action: action, Times: 3})
			err := db.Put(ctx, []byte("k"), []byte("v"), WriteOptions{AwaitDurable: true})
			if err == nil || errors.Is(err, ErrFenced) || !errors.Is(err, faultstore.ErrInjected) {
				t.Fatalf("awaited Put during failing WAL PUTs = %v, want the injected error", err)
			}
			// The WAL writer retries in the background; Flush eventually succeeds.
			deadline := time.Now().Add(10 * time.Second)
			for db.Flush(ctx) != nil {
				if time.Now().After(deadline) {
					t.Fatal("Flush never succeeded after the faults ran out")
				}
			}
			if h.Fired() != 3 {
				t.Fatalf("fault fired %d times", h.Fired())
			}
			if db.Stats().Fenced {
				t.Fatal("a retried WAL PUT whose first answer was lost fenced the writer")
			}
			if err := db.Put(ctx, []byte("k2"), []byte("v2"), WriteOptions{AwaitDurable: true}); err != nil {
				t.Fatal(err)
			}
			db.kill() // crash: only the WAL holds the data
			reopenAndCheck(t, faulty, map[string]string{"k": "v", "k2": "v2"})
		})
	}
}

func TestSlowWALGroupCommit(t *testing.T) {
	ctx := context.Background()
	faulty := faultstore.New(objstore.NewMemory(), faultstore.Options{})
	opts := smallOptions()
	opts.FlushInterval = 20 * time.Millisecond
	db := mustOpen(t, faulty, opts)
	defer db.Close(ctx)
	faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPutIfAbsent}, Key: prefixed(walPrefix), Action: faultstore.DelayOnly, Latency: 30 * time.Millisecond})
	before := faulty.Calls(objstore.OpPutIfAbsent)
	const writers = 64
	if err := concurrently(writers, func(i int) error {
		return db.Put(ctx, []byte(fmt.Sprintf("w%02d", i)), []byte("v"), WriteOptions{AwaitDurable: true})
	}); err != nil {
		t.Fatal(err)
	}
	puts := faulty.Calls(objstore.OpPutIfAbsent) - before
	if puts >= writers/4 {
		t.Fatalf("%d awaited writers made %d WAL PUTs; group commit should share them", writers, puts)
	}
	t.Logf("%d awaited writers, %d WAL PUTs", writers, puts)
}

// TestConcurrentFlushesShareWALPuts is the pattern of NFS FILE_SYNC writes
// and COMMITs: each caller writes without waiting, then calls Flush. Flushes
// that arrive while a WAL PUT is in flight must share the next PUT rather
// than each sealing and writing a WAL object of its own. The flush interval
// is an hour, so only Flush can cause a PUT.
func TestConcurrentFlushesShareWALPuts(t *testing.T) {
	ctx := context.Background()
	faulty := faultstore.New(objstore.NewMemory(), faultstore.Options{})
	opts := smallOptions()
	opts.FlushInterval = time.Hour
	opts.MemtableBytes = 64 << 20
	db := mustOpen(t, faulty, opts)
	defer db.Close(ctx)
	faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPutIfAbsent}, Key: prefixed(walPrefix), Action: faultstore.DelayOnly, Latency: 30 * time.Millisecond})
	before := faulty.Calls(objstore.OpPutIfAbsent)
	const flushers = 64
	if err := concurrently(flushers, func(i int) error {
		if err := db.Put(ctx, []byte(fmt.Sprintf("f%02d", i)), []byte("v"), WriteOptions{}); err != nil {
			return err
		}
		return db.Flush(ctx)
	}); err != nil {
		t.Fatal(err)
	}
	puts := faulty.Calls(objstore.OpPutIfAbsent) - before
	if puts >= flushers/4 {
		t.Fatalf("%d concurrent Flush callers made %d WAL PUTs; they should share them", flushers, puts)
	}
	// Everything flushed is durable: a crash now loses none of it.
	db.kill()
	re := mustOpen(t, faulty, opts)
	defer re.Close(ctx)
	for i := 0; i < flushers; i++ {
		if _, err := re.Get(ctx, []byte(fmt.Sprintf("f%02d", i))); err != nil {
			t.Fatalf("f%02d after crash: %v", i, err)
		}
	}
	t.Logf("%d concurrent Flush callers, %d WAL PUTs, all %d writes survived a crash", flushers, puts, flushers)
}

func TestIdleMakesNoRequests(t *testing.T) {
	ctx := context.Background()
	faulty := faultstore.New(objstore.NewMemory(), faultstore.Options{})
	db := mustOpen(t, faulty, smallOptions())
	defer db.Close(ctx)
	if err := db.Put(ctx, []byte("k"), []byte("v"), WriteOptions{AwaitDurable: true}); err != nil {
		t.Fatal(err)
	}
	before := db.Stats().Requests.Total().Requests
	time.Sleep(20 * smallOptions().FlushInterval)
	if after := db.Stats().Requests.Total().Requests; after != before {
		t.Fatalf("idle database made %d requests", after-before)
	}
}

func TestL0FlushAndManifestFailures(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name  string
		fault faultstore.Fault
	}{
		{"sst put fails", faultstore.Fault{Ops: []objstore.Op{objstore.OpPut}, Key: prefixed(tablePrefix), Times: 2}},
		{"sst put slow", faultstore.Fault{Ops: []objstore.Op{objstore.OpPut}, Key: prefixed(tablePrefix), Action: faultstore.DelayOnly, Latency: 20 * time.Millisecond, Times: 2}},
		{"manifest put fails", faultstore.Fault{Ops: []objstore.Op{objstore.OpPutIfAbsent}, Key: prefixed(manifestPrefix), Times: 2}},
		{"manifest put lands, answer lost", faultstore.Fault{Ops: []objstore.Op{objstore.OpPutIfAbsent}, Key: prefixed(manifestPrefix), Action: faultstore.FailAfter, Times: 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			faulty := faultstore.New(objstore.NewMemory(), faultstore.Options{})
			db := mustOpen(t, faulty, smallOptions())
			want := map[string]string{}
			for i := 0; i < 50; i++ {
				k, v := fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d", i)
				want[k] = v
				if err := db.Put(ctx, []byte(k), []byte(v), WriteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			h := faulty.Inject(tc.fault)
			var err error
			for i := 0; i < 10; i++ {
				if err = db.FlushMemtable(ctx); err == nil {
					break
				}
				if !errors.Is(err, faultstore.ErrInjected) {
					t.Fatalf("FlushMemtable = %v, want the injected error", err)
				}
			}
			if err != nil {
				t.Fatalf("FlushMemtable never succeeded: %v", err)
			}
			if h.Fired() == 0 {
				t.Fatal("fault never fired")
			}
			s := db.Stats()
			if s.Fenced || s.L0Tables != 1 || s.ImmutableMemtables != 0 {
				t.Fatalf("after flush: fenced=%v l0=%d imm=%d", s.Fenced, s.L0Tables, s.ImmutableMemtables)
			}
			for k, v := range want {
				if got := mustGet(t, db, k); got != v {
					t.Fatalf("%s = %q", k, got)
				}
			}
			db.kill()
			reopenAndCheck(t, faulty, want)
		})
	}
}

func TestCompactionFailures(t *testing.T) {
	ctx := context.Background()
	for _, action := range []faultstore.Action{faultstore.FailBefore, faultstore.DelayOnly} {
		t.Run(fmt.Sprint(action), func(t *testing.T) {
			faulty := faultstore.New(objstore.NewMemory(), faultstore.Options{})
			opts := smallOptions()
			opts.L0CompactionTrigger = 100 // compact only when asked
			db := mustOpen(t, faulty, opts)
			want := map[string]string{}
			for round := 0; round < 4; round++ {
				for i := 0; i < 30; i++ {
					k, v := fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d-%d", i, round)
					if i%7 == round {
						db.Delete(ctx, []byte(k), WriteOptions{})
						delete(want, k)
						continue
					}
					want[k] = v
					db.Put(ctx, []byte(k), []byte(v), WriteOptions{})
				}
				if err := db.FlushMemtable(ctx); err != nil {
					t.Fatal(err)
				}
			}
			h := faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPut}, Key: prefixed(tablePrefix), Action: action, Latency: 10 * time.Millisecond, Times: 1})
			_, err := db.Compact(ctx, true)
			if action == faultstore.FailBefore {
				if !errors.Is(err, faultstore.ErrInjected) {
					t.Fatalf("Compact = %v, want the injected error", err)
				}
				if s := db.Stats(); s.L0Tables != 4 || s.SortedRuns != 0 {
					t.Fatalf("a failed compaction changed the tree: %+v", s)
				}
				_, err = db.Compact(ctx, true)
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Fired() != 1 {
				t.Fatalf("fault fired %d times", h.Fired())
			}
			if s := db.Stats(); s.L0Tables != 0 || s.SortedRuns != 1 {
				t.Fatalf("after compaction: l0=%d runs=%d", s.L0Tables, s.SortedRuns)
			}
			got := scanAll(t, db, nil, nil)
			if len(got) != len(want) {
				t.Fatalf("scan has %d keys, want %d", len(got), len(want))
			}
			if err := db.Close(ctx); err != nil {
				t.Fatal(err)
			}
			reopenAndCheck(t, faulty, want)
		})
	}
}

func TestCorruptObjects(t *testing.T) {
	ctx := context.Background()
	t.Run("wal", func(t *testing.T) {
		store := objstore.NewMemory()
		db := mustOpen(t, store, smallOptions())
		if err := db.Put(ctx, []byte("k"), []byte("v"), WriteOptions{AwaitDurable: true}); err != nil {
			t.Fatal(err)
		}
		db.kill()
		var victim string
		objs, err := listAll(ctx, store, walPrefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if o.Size > 21 {
				victim = o.Key
			}
		}
		if victim == "" {
			t.Fatalf("no WAL object holds a batch: %v", objs)
		}
		data, err := store.Get(ctx, victim)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)-1] ^= 1
		if err := store.Put(ctx, victim, data); err != nil {
			t.Fatal(err)
		}
		_, err = Open(ctx, store, smallOptions())
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), victim) {
			t.Fatalf("Open over a corrupt WAL object = %v, want ErrCorrupt naming %s", err, victim)
		}
	})
	t.Run("sst", func(t *testing.T) {
		store := objstore.NewMemory()
		opts := smallOptions()
		opts.BlockCacheBytes = -1
		opts.MemtableBytes = 1 << 20
		db := mustOpen(t, store, opts)
		defer db.Close(ctx)
		for i := 0; i < 200; i++ {
			if err := db.Put(ctx, []byte(fmt.Sprintf("k%03d", i)), []byte("value"), WriteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.FlushMemtable(ctx); err != nil {
			t.Fatal(err)
		}
		sst := tableKey(db.v.Load().l0[0].meta.ID)
		data, err := store.Get(ctx, sst)
		if err != nil {
			t.Fatal(err)
		}
		data[10] ^= 0xff // inside the first data block
		if err := store.Put(ctx, sst, data); err != nil {
			t.Fatal(err)
		}
		_, err = db.Get(ctx, []byte("k000"))
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), sst) {
			t.Fatalf("Get from a corrupt SST = %v, want ErrCorrupt naming %s", err, sst)
		}
		it, err := db.NewIterator(ctx, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for it.Next() {
		}
		if err := it.Close(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("scan over a corrupt SST = %v, want ErrCorrupt", err)
		}
	})
}

// TestBackpressure: with SST uploads stalled, writers stop at
// MaxUnflushedBytes instead of growing memory without bound, and go on once
// uploads resume.
func TestBackpressure(t *testing.T) {
	ctx := context.Background()
	faulty := faultstore.New(objstore.NewMemory(), faultstore.Options{})
	opts := smallOptions()
	opts.MemtableBytes = 8 << 10
	opts.MaxUnflushedBytes = 32 << 10
	db := mustOpen(t, faulty, opts)
	defer db.Close(ctx)
	stall := faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPut}, Key: prefixed(tablePrefix), Action: faultstore.DelayOnly, Latency: 200 * time.Millisecond})
	value := make([]byte, 1000)
	shortCtx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	var err error
	written := 0
	for i := 0; i < 1000 && err == nil; i++ {
		err = db.Put(shortCtx, []byte(fmt.Sprintf("k%04d", i)), value, WriteOptions{})
		if err == nil {
			written++
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("writes with stalled uploads ended with %v after %d writes, want backpressure until the deadline", err, written)
	}
	if s := db.Stats(); s.MemtableBytes+s.ImmutableBytes > opts.MaxUnflushedBytes+int64(opts.MemtableBytes)+4096 {
		t.Fatalf("unflushed memtables hold %d bytes, limit %d", s.MemtableBytes+s.ImmutableBytes, opts.MaxUnflushedBytes)
	}
	stall.Remove()
	for i := 0; i < 200; i++ {
		if err := db.Put(ctx, []byte(fmt.Sprintf("later%04d", i)), value, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if db.Stats().BackpressureWaits == 0 {
		t.Fatal("no backpressure wait was counted")
	}
}

// TestBackgroundGCSettles: background GC collects, then stops issuing
// requests once nothing is left to collect and nothing changes.
func TestBackgroundGCSettles(t *testing.T) {
	ctx := context.Background()
	opts := smallOptions()
	opts.GCInterval = 5 * time.Millisecond
	opts.GCMinAge = time.Nanosecond
	db := mustOpen(t, objstore.NewMemory(), opts)
	defer db.Close(ctx)
	for i := 0; i < 300; i++ {
		if err := db.Put(ctx, []byte(fmt.Sprintf("k%03d", i%50)), []byte(strings.Repeat("v", 100)), WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Compact(ctx, true); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for db.Stats().GCDeletedObjects == 0 {
		if time.Now().After(deadline) {
			t.Fatal("background GC never collected anything")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Once settled, many GC intervals pass without a single request.
	for {
		before := db.Stats().Requests.Total().Requests
		time.Sleep(20 * opts.GCInterval)
		if db.Stats().Requests.Total().Requests == before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("background GC keeps making requests on an idle database")
		}
	}
}

// concurrently runs fn(0..n-1) in n goroutines and returns their errors joined.
func concurrently(n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// TestFlushMemtableUnderSteadyWrites: FlushMemtable waits for the memtables
// frozen when it was called, not for a moment with no frozen memtable at
// all. Writers that never pause keep freezing new memtables while slow SST
// uploads keep the flusher behind, so waiting for "none left" never ends.
func TestFlushMemtableUnderSteadyWrites(t *testing.T) {
	ctx := context.Background()
	faulty := faultstore.New(objstore.NewMemory(), faultstore.Options{})
	opts := smallOptions()
	opts.MemtableBytes = 4 << 10
	opts.MaxUnflushedBytes = 64 << 10
	db := mustOpen(t, faulty, opts)
	defer db.Close(ctx)
	faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPut}, Key: prefixed(tablePrefix), Action: faultstore.DelayOnly, Latency: 20 * time.Millisecond})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErr atomic.Value
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := db.Put(ctx, []byte(fmt.Sprintf("w%d-%06d", w, i)), bytes.Repeat([]byte{'v'}, 200), WriteOptions{}); err != nil {
					writeErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()
	for db.Stats().ImmutableMemtables == 0 {
		time.Sleep(time.Millisecond) // until the flusher is behind the writers
	}
	for round := 0; round < 3; round++ {
		before := db.Stats().L0Flushes
		// The bound is a liveness guard far above a flush's cost (a few
		// 20 ms uploads), not a speed assertion.
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := db.FlushMemtable(fctx)
		cancel()
		if err != nil {
			t.Fatalf("round %d: FlushMemtable under steady writes: %v (frozen memtables now: %d)", round, err, db.Stats().ImmutableMemtables)
		}
		t.Logf("round %d: flushes %d -> %d, frozen %d", round, before, db.Stats().L0Flushes, db.Stats().ImmutableMemtables)
	}
	if err, _ := writeErr.Load().(error); err != nil {
		t.Fatal(err)
	}
}
