package lsm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/lsm/manifest"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

func testFencing(t *testing.T, store objstore.Store) {
	ctx := context.Background()
	opts := smallOptions()
	old := mustOpen(t, store, opts)
	if err := old.Put(ctx, []byte("a"), []byte("old"), WriteOptions{AwaitDurable: true}); err != nil {
		t.Fatal(err)
	}
	// Unawaited, still buffered when the new writer opens.
	if err := old.Put(ctx, []byte("b"), []byte("old"), WriteOptions{}); err != nil {
		t.Fatal(err)
	}

	newer := mustOpen(t, store, opts)
	defer newer.Close(ctx)
	if got := mustGet(t, newer, "a"); got != "old" {
		t.Fatalf("new writer reads a = %q", got)
	}

	// The old writer must never acknowledge another durable write.
	err := old.Put(ctx, []byte("c"), []byte("old"), WriteOptions{AwaitDurable: true})
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("old writer's awaited Put = %v, want ErrFenced", err)
	}
	if err := old.Flush(ctx); !errors.Is(err, ErrFenced) {
		t.Fatalf("old writer's Flush = %v, want ErrFenced", err)
	}
	if err := old.Put(ctx, []byte("d"), []byte("old"), WriteOptions{}); !errors.Is(err, ErrFenced) {
		t.Fatalf("old writer's later Put = %v, want ErrFenced", err)
	}
	if !old.Stats().Fenced {
		t.Fatal("Stats().Fenced is false")
	}
	if err := old.Close(ctx); !errors.Is(err, ErrFenced) {
		t.Fatalf("old writer's Close = %v, want ErrFenced", err)
	}

	if err := newer.Put(ctx, []byte("c"), []byte("new"), WriteOptions{AwaitDurable: true}); err != nil {
		t.Fatal(err)
	}
	if err := newer.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	if err := newer.Close(ctx); err != nil {
		t.Fatal(err)
	}
	third := mustOpen(t, store, opts)
	defer third.Close(ctx)
	if got := mustGet(t, third, "c"); got != "new" {
		t.Fatalf("c = %q, want the new writer's value", got)
	}
	if _, err := third.Get(ctx, []byte("d")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the fenced writer's write is visible: %v", err)
	}
}

func TestFencingMemory(t *testing.T) { testFencing(t, objstore.NewMemory()) }

func TestFencingLocal(t *testing.T) {
	store, err := objstore.NewLocal(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	testFencing(t, store)
}

func TestFencingS3(t *testing.T) { testFencing(t, testenv.S3Store(t)) }

// TestFencingByManifest: the old writer learns it is fenced from the
// manifest, on an L0 flush, before it writes any WAL object.
func TestFencingByManifest(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	opts := smallOptions()
	opts.FlushInterval = 1 << 40 // no WAL PUT unless asked
	old := mustOpen(t, store, opts)
	newer := mustOpen(t, store, smallOptions())
	defer newer.Close(ctx)
	old.commitMu.Lock()
	old.v.Load().mem.Add(old.lastSeq+1, 1, []byte("x"), []byte("y"))
	old.lastSeq++
	old.commitMu.Unlock()
	if _, err := old.updateManifest(ctx, func(m *manifest.Manifest) error { return nil }, nil); !errors.Is(err, ErrFenced) {
		t.Fatalf("manifest update by the old writer = %v, want ErrFenced", err)
	}
	if err := old.Put(ctx, []byte("k"), []byte("v"), WriteOptions{}); !errors.Is(err, ErrFenced) {
		t.Fatalf("Put after manifest fencing = %v", err)
	}
	old.kill()
}

// TestFencedIsLoggedBeforeAnyRefusal: when a write is refused because a
// newer writer took over, the reason is already in the log (an operator
// reading the log after the first NFS3ERR_ROFS must find it).
func TestFencedIsLoggedBeforeAnyRefusal(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	var logs testenv.SyncBuffer
	opts := smallOptions()
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	old := mustOpen(t, store, opts)
	defer old.Close(ctx)
	newer := mustOpen(t, store, smallOptions())
	defer newer.Close(ctx)

	err := concurrently(8, func(w int) error {
		for i := 0; ; i++ {
			err := old.Put(ctx, []byte(fmt.Sprintf("w%d-%d", w, i)), []byte("v"), WriteOptions{AwaitDurable: i%4 == 0})
			switch {
			case err == nil:
			case !errors.Is(err, ErrFenced):
				return fmt.Errorf("writer %d: %w", w, err)
			case !strings.Contains(logs.String(), "FENCED"):
				return fmt.Errorf("writer %d was refused with %v before the log said FENCED", w, err)
			default:
				return nil
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFencedWriterCannotWriteIntoACollectedFence: a writer cut off from
// the store (its WAL PUTs failing) while another writer opens, writes,
// flushes and collects must not acknowledge its buffered write when the
// store comes back. The new writer's fence object sits at the id the old
// writer's next PUT uses, but it is empty and nothing references it: once
// it was collected, the old writer's PUT landed in its place, below what
// the new writer had flushed, so nothing ever replayed it, and the write
// acknowledged as durable was lost. The new writer now keeps WAL objects
// for gc_min_age, and a writer that has not seen the store for half of it
// looks for a newer writer before it acknowledges.
func TestFencedWriterCannotWriteIntoACollectedFence(t *testing.T) {
	for _, tc := range []struct {
		name   string
		minAge time.Duration
		// advance is how far both clocks move while the old writer is
		// cut off.
		advance time.Duration
	}{
		{name: "no grace", minAge: time.Nanosecond, advance: time.Second},
		{name: "cut off briefly", minAge: time.Hour, advance: time.Minute},
		{name: "cut off longer than gc_min_age", minAge: time.Hour, advance: 2 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
			mem := objstore.NewMemoryClock(clock.Now)
			faulty := faultstore.New(mem, faultstore.Options{})
			opts := smallOptions()
			opts.FlushInterval = time.Hour // only Flush writes the WAL
			opts.GCMinAge = tc.minAge
			opts.Now = clock.Now
			old := mustOpen(t, faulty, opts)
			cut := faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPutIfAbsent, objstore.OpHead, objstore.OpList, objstore.OpGet}})
			if err := old.Put(ctx, []byte("k"), []byte("old writer's"), WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			flushCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			if err := old.Flush(flushCtx); err == nil {
				t.Fatal("Flush succeeded with the store cut off")
			}
			cancel()

			newer := takeOverAndCollect(t, mem, clock, tc.minAge, tc.advance)

			cut.Remove()
			if err := old.Flush(ctx); !errors.Is(err, ErrFenced) {
				t.Fatalf("the old writer's Flush after the store came back = %v, want ErrFenced (its write is in no history)", err)
			}
			if err := newer.Close(ctx); err != nil {
				t.Fatal(err)
			}
			reopened := mustOpen(t, mem, opts)
			defer reopened.Close(ctx)
			if v, err := reopened.Get(ctx, []byte("k")); !errors.Is(err, ErrNotFound) {
				t.Fatalf("k = %q, %v; the old writer's write was never acknowledged, nor replayed", v, err)
			}
		})
	}
}

// takeOverAndCollect is another writer taking the database in store over:
// after clock moves by advance it opens (fencing the writer before it),
// writes and flushes WAL objects and a memtable past its fence, and once
// clock moved by advance again collects with gc_min_age minAge. It
// returns the new writer, open.
func takeOverAndCollect(t *testing.T, store objstore.Store, clock *testenv.Clock, minAge, advance time.Duration) *DB {
	t.Helper()
	ctx := context.Background()
	clock.Advance(advance)
	opts := smallOptions()
	opts.Now = clock.Now
	opts.GCMinAge = minAge
	opts.FlushInterval = time.Hour // only Flush writes the WAL
	newer := mustOpen(t, store, opts)
	for i := range 8 {
		if err := newer.Put(ctx, []byte(fmt.Sprintf("n%d", i)), make([]byte, 8<<10), WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := newer.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := newer.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(advance)
	if _, err := newer.RunGC(ctx); err != nil {
		t.Fatal(err)
	}
	return newer
}

// heldPut is a store whose first PutIfAbsent of a key under prefix, once
// armed, waits for release once it has begun (entered is closed then).
type heldPut struct {
	objstore.Store
	prefix  string
	armed   atomic.Bool
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func newHeldPut(store objstore.Store, prefix string) *heldPut {
	return &heldPut{Store: store, prefix: prefix, entered: make(chan struct{}), release: make(chan struct{})}
}

func (h *heldPut) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if h.armed.Load() && strings.HasPrefix(key, h.prefix) {
		held := false
		h.once.Do(func() { held = true })
		if held {
			close(h.entered)
			<-h.release
		}
	}
	return h.Store.PutIfAbsent(ctx, key, data)
}

// TestSlowManifestPutIsConfirmed: whether a writer recently knew itself
// the newest is judged when its manifest PUT returns, not before it began.
// A PUT that takes longer than gc_min_age (a paused process, a store that
// answers late) can land in the id of a newer writer's collected manifest;
// the writer then took its checkpoint for made, though no history holds
// it.
func TestSlowManifestPutIsConfirmed(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	mem := objstore.NewMemoryClock(clock.Now)
	held := newHeldPut(mem, manifestPrefix)
	opts := smallOptions()
	opts.Now = clock.Now
	opts.GCMinAge = time.Hour
	old := mustOpen(t, held, opts)
	held.armed.Store(true) // nothing to flush: the checkpoint is the one manifest PUT
	done := make(chan error, 1)
	go func() {
		_, err := old.Checkpoint(ctx, "cp")
		done <- err
	}()
	<-held.entered // the old writer's manifest PUT has begun

	newer := takeOverAndCollect(t, mem, clock, opts.GCMinAge, 2*time.Hour)
	close(held.release)
	if err := <-done; !errors.Is(err, ErrFenced) {
		t.Fatalf("the old writer's Checkpoint = %v, want ErrFenced (its manifest went into a collected id)", err)
	}
	if err := newer.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
