package exports_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/objstore"
)

// TestReplicaExport: a registry serving an export as a replica of the
// store another registry writes follows the writer, reports a lag that
// agrees with the clock, serves read-only, and never fences it.
func TestReplicaExport(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	wc := fileExport("a", filepath.Join(dir, "a"))
	w := open(t, testConfig(wc))
	live := fsOf(t, w, "a")
	writeFile(t, live, "first", "1")
	if err := live.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	rc := wc
	rc.Replica = true
	rc.ReplicaPoll = 10 * time.Millisecond
	opened := time.Now()
	r := open(t, testConfig(rc))
	exp, ok := r.ByPath("/a")
	if !ok || !exp.ReadOnly {
		t.Fatalf("replica export %+v", exp)
	}
	if exp.FS.FSID() != live.FSID() {
		t.Fatalf("replica fsid %016x, writer %016x", exp.FS.FSID(), live.FSID())
	}
	if got, err := readIn(exp.FS, "first"); err != nil || got != "1" {
		t.Fatalf("first = %q, %v", got, err)
	}
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("f%d", i)
		writeFile(t, live, name, name)
		if i%2 == 0 {
			if err := live.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := live.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	flushed := time.Now()
	for {
		got, err := readIn(exp.FS, "f19")
		if err == nil && got == "f19" {
			break
		}
		if err != nil && !errors.Is(err, syscall.ENOENT) {
			t.Fatalf("replica read: %v", err)
		}
		if time.Since(flushed) > time.Minute { // not a speed: a replica that never catches up
			t.Fatalf("the replica did not catch up: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("replica caught up %s after the writer's flush", time.Since(flushed))
	if _, err := exp.FS.Create(ctx, root, kvfs.RootIno, "nope", kvfs.CreateRequest{}); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("create on a replica: %v, want EROFS", err)
	}
	// The lag agrees with the clock, whatever it is (a loaded machine may
	// poll late): it is the time since a refresh that began after the
	// replica was opened and before now, and a later refresh moves it on.
	before := time.Now()
	st, ok := r.ReplicaStats()["a"]
	after := time.Now()
	if !ok || st.Refreshes == 0 || st.Lag < 0 || st.LastRefresh.Before(opened) || st.LastRefresh.After(after) {
		t.Fatalf("replica stats %+v, %v: want a last refresh between %v and %v", st, ok, opened, after)
	}
	if at := st.LastRefresh.Add(st.Lag); at.Before(before) || at.After(after) {
		t.Fatalf("replica stats %+v: its last refresh and lag add up to %v, not a time between %v and %v", st, at, before, after)
	}
	// The refresh after the next began after the stats above were taken
	// (the next may have been under way), and the state served is as fresh
	// as it once the one after it counts.
	for deadline := time.Now().Add(time.Minute); r.ReplicaStats()["a"].Refreshes < st.Refreshes+3; {
		if time.Now().After(deadline) {
			t.Fatalf("the replica stopped refreshing: %+v", r.ReplicaStats()["a"])
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st2 := r.ReplicaStats()["a"]; !st2.LastRefresh.After(before) || st2.Lag < 0 {
		t.Fatalf("replica stats %+v after %+v: the lag was not restarted by a refresh after %v", st2, st, before)
	}
	if db, _ := w.DB("a"); db.Stats().Fenced {
		t.Fatal("the replica fenced the writer")
	}
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
	store, err := exports.OpenStore(ctx, wc, nil)
	if err != nil {
		t.Fatal(err)
	}
	page, err := store.List(ctx, "leases/", objstore.ListOptions{})
	if err != nil || len(page.Objects) != 0 {
		t.Fatalf("leases left after the replica closed: %+v, %v", page.Objects, err)
	}
}

// leaseCount is the number of replica leases in ec's store.
func leaseCount(t *testing.T, ec config.Export) int {
	t.Helper()
	store, err := exports.OpenStore(context.Background(), ec, nil)
	if err != nil {
		t.Fatal(err)
	}
	page, err := store.List(context.Background(), "leases/", objstore.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return len(page.Objects)
}

// TestReplicaReload: a reload turns a replica into a read-only export
// (the replica stops and drops its lease) and back, serving throughout.
func TestReplicaReload(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	wc := fileExport("a", filepath.Join(dir, "a"))
	w := open(t, testConfig(wc))
	writeFile(t, fsOf(t, w, "a"), "f", "x")
	if err := fsOf(t, w, "a").Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rc := wc
	rc.Replica, rc.ReplicaPoll = true, 10*time.Millisecond
	r := open(t, testConfig(rc))
	if n := leaseCount(t, wc); n != 1 {
		t.Fatalf("%d leases with a replica open", n)
	}
	ro := wc
	ro.ReadOnly = true
	for i, c := range []config.Export{ro, rc} {
		if err := r.Reload(ctx, testConfig(c)); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		exp, _ := r.ByPath("/a")
		if got, err := readIn(exp.FS, "f"); err != nil || got != "x" || !exp.ReadOnly {
			t.Fatalf("after reload %d: f = %q, %v, read-only %v", i, got, err, exp.ReadOnly)
		}
		want := 0
		if c.Replica {
			want = 1
		}
		if n := leaseCount(t, wc); n != want {
			t.Fatalf("after reload %d: %d leases, want %d", i, n, want)
		}
	}
	if db, _ := w.DB("a"); db.Stats().Fenced {
		t.Fatal("the writer was fenced")
	}
}
