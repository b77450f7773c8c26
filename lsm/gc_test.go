package lsm

import (
	"context"
	"fmt"
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
