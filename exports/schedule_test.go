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
	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/lsm"
)

// fakeClock is a Clock that moves only when told, and tells the deadlines
// of the After calls pending.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []fakeWaiter
	calls   int // After calls so far
}

type fakeWaiter struct {
	at   time.Time
	ch   chan time.Time
	call int // the After call that made it, counting from 1
}

// afterCalls returns how many After calls were made so far.
func (c *fakeClock) afterCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// waitAfter waits until an After call made after the first since ones is
// pending with deadline at. The scheduler calls After as it parks on its
// select, so it is parked until at then (unless a reload kicks it).
func (c *fakeClock) waitAfter(t *testing.T, since int, at time.Time) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		var pending []time.Time
		for _, w := range c.waiters {
			if w.call > since {
				pending = append(pending, w.at)
			}
		}
		c.mu.Unlock()
		if slices.ContainsFunc(pending, at.Equal) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no After call pending until %v; the deadlines of those made since call %d: %v", at, since, pending)
		}
		time.Sleep(time.Millisecond)
	}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	ch := make(chan time.Time, 1)
	if d <= 0 {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at: c.now.Add(d), ch: ch, call: c.calls})
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
	hour := func(h int) time.Time { return start.Add(time.Duration(h) * time.Hour) }
	name := func(h int) string { return exports.ScheduledName(hour(h)) }
	if name(0) != "auto-20260130T150000Z" {
		t.Fatalf("scheduled name = %q", name(0))
	}

	// The first one at once, on an empty filesystem.
	waitNames(t, db, []string{name(0)})
	if _, err := db.Checkpoint(ctx, "manual"); err != nil {
		t.Fatal(err)
	}
	want := []string{name(0), "manual"} // sorted
	// since counts the After calls made before the last snapshot was due.
	since := 0
	for h := 1; h <= 5; h++ {
		writeFile(t, live, fmt.Sprintf("f%d", h), fmt.Sprintf("written before hour %d", h))
		clock.Advance(59 * time.Minute)
		// Parked until hour h, with nothing taken before.
		clock.waitAfter(t, since, hour(h))
		if got := checkpointNames(t, db); !slices.Equal(got, want) {
			t.Fatalf("a minute before hour %d: %v, want %v", h, got, want)
		}
		since = clock.afterCalls()
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
	since = clock.afterCalls()
	reg, err = exports.Open(ctx, testConfig(ec), exports.Options{Logger: logger(t), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(ctx) })
	db, _ = reg.DB("a")
	clock.waitAfter(t, since, hour(6))
	if got := checkpointNames(t, db); !slices.Equal(got, want) {
		t.Fatalf("after a restart half an hour before hour 6: %v, want %v", got, want)
	}
	since = clock.afterCalls()
	clock.Advance(30 * time.Minute)
	want = []string{"manual", name(4), name(5), name(6)}
	slices.Sort(want)
	waitNames(t, db, want)

	// A reload that turns the schedule off takes no more and deletes none.
	clock.waitAfter(t, since, hour(7)) // the round of hour 6 is over
	ec.SnapshotEvery, ec.SnapshotKeep = 0, 0
	if err := reg.Reload(ctx, testConfig(ec)); err != nil {
		t.Fatal(err)
	}
	// The reload woke the scheduler; it parks again, on no deadline.
	testenv.WaitParked(t, "exports.(*scheduler).run", "select", nil)
	clock.Advance(5 * time.Hour)
	// Had that woken it, it would be busy until it parked again.
	testenv.WaitParked(t, "exports.(*scheduler).run", "select", nil)
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
