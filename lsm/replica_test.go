package lsm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

const replicaKeys = 10

// writeRound sets every key k0..k9 to round r in one batch, with a little
// padding so that memtables fill and flush.
func writeRound(ctx context.Context, db *DB, r int) error {
	var b Batch
	for k := 0; k < replicaKeys; k++ {
		b.Put([]byte(fmt.Sprintf("k%d", k)), []byte(fmt.Sprintf("%08d|%s", r, strings.Repeat("p", 300))))
	}
	// A key that is deleted again and again makes compactions drop data.
	if r%2 == 0 {
		b.Delete([]byte("flip"))
	} else {
		b.Put([]byte("flip"), []byte(fmt.Sprint(r)))
	}
	return db.Write(ctx, &b, WriteOptions{})
}

// readRound reads every key through one view and checks they agree (a
// batch is never seen in part); it returns the round.
// waitForRound waits until rep serves round want, checking every poll, and
// fails the test after timeout.
func waitForRound(t *testing.T, ctx context.Context, rep *Replica, want int, timeout, poll time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		vw, err := rep.View()
		if err != nil {
			t.Fatal(err)
		}
		r, err := readRound(ctx, vw)
		vw.Release()
		if err != nil {
			t.Fatal(err)
		}
		if r == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica serves round %d, waiting for %d", r, want)
		}
		time.Sleep(poll)
	}
}

func readRound(ctx context.Context, vw *View) (int, error) {
	round := -1
	for k := 0; k < replicaKeys; k++ {
		v, err := vw.Get(ctx, []byte(fmt.Sprintf("k%d", k)))
		if err != nil {
			return 0, fmt.Errorf("get k%d at manifest %d: %w", k, vw.ManifestID(), err)
		}
		var r int
		fmt.Sscanf(string(v[:8]), "%d", &r)
		if round >= 0 && r != round {
			return 0, fmt.Errorf("torn state at manifest %d: k0..k%d at round %d, k%d at round %d", vw.ManifestID(), k-1, round, k, r)
		}
		round = r
	}
	it, err := vw.NewIterator(ctx, []byte("k"), []byte("l"))
	if err != nil {
		return 0, err
	}
	defer it.Close()
	n := 0
	for it.Next() {
		var r int
		fmt.Sscanf(string(it.Value()[:8]), "%d", &r)
		if r != round {
			return 0, fmt.Errorf("iterator at manifest %d: %s at round %d, Get saw %d", vw.ManifestID(), it.Key(), r, round)
		}
		n++
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("iterator at manifest %d: %w", vw.ManifestID(), err)
	}
	if n != replicaKeys {
		return 0, fmt.Errorf("iterator saw %d keys", n)
	}
	return round, nil
}

// TestReplicaWhileWriterCollects: a replica reads, through views some of
// which it holds for a while, while the writer writes, flushes, compacts
// and collects with no grace at all (GCMinAge 1ns, GC after every round):
// the replica's lease keeps what it reads, so it never fails, never sees a
// batch in part, never goes back, catches up, and never fences the writer.
func TestReplicaWhileWriterCollects(t *testing.T) {
	testReplicaWhileWriterCollects(t, objstore.NewMemory(), 300)
}

// TestReplicaWhileWriterCollectsS3: the same on a real S3 server, whose
// listing's modification times age the leases.
func TestReplicaWhileWriterCollectsS3(t *testing.T) {
	testReplicaWhileWriterCollects(t, testenv.S3Store(t), 100)
}

func testReplicaWhileWriterCollects(t *testing.T, store objstore.Store, rounds int) {
	ctx := context.Background()
	opts := smallOptions()
	opts.GCMinAge = time.Nanosecond
	opts.L0CompactionTrigger = 2
	opts.MemtableBytes = 8 << 10
	w := mustOpen(t, store, opts)
	defer w.Close(ctx)
	if err := writeRound(ctx, w, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	const poll = 5 * time.Millisecond
	rep, err := OpenReplica(ctx, store, ReplicaOptions{ID: "replica-1", Poll: poll, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close(ctx)

	var last atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	var reads atomic.Int64
	for reader := 0; reader < 3; reader++ {
		wg.Go(func() {
			prev := 0
			for {
				select {
				case <-done:
					return
				default:
				}
				vw, err := rep.View()
				if err != nil {
					errs <- err
					return
				}
				r, err := readRound(ctx, vw)
				if err == nil && reader == 0 {
					// Hold this view while the writer moves on and collects.
					time.Sleep(20 * time.Millisecond)
					if r2, err2 := readRound(ctx, vw); err2 != nil || r2 != r {
						err = fmt.Errorf("a held view changed or failed: round %d then %d, %v", r, r2, err2)
					}
				}
				vw.Release()
				if err != nil {
					errs <- err
					return
				}
				if r < prev {
					errs <- fmt.Errorf("the replica went back from round %d to %d", prev, r)
					return
				}
				prev = r
				reads.Add(1)
			}
		})
	}
	var gcTables int
	for r := 1; r <= rounds; r++ {
		if err := writeRound(ctx, w, r); err != nil {
			t.Fatal(err)
		}
		if r%3 == 0 {
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if r%10 == 0 {
			if err := w.FlushMemtable(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := w.Compact(ctx, true); err != nil {
				t.Fatal(err)
			}
		}
		res, err := w.gc(ctx)
		if err != nil {
			t.Fatal(err)
		}
		gcTables += res.Tables
		last.Store(int64(r))
		time.Sleep(time.Millisecond)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Caught up: the deadline only stops a replica that never does (a loaded
	// machine may poll late; TestReplicaLag checks the lag itself).
	waitForRound(t, ctx, rep, rounds, time.Minute, poll)
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := rep.Stats()
	if st.Lag < 0 || st.LastRefresh.After(time.Now()) || st.Refreshes < 10 {
		t.Errorf("replica stats %+v", st)
	}
	if w.Stats().Fenced {
		t.Error("the replica fenced the writer")
	}
	if gcTables == 0 {
		t.Error("GC collected no SST: the test did not exercise it")
	}
	t.Logf("%d consistent reads by the replica; GC deleted %d SSTs; replica %d refreshes, %d failed", reads.Load(), gcTables, st.Refreshes, st.Failures)

	// Closing the replica drops its lease; GC then keeps only what the
	// writer needs.
	if err := rep.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Head(ctx, leaseKey("replica-1")); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("lease after Close: %v", err)
	}
}

// TestReplicaLag: the lag is the time on the replica's clock since its last
// successful refresh began: it grows with the clock, a refresh sets it back
// to zero at the clock's time, and a failed refresh leaves it growing.
func TestReplicaLag(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	w := mustOpen(t, store, smallOptions())
	defer w.Close(ctx)
	if err := writeRound(ctx, w, 1); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	// The poll never comes: the test refreshes by hand.
	faulty := faultstore.New(store, faultstore.Options{})
	rep, err := OpenReplica(ctx, faulty, ReplicaOptions{ID: "lag", Poll: time.Hour, Now: clock.Now, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close(ctx)
	check := func(what string, lastRefresh time.Time, lag time.Duration, refreshes, failures int64) {
		t.Helper()
		st := rep.Stats()
		if !st.LastRefresh.Equal(lastRefresh) || st.Lag != lag || st.Refreshes != refreshes || st.Failures != failures {
			t.Fatalf("%s: stats %+v, want last refresh %v, lag %v, %d refreshes", what, st, lastRefresh, lag, refreshes)
		}
	}
	opened := clock.Now()
	check("opened", opened, 0, 1, 0)

	clock.Advance(90 * time.Second)
	check("90 s later", opened, 90*time.Second, 1, 0)

	if err := writeRound(ctx, w, 2); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := rep.refresh(ctx); err != nil {
		t.Fatal(err)
	}
	refreshed := clock.Now()
	check("refreshed", refreshed, 0, 2, 0)
	waitForRound(t, ctx, rep, 2, time.Minute, time.Millisecond)

	// A refresh that fails keeps the state, and its refresh time.
	faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpList}})
	clock.Advance(time.Minute)
	if err := rep.refresh(ctx); err == nil {
		t.Fatal("a refresh with every List failing succeeded")
	}
	check("after a failed refresh", refreshed, time.Minute, 2, 0)
}

// TestReplicaLeaseExpires: the lease of a replica that stopped renewing
// (died) stops protecting its manifests after its TTL.
func TestReplicaLeaseExpires(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	opts := smallOptions()
	opts.GCMinAge = time.Nanosecond
	w := mustOpen(t, store, opts)
	defer w.Close(ctx)
	if err := writeRound(ctx, w, 0); err != nil {
		t.Fatal(err)
	}
	if err := w.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := OpenReplica(ctx, store, ReplicaOptions{ID: "dies", Poll: 50 * time.Millisecond, LeaseTTL: 200 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close(ctx)
	leased := rep.Stats().ManifestID
	// The replica hangs: it stops refreshing and renewing, keeping its state.
	rep.cancel()
	<-rep.done
	for r := 1; r <= 20; r++ {
		if err := writeRound(ctx, w, r); err != nil {
			t.Fatal(err)
		}
		if err := w.FlushMemtable(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Compact(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := w.gc(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Head(ctx, manifestKey(leased)); err != nil {
		t.Fatalf("leased manifest %d collected while the lease is live: %v", leased, err)
	}
	vw, err := rep.View()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := readRound(ctx, vw); err != nil {
		t.Fatalf("replica read under a live lease: %v", err)
	}
	vw.Release()
	time.Sleep(300 * time.Millisecond) // the lease expires
	if _, err := w.gc(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Head(ctx, manifestKey(leased)); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("manifest %d of an expired lease kept: %v", leased, err)
	}
}

// TestReplicaRereadsAWALObjectItCouldNotApply: a WAL object the replica
// read damaged (or could not read) is read again by the next refresh, not
// skipped: the replica never serves writes that come after a batch it
// left out.
func TestReplicaRereadsAWALObjectItCouldNotApply(t *testing.T) {
	tests := []struct {
		name   string
		action faultstore.Action
	}{
		{"corrupt", faultstore.Corrupt},
		{"truncated", faultstore.Truncate},
		{"failed", faultstore.FailBefore},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mem := objstore.NewMemory()
			opts := smallOptions()
			opts.MemtableBytes = 1 << 20 // the manifest stays put
			w := mustOpen(t, mem, opts)
			defer w.Close(ctx)
			if err := writeRound(ctx, w, 0); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			fs := faultstore.New(mem, faultstore.Options{})
			rep, err := OpenReplica(ctx, fs, ReplicaOptions{ID: "r", Poll: time.Hour, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer rep.Close(ctx)

			// One WAL object holds "once"; the replica's first read of it
			// goes wrong. Later objects hold round 1.
			if err := w.Put(ctx, []byte("once"), []byte("1"), WriteOptions{AwaitDurable: true}); err != nil {
				t.Fatal(err)
			}
			w.commitMu.Lock()
			onceWAL := w.lastSeal.id
			w.commitMu.Unlock()
			if err := writeRound(ctx, w, 1); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			fault := fs.Inject(faultstore.Fault{
				Ops: []objstore.Op{objstore.OpGet}, Key: func(k string) bool { return k == walKey(onceWAL) },
				Action: tc.action, Times: 1,
			})
			_ = rep.refresh(ctx) // may fail: the object is damaged
			if fault.Fired() != 1 {
				t.Fatalf("the fault fired %d times", fault.Fired())
			}
			if err := rep.refresh(ctx); err != nil {
				t.Fatalf("refresh after the fault: %v", err)
			}
			vw, err := rep.View()
			if err != nil {
				t.Fatal(err)
			}
			defer vw.Release()
			if r, err := readRound(ctx, vw); err != nil || r != 1 {
				t.Fatalf("replica at round %d (%v), want 1", r, err)
			}
			if v, err := vw.Get(ctx, []byte("once")); err != nil || string(v) != "1" {
				t.Fatalf("once = %q, %v: the replica serves round 1 without the batch before it", v, err)
			}
		})
	}
}

// TestReplicaFollowsARestore: a replica read by several goroutines while
// a restore rolls the database back to a checkpoint under a writer that
// goes on writing (and collecting) until the restore fences it, then while
// the writer opened again writes on, serves only whole states, in order:
// the old writer's, then the checkpoint's, then the new writer's. It never
// serves the old writer's state after the restored one, nor a mix.
func TestReplicaFollowsARestore(t *testing.T) {
	testReplicaFollowsARestore(t, objstore.NewMemory())
}

// TestReplicaFollowsARestoreS3: the same on a real S3 server.
func TestReplicaFollowsARestoreS3(t *testing.T) {
	testReplicaFollowsARestore(t, testenv.S3Store(t))
}

func testReplicaFollowsARestore(t *testing.T, store objstore.Store) {
	const (
		checkpointRound = 10
		newRounds       = 1000 // the reopened writer's rounds start here
	)
	ctx := context.Background()
	opts := smallOptions()
	opts.GCMinAge = time.Nanosecond
	opts.L0CompactionTrigger = 2
	opts.MemtableBytes = 8 << 10
	w := mustOpen(t, store, opts)
	defer w.Close(ctx)
	for r := 0; r <= checkpointRound; r++ {
		if err := writeRound(ctx, w, r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Checkpoint(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	// The replica's reads of objects are slowed down a little, so that its
	// refreshes overlap the restore's steps.
	slow := faultstore.New(store, faultstore.Options{Seed: 1})
	slow.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpGet}, Action: faultstore.DelayOnly, Latency: 200 * time.Microsecond, Probability: 0.5})
	rep, err := OpenReplica(ctx, slow, ReplicaOptions{ID: "replica-1", Poll: 2 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer rep.Close(ctx)

	// Readers check each View and the order of the states they see.
	var seen atomic.Int64 // highest round read before the restore
	done := make(chan struct{})
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for reader := 0; reader < 3; reader++ {
		wg.Go(func() {
			const (
				old = iota
				restored
				reopened
			)
			phase, prev := old, -1
			for {
				select {
				case <-done:
					return
				default:
				}
				vw, err := rep.View()
				if err != nil {
					errs <- err
					return
				}
				r, err := readRound(ctx, vw)
				vw.Release()
				if err != nil {
					errs <- err
					return
				}
				switch {
				case r >= newRounds && r >= prev:
					phase = reopened
				case phase == old && r >= prev:
				case phase == old && r == checkpointRound:
					phase = restored
				case phase == restored && r == checkpointRound:
				default:
					errs <- fmt.Errorf("the replica served round %d after round %d", r, prev)
					return
				}
				prev = r
				if phase == old && int64(r) > seen.Load() {
					seen.Store(int64(r))
				}
			}
		})
	}

	// The writer writes and collects until the restore fences it.
	fenced := make(chan error, 1)
	go func() {
		for r := checkpointRound + 1; ; r++ {
			err := writeRound(ctx, w, r)
			if err == nil && r%3 == 0 {
				err = w.Flush(ctx)
			}
			if err == nil {
				_, err = w.gc(ctx)
			}
			if err != nil {
				fenced <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	waitFor := func(want int) {
		t.Helper()
		waitForRound(t, ctx, rep, want, 10*time.Second, time.Millisecond)
	}
	for deadline := time.Now().Add(10 * time.Second); seen.Load() < checkpointRound+10; {
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica is at round %d, the writer past %d", seen.Load(), checkpointRound+10)
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := Restore(ctx, store, RestoreOptions{Checkpoint: "c", Undo: "undo", Logger: quietLogger()}); err != nil {
		t.Fatal(err)
	}
	if err := <-fenced; !errors.Is(err, ErrFenced) {
		t.Fatalf("the old writer stopped with %v, want ErrFenced", err)
	}
	w.Close(ctx)
	waitFor(checkpointRound) // the restored state, with nobody writing

	w2 := mustOpen(t, store, opts)
	defer w2.Close(ctx)
	const last = newRounds + 30
	for r := newRounds; r <= last; r++ {
		if err := writeRound(ctx, w2, r); err != nil {
			t.Fatal(err)
		}
		if err := w2.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if r%10 == 0 {
			if _, err := w2.Compact(ctx, true); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := w2.gc(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(last)
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if w2.Stats().Fenced {
		t.Error("the replica fenced the writer")
	}
}
