package exports_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/lsm"
)

// fakeClock is a Clock that moves only when told.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch})
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if !w.at.After(c.now) {
			w.ch <- c.now
		} else {
			kept = append(kept, w)
		}
	}
	c.waiters = kept
}

// checkpointNames returns the names of db's checkpoints, sorted.
func checkpointNames(t *testing.T, db *lsm.DB) []string {
	t.Helper()
	cps, err := db.ListCheckpoints(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range cps {
		names = append(names, c.Name)
	}
	slices.Sort(names)
	return names
}

// waitNames waits until db's checkpoints are want.
func waitNames(t *testing.T, db *lsm.DB, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := checkpointNames(t, db)
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("checkpoints = %v, want %v", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestScheduledSnapshots: with a fake clock, a snapshot is taken at once and
// then every snapshot_every, each holding every write made before it; only
// the newest snapshot_keep scheduled ones are kept, oldest deleted first;
// other checkpoints are never deleted; a restart keeps the rhythm.
func TestScheduledSnapshots(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	ec := fileExport("a", filepath.Join(dir, "a"))
	ec.SnapshotDir = ".snapshots"
	ec.SnapshotEvery = time.Hour
	ec.SnapshotKeep = 3
	start := time.Date(2026, 1, 30, 15, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: start}
	reg, err := exports.Open(ctx, testConfig(ec), exports.Options{Logger: logger(t), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	db, _ := reg.DB("a")
	live := fsOf(t, reg, "a")
	name := func(h int) string { return exports.ScheduledName(start.Add(time.Duration(h) * time.Hour)) }
	if name(0) != "auto-20260130T150000Z" {
		t.Fatalf("scheduled name = %q", name(0))
	}

	// The first one at once, on an empty filesystem.
	waitNames(t, db, []string{name(0)})
	if _, err := db.Checkpoint(ctx, "manual"); err != nil {
		t.Fatal(err)
	}
	var want []string
	for h := 1; h <= 5; h++ {
		writeFile(t, live, fmt.Sprintf("f%d", h), fmt.Sprintf("written before hour %d", h))
		clock.Advance(59 * time.Minute)
		time.Sleep(20 * time.Millisecond)
		if got := checkpointNames(t, db); slices.Contains(got, name(h)) {
			t.Fatalf("hour %d taken early: %v", h, got)
		}
		clock.Advance(time.Minute)
		want = []string{"manual"}
		for k := max(0, h-2); k <= h; k++ {
			want = append(want, name(k))
		}
		slices.Sort(want)
		waitNames(t, db, want)
	}
	// The counters follow the manifest change they count.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		st := reg.SnapshotStats()["a"]
		if st.Taken == 6 && st.Deleted == 3 && st.Failed == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats = %+v, want 6 taken, 3 deleted", st)
		}
	}

	// Each holds what was written before it, and is served under .snapshots.
	exp, _ := reg.ByPath("/a")
	for h := 3; h <= 5; h++ {
		snap, err := exp.FS.Lookup(ctx, root, kvfsDirIno(t, exp.FS), name(h))
		if err != nil {
			t.Fatalf("lookup .snapshots/%s: %v", name(h), err)
		}
		sexp, _ := reg.ByFSID(snap.FSID)
		for k := 1; k <= 5; k++ {
			got, err := readIn(sexp.FS, fmt.Sprintf("f%d", k))
			if k <= h && (err != nil || got != fmt.Sprintf("written before hour %d", k)) {
				t.Fatalf("%s/f%d = %q, %v", name(h), k, got, err)
			}
			if k > h && err == nil {
				t.Fatalf("%s holds f%d, written after it", name(h), k)
			}
		}
	}

	// A restart half an hour later waits for the rest of the hour.
	if err := reg.Close(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(30 * time.Minute)
	reg, err = exports.Open(ctx, testConfig(ec), exports.Options{Logger: logger(t), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(ctx) })
	db, _ = reg.DB("a")
	time.Sleep(50 * time.Millisecond)
	waitNames(t, db, want)
	clock.Advance(30 * time.Minute)
	want = []string{"manual", name(4), name(5), name(6)}
	slices.Sort(want)
	waitNames(t, db, want)

	// A reload that turns the schedule off takes no more and deletes none.
	ec.SnapshotEvery, ec.SnapshotKeep = 0, 0
	if err := reg.Reload(ctx, testConfig(ec)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // a round begun before the reload ends
	clock.Advance(5 * time.Hour)
	time.Sleep(50 * time.Millisecond)
	if got := checkpointNames(t, db); !slices.Equal(got, want) {
		t.Fatalf("after turning the schedule off: %v, want %v", got, want)
	}
	if !strings.HasPrefix(name(6), "auto-") {
		t.Fatal("scheduled names are not distinguishable")
	}
}

// kvfsDirIno returns the inode of the snapshot directory of an export's
// filesystem, looked up by name.
func kvfsDirIno(t *testing.T, fs interface {
	Lookup(context.Context, kvfs.Cred, uint64, string) (kvfs.Attr, error)
}) uint64 {
	t.Helper()
	a, err := fs.Lookup(context.Background(), root, kvfs.RootIno, ".snapshots")
	if err != nil {
		t.Fatal(err)
	}
	return a.Ino
}
