package lsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/cache"
	"github.com/zerofs-go/zerofsd/lsm/manifest"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

// TestReadOnlyFollowsLatest: a reader without a checkpoint sees the WAL and
// SSTs as of Open, and later state after Refresh.
func TestReadOnlyFollowsLatest(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	db := mustOpen(t, store, smallOptions())
	defer db.Close(ctx)
	for i := 0; i < 100; i++ {
		db.Put(ctx, []byte(fmt.Sprintf("k%03d", i)), []byte("v1"), WriteOptions{})
	}
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Put(ctx, []byte("wal-only"), []byte("w"), WriteOptions{AwaitDurable: true}); err != nil {
		t.Fatal(err)
	}
	ro, err := OpenReadOnly(ctx, store, ReadOnlyOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close(ctx)
	if got := mustGet(t, ro, "wal-only"); got != "w" {
		t.Fatalf("reader misses a WAL-only write: %q", got)
	}
	if got := len(scanAll(t, ro, []byte("k"), []byte("l"))); got != 100 {
		t.Fatalf("reader sees %d keys", got)
	}
	if err := db.Put(ctx, []byte("later"), []byte("x"), WriteOptions{AwaitDurable: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := ro.Get(ctx, []byte("later")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("reader sees a write made after its Open before Refresh: %v", err)
	}
	if err := ro.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, ro, "later"); got != "x" {
		t.Fatalf("after Refresh later = %q", got)
	}
	if err := ro.Flush(ctx); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("Flush on a reader = %v", err)
	}
	// The reader never fenced the writer.
	if err := db.Put(ctx, []byte("still"), []byte("ok"), WriteOptions{AwaitDurable: true}); err != nil {
		t.Fatalf("writer after a reader opened: %v", err)
	}
}

// TestDiskCache: a second open with a warm disk cache reads SST blocks
// from local disk instead of the store.
func TestDiskCache(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	opts := smallOptions()
	opts.MemtableBytes = 1 << 20
	db := mustOpen(t, store, opts)
	for i := 0; i < 2000; i++ {
		db.Put(ctx, []byte(fmt.Sprintf("k%05d", i)), []byte(fmt.Sprintf("value-%d", i)), WriteOptions{})
	}
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	readAll := func() int64 {
		d, err := cache.OpenDisk(dir, 64<<20, quietLogger())
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		o := opts
		o.DiskCache, o.CacheNamespace = d, "test"
		o.BlockCacheBytes = -1
		db := mustOpen(t, store, o)
		defer db.Close(ctx)
		before := db.Stats().Requests[objstore.OpGetRange].Requests
		for i := 0; i < 2000; i += 7 {
			if got := mustGet(t, db, fmt.Sprintf("k%05d", i)); got != fmt.Sprintf("value-%d", i) {
				t.Fatalf("k%05d = %q", i, got)
			}
		}
		return db.Stats().Requests[objstore.OpGetRange].Requests - before
	}
	cold := readAll()
	warm := readAll()
	if cold == 0 || warm >= cold {
		t.Fatalf("store range reads: cold %d, warm %d; the disk cache should absorb them", cold, warm)
	}
	t.Logf("store range reads: cold %d, warm %d", cold, warm)
}

// TestReadOnlyRefreshesAfterGC: the writer compacts and collects the SSTs a
// following reader holds; the reader's Get moves forward by itself.
func TestReadOnlyRefreshesAfterGC(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	opts := smallOptions()
	opts.GCMinAge = 1
	db := mustOpen(t, store, opts)
	defer db.Close(ctx)
	for i := 0; i < 50; i++ {
		db.Put(ctx, []byte(fmt.Sprintf("k%03d", i)), []byte("v1"), WriteOptions{})
	}
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	ro, err := OpenReadOnly(ctx, store, ReadOnlyOptions{Logger: quietLogger(), BlockCacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close(ctx)
	for i := 0; i < 50; i++ {
		db.Put(ctx, []byte(fmt.Sprintf("k%03d", i)), []byte("v2"), WriteOptions{})
	}
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Compact(ctx, true); err != nil {
		t.Fatal(err)
	}
	if res, err := db.gc(ctx); err != nil || res.Tables == 0 {
		t.Fatalf("gc = %+v, %v; want the old SSTs collected", res, err)
	}
	if got := mustGet(t, ro, "k007"); got != "v2" {
		t.Fatalf("reader after the writer's GC: k007 = %q, want the refreshed value", got)
	}
}

// TestReadOnlyEmptyStore: a reader of a store that holds no database says so
// (ErrNoDatabase) and writes nothing.
func TestReadOnlyEmptyStore(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewCounting(objstore.NewMemory())
	_, err := OpenReadOnly(ctx, store, ReadOnlyOptions{Logger: quietLogger()})
	if !errors.Is(err, ErrNoDatabase) || !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("OpenReadOnly of an empty store: %v, want ErrNoDatabase and objstore.ErrNotFound", err)
	}
	st := store.Stats()
	for _, op := range []objstore.Op{objstore.OpPut, objstore.OpPutIfAbsent, objstore.OpDelete} {
		if n := st[op].Requests; n != 0 {
			t.Fatalf("OpenReadOnly of an empty store made %d %s requests", n, op)
		}
	}
}

// TestDiskCacheForgetsReusedWALNames: WAL objects are named by sequential
// ids, so a store wiped and started again (or a memory store after a
// restart, or a bucket put back from an older copy) reuses names the disk
// cache may hold pages of, from the earlier database. A writer's WAL PUT
// did not go through the cache, so reads of values in the new object were
// served the old pages: they failed their checksum (EIO) until evicted.
// The writer now drops the cached pages of each name it writes, also when
// a PUT's answer was lost and reading the object back showed it was ours.
func TestDiskCacheForgetsReusedWALNames(t *testing.T) {
	ctx := context.Background()
	disk, err := cache.OpenDisk(t.TempDir(), 64<<20, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	opts := smallOptions()
	opts.DiskCache, opts.CacheNamespace = disk, "export"
	opts.BlockCacheBytes = -1
	opts.MemtableBytes = 1 << 20
	run := func(fill byte, loseAnswer bool) {
		t.Helper()
		store := faultstore.New(objstore.NewMemory(), faultstore.Options{}) // a new, empty store each time
		db := mustOpen(t, store, opts)
		defer db.Close(ctx)
		var lost *faultstore.Handle
		if loseAnswer {
			// The segment lands, its answer is lost: the retry finds the
			// object there and reads it back (the same bytes: ours).
			lost = store.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPutIfAbsent}, Key: prefixed(walPrefix),
				Action: faultstore.FailAfter, Times: 1})
		}
		value := bytes.Repeat([]byte{fill}, 64<<10) // stored once, in its WAL object
		if err := db.Put(ctx, []byte("k"), value, WriteOptions{AwaitDurable: true}); err != nil {
			if lost == nil || !errors.Is(err, faultstore.ErrInjected) {
				t.Fatal(err)
			}
			// The WAL writer retries in the background.
			deadline := time.Now().Add(10 * time.Second)
			for db.Flush(ctx) != nil {
				if time.Now().After(deadline) {
					t.Fatal("Flush never succeeded after the lost answer")
				}
			}
		}
		if lost != nil && lost.Fired() != 1 {
			t.Fatalf("the WAL PUT's answer was lost %d times, want 1", lost.Fired())
		}
		if err := db.FlushMemtable(ctx); err != nil {
			t.Fatal(err)
		}
		got, err := db.Get(ctx, []byte("k")) // through the disk cache
		if err != nil || !bytes.Equal(got, value) {
			t.Fatalf("store %q: Get = %d bytes %.8q, %v; want 64 KiB of %q", fill, len(got), got, err, fill)
		}
	}
	run('a', false)
	run('b', false)
	run('c', true)
}

// TestReadOnlyGetOfAMissingObjectEnds: the latest manifest names an SST the
// store no longer holds (deleted by hand, by a lifecycle rule, lost in a
// partial copy of the bucket). A reader following the latest state
// refreshed on the missing object and read again whenever the refresh
// installed a new version, which it always does, even of the same
// manifest: Get looped forever, listing the store on every pass. Only a
// newer manifest can hold what is missing; Get now fails with the store's
// ErrNotFound.
func TestReadOnlyGetOfAMissingObjectEnds(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	db := mustOpen(t, mem, smallOptions())
	if err := db.Put(ctx, []byte("k"), bytes.Repeat([]byte{'v'}, 1<<10), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	ssts, err := listAll(ctx, mem, tablePrefix)
	if err != nil || len(ssts) != 1 {
		t.Fatalf("store holds SSTs %v (%v), want one", ssts, err)
	}
	if err := mem.Delete(ctx, ssts[0].Key); err != nil {
		t.Fatal(err)
	}
	store := objstore.NewCounting(mem)
	ro, err := OpenReadOnly(ctx, store, ReadOnlyOptions{Logger: quietLogger(), BlockCacheBytes: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close(ctx)
	listsBefore := store.Stats()[objstore.OpList].Requests
	gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = ro.Get(gctx, []byte("k"))
	lists := store.Stats()[objstore.OpList].Requests - listsBefore
	if !errors.Is(err, objstore.ErrNotFound) || gctx.Err() != nil {
		t.Fatalf("Get of a key in a missing SST = %v (context: %v), want objstore.ErrNotFound at once", err, gctx.Err())
	}
	// One refresh lists the manifests and the WAL objects once each.
	if lists > 2 {
		t.Fatalf("Get listed the store %d times, want one refresh at most", lists)
	}
}

// TestReadOnlyNewStateIsReadAtItsSequenceNumber: a read-only database
// published a new state by two stores, the version and then its sequence
// number, and readState loads them without the lock: a reader between the
// stores paired the new version with the old sequence number. When the
// new manifest holds a compaction that merged K@old into K@new and dropped
// K@old, such a read skipped K@new and found nothing, although K exists in
// both states. The test puts the database in that moment: the new state
// installed, the sequence number the reader loaded still the old one.
func TestReadOnlyNewStateIsReadAtItsSequenceNumber(t *testing.T) {
	for _, kind := range []string{"read-only", "replica"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			store := objstore.NewMemory()
			opts := smallOptions()
			opts.L0CompactionTrigger = 100 // compactions only when asked
			db := mustOpen(t, store, opts)
			defer db.Close(ctx)
			put := func(v string) {
				t.Helper()
				if err := db.Put(ctx, []byte("k"), []byte(v), WriteOptions{}); err != nil {
					t.Fatal(err)
				}
				if err := db.FlushMemtable(ctx); err != nil {
					t.Fatal(err)
				}
			}
			put("old")
			var ro *DB
			var refresh func() error
			switch kind {
			case "read-only":
				r, err := OpenReadOnly(ctx, store, ReadOnlyOptions{Logger: quietLogger()})
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close(ctx)
				ro, refresh = r, func() error { return r.Refresh(ctx) }
			case "replica":
				r, err := OpenReplica(ctx, store, ReplicaOptions{ID: "r", Poll: time.Hour, Logger: quietLogger()})
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close(ctx)
				ro, refresh = r.DB(), func() error { return r.refresh(ctx) }
			}
			if got := mustGet(t, ro, "k"); got != "old" {
				t.Fatalf("k = %q before the compaction, want old", got)
			}
			oldSeq := ro.visibleSeq.Load()
			put("new")
			if _, err := db.Compact(ctx, true); err != nil {
				t.Fatal(err)
			}
			if err := refresh(); err != nil {
				t.Fatal(err)
			}
			ro.visibleSeq.Store(oldSeq) // what a reader between the two stores loaded
			got, err := ro.Get(ctx, []byte("k"))
			if err != nil || string(got) != "new" {
				t.Fatalf("Get(k) with the new state installed = %q, %v; want new", got, err)
			}
		})
	}
}

// TestReadOnlyRefreshNeverGoesBack: of two refreshes of a read-only
// database that run at once, the one that loaded the older state may
// install last; it must not replace the newer state, or reads go back in
// time. Before, the last install won.
func TestReadOnlyRefreshNeverGoesBack(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	db := mustOpen(t, store, smallOptions())
	defer db.Close(ctx)
	put := func(v string) {
		t.Helper()
		if err := db.Put(ctx, []byte("k"), []byte(v), WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := db.FlushMemtable(ctx); err != nil {
			t.Fatal(err)
		}
	}
	put("old")
	ro, err := OpenReadOnly(ctx, store, ReadOnlyOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close(ctx)
	// A refresh that loads the state now and installs it late.
	m, mem, seq, err := ro.loadReadOnlyState(ctx)
	if err != nil {
		t.Fatal(err)
	}
	put("new")
	if err := ro.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, ro, "k"); got != "new" {
		t.Fatalf("k = %q after the refresh, want new", got)
	}
	ro.mu.Lock()
	ro.installReadOnlyLocked(m, mem, seq)
	ro.mu.Unlock()
	if got := mustGet(t, ro, "k"); got != "new" {
		t.Fatalf("k = %q after a late install of the older state, want new", got)
	}
}

// TestReplicaOfAStoreThatWentBack: a replica whose store went back (wiped
// and made again, or put back from an older copy) keeps the state it
// serves and says so: its refresh fails, so its lag grows and the failure
// is logged. Before, the refresh reported a new state it had not
// installed.
func TestReplicaOfAStoreThatWentBack(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	db := mustOpen(t, store, smallOptions())
	for i := range 3 {
		if err := db.Put(ctx, []byte("k"), []byte(fmt.Sprint(i)), WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := db.FlushMemtable(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReplica(ctx, store, ReplicaOptions{ID: "r", Poll: time.Hour, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	if got := mustGet(t, r.DB(), "k"); got != "2" {
		t.Fatalf("k = %q, want 2", got)
	}
	// The store is wiped, and a new database made in it.
	keys, err := objstore.ListAll(ctx, store, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.HasPrefix(k.Key, leasePrefix) {
			continue // the replica's own lease
		}
		if err := store.Delete(ctx, k.Key); err != nil {
			t.Fatal(err)
		}
	}
	// No compaction: the new database's manifest ids move only by its
	// flushes, so that one lands on the id the replica serves.
	freshOpts := smallOptions()
	freshOpts.L0CompactionTrigger = 1 << 20
	fresh := mustOpen(t, store, freshOpts)
	defer fresh.Close(ctx)
	write := func() {
		t.Helper()
		if err := fresh.Put(ctx, []byte("k"), []byte("other"), WriteOptions{AwaitDurable: true}); err != nil {
			t.Fatal(err)
		}
	}
	refused := func(when string) {
		t.Helper()
		if err := r.refresh(ctx); !errors.Is(err, errStoreWentBack) {
			t.Fatalf("refresh %s = %v, want errStoreWentBack", when, err)
		}
		if got := mustGet(t, r.DB(), "k"); got != "2" {
			t.Fatalf("k = %q after the refused refresh %s, want the state served (2)", got, when)
		}
	}
	// flushTo flushes the new database until its latest manifest is id.
	flushTo := func(id uint64) {
		t.Helper()
		for {
			latest, err := latestManifestID(ctx, store)
			if err != nil {
				t.Fatal(err)
			}
			if latest == id {
				return
			}
			if latest > id {
				t.Fatalf("the new database's manifest ids jumped from below %d to %d", id, latest)
			}
			write()
			if err := fresh.FlushMemtable(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	write()
	refused("with manifest ids below the one served")
	// The new database's manifest ids pass through the one served and
	// beyond: at the same id the manifest is another one, and a higher id
	// belongs to another database.
	served := r.Stats().ManifestID
	flushTo(served)
	write()
	refused("with the new database at the manifest id served")
	flushTo(served + 2)
	write()
	refused("with the new database above the manifest id served")
}

// TestReadOnlyOfAStoreMadeAgain: a read-only database whose store was wiped
// and made again refuses to move to the new database's state, whose
// manifest ids are higher than the one it serves: it is another database.
func TestReadOnlyOfAStoreMadeAgain(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	db := mustOpen(t, store, smallOptions())
	if err := db.Put(ctx, []byte("k"), []byte("old"), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	ro, err := OpenReadOnly(ctx, store, ReadOnlyOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close(ctx)
	if got := mustGet(t, ro, "k"); got != "old" {
		t.Fatalf("k = %q, want old", got)
	}
	served := ro.v.Load().manifestID
	keys, err := objstore.ListAll(ctx, store, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := store.Delete(ctx, k.Key); err != nil {
			t.Fatal(err)
		}
	}
	fresh := mustOpen(t, store, smallOptions())
	defer fresh.Close(ctx)
	for {
		latest, err := latestManifestID(ctx, store)
		if err != nil {
			t.Fatal(err)
		}
		if latest > served {
			break
		}
		if err := fresh.Put(ctx, []byte("k"), []byte("other"), WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := fresh.FlushMemtable(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := ro.Refresh(ctx); !errors.Is(err, errStoreWentBack) {
		t.Fatalf("Refresh of a store made again = %v, want errStoreWentBack", err)
	}
	if got := mustGet(t, ro, "k"); got != "old" {
		t.Fatalf("k = %q after the refused refresh, want the state served (old)", got)
	}
}

// TestReplicaOfAManifestWrittenAgain: a manifest of the same database
// written again under the id a replica serves (a copy of the bucket put
// back from before it, opened by a writer that wrote on to that id) is
// another history: the refresh fails instead of replaying the new
// history's WAL into the state served. Before, a manifest of the same
// database under the same id was taken for the one served.
func TestReplicaOfAManifestWrittenAgain(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	db := mustOpen(t, store, smallOptions())
	if err := db.Put(ctx, []byte("k"), []byte("v"), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := OpenReplica(ctx, store, ReplicaOptions{ID: "r", Poll: time.Hour, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(ctx)
	id := r.Stats().ManifestID
	m, err := readManifest(ctx, store, id)
	if err != nil {
		t.Fatal(err)
	}
	// The same database's manifest id, written by another writer.
	m.WriterEpoch++
	m.CreatedUnixNano++
	if err := store.Put(ctx, manifestKey(id), manifest.Encode(m)); err != nil {
		t.Fatal(err)
	}
	if err := r.refresh(ctx); !errors.Is(err, errStoreWentBack) {
		t.Fatalf("refresh after manifest %d was written again = %v, want errStoreWentBack", id, err)
	}
}
