package lsm

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

// TestIteratorSnapshotUnderConcurrentWrites: writers move amounts between
// accounts in atomic batches, so the total never changes; concurrent
// iterators and gets must always see a consistent total, across memtable
// freezes, L0 flushes and compactions.
func TestIteratorSnapshotUnderConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t, objstore.NewMemory(), smallOptions())
	defer db.Close(ctx)
	const accounts = 50
	const initial = 1000
	enc := func(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }
	var b Batch
	for i := 0; i < accounts; i++ {
		b.Put([]byte(fmt.Sprintf("acct%03d", i)), enc(initial))
	}
	if err := db.Write(ctx, &b, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	iterations := 3000
	if testing.Short() {
		iterations = 500
	}
	var stop atomic.Bool
	var wg, writers sync.WaitGroup
	var mu sync.Mutex // serializes read-modify-write of balances between writers
	for w := 0; w < 2; w++ {
		writers.Add(1)
		go func(seed uint64) {
			defer writers.Done()
			r := rand.New(rand.NewPCG(seed, 1))
			for i := 0; i < iterations; i++ {
				a, c := r.IntN(accounts), r.IntN(accounts)
				if a == c {
					continue
				}
				ka, kc := []byte(fmt.Sprintf("acct%03d", a)), []byte(fmt.Sprintf("acct%03d", c))
				mu.Lock()
				va, err1 := db.Get(ctx, ka)
				vc, err2 := db.Get(ctx, kc)
				if err1 != nil || err2 != nil {
					mu.Unlock()
					t.Errorf("Get: %v %v", err1, err2)
					return
				}
				amt := int64(r.IntN(10))
				var wb Batch
				wb.Put(ka, enc(int64(binary.BigEndian.Uint64(va))-amt))
				wb.Put(kc, enc(int64(binary.BigEndian.Uint64(vc))+amt))
				// Filler to force freezes and flushes.
				wb.Put([]byte(fmt.Sprintf("filler%06d", r.IntN(5000))), make([]byte, 200))
				err := db.Write(ctx, &wb, WriteOptions{})
				mu.Unlock()
				if err != nil {
					t.Errorf("Write: %v", err)
					return
				}
			}
		}(uint64(w))
	}
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				it, err := db.NewIterator(ctx, []byte("acct"), []byte("acct~"))
				if err != nil {
					t.Error(err)
					return
				}
				var sum int64
				n := 0
				for it.Next() {
					sum += int64(binary.BigEndian.Uint64(it.Value()))
					n++
				}
				if err := it.Close(); err != nil {
					t.Error(err)
					return
				}
				if n != accounts || sum != accounts*initial {
					t.Errorf("snapshot saw %d accounts with total %d, want %d and %d", n, sum, accounts, accounts*initial)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if _, err := db.Compact(ctx, true); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	writers.Wait()
	// Flush and compact while the readers still run.
	if err := db.FlushMemtable(ctx); err != nil {
		t.Error(err)
	}
	if _, err := db.Compact(ctx, true); err != nil {
		t.Error(err)
	}
	stop.Store(true)
	wg.Wait()
	s := db.Stats()
	if s.L0Flushes == 0 || s.Compactions == 0 {
		t.Errorf("the test did not exercise flushes and compactions: %+v", s)
	}
}

// TestConcurrentAwaitedWritesSurviveCrash: many writers await durability
// while the store crashes (before or after a write lands); after reopening,
// every acknowledged write is there.
func TestConcurrentAwaitedWritesSurviveCrash(t *testing.T) {
	ctx := context.Background()
	for _, action := range []faultstore.Action{faultstore.CrashBefore, faultstore.CrashAfter} {
		t.Run(fmt.Sprint(action), func(t *testing.T) {
			faulty := faultstore.New(objstore.NewMemory(), faultstore.Options{})
			db := mustOpen(t, faulty, smallOptions())
			faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPut, objstore.OpPutIfAbsent}, Action: action, Skip: 40, Times: 1})
			var mu sync.Mutex
			var acked []string
			var wg sync.WaitGroup
			for w := 0; w < 16; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 5000; i++ {
						k := fmt.Sprintf("w%02d-%05d", w, i)
						if err := db.Put(ctx, []byte(k), []byte(k), WriteOptions{AwaitDurable: true}); err != nil {
							return // the store crashed
						}
						mu.Lock()
						acked = append(acked, k)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if !faulty.Crashed() {
				t.Fatal("the crash fault never fired")
			}
			db.kill()
			faulty.Restart()
			faulty.ClearFaults()
			db2 := mustOpen(t, faulty, smallOptions())
			defer db2.Close(ctx)
			for _, k := range acked {
				if got, err := db2.Get(ctx, []byte(k)); err != nil || string(got) != k {
					t.Fatalf("acknowledged write %s lost after the crash: %q, %v", k, got, err)
				}
			}
			t.Logf("%d acknowledged writes survived", len(acked))
		})
	}
}
