package lsm

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

// TestGCKeepsWhatALandedManifestNames: a manifest PUT that landed but
// whose answer was lost leaves the writer on its previous manifest while
// the store's latest, its own epoch's, names the compaction's output. GC
// took its view from the writer's manifest and honoured only the latest's
// checkpoints, so once the output was gc_min_age old it deleted the SSTs
// the store's current manifest names: the data was lost at the next open.
func TestGCKeepsWhatALandedManifestNames(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	mem := objstore.NewMemoryClock(clock.Now)
	faulty := faultstore.New(mem, faultstore.Options{})
	opts := smallOptions()
	opts.Now = clock.Now
	opts.GCMinAge = time.Hour
	opts.L0CompactionTrigger = 100 // compactions only when asked
	db := mustOpen(t, faulty, opts)
	want := map[string]string{}
	for round := range 3 {
		for i := range 20 {
			k, v := fmt.Sprintf("k%02d-%02d", round, i), fmt.Sprintf("v%d", round*100+i)
			if err := db.Put(ctx, []byte(k), []byte(v), WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			want[k] = v
		}
		if err := db.FlushMemtable(ctx); err != nil {
			t.Fatal(err)
		}
	}
	lost := faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPutIfAbsent}, Key: prefixed(manifestPrefix), Action: faultstore.FailAfter, Times: 1})
	if _, err := db.Compact(ctx, true); err == nil {
		t.Fatal("Compact succeeded although its manifest PUT's answer was lost")
	}
	lost.Remove()
	clock.Advance(2 * time.Hour)
	if _, err := db.RunGC(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	re := mustOpen(t, mem, opts)
	defer re.Close(ctx)
	for k, v := range want {
		if got, err := re.Get(ctx, []byte(k)); err != nil || string(got) != v {
			t.Fatalf("%s = %q, %v after the GC; want %q", k, got, err, v)
		}
	}
}

// renewOnGet is a store in which the replica renews its lease (replica's
// id) just as the writer's GC reads it, after listing it.
type renewOnGet struct {
	objstore.Store
	key  string
	body []byte
	once sync.Once
}

func (r *renewOnGet) Get(ctx context.Context, key string) ([]byte, error) {
	if key == r.key {
		r.once.Do(func() { _ = r.Store.Put(ctx, key, r.body) })
	}
	return r.Store.Get(ctx, key)
}

// TestLeaseRenewedWhileGCReadsIt: GC judged a lease's age by the time in
// its listing, then read it. A replica that had stalled for more than a
// day and renewed its lease in between lost it: GC deleted the fresh lease
// as dead, and did not protect the manifests it named.
func TestLeaseRenewedWhileGCReadsIt(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	mem := objstore.NewMemoryClock(clock.Now)
	key := leaseKey("replica-a")
	stale, err := json.Marshal(leaseBody{Manifests: []uint64{3}, TTLNanos: int64(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if err := mem.Put(ctx, key, stale); err != nil {
		t.Fatal(err)
	}
	clock.Advance(48 * time.Hour) // stalled for two days
	fresh, err := json.Marshal(leaseBody{Manifests: []uint64{9}, TTLNanos: int64(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := leasedManifests(ctx, &renewOnGet{Store: mem, key: key, body: fresh}, clock.Now(), quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(ids, 9) {
		t.Fatalf("leased manifests %v: the renewed lease's manifest 9 is not protected", ids)
	}
	if _, err := mem.Head(ctx, key); err != nil {
		t.Fatalf("the renewed lease was deleted: %v", err)
	}
}

// TestGCSkipsAnSSTALeasedManifestLost: a replica leases a manifest one of
// whose SSTs is gone (a compaction replaced it and GC removed it before
// the lease, or a replica whose lease lapsed renews it on an old state).
// GC skipped the missing manifest itself but not a missing SST of a
// present one: reading its value refs failed the whole round, so nothing
// was collected any more. A missing SST points at nothing GC must keep;
// the round now logs it and goes on.
func TestGCSkipsAnSSTALeasedManifestLost(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	mem := objstore.NewMemoryClock(clock.Now)
	var logs testenv.SyncBuffer
	opts := smallOptions()
	opts.Now = clock.Now
	opts.GCMinAge = time.Hour
	opts.L0CompactionTrigger = 100 // compactions only when asked
	opts.Logger = logTo(&logs)
	want := map[string]string{}
	db := mustOpen(t, mem, opts)
	round := func(r int) {
		t.Helper()
		for i := range 20 {
			k, v := fmt.Sprintf("k%02d", i), fmt.Sprintf("v%d-%d", r, i)
			if err := db.Put(ctx, []byte(k), []byte(v), WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			want[k] = v
		}
		if err := db.FlushMemtable(ctx); err != nil {
			t.Fatal(err)
		}
	}
	round(0)
	leased, err := latestManifestID(ctx, mem)
	if err != nil {
		t.Fatal(err)
	}
	m, err := readManifest(ctx, mem, leased)
	if err != nil || len(manifestTables(m)) != 1 {
		t.Fatalf("manifest %d: %v, %v; want one SST", leased, m, err)
	}
	lost := tableKey(manifestTables(m)[0].ID)
	round(1)
	if _, err := db.Compact(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	lease, err := json.Marshal(leaseBody{Manifests: []uint64{leased}, TTLNanos: int64(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if err := mem.Put(ctx, leaseKey("replica-a"), lease); err != nil {
		t.Fatal(err)
	}
	if err := mem.Delete(ctx, lost); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour) // round 1's SST is garbage old enough to go
	// A new writer: it has not read the lost SST's value refs.
	db = mustOpen(t, mem, opts)
	defer db.Close(ctx)
	res, err := db.RunGC(ctx)
	if err != nil {
		t.Fatalf("GC with a leased manifest missing an SST: %v", err)
	}
	if res.Tables == 0 {
		t.Fatalf("GC = %+v; want round 1's SST collected", res)
	}
	if !strings.Contains(logs.String(), lost) {
		t.Fatalf("GC did not log the missing %s; log:\n%s", lost, logs.String())
	}
	for k, v := range want {
		if got, err := db.Get(ctx, []byte(k)); err != nil || string(got) != v {
			t.Fatalf("%s = %q, %v after the GC; want %q", k, got, err, v)
		}
	}
}

// TestGCLoopCollectsWhatAPinHeld: the GC loop took a round for settled
// when the only objects it kept beyond the current manifest's were held
// by a live iterator or a replica's lease, and skipped every round after
// until the manifest changed. Releasing the iterator or the lease lapsing
// changed nothing, so an idle writer kept a compaction's inputs until its
// next flush. Such objects now keep the loop going until they are gone.
func TestGCLoopCollectsWhatAPinHeld(t *testing.T) {
	tests := []struct {
		name string
		// pin holds the current version (manifest id m) through the
		// compaction and returns what releases it.
		pin func(t *testing.T, db *DB, mem objstore.Store, clock *testenv.Clock, m uint64) (release func())
	}{
		{"iterator", func(t *testing.T, db *DB, _ objstore.Store, _ *testenv.Clock, _ uint64) func() {
			it, err := db.NewIterator(context.Background(), nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := it.Close(); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"replica lease", func(t *testing.T, _ *DB, mem objstore.Store, clock *testenv.Clock, m uint64) func() {
			lease, err := json.Marshal(leaseBody{Manifests: []uint64{m}, TTLNanos: int64(3 * time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if err := mem.Put(context.Background(), leaseKey("replica-a"), lease); err != nil {
				t.Fatal(err)
			}
			return func() { clock.Advance(4 * time.Hour) } // it lapses
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
			mem := objstore.NewMemoryClock(clock.Now)
			opts := smallOptions()
			opts.Now = clock.Now
			opts.GCMinAge = time.Hour
			opts.L0CompactionTrigger = 100 // compactions only when asked
			db := mustOpen(t, mem, opts)
			defer db.Close(ctx)
			for round := range 2 {
				for i := range 20 {
					if err := db.Put(ctx, []byte(fmt.Sprintf("k%02d", i)), []byte(fmt.Sprintf("v%d", round)), WriteOptions{}); err != nil {
						t.Fatal(err)
					}
				}
				if err := db.FlushMemtable(ctx); err != nil {
					t.Fatal(err)
				}
			}
			inputs := objectsUnder(t, mem, tablePrefix)
			m, err := latestManifestID(ctx, mem)
			if err != nil {
				t.Fatal(err)
			}
			release := tt.pin(t, db, mem, clock, m)
			if _, err := db.Compact(ctx, true); err != nil {
				t.Fatal(err)
			}
			clock.Advance(2 * opts.GCMinAge) // the inputs are old enough to go
			var st gcLoopState
			for range 3 {
				db.gcTick(ctx, &st)
			}
			stored := objectsUnder(t, mem, tablePrefix)
			for _, k := range inputs {
				if !slices.Contains(stored, k) {
					t.Fatalf("input %s was deleted while pinned", k)
				}
			}
			release()
			// The loop goes on and collects them within a few turns (a turn
			// may find a background flush's upload pending). Before, it
			// had settled and never looked again.
			gone := func() bool {
				stored := objectsUnder(t, mem, tablePrefix)
				for _, k := range inputs {
					if slices.Contains(stored, k) {
						return false
					}
				}
				return true
			}
			for turn := 0; !gone(); turn++ {
				if turn == 10 {
					t.Fatalf("inputs are still stored after their pin was released and the GC loop ran on for %d turns", turn)
				}
				clock.Advance(time.Minute)
				db.gcTick(ctx, &st)
			}
			// Nothing left for later: the loop settles again.
			db.gcTick(ctx, &st)
			if db.gcTick(ctx, &st) {
				t.Fatal("the GC loop keeps running rounds on an idle database with nothing pinned")
			}
		})
	}
}
