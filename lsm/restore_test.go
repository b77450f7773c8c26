package lsm

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/lsm/journal"
	"github.com/zerofs-go/zerofsd/lsm/journal/memfs"
	"github.com/zerofs-go/zerofsd/objstore"
)

func putMap(t *testing.T, db *DB, kv map[string]string) {
	t.Helper()
	for k, v := range kv {
		if err := db.Put(context.Background(), []byte(k), []byte(v), WriteOptions{AwaitDurable: true}); err != nil {
			t.Fatalf("Put %s: %v", k, err)
		}
	}
}

func wantState(t *testing.T, db *DB, want map[string]string, absent ...string) {
	t.Helper()
	checkAll(t, db, want)
	for _, k := range absent {
		if v, err := db.Get(context.Background(), []byte(k)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s = %q, %v; want absent", k, v, err)
		}
	}
}

// TestRestore: a restore from outside a running writer fences it, keeps
// the replaced state (WAL tail included) as the undo checkpoint, and
// leaves exactly the checkpoint's state; restoring the undo checkpoint
// brings the replaced state back.
func TestRestore(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	opts := smallOptions()
	w := mustOpen(t, store, opts)
	old := map[string]string{"k": "v1", "gone-later": "here"}
	putMap(t, w, old)
	if _, err := w.Checkpoint(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	// Changes after the checkpoint: some in SSTs, the last only in the WAL.
	putMap(t, w, map[string]string{"k": "v2", "new": "x"})
	if err := w.Delete(ctx, []byte("gone-later"), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := w.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	putMap(t, w, map[string]string{"wal-only": "y"})
	epoch := w.Stats().WriterEpoch

	if _, ok, err := FencedByRestore(ctx, store, epoch); ok || err != nil {
		t.Fatalf("FencedByRestore before any restore: %v, %v", ok, err)
	}
	if _, err := Restore(ctx, store, RestoreOptions{Checkpoint: "nope", Undo: "u", Logger: quietLogger()}); !errors.Is(err, ErrCheckpointNotFound) {
		t.Fatalf("restore of a missing checkpoint: %v", err)
	}
	if _, err := Restore(ctx, store, RestoreOptions{Checkpoint: "c1", Undo: "c1", Logger: quietLogger()}); err == nil {
		t.Fatal("restore with undo = checkpoint succeeded")
	}
	if w.Stats().Fenced {
		t.Fatal("a refused restore fenced the writer")
	}
	m, err := Restore(ctx, store, RestoreOptions{Checkpoint: "c1", Undo: "before-restore", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	// The running writer is fenced: its next write fails, its GC stops.
	if err := w.Put(ctx, []byte("late"), []byte("z"), WriteOptions{AwaitDurable: true}); !errors.Is(err, ErrFenced) {
		t.Fatalf("write after the restore: %v, want ErrFenced", err)
	}
	got, ok, err := FencedByRestore(ctx, store, epoch)
	if err != nil || !ok || got.Epoch != m.Epoch || got.Checkpoint != "c1" || got.Undo != "before-restore" || got.Epoch != epoch+1 {
		t.Fatalf("FencedByRestore = %+v, %v, %v; restore returned %+v", got, ok, err, m)
	}
	if _, ok, _ := FencedByRestore(ctx, store, m.Epoch); ok {
		t.Fatal("FencedByRestore of the restore's own epoch finds it")
	}
	// A writer fenced by another writer before the restore (two epochs
	// below it) was not fenced by the restore: it must not come back.
	if _, ok, _ := FencedByRestore(ctx, store, epoch-1); ok {
		t.Fatal("FencedByRestore of a writer two epochs below the restore finds it")
	}
	w.Close(ctx)

	// The writer opened again sees the checkpoint's state, and writes on.
	w2 := mustOpen(t, store, opts)
	wantState(t, w2, old, "new", "wal-only", "late")
	putMap(t, w2, map[string]string{"after": "1"})
	// The replaced state is kept, WAL tail included.
	undo, err := OpenReadOnly(ctx, store, ReadOnlyOptions{Checkpoint: "before-restore", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	wantState(t, undo, map[string]string{"k": "v2", "new": "x", "wal-only": "y"}, "gone-later", "late")
	undo.Close(ctx)
	// Compaction and GC of the restored database keep both checkpoints.
	if _, err := w2.Compact(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := w2.gc(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// Undo: restore the replaced state.
	if _, err := Restore(ctx, store, RestoreOptions{Checkpoint: "before-restore", Undo: "undo-2", Logger: quietLogger()}); err != nil {
		t.Fatal(err)
	}
	w3 := mustOpen(t, store, opts)
	defer w3.Close(ctx)
	wantState(t, w3, map[string]string{"k": "v2", "new": "x", "wal-only": "y"}, "gone-later", "after")
	c1, err := OpenReadOnly(ctx, store, ReadOnlyOptions{Checkpoint: "c1", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close(ctx)
	wantState(t, c1, old, "new")
	u2, err := OpenReadOnly(ctx, store, ReadOnlyOptions{Checkpoint: "undo-2", Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer u2.Close(ctx)
	wantState(t, u2, map[string]string{"k": "v1", "after": "1"}, "new")
}

// TestRestoreSetsAsideLocalJournal: the journal a fenced local-durability
// writer leaves is never applied on top of a restore: the writer opened
// again with the same journal directory serves exactly the restored state
// and sets the tail aside.
func TestRestoreSetsAsideLocalJournal(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	jfs := memfs.New(7)
	opts := localOptions(jfs, "/journal")
	var logs testenv.SyncBuffer
	opts.Logger = logTo(&logs)
	w := mustOpen(t, store, opts)
	old := putAwaited(t, w, "old", 5)
	if _, err := w.Checkpoint(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	// Acknowledged from the journal alone: the WAL ships once an hour.
	tail := putAwaited(t, w, "tail", 5)

	if _, err := Restore(ctx, store, RestoreOptions{Checkpoint: "c1", Undo: "undo", Logger: quietLogger()}); err != nil {
		t.Fatal(err)
	}
	// The writer learns it is fenced at its next WAL PUT; its close keeps
	// the tail in the journal.
	if err := w.FlushWAL(ctx); !errors.Is(err, ErrFenced) {
		t.Fatalf("FlushWAL after the restore: %v, want ErrFenced", err)
	}
	_ = w.Close(ctx)

	re := mustOpen(t, store, opts)
	defer re.Close(ctx)
	absent := make([]string, 0, len(tail))
	for k := range tail {
		absent = append(absent, k)
	}
	wantState(t, re, old, absent...)
	orphans, err := journal.ListOrphans(jfs, "/journal", nil)
	if err != nil || len(orphans) == 0 {
		t.Fatalf("orphans %+v, %v; want the fenced writer's tail set aside", orphans, err)
	}
	if !strings.Contains(logs.String(), "SET ASIDE") {
		t.Fatalf("the set-aside tail was not logged:\n%s", logs.String())
	}
}

// TestCheckFence: an idle writer learns of a restore (another epoch) from
// CheckFence, not only at its next write; a checkpoint made from outside
// (same epoch) fences nothing.
func TestCheckFence(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	w := mustOpen(t, store, smallOptions())
	defer w.Close(ctx)
	putMap(t, w, map[string]string{"k": "v"})
	if _, err := w.Checkpoint(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if err := w.CheckFence(ctx); err != nil {
		t.Fatalf("CheckFence with nothing new: %v", err)
	}
	if _, err := CreateCheckpoint(ctx, store, "outside"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := w.CheckFence(ctx); err != nil {
			t.Fatalf("CheckFence after an outside checkpoint: %v", err)
		}
	}
	if w.Stats().Fenced {
		t.Fatal("an outside checkpoint fenced the writer")
	}
	if _, err := Restore(ctx, store, RestoreOptions{Checkpoint: "c1", Undo: "u", Logger: quietLogger()}); err != nil {
		t.Fatal(err)
	}
	if err := w.CheckFence(ctx); !errors.Is(err, ErrFenced) {
		t.Fatalf("CheckFence after a restore: %v, want ErrFenced", err)
	}
	if !w.Stats().Fenced {
		t.Fatal("not fenced after CheckFence found the restore")
	}
}
