package lsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/lsm/compress"
	"github.com/zerofs-go/zerofsd/lsm/vlog"
	"github.com/zerofs-go/zerofsd/objstore"
)

// valueOptions separates values of 64 bytes and more, and lets GC run a
// value compaction on any garbage.
func valueOptions() Options {
	o := smallOptions()
	o.ValueThreshold = 64
	o.ValueGCMinBytes = 1
	o.GCMinAge = time.Nanosecond
	o.MemtableBytes = 1 << 20
	o.L0CompactionTrigger = 1000 // compactions only when a test asks
	return o
}

// forCodecs runs fn with valueOptions under each compression of values:
// none, snappy and zstd (bigValue compresses well).
func forCodecs(t *testing.T, fn func(t *testing.T, opts Options)) {
	for _, c := range []compress.Codec{compress.None, compress.Snappy, compress.Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			opts := valueOptions()
			opts.Compression = c
			fn(t, opts)
		})
	}
}

// bigValue is the value of key at version v: 300 to 600 bytes that name
// both, so a value read back under the wrong key or version is noticed.
func bigValue(key string, v int) []byte {
	n := 300 + (len(key)*37+v*101)%300
	unit := fmt.Sprintf("%s@%d;", key, v)
	return []byte(strings.Repeat(unit, n/len(unit)+1)[:n])
}

// keyOf returns the key and version a bigValue names.
func keyOf(value []byte) (string, int, bool) {
	unit, _, ok := bytes.Cut(value, []byte(";"))
	if !ok {
		return "", 0, false
	}
	k, v, ok := bytes.Cut(unit, []byte("@"))
	var n int
	if _, err := fmt.Sscan(string(v), &n); err != nil || !ok {
		return "", 0, false
	}
	return string(k), n, bytes.Equal(value, bigValue(string(k), n))
}

// objectsUnder lists the keys under prefix.
func objectsUnder(t *testing.T, store objstore.Store, prefix string) []string {
	t.Helper()
	objs, err := listAll(context.Background(), store, prefix)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range objs {
		keys = append(keys, o.Key)
	}
	return keys
}

func putAll(t *testing.T, db *DB, keys []string, version int) {
	t.Helper()
	for _, k := range keys {
		if err := db.Put(context.Background(), []byte(k), bigValue(k, version), WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// checkVersions reads every key with Get and with a scan (of the keys
// keyList makes) and checks it has the version want gives.
func checkVersions(t *testing.T, db *DB, keys []string, want func(k string) int) {
	t.Helper()
	ctx := context.Background()
	for _, k := range keys {
		v, err := db.Get(ctx, []byte(k))
		if err != nil {
			t.Fatalf("Get(%s): %v", k, err)
		}
		if !bytes.Equal(v, bigValue(k, want(k))) {
			t.Fatalf("Get(%s) = %.30q..., want version %d", k, v, want(k))
		}
	}
	it, err := db.NewIterator(ctx, []byte("key-"), []byte("key."))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for it.Next() {
		k := string(it.Key())
		if it.ValueLen() != len(bigValue(k, want(k))) || !bytes.Equal(it.Value(), bigValue(k, want(k))) {
			t.Fatalf("scan: %s = %.30q... (%d bytes), want version %d", k, it.Value(), it.ValueLen(), want(k))
		}
		n++
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if n != len(keys) {
		t.Fatalf("scan saw %d keys, want %d", n, len(keys))
	}
}

func keyList(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("key-%04d", i)
	}
	return keys
}

// TestValuesAreWrittenOnce: separated values go to the store once, in the
// WAL; the L0 SST holds pointers to them, GC keeps the WAL objects they
// are in, and they read back before and after a reopen.
func TestValuesAreWrittenOnce(t *testing.T) {
	forCodecs(t, func(t *testing.T, opts Options) {
		ctx := context.Background()
		mem := objstore.NewMemory()
		store := objstore.NewCounting(mem)
		db := mustOpen(t, store, opts)
		keys := keyList(300)
		putAll(t, db, keys, 1)
		var valueBytes int64
		for _, k := range keys {
			valueBytes += int64(len(bigValue(k, 1)))
		}
		if err := db.FlushMemtable(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := db.RunGC(ctx); err != nil {
			t.Fatal(err)
		}
		s := store.Stats()
		written := s[objstore.OpPut].BytesWritten + s[objstore.OpPutIfAbsent].BytesWritten
		if st := db.Stats(); st.TableBytes*4 > valueBytes || written > valueBytes*3/2 {
			t.Fatalf("%d value bytes: the SSTs hold %d bytes, %d bytes were written to the store", valueBytes, st.TableBytes, written)
		}
		if len(objectsUnder(t, mem, walPrefix)) == 0 {
			t.Fatal("GC deleted the WAL objects the SSTs point into")
		}
		checkVersions(t, db, keys, func(string) int { return 1 })
		if err := db.Close(ctx); err != nil {
			t.Fatal(err)
		}
		db = mustOpen(t, mem, opts)
		defer db.Close(ctx)
		checkVersions(t, db, keys, func(string) int { return 1 })
	})
}

// TestGCDeletesWALObjectsNothingPointsInto: WAL objects of small values go
// once their writes are in SSTs; those of separated values stay while an
// SST points into them and go once a merge drops the last such pointer.
// (Without compression: compressed, each of these values is smaller than
// its WAL object's framing, and GC rightly relocates them all at once.)
func TestGCDeletesWALObjectsNothingPointsInto(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	db := mustOpen(t, mem, valueOptions())
	defer db.Close(ctx)
	for i := 0; i < 50; i++ {
		if err := db.Put(ctx, []byte(fmt.Sprintf("small-%d", i)), []byte("x"), WriteOptions{AwaitDurable: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RunGC(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(objectsUnder(t, mem, walPrefix)); n > 1 {
		t.Fatalf("%d WAL objects of small values left after GC, want at most the last", n)
	}
	keys := keyList(100)
	for _, k := range keys {
		if err := db.Put(ctx, []byte(k), bigValue(k, 1), WriteOptions{AwaitDurable: true}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RunGC(ctx); err != nil {
		t.Fatal(err)
	}
	first := objectsUnder(t, mem, walPrefix)
	if len(first) < 50 {
		t.Fatalf("%d WAL objects after GC, want the ~100 the SSTs point into", len(first))
	}
	// Overwrite everything; once merged, nothing points into the first
	// generation of WAL objects.
	putAll(t, db, keys, 2)
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := db.RunGC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.ValueCompaction || res.WALs < len(first)-1 {
		t.Fatalf("GC after an overwrite of everything: %+v; want a value compaction and the %d old WAL objects deleted", res, len(first))
	}
	checkVersions(t, db, keys, func(string) int { return 2 })
}

// TestValueCompactionRelocates: after most values are overwritten, GC
// copies the live rest of the mostly-dead WAL objects into value objects,
// deletes those WAL objects, and everything reads back, also after a
// reopen; a second round finds nothing worth doing.
func TestValueCompactionRelocates(t *testing.T) {
	forCodecs(t, func(t *testing.T, opts Options) {
		ctx := context.Background()
		mem := objstore.NewMemory()
		db := mustOpen(t, mem, opts)
		keys := keyList(400)
		version := map[string]int{}
		for i, k := range keys {
			if err := db.Put(ctx, []byte(k), bigValue(k, 1), WriteOptions{AwaitDurable: i%20 == 19}); err != nil {
				t.Fatal(err)
			}
			version[k] = 1
		}
		if err := db.FlushMemtable(ctx); err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for _, k := range keys {
			if rng.IntN(10) < 8 {
				if err := db.Put(ctx, []byte(k), bigValue(k, 2), WriteOptions{}); err != nil {
					t.Fatal(err)
				}
				version[k] = 2
			}
		}
		if err := db.FlushMemtable(ctx); err != nil {
			t.Fatal(err)
		}
		before := objectsUnder(t, mem, walPrefix)
		res, err := db.RunGC(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st := db.Stats()
		if !res.ValueCompaction || st.ValueBytesRelocated == 0 || len(objectsUnder(t, mem, valuePrefix)) == 0 {
			t.Fatalf("GC: %+v, %d bytes relocated, value objects %v", res, st.ValueBytesRelocated, objectsUnder(t, mem, valuePrefix))
		}
		if after := objectsUnder(t, mem, walPrefix); len(after) >= len(before) {
			t.Fatalf("%d WAL objects before GC, %d after", len(before), len(after))
		}
		checkVersions(t, db, keys, func(k string) int { return version[k] })
		res, err = db.RunGC(ctx)
		if err != nil || res.ValueCompaction {
			t.Fatalf("second GC round: %+v, %v; want nothing to compact", res, err)
		}
		if err := db.Close(ctx); err != nil {
			t.Fatal(err)
		}
		db = mustOpen(t, mem, opts)
		defer db.Close(ctx)
		checkVersions(t, db, keys, func(k string) int { return version[k] })
	})
}

// TestCheckpointPinsValues: a checkpoint keeps the objects its SSTs point
// into through overwrites and value compactions; once it is deleted they go.
func TestCheckpointPinsValues(t *testing.T) {
	forCodecs(t, func(t *testing.T, opts Options) {
		for _, outside := range []bool{false, true} {
			t.Run(fmt.Sprintf("from outside %v", outside), func(t *testing.T) {
				ctx := context.Background()
				mem := objstore.NewMemory()
				db := mustOpen(t, mem, opts)
				defer db.Close(ctx)
				keys := keyList(200)
				putAll(t, db, keys, 1)
				if err := db.FlushMemtable(ctx); err != nil {
					t.Fatal(err)
				}
				if outside {
					if _, err := CreateCheckpoint(ctx, mem, "c"); err != nil {
						t.Fatal(err)
					}
				} else if _, err := db.Checkpoint(ctx, "c"); err != nil {
					t.Fatal(err)
				}
				for v := 2; v <= 3; v++ {
					putAll(t, db, keys, v)
					if err := db.FlushMemtable(ctx); err != nil {
						t.Fatal(err)
					}
					if _, err := db.RunGC(ctx); err != nil {
						t.Fatal(err)
					}
				}
				ro, err := OpenReadOnly(ctx, mem, ReadOnlyOptions{Checkpoint: "c", Logger: quietLogger()})
				if err != nil {
					t.Fatal(err)
				}
				checkVersions(t, ro, keys, func(string) int { return 1 })
				ro.Close(ctx)
				checkVersions(t, db, keys, func(string) int { return 3 })
				pinned := len(objectsUnder(t, mem, walPrefix))
				if err := db.DeleteCheckpoint(ctx, "c"); err != nil {
					t.Fatal(err)
				}
				if _, err := db.RunGC(ctx); err != nil {
					t.Fatal(err)
				}
				if n := len(objectsUnder(t, mem, walPrefix)); n >= pinned {
					t.Fatalf("%d WAL objects while the checkpoint existed, %d after deleting it and GC", pinned, n)
				}
				checkVersions(t, db, keys, func(string) int { return 3 })
			})
		}
	})
}

// TestIteratorKeepsValues: an iterator created before its values are
// overwritten, relocated and collected reads them all; once it is closed
// GC deletes their objects.
func TestIteratorKeepsValues(t *testing.T) {
	forCodecs(t, func(t *testing.T, opts Options) {
		ctx := context.Background()
		mem := objstore.NewMemory()
		db := mustOpen(t, mem, opts)
		defer db.Close(ctx)
		keys := keyList(200)
		putAll(t, db, keys, 1)
		if err := db.FlushMemtable(ctx); err != nil {
			t.Fatal(err)
		}
		it, err := db.NewIterator(ctx, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		putAll(t, db, keys, 2)
		if err := db.FlushMemtable(ctx); err != nil {
			t.Fatal(err)
		}
		if res, err := db.RunGC(ctx); err != nil || !res.ValueCompaction {
			t.Fatalf("GC: %+v, %v; want a value compaction", res, err)
		}
		held := len(objectsUnder(t, mem, walPrefix))
		n := 0
		for it.Next() {
			if k := string(it.Key()); !bytes.Equal(it.Value(), bigValue(k, 1)) {
				t.Fatalf("the iterator reads %s = %.30q..., want version 1", k, it.Value())
			}
			n++
		}
		if err := it.Close(); err != nil || n != len(keys) {
			t.Fatalf("iterator: %d keys, %v", n, err)
		}
		if _, err := db.RunGC(ctx); err != nil {
			t.Fatal(err)
		}
		if n := len(objectsUnder(t, mem, walPrefix)); n >= held {
			t.Fatalf("%d WAL objects while the iterator was open, %d after closing it and GC", held, n)
		}
		checkVersions(t, db, keys, func(string) int { return 2 })
	})
}

// TestViewIteratorResolvesValues: an iterator of a View (what a replica
// and a snapshot serve) reads separated values from the store, with the
// context it was given, and is cancelled by it.
func TestViewIteratorResolvesValues(t *testing.T) {
	ctx := context.Background()
	db := mustOpen(t, ctxStore{objstore.NewMemory()}, valueOptions())
	defer db.Close(ctx)
	keys := keyList(50)
	putAll(t, db, keys, 1)
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	vw, err := db.View()
	if err != nil {
		t.Fatal(err)
	}
	defer vw.Release()
	it, err := vw.NewIterator(ctx, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for it.Next() {
		if k := string(it.Key()); !bytes.Equal(it.Value(), bigValue(k, 1)) {
			t.Fatalf("the view's iterator reads %s = %.30q...", k, it.Value())
		}
		n++
	}
	if err := it.Close(); err != nil || n != len(keys) {
		t.Fatalf("view iterator: %d keys, %v", n, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	it, err = vw.NewIterator(cancelled, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for it.Next() {
	}
	if err := it.Close(); !errors.Is(err, context.Canceled) {
		t.Fatalf("a view iterator on a cancelled context ended with %v", err)
	}
}

// ctxStore refuses reads without a context or on a cancelled one, as a
// store that makes network requests does.
type ctxStore struct{ objstore.Store }

func (s ctxStore) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if ctx == nil {
		return nil, fmt.Errorf("GetRange %s without a context", key)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return s.Store.GetRange(ctx, key, off, n)
}

// TestCorruptValueIsAnError: a damaged byte of a separated value makes its
// read fail with ErrCorrupt, never return other bytes.
func TestCorruptValueIsAnError(t *testing.T) {
	forCodecs(t, func(t *testing.T, opts Options) {
		ctx := context.Background()
		mem := objstore.NewMemory()
		db := mustOpen(t, mem, opts)
		defer db.Close(ctx)
		value := bigValue("victim", 1)
		if err := db.Put(ctx, []byte("victim"), value, WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		stored := value
		if opts.Compression != compress.None {
			c := compress.NewCompressor(opts.Compression, nil)
			var ok bool
			if stored, ok, _ = vlog.AppendCompressed(nil, &c, value); !ok {
				t.Fatal("the value does not compress")
			}
		}
		if err := db.FlushMemtable(ctx); err != nil {
			t.Fatal(err)
		}
		damaged := false
		for _, key := range objectsUnder(t, mem, walPrefix) {
			data, err := mem.Get(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			if i := bytes.Index(data, stored); i >= 0 {
				data = bytes.Clone(data)
				data[i+len(stored)/2] ^= 0x40
				if err := mem.Put(ctx, key, data); err != nil {
					t.Fatal(err)
				}
				damaged = true
			}
		}
		if !damaged {
			t.Fatal("the value is in no WAL object")
		}
		if v, err := db.Get(ctx, []byte("victim")); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("Get of a damaged value = %.20q, %v; want ErrCorrupt", v, err)
		}
		it, err := db.NewIterator(ctx, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for it.Next() {
			if v := it.Value(); v != nil {
				t.Fatalf("the iterator returned %.20q for a damaged value", v)
			}
		}
		if err := it.Close(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("iterator over a damaged value: %v, want ErrCorrupt", err)
		}
	})
}

// TestValueGCRacesReaders runs writers overwriting separated values,
// readers (point reads and scans) checking every value they see is a
// whole, right value of its key, and memtable flushes, compactions and GC
// rounds (value compactions included) all at once. Run it with -race.
func TestValueGCRacesReaders(t *testing.T) {
	forCodecs(t, func(t *testing.T, opts Options) {
		ctx := context.Background()
		mem := objstore.NewMemory()
		opts.MemtableBytes = 64 << 10
		opts.L0CompactionTrigger = 4
		db := mustOpen(t, mem, opts)
		defer db.Close(ctx)
		keys := keyList(300)
		putAll(t, db, keys, 0)
		var latest [300]atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var failed atomic.Value
		fail := func(format string, args ...any) {
			failed.CompareAndSwap(nil, fmt.Sprintf(format, args...))
		}
		check := func(k string, v []byte) {
			gk, gv, ok := keyOf(v)
			if !ok || gk != k {
				fail("%s holds %.40q...", k, v)
				return
			}
			var i int
			fmt.Sscanf(k, "key-%d", &i)
			if int64(gv) > latest[i].Load() {
				fail("%s holds version %d, never written", k, gv)
			}
		}
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(w), 9))
				for v := 1; ; v++ {
					select {
					case <-stop:
						return
					default:
					}
					i := rng.IntN(len(keys))
					if w == 1 {
						i = rng.IntN(len(keys) / 10) // a hot tenth
					}
					latest[i].Store(int64(max(latest[i].Load(), int64(v))))
					if err := db.Put(ctx, []byte(keys[i]), bigValue(keys[i], v), WriteOptions{}); err != nil {
						fail("Put: %v", err)
						return
					}
				}
			}()
		}
		for r := 0; r < 3; r++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(r), 10))
				for {
					select {
					case <-stop:
						return
					default:
					}
					if rng.IntN(4) > 0 {
						k := keys[rng.IntN(len(keys))]
						v, err := db.Get(ctx, []byte(k))
						if err != nil {
							fail("Get(%s): %v", k, err)
							return
						}
						check(k, v)
						continue
					}
					it, err := db.NewIterator(ctx, []byte(keys[rng.IntN(len(keys))]), nil)
					if err != nil {
						fail("NewIterator: %v", err)
						return
					}
					for n := 0; n < 200 && it.Next(); n++ {
						check(string(it.Key()), it.Value())
					}
					if err := it.Close(); err != nil {
						fail("iterator: %v", err)
						return
					}
				}
			}()
		}
		// Two seconds of racing, and on until a value compaction ran (up
		// to 20 s: a loaded machine writes less garbage per second).
		deadline, last := time.Now().Add(2*time.Second), time.Now().Add(20*time.Second)
		rounds, compactions := 0, 0
		for (time.Now().Before(deadline) || compactions == 0) && time.Now().Before(last) && failed.Load() == nil {
			if err := db.FlushMemtable(ctx); err != nil {
				fail("FlushMemtable: %v", err)
				break
			}
			res, err := db.RunGC(ctx)
			if err != nil {
				fail("GC: %v", err)
				break
			}
			rounds++
			if res.ValueCompaction {
				compactions++
			}
		}
		close(stop)
		wg.Wait()
		if f := failed.Load(); f != nil {
			t.Fatal(f)
		}
		if compactions == 0 {
			t.Fatalf("%d GC rounds and no value compaction", rounds)
		}
		t.Logf("%d GC rounds, %d value compactions, %d bytes relocated", rounds, compactions, db.Stats().ValueBytesRelocated)
	})
}

// TestPickVictims: the emptiest objects first, until the garbage left is
// within the bound; nearly full objects never.
func TestPickVictims(t *testing.T) {
	w := func(id uint64) vlog.Object { return vlog.WAL(id) }
	cands := map[vlog.Object]int64{w(1): 100, w(2): 100, w(3): 100, w(4): 100, w(5): 100}
	live := map[vlog.Object]uint64{w(1): 10, w(2): 50, w(3): 95, w(4): 0, w(5): 100}
	got := pickVictims(cands, live, 0.1)
	// Garbage without w(4) (freed by the merge): 90+50+5+0 = 145 of 255 live;
	// the bound is 25.5: w(1) leaves 55, w(2) leaves 5; w(3) is 95% live.
	if len(got) != 2 || !got[w(1)] || !got[w(2)] {
		t.Fatalf("victims %v, want wal 1 and wal 2", got)
	}
	if got := pickVictims(cands, live, 1); len(got) != 0 {
		t.Fatalf("victims %v with garbage under the bound, want none", got)
	}
}
