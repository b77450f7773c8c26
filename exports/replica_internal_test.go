package exports

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/kvfs"
)

// newReplicaPair serves export "a" of a local-directory store from a
// writer registry and a replica registry polling every poll, with file
// "first" made durable before the replica opens. It returns the replica's
// database and a function that creates a file on the writer and makes it
// durable.
func newReplicaPair(t *testing.T, poll time.Duration) (*database, func(name string)) {
	t.Helper()
	d, create, _ := newReplicaPairRegistry(t, poll)
	return d, create
}

// newReplicaPairRegistry is newReplicaPair that also returns the replica's
// registry (closed at cleanup if the test does not).
func newReplicaPairRegistry(t *testing.T, poll time.Duration) (*database, func(name string), *Registry) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	load := func(name, extra string) *config.Config {
		path := filepath.Join(dir, name+".toml")
		text := fmt.Sprintf("[cache]\ndir = %q\nsize_gb = 0.01\n[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"file://%s\"\n%s",
			filepath.Join(dir, name+"-cache"), filepath.Join(dir, "store"), extra)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := config.Load(path, func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	w, err := Open(ctx, load("writer", ""), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(ctx) })
	live, _ := w.FS("a")
	create := func(name string) {
		t.Helper()
		if _, err := live.Create(ctx, kvfs.Cred{}, kvfs.RootIno, name, kvfs.CreateRequest{}); err != nil {
			t.Fatal(err)
		}
		if err := live.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	create("first")
	r, err := Open(ctx, load("replica", fmt.Sprintf("replica = true\nreplica_poll = %q\n", poll.String())), Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(ctx) })
	var d *database
	for _, db := range r.set.Load().byStore {
		d = db
	}
	return d, create, r
}

// waitReplicaSees waits until the replica's latest state (d.fs reads it)
// holds name: its refresh to the writer's change has landed.
func waitReplicaSees(t *testing.T, d *database, name string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := d.fs.Lookup(context.Background(), kvfs.Cred{}, kvfs.RootIno, name); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica did not refresh to %s", name)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReplicaRefreshBeforePublish: a replica refresh that lands while the
// replica's first state is being opened (before it serves NFS) is not
// lost: publishing then serves the refreshed state. Before, the refresh
// found nothing to rotate, and NFS served the older state until the
// writer changed something again.
func TestReplicaRefreshBeforePublish(t *testing.T) {
	ctx := context.Background()
	d, create := newReplicaPair(t, 10*time.Millisecond)
	// As while the first state opens: nothing published yet.
	rfs := d.rfs.Swap(nil)
	create("second")
	waitReplicaSees(t, d, "second")
	d.publishReplicaFS(rfs)
	if _, err := rfs.Lookup(ctx, kvfs.Cred{}, kvfs.RootIno, "second"); err != nil {
		t.Fatalf("the published replica serves the state before its refresh: lookup of second: %v", err)
	}
}

// TestReplicaRotationsInOrder: two rotations of a replica's served state
// at once (the replica's own, on a refresh, and another one) install
// their states in the order they took them. Before, a rotation slow to
// open its state (its reads held up) installed it after a later one had
// installed a newer state: the replica went back, and stayed there while
// the writer was idle.
func TestReplicaRotationsInOrder(t *testing.T) {
	ctx := context.Background()
	d, create := newReplicaPair(t, 10*time.Millisecond)
	// The rotations below are the test's own: the replica's refreshes
	// only mark that it moved on.
	rfs := d.rfs.Swap(nil)
	create("second")
	waitReplicaSees(t, d, "second")
	// A rotation to the state with "second" that is slow to open it.
	entered, released := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	first.Store(true)
	rfs.openFS = func(ctx context.Context, kv kvfs.KV, opts kvfs.Options) (*kvfs.FS, error) {
		fs, err := kvfs.Open(ctx, kv, opts)
		if first.Swap(false) {
			close(entered)
			<-released
		}
		return fs, err
	}
	rotate := func() chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			rfs.rotate()
		}()
		return done
	}
	slow := rotate()
	<-entered
	// Meanwhile the writer goes on, the replica refreshes, and another
	// rotation starts.
	create("third")
	waitReplicaSees(t, d, "third")
	fast := rotate()
	// It waits for the slow one (rotateMu), or goes ahead and returns.
	waited := testenv.WaitParked(t, "exports.(*replicaFS).rotate", "sync.Mutex.Lock", fast)
	close(released)
	<-slow
	<-fast
	if _, err := rfs.Lookup(ctx, kvfs.Cred{}, kvfs.RootIno, "third"); err != nil {
		t.Fatalf("the replica serves a state older than the one it reached: third: %v", err)
	}
	if !waited {
		t.Fatal("the second rotation installed its state while the first one was still opening its own")
	}
}

// TestReplicaRotationRetried: a rotation of a replica's served state that
// fails (the store failed a read while the new state's filesystem opened)
// is tried again at the next poll. Before, it was never tried again while
// the writer was idle: NFS served the previous state although the
// replica had moved on, and its lag looked fresh.
func TestReplicaRotationRetried(t *testing.T) {
	ctx := context.Background()
	const poll = 10 * time.Millisecond
	d, create := newReplicaPair(t, poll)
	rfs := d.rfs.Load()
	// The next state's filesystem fails to open once, as on a transient
	// store error. (rotateMu: no rotation reads openFS meanwhile.)
	var failed atomic.Bool
	rfs.rotateMu.Lock()
	rfs.openFS = func(ctx context.Context, kv kvfs.KV, opts kvfs.Options) (*kvfs.FS, error) {
		if !failed.Swap(true) {
			return nil, fmt.Errorf("a transient store error")
		}
		return kvfs.Open(ctx, kv, opts)
	}
	rfs.rotateMu.Unlock()
	create("second")
	waitReplicaSees(t, d, "second")
	// The writer is idle from now on.
	deadline := time.Now().Add(100 * poll)
	for {
		_, err := rfs.Lookup(ctx, kvfs.Cred{}, kvfs.RootIno, "second")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica still serves the state before its failed rotation after 100 polls (rotation failed: %v): lookup of second: %v", failed.Load(), err)
		}
		time.Sleep(poll / 2)
	}
	if !failed.Load() {
		t.Fatal("no rotation failed: the test tested nothing")
	}
}

// TestReplicaLagIsOfTheStateServed: while the replica's filesystem fails
// to move to the states its database refreshed to, the lag reported (the
// metric zerofs_replica_lag_seconds) is that of the state NFS serves, not
// of the database's last refresh. Before, it looked fresh at every poll.
func TestReplicaLagIsOfTheStateServed(t *testing.T) {
	const poll = 10 * time.Millisecond
	d, create := newReplicaPair(t, poll)
	rfs := d.rfs.Load()
	var failing atomic.Bool
	failing.Store(true)
	rfs.rotateMu.Lock()
	rfs.openFS = func(ctx context.Context, kv kvfs.KV, opts kvfs.Options) (*kvfs.FS, error) {
		if failing.Load() {
			return nil, fmt.Errorf("a store error")
		}
		return kvfs.Open(ctx, kv, opts)
	}
	rfs.rotateMu.Unlock()
	before := time.Now()
	create("second")
	waitReplicaSees(t, d, "second")
	// Let a few more refreshes (and failed rotations) happen.
	for n := d.replica.Stats().Refreshes + 3; d.replica.Stats().Refreshes < n; {
		time.Sleep(poll)
	}
	rep, got := d.replica.Stats(), d.replicaStats()
	if !rep.LastRefresh.After(before) {
		t.Fatalf("the replica's database did not refresh after the write (last refresh %v): the test tests nothing", rep.LastRefresh)
	}
	if !got.LastRefresh.Before(before) {
		t.Errorf("reported last refresh %v, after the write NFS does not see (%v)", got.LastRefresh, before)
	}
	if got.Lag < rep.Lag+rep.LastRefresh.Sub(before) {
		t.Errorf("reported lag %v, want at least %v", got.Lag, rep.Lag+rep.LastRefresh.Sub(before))
	}

	// Rotations work again: the lag is the database's.
	failing.Store(false)
	deadline := time.Now().Add(20 * time.Second)
	for {
		got = d.replicaStats()
		if got.LastRefresh.After(before) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica's lag stayed at the failed state: %+v", got)
		}
		time.Sleep(poll)
	}
}

// TestReplicaCloseDuringARotation: closing a replica export while a
// rotation is reading the store (held up here, as by a store that fails
// slowly) does not wait for that read: the rotation's context ends with
// the replica. Before, it read under context.Background(), and Close
// waited for it whatever its own context said.
func TestReplicaCloseDuringARotation(t *testing.T) {
	const poll = 10 * time.Millisecond
	d, create, reg := newReplicaPairRegistry(t, poll)
	rfs := d.rfs.Load()
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	defer close(release)
	rfs.rotateMu.Lock()
	rfs.openFS = func(ctx context.Context, kv kvfs.KV, opts kvfs.Options) (*kvfs.FS, error) {
		select {
		case entered <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-release:
			return kvfs.Open(ctx, kv, opts)
		}
	}
	rfs.rotateMu.Unlock()
	create("second")
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("no rotation started after the writer's change")
	}
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		closed <- reg.Close(ctx)
	}()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("closing the replica still waits for the rotation's store read after 30 s")
	}
}
