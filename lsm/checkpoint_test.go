package lsm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/objstore"
)

func TestCheckpointIsolation(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	opts := smallOptions()
	opts.GCMinAge = time.Nanosecond
	db := mustOpen(t, store, opts)
	defer db.Close(ctx)
	want := map[string]string{}
	for i := 0; i < 300; i++ {
		k, v := fmt.Sprintf("k%03d", i), fmt.Sprintf("v%d-%s", i, strings.Repeat("x", 50))
		want[k] = v
		db.Put(ctx, []byte(k), []byte(v), WriteOptions{})
	}
	info, err := db.Checkpoint(ctx, "snap1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Checkpoint(ctx, "snap1"); !errors.Is(err, ErrCheckpointExists) {
		t.Fatalf("duplicate checkpoint = %v", err)
	}
	// The writer goes on: overwrites, deletes, flushes, compactions, GC.
	for round := 0; round < 3; round++ {
		for i := 0; i < 300; i++ {
			k := fmt.Sprintf("k%03d", i)
			if i%3 == 0 {
				db.Delete(ctx, []byte(k), WriteOptions{})
			} else {
				db.Put(ctx, []byte(k), []byte(fmt.Sprintf("new%d%s", round, strings.Repeat("n", 100))), WriteOptions{})
			}
		}
		if err := db.FlushMemtable(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Compact(ctx, true); err != nil {
			t.Fatal(err)
		}
		if _, err := db.gc(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cps, err := db.ListCheckpoints(ctx)
	if err != nil || len(cps) != 1 || cps[0].Name != "snap1" || cps[0].ManifestID != info.ManifestID {
		t.Fatalf("ListCheckpoints = %+v, %v", cps, err)
	}

	ro, err := OpenReadOnly(ctx, store, ReadOnlyOptions{Checkpoint: "snap1", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	got := scanAll(t, ro, nil, nil)
	if len(got) != len(want) {
		t.Fatalf("checkpoint reader sees %d keys, want %d", len(got), len(want))
	}
	for k, v := range want {
		if g := mustGet(t, ro, k); g != v {
			t.Fatalf("checkpoint reader: %s = %q, want %q", k, g, v)
		}
	}
	if err := ro.Put(ctx, []byte("x"), nil, WriteOptions{}); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Put on a read-only database = %v", err)
	}
	ro.Close(ctx)

	// A reader following the latest state sees the writer's (flushed) data.
	latest, err := OpenReadOnly(ctx, store, ReadOnlyOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := latest.Get(ctx, []byte("k000")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("latest reader k000 = %v, want ErrNotFound", err)
	}
	if g := mustGet(t, latest, "k001"); g != "new2"+strings.Repeat("n", 100) {
		t.Fatalf("latest reader k001 = %q", g)
	}
	latest.Close(ctx)

	// Deleting the checkpoint makes its SSTs collectable.
	if err := db.DeleteCheckpoint(ctx, "snap1"); err != nil {
		t.Fatal(err)
	}
	res, err := db.gc(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Tables == 0 || res.Manifests == 0 {
		t.Fatalf("gc after deleting the checkpoint collected %+v", res)
	}
	if _, err := OpenReadOnly(ctx, store, ReadOnlyOptions{Checkpoint: "snap1"}); !errors.Is(err, ErrCheckpointNotFound) {
		t.Fatalf("open at a deleted checkpoint = %v", err)
	}
}

// TestGCSafety collects aggressively while iterators are open and checks
// that nothing referenced disappears.
func TestGCSafety(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	opts := smallOptions()
	opts.GCMinAge = time.Nanosecond
	db := mustOpen(t, store, opts)
	want := map[string]string{}
	var its []*Iterator
	for round := 0; round < 6; round++ {
		for i := 0; i < 200; i++ {
			k, v := fmt.Sprintf("k%03d", (i*7+round)%250), fmt.Sprintf("r%d-%d", round, i)
			want[k] = v
			db.Put(ctx, []byte(k), []byte(v), WriteOptions{})
		}
		if err := db.FlushMemtable(ctx); err != nil {
			t.Fatal(err)
		}
		if round%2 == 0 {
			it, _ := db.NewIterator(ctx, nil, nil)
			its = append(its, it) // pins the current SSTs
		}
		if _, err := db.Compact(ctx, true); err != nil {
			t.Fatal(err)
		}
		if _, err := db.gc(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i, it := range its {
		n := 0
		for it.Next() {
			n++
		}
		if err := it.Close(); err != nil {
			t.Fatalf("iterator %d over collected SSTs: %v", i, err)
		}
		if n == 0 {
			t.Fatalf("iterator %d saw nothing", i)
		}
	}
	res, err := db.gc(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wals, _ := listAll(ctx, store, walPrefix)
	if len(wals) > 3 {
		t.Fatalf("%d WAL objects left after gc (%+v)", len(wals), res)
	}
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	reopenAndCheck(t, store, want)
	// Every SST left is referenced.
	db2 := mustOpen(t, store, opts)
	defer db2.Close(ctx)
	ref := map[string]bool{}
	for _, id := range db2.man.TableIDs() {
		ref[id] = true
	}
	tables, _ := listAll(ctx, store, tablePrefix)
	for _, o := range tables {
		id, _ := parseTableKey(o.Key)
		if !ref[id] {
			t.Errorf("unreferenced SST %s survived gc", o.Key)
		}
	}
}

// TestExternalCheckpoint: a checkpoint made from outside the writer neither
// fences it nor loses its SSTs to the writer's compactions and GC.
func TestExternalCheckpoint(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	opts := smallOptions()
	opts.GCMinAge = time.Nanosecond
	db := mustOpen(t, store, opts)
	defer db.Close(ctx)
	for i := 0; i < 100; i++ {
		db.Put(ctx, []byte(fmt.Sprintf("k%03d", i)), []byte("old"), WriteOptions{})
	}
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateCheckpoint(ctx, store, "ext"); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateCheckpoint(ctx, store, "ext"); !errors.Is(err, ErrCheckpointExists) {
		t.Fatalf("second CreateCheckpoint = %v", err)
	}
	// GC before the writer has seen the checkpoint manifest.
	for i := 0; i < 100; i++ {
		db.Put(ctx, []byte(fmt.Sprintf("k%03d", i)), []byte(strings.Repeat("new", 40)), WriteOptions{})
	}
	if _, err := db.gc(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Compact(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := db.gc(ctx); err != nil {
		t.Fatal(err)
	}
	if db.Stats().Fenced {
		t.Fatal("an external checkpoint fenced the writer")
	}
	cps, _ := db.ListCheckpoints(ctx)
	if len(cps) != 1 || cps[0].Name != "ext" {
		t.Fatalf("writer's checkpoints = %+v", cps)
	}
	ro, err := OpenReadOnly(ctx, store, ReadOnlyOptions{Checkpoint: "ext", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if got := mustGet(t, ro, fmt.Sprintf("k%03d", i)); got != "old" {
			t.Fatalf("checkpoint k%03d = %q", i, got)
		}
	}
	ro.Close(ctx)
	if err := RemoveCheckpoint(ctx, store, "ext"); err != nil {
		t.Fatal(err)
	}
	if cps, _ := StoredCheckpoints(ctx, store); len(cps) != 0 {
		t.Fatalf("after RemoveCheckpoint: %+v", cps)
	}
	if err := db.Put(ctx, []byte("after"), []byte("x"), WriteOptions{AwaitDurable: true}); err != nil {
		t.Fatal(err)
	}
}

// TestCheckpointFromOutsideAfterAPause: CreateCheckpoint (zerofsd
// checkpoint create, beside a running writer) reads the latest manifest
// and writes the next id. If it paused long enough in between for the
// writer to move on and collect that id's manifest, its PUT landed in the
// freed id, below the writer's latest, and it reported a checkpoint that
// no manifest the writer reads holds. It now reads the latest manifest
// back and makes the change again on top of it.
func TestCheckpointFromOutsideAfterAPause(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	mem := objstore.NewMemoryClock(clock.Now)
	opts := smallOptions()
	opts.Now = clock.Now
	opts.GCMinAge = time.Hour
	w := mustOpen(t, mem, opts)
	defer w.Close(ctx)
	if err := w.Put(ctx, []byte("k"), []byte("v"), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := w.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	held := newHeldPut(mem, manifestPrefix)
	held.armed.Store(true)
	done := make(chan error, 1)
	go func() {
		_, err := CreateCheckpoint(ctx, held, "outside")
		done <- err
	}()
	<-held.entered // the checkpoint's PUT has begun, of the next id
	for i := range 3 {
		if err := w.Put(ctx, []byte(fmt.Sprintf("k%d", i)), []byte("v"), WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := w.FlushMemtable(ctx); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(2 * time.Hour)
	if _, err := w.RunGC(ctx); err != nil {
		t.Fatal(err)
	}
	close(held.release)
	if err := <-done; err != nil {
		t.Fatalf("CreateCheckpoint: %v", err)
	}
	cps, err := StoredCheckpoints(ctx, mem)
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != 1 || cps[0].Name != "outside" {
		t.Fatalf("checkpoints of the latest manifest: %+v, want the one just created", cps)
	}
}
