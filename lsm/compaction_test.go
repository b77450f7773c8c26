package lsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/lsm/manifest"
	"github.com/zerofs-go/zerofsd/objstore"
)

func TestPickCompaction(t *testing.T) {
	tbl := func(size int64) manifest.Table { return manifest.Table{Size: size} }
	run := func(id uint64, size int64) manifest.Run {
		return manifest.Run{ID: id, Tables: []manifest.Table{tbl(size)}}
	}
	cases := []struct {
		name       string
		m          manifest.Manifest
		trigger    int
		wantNil    bool
		wantRuns   int
		wantBottom bool
	}{
		{"below trigger", manifest.Manifest{L0: []manifest.Table{tbl(10)}}, 2, true, 0, false},
		{"no runs is bottom", manifest.Manifest{L0: []manifest.Table{tbl(10), tbl(10)}}, 2, false, 0, true},
		{"similar run joins", manifest.Manifest{L0: []manifest.Table{tbl(10), tbl(10)}, Runs: []manifest.Run{run(1, 30)}}, 2, false, 1, true},
		{"big run stays", manifest.Manifest{L0: []manifest.Table{tbl(10), tbl(10)}, Runs: []manifest.Run{run(1, 50), run(2, 1000)}}, 2, false, 0, false},
		{"cascade", manifest.Manifest{L0: []manifest.Table{tbl(10), tbl(10)}, Runs: []manifest.Run{run(1, 20), run(2, 70), run(3, 1000)}}, 2, false, 2, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := pickCompaction(&tc.m, tc.trigger)
			if (p == nil) != tc.wantNil {
				t.Fatalf("plan = %+v", p)
			}
			if p != nil && (len(p.runs) != tc.wantRuns || p.bottom != tc.wantBottom) {
				t.Fatalf("plan takes %d runs (bottom %v), want %d (bottom %v)", len(p.runs), p.bottom, tc.wantRuns, tc.wantBottom)
			}
		})
	}
}

// TestCompactionOverwritesAndTombstones builds a tree with versions of the
// same keys in a big sorted run, L0 SSTs and the memtable, and checks reads
// after a compaction into a run above the big one (tombstones must stay)
// and after a full compaction to the bottom (tombstones must go).
func TestCompactionOverwritesAndTombstones(t *testing.T) {
	ctx := context.Background()
	opts := smallOptions()
	opts.L0CompactionTrigger = 100
	opts.MemtableBytes = 1 << 20
	opts.TargetSSTBytes = 64 << 10
	opts.ValueThreshold = -1 // the big values make the bottom run big
	db := mustOpen(t, objstore.NewMemory(), opts)
	defer db.Close(ctx)
	put := func(k, v string) {
		if err := db.Put(ctx, []byte(k), []byte(v), WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	del := func(k string) {
		if err := db.Delete(ctx, []byte(k), WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	flush := func() {
		if err := db.FlushMemtable(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]string{}
	check := func(stage string) {
		t.Helper()
		for _, k := range []string{"a", "b", "c", "d", "e", "f"} {
			v, err := db.Get(ctx, []byte(k))
			w, ok := want[k]
			if ok && (err != nil || string(v) != w) || !ok && !errors.Is(err, ErrNotFound) {
				t.Fatalf("%s: Get(%s) = %q, %v; want %q (present %v)", stage, k, v, err, w, ok)
			}
		}
		if got := scanAll(t, db, nil, nil); len(got) != len(want) {
			t.Fatalf("%s: scan has %d keys, want %d", stage, len(got), len(want))
		}
	}
	tombstones := func(r *run) (n uint64) {
		for _, tb := range r.tables {
			rd, err := tb.open(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n += rd.Properties().NumDeletes
		}
		return n
	}
	// A big bottom run: a..d = 1 and bulk.
	for _, k := range []string{"a", "b", "c", "d"} {
		put(k, "1")
		want[k] = "1"
	}
	for i := 0; i < 20; i++ {
		k := fmt.Sprintf("z%02d", i)
		put(k, string(make([]byte, 20<<10)))
		want[k] = string(make([]byte, 20<<10))
	}
	flush()
	if _, err := db.Compact(ctx, true); err != nil {
		t.Fatal(err)
	}
	// Older L0: a=2, delete b. Newer L0: b=3, delete c. Memtable: delete a, e=4, f=5, delete f.
	put("a", "2")
	del("b")
	flush()
	put("b", "3")
	del("c")
	flush()
	del("a")
	put("e", "4")
	put("f", "5")
	del("f")
	want["b"], want["e"] = "3", "4"
	delete(want, "a")
	delete(want, "c")
	check("layered")

	flush()
	if _, err := db.Compact(ctx, true); err != nil {
		t.Fatal(err)
	}
	v := db.v.Load()
	if len(v.l0) != 0 || len(v.runs) != 2 {
		t.Fatalf("after compacting L0 above the big run: l0=%d runs=%d, want 0 and 2", len(v.l0), len(v.runs))
	}
	if n := tombstones(v.runs[0]); n == 0 {
		t.Fatal("a compaction above the bottom run dropped the tombstones that shadow it")
	}
	check("two runs")

	// Full compaction to the bottom.
	db.compactMu.Lock()
	db.manifestMu.Lock()
	m := db.man.Clone()
	db.manifestMu.Unlock()
	err := db.runCompaction(ctx, &compactionPlan{l0: m.L0, runs: m.Runs, bottom: true}, time.Now(), nil, nil)
	db.compactMu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	v = db.v.Load()
	if len(v.runs) != 1 {
		t.Fatalf("after the full compaction: %d runs", len(v.runs))
	}
	if n := tombstones(v.runs[0]); n != 0 {
		t.Fatalf("the bottom run holds %d tombstones", n)
	}
	if len(v.runs[0].tables) < 2 {
		t.Fatalf("the bottom run was not split at TargetSSTBytes: %d tables", len(v.runs[0].tables))
	}
	check("bottom")
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// damagedTree writes two L0 SSTs of the same 800 keys into store (about 20
// SSTs of 4 KiB once merged) and flips a byte in the last data block of the
// newer one, which a merge reaches last. It returns the database (open) and
// the damaged SST's key.
func damagedTree(t *testing.T, mem *objstore.Memory, opts Options) (*DB, string) {
	t.Helper()
	ctx := context.Background()
	db := mustOpen(t, mem, opts)
	const n = 800
	value := func(i, round int) []byte {
		return bytes.Repeat([]byte(fmt.Sprintf("v%d-%04d;", round, i)), 10)
	}
	for round := range 2 {
		for i := range n {
			if err := db.Put(ctx, []byte(fmt.Sprintf("k%04d", i)), value(i, round), WriteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.FlushMemtable(ctx); err != nil {
			t.Fatal(err)
		}
	}
	l0 := db.v.Load().l0
	if len(l0) != 2 {
		t.Fatalf("%d L0 SSTs, want 2", len(l0))
	}
	newest := tableKey(l0[0].meta.ID)
	data, err := mem.Get(ctx, newest)
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, value(n-1, 1))
	if i < 0 {
		t.Fatalf("the last value is not stored plain in %s", newest)
	}
	data[i] ^= 0x40
	if err := mem.Put(ctx, newest, data); err != nil {
		t.Fatal(err)
	}
	return db, newest
}

// damagedTreeOptions: compactions only when asked, 4 KiB output SSTs, no
// memory block cache (the damage is read from the store).
func damagedTreeOptions() Options {
	opts := smallOptions()
	opts.L0CompactionTrigger = 100
	opts.MemtableBytes = 1 << 20
	opts.TargetSSTBytes = 4 << 10
	opts.BlockCacheBytes = -1
	return opts
}

// TestFailedCompactionLeavesNoOutputs: a compaction whose input stays
// unreadable failed after it had uploaded most of its output SSTs, and
// left them to GC; retried every second or so, it filled the store with
// them. Outputs of a compaction that failed before it tried its manifest
// update are deleted at once.
func TestFailedCompactionLeavesNoOutputs(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	db, damaged := damagedTree(t, mem, damagedTreeOptions())
	defer db.Close(ctx)
	before := objectsUnder(t, mem, tablePrefix)
	for attempt := range 3 {
		_, err := db.Compact(ctx, true)
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), damaged) {
			t.Fatalf("compaction %d over a damaged SST = %v; want ErrCorrupt naming %s", attempt, err, damaged)
		}
		if after := objectsUnder(t, mem, tablePrefix); len(after) != len(before) {
			t.Fatalf("after failed compaction %d the store holds %d SSTs, %d before", attempt, len(after), len(before))
		}
	}
}

// TestCompactionLoopBacksOff: the background compaction retried a
// compaction that kept failing every 1.28s at most, forever. Its delay now
// keeps doubling (to a minute), and each attempt logs one line naming the
// object it could not read.
func TestCompactionLoopBacksOff(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	db, damaged := damagedTree(t, mem, damagedTreeOptions())
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var logs testenv.SyncBuffer
	opts := damagedTreeOptions()
	opts.L0CompactionTrigger = 2
	opts.Logger = logTo(&logs)
	db = mustOpen(t, mem, opts)
	defer db.Close(ctx)
	if err := db.Put(ctx, []byte("k"), []byte("v"), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := db.FlushMemtable(ctx); err != nil { // starts the compaction
		t.Fatal(err)
	}
	// The 9th attempt comes after 10ms+20ms+...+1.28s = 2.55s, and waits
	// twice the longest delay before.
	const attempts = 9
	var failures []string
	deadline := time.Now().Add(30 * time.Second)
	for len(failures) < attempts {
		if time.Now().After(deadline) {
			t.Fatalf("%d failed compactions logged in 30s, want %d; log:\n%s", len(failures), attempts, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
		failures = failures[:0]
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "compaction failed") {
				failures = append(failures, line)
			}
		}
	}
	for _, line := range failures {
		if !strings.Contains(line, damaged) {
			t.Fatalf("the log line of a failed compaction does not name %s: %s", damaged, line)
		}
	}
	if want := "retry_in=2.56s"; !strings.Contains(failures[attempts-1], want) {
		t.Fatalf("attempt %d logged %q; want %s", attempts, failures[attempts-1], want)
	}
}
