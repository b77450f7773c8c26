package lsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

// kibValue is the 1 KiB value of key at version v; it names both.
func kibValue(key string, v int) []byte {
	unit := fmt.Sprintf("%s@%d;", key, v)
	return bytes.Repeat([]byte(unit), 1024/len(unit)+1)[:1024]
}

// valueGCFixture is a database whose values lie in two WAL objects, 90% of
// them overwritten since, and compacted into one run: the next GC round
// runs a value compaction that relocates the live tenth of both.
type valueGCFixture struct {
	db      *DB
	mem     *objstore.Memory
	faulty  *faultstore.Store
	clock   *testenv.Clock
	logs    *testenv.SyncBuffer
	opts    Options
	keys    []string
	version map[string]int
	// walKeys are the two WAL objects of the first versions; tables the
	// SSTs the store held before any GC round.
	walKeys [2]string
	tables  []string
}

func newValueGCFixture(t *testing.T) *valueGCFixture {
	t.Helper()
	ctx := context.Background()
	f := &valueGCFixture{
		clock:   testenv.NewClock(time.Unix(1_800_000_000, 0)),
		logs:    new(testenv.SyncBuffer),
		keys:    keyList(80),
		version: map[string]int{},
	}
	f.mem = objstore.NewMemoryClock(f.clock.Now)
	f.faulty = faultstore.New(f.mem, faultstore.Options{})
	f.opts = valueOptions()
	f.opts.GCMinAge = time.Hour
	f.opts.Now = f.clock.Now
	f.opts.Logger = logTo(f.logs)
	f.db = mustOpen(t, f.faulty, f.opts)
	t.Cleanup(func() { f.db.Close(ctx) })
	for half := range 2 {
		before := objectsUnder(t, f.mem, walPrefix)
		b := NewBatch()
		for _, k := range f.keys[half*40 : half*40+40] {
			b.Put([]byte(k), kibValue(k, 1))
			f.version[k] = 1
		}
		if err := f.db.Write(ctx, b, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := f.db.FlushWAL(ctx); err != nil {
			t.Fatal(err)
		}
		var added []string
		for _, k := range objectsUnder(t, f.mem, walPrefix) {
			if !slices.Contains(before, k) {
				added = append(added, k)
			}
		}
		if len(added) != 1 {
			t.Fatalf("batch %d went to WAL objects %v, want one", half, added)
		}
		f.walKeys[half] = added[0]
	}
	if err := f.db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	for i, k := range f.keys {
		if i%10 == 0 {
			continue
		}
		if err := f.db.Put(ctx, []byte(k), kibValue(k, 2), WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		f.version[k] = 2
	}
	if err := f.db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Compact(ctx, true); err != nil {
		t.Fatal(err)
	}
	f.tables = objectsUnder(t, f.mem, tablePrefix)
	if len(f.tables) != 3 {
		t.Fatalf("SSTs %v; want two replaced L0 SSTs and the run", f.tables)
	}
	return f
}

// damage flips a byte in the middle of the stored value of key at version
// v, in the one WAL object that holds it, and returns that object.
func (f *valueGCFixture) damage(t *testing.T, key string, v int) string {
	t.Helper()
	ctx := context.Background()
	value := kibValue(key, v)
	var damaged string
	for _, k := range objectsUnder(t, f.mem, walPrefix) {
		data, err := f.mem.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(data, value); i >= 0 {
			data = bytes.Clone(data)
			data[i+len(value)/2] ^= 0x40
			if err := f.mem.Put(ctx, k, data); err != nil {
				t.Fatal(err)
			}
			damaged = k
		}
	}
	if damaged == "" {
		t.Fatalf("%s@%d is in no WAL object", key, v)
	}
	return damaged
}

// check reads every key: the damaged one (if any) as ErrCorrupt, the
// others with their values.
func (f *valueGCFixture) check(t *testing.T, db *DB, damaged string) {
	t.Helper()
	for _, k := range f.keys {
		got, err := db.Get(context.Background(), []byte(k))
		if k == damaged {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Get of the damaged %s = %.20q, %v; want ErrCorrupt", k, got, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, kibValue(k, f.version[k])) {
			t.Fatalf("Get(%s) = %.20q, %v; want version %d", k, got, err, f.version[k])
		}
	}
}

// TestValueCompactionSkipsAnUnreadableValue: a live value whose stored
// bytes fail their checksum stopped every value compaction, and with it
// the GC round before it deleted anything: garbage was never collected
// again. The value is now left where it is (its object stays referenced),
// the rest is relocated, the round deletes what is garbage, and the next
// round does not try the damaged object again.
func TestValueCompactionSkipsAnUnreadableValue(t *testing.T) {
	ctx := context.Background()
	f := newValueGCFixture(t)
	const victim = "key-0050" // live at version 1, in the later WAL object
	damaged := f.damage(t, victim, 1)
	if damaged != f.walKeys[1] {
		t.Fatalf("damaged %s, want the later WAL object %s", damaged, f.walKeys[1])
	}
	f.clock.Advance(2 * f.opts.GCMinAge)
	res, err := f.db.RunGC(ctx)
	if err != nil {
		t.Fatalf("GC with an unreadable value: %v", err)
	}
	if !res.ValueCompaction {
		t.Fatalf("GC = %+v; want a value compaction", res)
	}
	stored := objectsUnder(t, f.mem, tablePrefix)
	for _, k := range f.tables {
		if slices.Contains(stored, k) {
			t.Fatalf("replaced SST %s is still stored after GC (%+v)", k, res)
		}
	}
	wals := objectsUnder(t, f.mem, walPrefix)
	if slices.Contains(wals, f.walKeys[0]) || !slices.Contains(wals, f.walKeys[1]) {
		t.Fatalf("WAL objects %v after GC; want %s relocated and deleted, the damaged %s kept", wals, f.walKeys[0], f.walKeys[1])
	}
	f.check(t, f.db, victim)
	if n := f.db.Stats().UnreadableValues; n != 1 {
		t.Fatalf("Stats.UnreadableValues = %d, want 1", n)
	}
	values := objectsUnder(t, f.mem, valuePrefix)
	for range 2 {
		res, err := f.db.RunGC(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.ValueCompaction {
			t.Fatalf("GC again = %+v; want no value compaction for the damaged object's garbage", res)
		}
	}
	if again := objectsUnder(t, f.mem, valuePrefix); len(again) > len(values) {
		t.Fatalf("value objects %v after more GC rounds, %v before", again, values)
	}
	n := 0
	for _, line := range strings.Split(f.logs.String(), "\n") {
		if strings.Contains(line, damaged) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d log lines name %s, want one; log:\n%s", n, damaged, f.logs.String())
	}
	f.check(t, f.db, victim)
}

// TestValueCompactionRetriesAFailedRead: a value compaction that could not
// read an object because the request failed (the store down past its
// retries) left that object out for an hour, as if it were damaged, and
// its garbage with it. A failed read is now tried again after
// failedReadRetry; a damaged object still waits unreadableRetry.
func TestValueCompactionRetriesAFailedRead(t *testing.T) {
	tests := []struct {
		name string
		// spoil makes the later WAL object unreadable to the first round.
		spoil func(t *testing.T, f *valueGCFixture)
		wait  time.Duration
	}{
		{"read fails once", func(t *testing.T, f *valueGCFixture) {
			f.faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpGet},
				Key: func(k string) bool { return k == f.walKeys[1] }, Times: 1})
		}, failedReadRetry},
		{"damaged", func(t *testing.T, f *valueGCFixture) { f.damage(t, "key-0050", 1) }, unreadableRetry},
		{"the store finds it damaged", func(t *testing.T, f *valueGCFixture) {
			f.faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpGet},
				Key: func(k string) bool { return k == f.walKeys[1] }, Err: objstore.ErrCorrupt})
		}, unreadableRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newValueGCFixture(t)
			tt.spoil(t, f)
			f.clock.Advance(2 * f.opts.GCMinAge)
			gc := func() GCResult {
				t.Helper()
				res, err := f.db.RunGC(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return res
			}
			stored := func() bool {
				return slices.Contains(objectsUnder(t, f.mem, walPrefix), f.walKeys[1])
			}
			if res := gc(); !res.ValueCompaction || !stored() {
				t.Fatalf("first GC = %+v, %s stored %v; want a value compaction that keeps it", res, f.walKeys[1], stored())
			}
			first := f.db.Stats().UnreadableValues
			if first == 0 {
				t.Fatal("first GC counted no unreadable value")
			}
			f.clock.Advance(failedReadRetry)
			res := gc()
			if tt.wait == failedReadRetry {
				if !res.ValueCompaction || stored() {
					t.Fatalf("GC %v later = %+v, %s stored %v; want it relocated and deleted", failedReadRetry, res, f.walKeys[1], stored())
				}
				f.check(t, f.db, "")
				return
			}
			if res.ValueCompaction || !stored() {
				t.Fatalf("GC %v later = %+v; want the damaged object left out for %v", failedReadRetry, res, unreadableRetry)
			}
			f.clock.Advance(unreadableRetry - failedReadRetry)
			if res := gc(); !res.ValueCompaction || !stored() {
				t.Fatalf("GC %v later = %+v, %s stored %v; want the damaged object tried again, and kept", unreadableRetry, res, f.walKeys[1], stored())
			}
			if n := f.db.Stats().UnreadableValues; n != 2*first {
				t.Fatalf("Stats.UnreadableValues = %d, want %d: the %d values left at the first try, counted again", n, 2*first, first)
			}
		})
	}
}

// TestFailedValueCompactionLeavesNoObjects: a value compaction that failed
// stopped its GC round before it deleted anything, and left the value
// objects it had written to be collected only by a later round that
// succeeded. Now the round still deletes what is garbage; what the failed
// compaction wrote goes at once when it failed before trying its manifest
// update, and stays when that manifest may have landed (it names them).
func TestFailedValueCompactionLeavesNoObjects(t *testing.T) {
	tests := []struct {
		name  string
		fault faultstore.Fault
		// landed: the manifest naming the value objects is in the store.
		landed bool
	}{
		{"output SST PUT fails", faultstore.Fault{Ops: []objstore.Op{objstore.OpPut}, Key: prefixed(tablePrefix), Action: faultstore.FailBefore, Times: 1}, false},
		{"manifest PUT answer lost", faultstore.Fault{Ops: []objstore.Op{objstore.OpPutIfAbsent}, Key: prefixed(manifestPrefix), Action: faultstore.FailAfter, Times: 1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			f := newValueGCFixture(t)
			f.clock.Advance(2 * f.opts.GCMinAge)
			h := f.faulty.Inject(tt.fault)
			res, err := f.db.RunGC(ctx)
			if !errors.Is(err, faultstore.ErrInjected) || h.Fired() != 1 {
				t.Fatalf("GC = %+v, %v (fault fired %d times); want the injected error", res, err, h.Fired())
			}
			h.Remove()
			if res.Tables == 0 {
				t.Fatalf("GC = %+v; want the SSTs the earlier compaction replaced deleted all the same", res)
			}
			values := objectsUnder(t, f.mem, valuePrefix)
			if tt.landed != (len(values) > 0) {
				t.Fatalf("value objects %v after the failed value compaction; want them iff its manifest landed (%v)", values, tt.landed)
			}
			f.check(t, f.db, "")
			// Later rounds neither lose what a landed manifest names nor
			// leave more than one value object. (A writer whose manifest
			// landed unanswered learns of it at its next update, which
			// finds the inputs of its plan replaced: that one fails.)
			for range 2 {
				f.clock.Advance(2 * f.opts.GCMinAge)
				if _, err := f.db.RunGC(ctx); err != nil && !(tt.landed && errors.Is(err, errCompactionConflict)) {
					t.Fatal(err)
				}
			}
			if values := objectsUnder(t, f.mem, valuePrefix); len(values) != 1 {
				t.Fatalf("value objects %v after the next rounds, want one", values)
			}
			f.check(t, f.db, "")
			if err := f.db.Close(ctx); err != nil {
				t.Fatal(err)
			}
			re := mustOpen(t, f.mem, f.opts)
			defer re.Close(ctx)
			f.check(t, re, "")
		})
	}
}
