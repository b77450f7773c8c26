package lsm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/crc32c"
	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/lsm/journal"
	"github.com/zerofs-go/zerofsd/lsm/journal/memfs"
	"github.com/zerofs-go/zerofsd/lsm/wal"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

// localOptions are smallOptions with local durability on jfs (nil: the
// OS) in dir. The flush interval is long: nothing reaches the store unless
// a test asks for it.
func localOptions(jfs journal.FS, dir string) Options {
	o := smallOptions()
	o.Durability = DurabilityLocal
	o.JournalDir = dir
	o.JournalFS = jfs
	o.FlushInterval = time.Hour
	o.ShipInterval = time.Hour
	return o
}

// logTo returns a logger writing to buf, at every level.
// journalKind is one of the local journal's two formats: in the clear, and
// sealed with an encrypted database's keys.
type journalKind struct {
	name   string
	sealed bool
}

var journalKinds = []journalKind{{"clear", false}, {"sealed", true}}

// options are localOptions, with every object and the journal sealed with
// a new export's keys when the kind is sealed.
func (k journalKind) options(t *testing.T, jfs journal.FS, dir string) Options {
	o := localOptions(jfs, dir)
	if k.sealed {
		sealing(t)(&o)
	}
	return o
}

// headerSize is the size of a journal file's header.
func (k journalKind) headerSize() int {
	if k.sealed {
		return journal.SealedHeaderSize
	}
	return journal.HeaderSize
}

// recordOffsets returns the offsets of the records of a journal file of
// kind k (each is its length, a checksum and that many bytes).
func (k journalKind) recordOffsets(data []byte) []int {
	var offs []int
	for off := k.headerSize(); off+8 <= len(data); off += 8 + int(binary.LittleEndian.Uint32(data[off:])) {
		offs = append(offs, off)
	}
	return offs
}

func forJournalKinds(t *testing.T, test func(t *testing.T, k journalKind)) {
	for _, k := range journalKinds {
		t.Run(k.name, func(t *testing.T) { test(t, k) })
	}
}

func logTo(buf *testenv.SyncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func walPuts(f *faultstore.Store) int64 { return f.Calls(objstore.OpPutIfAbsent) }

// putAwaited writes n keys prefix-i, awaited, and returns them.
func putAwaited(t *testing.T, db *DB, prefix string, n int) map[string]string {
	t.Helper()
	want := map[string]string{}
	for i := 0; i < n; i++ {
		k, v := fmt.Sprintf("%s-%03d", prefix, i), fmt.Sprintf("value %s %d", prefix, i)
		if err := db.Put(context.Background(), []byte(k), []byte(v), WriteOptions{AwaitDurable: true}); err != nil {
			t.Fatalf("awaited Put %s: %v", k, err)
		}
		want[k] = v
	}
	return want
}

func checkAll(t *testing.T, db *DB, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := mustGet(t, db, k); got != v {
			t.Fatalf("%s = %q, want %q", k, got, v)
		}
	}
}

// TestLocalDurabilityAcksWithoutPUT: with local durability, awaited writes
// and Flush return without a single WAL PUT, even with a slow store; a
// crash then loses none of them.
func TestLocalDurabilityAcksWithoutPUT(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) objstore.Store
	}{
		{"memory", func(*testing.T) objstore.Store { return objstore.NewMemory() }},
		{"local dir", func(t *testing.T) objstore.Store {
			s, err := objstore.NewLocal(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			faulty := faultstore.New(tc.store(t), faultstore.Options{})
			faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPutIfAbsent, objstore.OpPut}, Action: faultstore.DelayOnly, Latency: 30 * time.Millisecond})
			opts := localOptions(nil, t.TempDir())
			opts.MemtableBytes = 1 << 20
			db := mustOpen(t, faulty, opts)
			before := walPuts(faulty)
			start := time.Now()
			want := putAwaited(t, db, "k", 50)
			if err := db.Put(ctx, []byte("unawaited"), []byte("x"), WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := db.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			want["unawaited"] = "x"
			elapsed := time.Since(start)
			if puts := walPuts(faulty) - before; puts != 0 {
				t.Fatalf("awaited writes and Flush made %d conditional PUTs, want none", puts)
			}
			st := db.Stats()
			if st.Journal == nil || st.Journal.Fsyncs == 0 || st.UnshippedBytes == 0 || st.UnshippedAge <= 0 {
				t.Fatalf("stats: journal %+v, unshipped %d bytes, age %v", st.Journal, st.UnshippedBytes, st.UnshippedAge)
			}
			db.kill()
			re := mustOpen(t, faulty, opts)
			checkAll(t, re, want)
			if err := re.Close(ctx); err != nil {
				t.Fatal(err)
			}
			t.Logf("51 acknowledged writes in %v with a 30ms store, no WAL PUT", elapsed)
		})
	}
}

// TestLocalShipIntervalBatchesPUTs: with local durability the WAL writer
// ships once per ShipInterval while writes flow, however short the
// FlushInterval (which bounds the journal's fsync wait instead): nobody waits
// for these PUTs, so fewer and larger is better.
func TestLocalShipIntervalBatchesPUTs(t *testing.T) {
	ctx := context.Background()
	faulty := faultstore.New(objstore.NewMemory(), faultstore.Options{})
	opts := localOptions(nil, t.TempDir())
	opts.FlushInterval = time.Millisecond
	opts.ShipInterval = 200 * time.Millisecond
	opts.MemtableBytes = 16 << 20
	db := mustOpen(t, faulty, opts)
	defer db.Close(ctx)
	before := walPuts(faulty)
	start := time.Now()
	writes := 0
	for time.Since(start) < time.Second {
		k := fmt.Sprintf("k-%06d", writes)
		if err := db.Put(ctx, []byte(k), []byte("v"), WriteOptions{AwaitDurable: true}); err != nil {
			t.Fatal(err)
		}
		writes++
	}
	elapsed := time.Since(start)
	puts := walPuts(faulty) - before
	// One PUT per interval begun, plus the first write's.
	if limit := int64(elapsed/opts.ShipInterval) + 2; puts > limit {
		t.Fatalf("%d awaited writes in %v made %d WAL PUTs; at a %v ship interval, want at most %d", writes, elapsed, puts, opts.ShipInterval, limit)
	}
	if puts == 0 {
		t.Fatalf("%d awaited writes in %v shipped nothing", writes, elapsed)
	}
	t.Logf("%d awaited writes in %v: %d WAL PUTs", writes, elapsed, puts)
}

// TestLocalShipIntervalCountsFromFirstWrite: a write that arrives while
// a WAL PUT is in progress is shipped one ship interval after it was
// written, or as soon as that PUT ends if the interval has passed by
// then. The interval started only when the PUT ended, so that losing the
// journal's disk could lose the writes of an interval and two PUTs.
func TestLocalShipIntervalCountsFromFirstWrite(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	held := newHeldPut(objstore.NewMemory(), walPrefix)
	opts := localOptions(nil, t.TempDir())
	opts.Now = clock.Now
	opts.ShipInterval = time.Hour
	db := mustOpen(t, held, opts)
	defer db.Close(ctx)
	if err := db.Put(ctx, []byte("a"), []byte("1"), WriteOptions{AwaitDurable: true}); err != nil {
		t.Fatal(err)
	}
	held.armed.Store(true)
	flushed := make(chan error, 1)
	go func() { flushed <- db.FlushWAL(ctx) }()
	<-held.entered // a's PUT is in progress
	if err := db.Put(ctx, []byte("b"), []byte("2"), WriteOptions{AwaitDurable: true}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(opts.ShipInterval) // b's interval passes during a's PUT
	close(held.release)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for db.Stats().UnshippedBytes != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("b is not shipped once the PUT before it ended, a ship interval after it was written (%d bytes unshipped)",
				db.Stats().UnshippedBytes)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLocalShipsInBackground: the WAL writer ships journaled writes to the
// store, the journal forgets what is shipped, and Stats say nothing is
// left unshipped.
func TestLocalShipsInBackground(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	opts := localOptions(nil, t.TempDir())
	opts.ShipInterval = 2 * time.Millisecond
	opts.JournalFileBytes = 4 << 10
	db := mustOpen(t, store, opts)
	defer db.Close(ctx)
	want := putAwaited(t, db, "k", 200)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := db.Stats()
		if st.UnshippedBytes == 0 && st.UnshippedAge == 0 && st.Journal.Files == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not shipped after 10s: %d bytes unshipped, %v old, %d journal files", st.UnshippedBytes, st.UnshippedAge, st.Journal.Files)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The store alone (a reader, no journal) has everything.
	ro, err := OpenReadOnly(ctx, store, ReadOnlyOptions{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close(ctx)
	checkAll(t, ro, want)
}

// TestLocalCleanClose: Close ships everything, clears the journal owner in
// the manifest and removes the journal; the next writer logs no loss even
// without the journal directory.
func TestLocalCleanClose(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	dir := t.TempDir()
	db := mustOpen(t, store, localOptions(nil, dir))
	want := putAwaited(t, db, "k", 20)
	if db.man.JournalOwner == "" {
		t.Fatal("a local-durability writer does not name its journal in the manifest")
	}
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if m, _ := loadLatestManifest(ctx, store); m.JournalOwner != "" {
		t.Fatalf("after a clean close the manifest still names journal %q", m.JournalOwner)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.journal"))
	if len(files) != 0 {
		t.Fatalf("journal files left after a clean close: %v", files)
	}
	var logs testenv.SyncBuffer
	opts := smallOptions()
	opts.Logger = logTo(&logs)
	re := mustOpen(t, store, opts)
	defer re.Close(ctx)
	checkAll(t, re, want)
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("reopening after a clean close logged an error:\n%s", logs.String())
	}
}

// TestLocalCrashMachine: a machine crash (unsynced journal bytes lost or
// torn) keeps every acknowledged write, and applies batches whole.
func TestLocalCrashMachine(t *testing.T) {
	forJournalKinds(t, func(t *testing.T, k journalKind) {
		ctx := context.Background()
		for seed := uint64(1); seed <= 20; seed++ {
			jfs := memfs.New(seed)
			r := rand.New(rand.NewPCG(seed, 3))
			store := objstore.NewMemory()
			opts := k.options(t, jfs, "/journal")
			opts.FlushInterval = time.Duration(1+r.IntN(20)) * time.Millisecond
			opts.ShipInterval = time.Duration(1+r.IntN(20)) * time.Millisecond
			db := mustOpen(t, store, opts)
			acked := 0
			n := 50 + r.IntN(200)
			for i := 1; i <= n; i++ {
				var b Batch
				for j := 0; j < 3; j++ {
					b.Put([]byte(fmt.Sprintf("b%03d-%d", i, j)), []byte(fmt.Sprint(i)))
				}
				await := r.IntN(5) == 0
				if err := db.Write(ctx, &b, WriteOptions{AwaitDurable: await}); err != nil {
					t.Fatal(err)
				}
				if await {
					acked = i
				}
			}
			db.kill()
			jfs.Crash(true)
			re := mustOpen(t, store, opts)
			last := 0
			for i := 1; i <= n; i++ {
				present := 0
				for j := 0; j < 3; j++ {
					if _, err := re.Get(ctx, []byte(fmt.Sprintf("b%03d-%d", i, j))); err == nil {
						present++
					}
				}
				switch {
				case present == 3 && last == i-1:
					last = i
				case present == 0:
				default:
					t.Fatalf("seed %d: batch %d: %d of 3 keys present (prefix so far %d)", seed, i, present, last)
				}
			}
			if last < acked {
				t.Fatalf("seed %d: batches up to %d survived, %d was acknowledged", seed, last, acked)
			}
			if err := re.Close(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// withoutReserved returns a journal file's bytes without the zeros the
// journal writer reserves ahead of its records, so that a test can cut or
// change the file's last records. It follows the records' lengths: a
// record may itself end in zero bytes (a sealed record's tag, 1 in 256).
func (k journalKind) withoutReserved(data []byte) []byte {
	off := k.headerSize()
	for off+8 <= len(data) {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		if n == 0 || off+8+n > len(data) {
			break
		}
		off += 8 + n
	}
	return data[:off]
}

// TestLocalTornTail: the journal cut at random offsets after a crash
// replays whole batches only, always a prefix: the batches the store held
// before the crash, or the journal's records up to the cut if more.
func TestLocalTornTail(t *testing.T) {
	forJournalKinds(t, func(t *testing.T, k journalKind) {
		ctx := context.Background()
		// Batches 1..shipped are in the store (FlushWAL) before the crash;
		// the rest only in the journal.
		const n, shipped = 40, 15
		for seed := uint64(1); seed <= 25; seed++ {
			store := objstore.NewMemory()
			dir := t.TempDir()
			opts := k.options(t, nil, dir)
			// Nothing but FlushWAL ships: the intervals are an hour, and no
			// memtable freezes (a freeze ships a WAL object carrying, besides
			// the frozen memtable's batches, whatever later batches the WAL
			// writer finds when it gets to run; the cut would not lose those).
			opts.MemtableBytes = 16 << 20
			var logs testenv.SyncBuffer
			opts.Logger = logTo(&logs)
			db := mustOpen(t, store, opts)
			walsBefore, err := walIDsAbove(ctx, store, 0)
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= n; i++ {
				var b Batch
				for j := 0; j < 3; j++ {
					b.Put([]byte(fmt.Sprintf("b%03d-%d", i, j)), []byte(strings.Repeat("x", i)))
				}
				if err := db.Write(ctx, &b, WriteOptions{AwaitDurable: true}); err != nil {
					t.Fatal(err)
				}
				if i == shipped {
					if err := db.FlushWAL(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			db.kill()
			walsAfter, err := walIDsAbove(ctx, store, 0)
			if err != nil {
				t.Fatal(err)
			}
			if put := len(walsAfter) - len(walsBefore); put != 1 {
				t.Fatalf("seed %d: %d WAL objects put while writing, want 1 (FlushWAL's): the store holds batches the cut cannot remove", seed, put)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "*.journal"))
			last := files[len(files)-1]
			data, _ := os.ReadFile(last)
			data = k.withoutReserved(data)
			offs := k.recordOffsets(data)
			if len(offs) != n {
				t.Fatalf("seed %d: %d records in the journal, want %d", seed, len(offs), n)
			}
			r := rand.New(rand.NewPCG(seed, 4))
			cut := k.headerSize() + r.IntN(len(data)-k.headerSize())
			if err := os.Truncate(last, int64(cut)); err != nil {
				t.Fatal(err)
			}
			// The records the cut leaves whole: those followed by one that
			// starts at or before it (the last record is always cut).
			whole := 0
			for _, off := range offs[1:] {
				if off <= cut {
					whole++
				}
			}
			re := mustOpen(t, store, opts)
			prefix := 0
			for i := 1; i <= n; i++ {
				present := 0
				for j := 0; j < 3; j++ {
					if _, err := re.Get(ctx, []byte(fmt.Sprintf("b%03d-%d", i, j))); err == nil {
						present++
					}
				}
				if present == 3 && prefix == i-1 {
					prefix = i
				} else if present != 0 {
					t.Fatalf("seed %d, cut at %d: batch %d has %d of 3 keys (prefix %d)", seed, cut, i, present, prefix)
				}
			}
			if want := max(shipped, whole); prefix != want {
				t.Fatalf("seed %d: cut at %d of %d bytes (%d whole records), %d batches shipped: %d batches replayed, want %d",
					seed, cut, len(data), whole, shipped, prefix, want)
			}
			if strings.Contains(logs.String(), "level=ERROR") {
				t.Fatalf("seed %d: a torn tail logged an error:\n%s", seed, logs.String())
			}
			re.Close(ctx)
		}
	})
}

// TestLocalDamagedEndBeforeNewerFile: the journal writer began a new file
// (a rotation after a successful round) and stopped before it wrote into
// it, and the last record of the file before, acknowledged, then rotted.
// A later file means the earlier one was complete: the open sets the
// damaged record aside with an error, where it was cut off as a torn
// write, with a warning, and lost.
func TestLocalDamagedEndBeforeNewerFile(t *testing.T) {
	forJournalKinds(t, func(t *testing.T, k journalKind) {
		ctx := context.Background()
		store := objstore.NewMemory()
		opts := k.options(t, nil, t.TempDir())
		var logs testenv.SyncBuffer
		opts.Logger = logTo(&logs)
		db := mustOpen(t, store, opts)
		want := putAwaited(t, db, "acked", 10)
		db.kill()
		files, _ := filepath.Glob(filepath.Join(opts.JournalDir, "*.journal"))
		current := files[len(files)-1]
		data, err := os.ReadFile(current)
		if err != nil {
			t.Fatal(err)
		}
		data = k.withoutReserved(data)
		h, err := journal.DecodeHeader(data)
		if err != nil {
			t.Fatal(err)
		}
		data[len(data)-3] ^= 0x40 // the last record: acked-009
		if err := os.WriteFile(current, data, 0o644); err != nil {
			t.Fatal(err)
		}
		d, err := journal.OpenDir(nil, opts.JournalDir, opts.JournalCipher)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Begin(h); err != nil {
			t.Fatal(err)
		}
		d.Close()

		re := mustOpen(t, store, opts)
		defer re.Close(ctx)
		damaged := "acked-009"
		delete(want, damaged)
		checkAll(t, re, want)
		if _, err := re.Get(ctx, []byte(damaged)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(%s) = %v, want ErrNotFound: the damaged record was applied", damaged, err)
		}
		if strings.Contains(logs.String(), "cutting off a torn write") || !strings.Contains(logs.String(), "SET ASIDE") {
			t.Fatalf("an acknowledged record damaged before a newer file was not set aside:\n%s", logs.String())
		}
		orphans, err := journal.ListOrphans(nil, opts.JournalDir, opts.JournalCipher)
		if err != nil || len(orphans) != 1 || orphans[0].Damaged == 0 {
			t.Fatalf("ListOrphans = %+v, %v; want the damaged record set aside", orphans, err)
		}
	})
}

// TestLocalDamagedRecord: a damaged record followed by valid ones is not
// a torn tail: the records before it are replayed, the rest is set aside
// (logged at error level, listed by ListOrphans), never applied. In a
// sealed journal so is a record changed with its checksum made right
// again, one copied from another export's journal, and records swapped.
func TestLocalDamagedRecord(t *testing.T) {
	ctx := context.Background()
	// journalOf writes keys k-000..k-029, kills the database and returns
	// its newest journal file.
	journalOf := func(t *testing.T, opts Options) string {
		db := mustOpen(t, objstore.NewMemory(), opts)
		putAwaited(t, db, "k", 30)
		db.kill()
		files, _ := filepath.Glob(filepath.Join(opts.JournalDir, "*.journal"))
		return files[len(files)-1]
	}
	fixChecksum := func(data []byte, off int) {
		n := int(binary.LittleEndian.Uint32(data[off:]))
		binary.LittleEndian.PutUint32(data[off+4:], crc32c.Checksum(data[off+8:off+8+n]))
	}
	sealed := journalKind{"sealed", true}
	for _, tc := range []struct {
		name string
		kind journalKind
		// damage changes the tenth record (at offs[9]) of the file.
		damage func(t *testing.T, data []byte, offs []int)
		// orphanRecords is how many records the set-aside tail holds; why
		// is in the log.
		orphanRecords int
		why           string
	}{
		{"clear, byte flipped", journalKinds[0], func(t *testing.T, data []byte, offs []int) {
			data[offs[9]+10] ^= 0xff
		}, 20, "checksum mismatch"},
		{"sealed, byte flipped", sealed, func(t *testing.T, data []byte, offs []int) {
			data[offs[9]+30] ^= 0xff
		}, 20, "checksum mismatch"},
		{"sealed, byte flipped and checksum fixed", sealed, func(t *testing.T, data []byte, offs []int) {
			data[offs[9]+30] ^= 0xff
			fixChecksum(data, offs[9])
		}, 20, "failed authentication"},
		{"sealed, record of another export's journal", sealed, func(t *testing.T, data []byte, offs []int) {
			other, _ := os.ReadFile(journalOf(t, sealed.options(t, nil, t.TempDir())))
			other = sealed.withoutReserved(other)
			theirs := sealed.recordOffsets(other)
			if len(theirs) != len(offs) || theirs[9] != offs[9] || theirs[10] != offs[10] {
				t.Fatalf("the other journal's records are not where this one's are")
			}
			copy(data[offs[9]:offs[10]], other[offs[9]:offs[10]])
		}, 20, "failed authentication"},
		{"sealed, records swapped", sealed, func(t *testing.T, data []byte, offs []int) {
			r10 := bytes.Clone(data[offs[9]:offs[10]])
			r11 := bytes.Clone(data[offs[10]:offs[11]])
			copy(data[offs[9]:], r11)
			copy(data[offs[9]+len(r11):], r10)
		}, 21, "record starts at sequence number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs testenv.SyncBuffer
			opts := tc.kind.options(t, nil, t.TempDir())
			opts.Logger = logTo(&logs)
			store := objstore.NewMemory()
			db := mustOpen(t, store, opts)
			putAwaited(t, db, "k", 30)
			db.kill()
			files, _ := filepath.Glob(filepath.Join(opts.JournalDir, "*.journal"))
			data, _ := os.ReadFile(files[len(files)-1])
			data = tc.kind.withoutReserved(data)
			offs := tc.kind.recordOffsets(data)
			if len(offs) != 30 {
				t.Fatalf("%d records in the journal, want 30", len(offs))
			}
			tc.damage(t, data, offs)
			os.WriteFile(files[len(files)-1], data, 0o644)

			re := mustOpen(t, store, opts)
			defer re.Close(ctx)
			for i := 0; i < 30; i++ {
				_, err := re.Get(ctx, []byte(fmt.Sprintf("k-%03d", i)))
				if i < 9 && err != nil {
					t.Fatalf("k-%03d before the damage: %v", i, err)
				}
				if i >= 9 && !errors.Is(err, ErrNotFound) {
					t.Fatalf("k-%03d at or after the damage was applied (%v)", i, err)
				}
			}
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "SET ASIDE") ||
				!strings.Contains(logs.String(), tc.why) {
				t.Fatalf("a damaged journal was not reported at error level (%q):\n%s", tc.why, logs.String())
			}
			orphans, err := journal.ListOrphans(nil, opts.JournalDir, opts.JournalCipher)
			if err != nil || len(orphans) != 1 {
				t.Fatalf("ListOrphans = %+v, %v", orphans, err)
			}
			if o := orphans[0]; o.Records != tc.orphanRecords || (o.Records == 20) != (o.Damaged > 0) {
				t.Fatalf("set aside: %+v, want the %d records from the damaged one on", o, tc.orphanRecords)
			}
		})
	}
}

// TestLocalDamagedHeaderIsSetAside: the header of the newest journal file
// damaged after the writer acknowledged the records behind it: the file is
// set aside whole and the open says so at error level. It was taken for a
// torn header and removed, with every acknowledged write in it.
func TestLocalDamagedHeaderIsSetAside(t *testing.T) {
	forJournalKinds(t, func(t *testing.T, k journalKind) {
		ctx := context.Background()
		store := objstore.NewMemory()
		opts := k.options(t, nil, t.TempDir())
		var logs testenv.SyncBuffer
		opts.Logger = logTo(&logs)
		db := mustOpen(t, store, opts)
		putAwaited(t, db, "acked", 20)
		db.kill()
		files, _ := filepath.Glob(filepath.Join(opts.JournalDir, "*.journal"))
		newest := files[len(files)-1]
		data, err := os.ReadFile(newest)
		if err != nil {
			t.Fatal(err)
		}
		if offs := k.recordOffsets(k.withoutReserved(data)); len(offs) != 20 {
			t.Fatalf("%d records in the newest file, want 20", len(offs))
		}
		data[10] ^= 1 // a bit of the database id
		if err := os.WriteFile(newest, data, 0o644); err != nil {
			t.Fatal(err)
		}

		re := mustOpen(t, store, opts)
		defer re.Close(ctx)
		if _, err := re.Get(ctx, []byte("acked-000")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a write behind the damaged header was applied (%v)", err)
		}
		if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "SET ASIDE") ||
			!strings.Contains(logs.String(), "header checksum mismatch") {
			t.Fatalf("the damaged header was not reported at error level:\n%s", logs.String())
		}
		orphans, err := journal.ListOrphans(nil, opts.JournalDir, opts.JournalCipher)
		if err != nil || len(orphans) != 1 {
			t.Fatalf("ListOrphans = %+v, %v; want the file with the damaged header", orphans, err)
		}
		o := orphans[0]
		if o.Files != 1 || o.Damaged == 0 {
			t.Fatalf("set aside: %+v, want the one file", o)
		}
		if !k.sealed && (o.Records != 20 || o.FirstSeq != 1) {
			// In the clear the records behind a damaged header still read.
			t.Fatalf("set aside: %+v, want the 20 acknowledged records readable", o)
		}
	})
}

// TestLocalJournalLost: a local-durability writer crashes and its journal
// is deleted: the next writer says at error level what may be lost.
func TestLocalJournalLost(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		reopen  func(dir string) Options
		journal bool // the reopening writer journals too
	}{
		{"reopen local", func(dir string) Options { return localOptions(nil, dir) }, true},
		{"reopen bucket", func(string) Options { return smallOptions() }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := objstore.NewMemory()
			dir := t.TempDir()
			db := mustOpen(t, store, localOptions(nil, dir))
			putAwaited(t, db, "k", 5)
			db.kill()
			if err := os.RemoveAll(dir); err != nil {
				t.Fatal(err)
			}
			var logs testenv.SyncBuffer
			opts := tc.reopen(dir)
			opts.Logger = logTo(&logs)
			re := mustOpen(t, store, opts)
			defer re.Close(ctx)
			if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "JOURNAL MISSING") {
				t.Fatalf("a lost journal was not reported:\n%s", logs.String())
			}
		})
	}
	t.Run("journal present", func(t *testing.T) {
		store := objstore.NewMemory()
		dir := t.TempDir()
		db := mustOpen(t, store, localOptions(nil, dir))
		want := putAwaited(t, db, "k", 5)
		db.kill()
		var logs testenv.SyncBuffer
		opts := localOptions(nil, dir)
		opts.Logger = logTo(&logs)
		re := mustOpen(t, store, opts)
		defer re.Close(ctx)
		checkAll(t, re, want)
		if strings.Contains(logs.String(), "level=ERROR") {
			t.Fatalf("recovering a present journal logged an error:\n%s", logs.String())
		}
	})
}

// TestLocalDiskFull: while the journal's disk is full, awaited writes and
// Flush fail (nothing is acknowledged); once it has room the writer's
// retry succeeds, and a machine crash then loses nothing acknowledged.
func TestLocalDiskFull(t *testing.T) {
	ctx := context.Background()
	for _, op := range []memfs.Op{memfs.OpWrite, memfs.OpSync} {
		t.Run(op.String(), func(t *testing.T) {
			jfs := memfs.New(5)
			store := objstore.NewMemory()
			opts := localOptions(jfs, "/journal")
			db := mustOpen(t, store, opts)
			want := putAwaited(t, db, "before", 5)
			full := jfs.Inject(memfs.Fault{Op: op, Path: ".journal", Err: syscall.ENOSPC})
			err := db.Put(ctx, []byte("during"), []byte("v"), WriteOptions{AwaitDurable: true})
			if !errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrFenced) {
				t.Fatalf("awaited Put on a full journal disk = %v, want ENOSPC", err)
			}
			if err := db.Flush(ctx); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Flush on a full journal disk = %v, want ENOSPC", err)
			}
			full.Remove()
			deadline := time.Now().Add(10 * time.Second)
			for db.Flush(ctx) != nil {
				if time.Now().After(deadline) {
					t.Fatal("Flush never succeeded after the disk had room again")
				}
				time.Sleep(time.Millisecond)
			}
			want["during"] = "v" // the retry made it durable, and Flush said so
			for k, v := range putAwaited(t, db, "after", 5) {
				want[k] = v
			}
			db.kill()
			jfs.Crash(true)
			re := mustOpen(t, store, opts)
			defer re.Close(ctx)
			checkAll(t, re, want)
		})
	}
}

// fullUntilFreed is a journal file system whose disk is full until a
// journal file is removed or cut shorter: until then creating and writing
// journal files fails with ENOSPC.
type fullUntilFreed struct {
	*memfs.FS
	full []*memfs.FaultHandle
}

func (f *fullUntilFreed) fill() {
	for _, op := range []memfs.Op{memfs.OpCreate, memfs.OpWrite} {
		f.full = append(f.full, f.Inject(memfs.Fault{Op: op, Path: ".journal", Err: syscall.ENOSPC}))
	}
}

func (f *fullUntilFreed) free() {
	for _, h := range f.full {
		h.Remove()
	}
}

func (f *fullUntilFreed) Remove(name string) error {
	err := f.FS.Remove(name)
	if err == nil && strings.HasSuffix(name, ".journal") {
		f.free()
	}
	return err
}

func (f *fullUntilFreed) OpenFile(name string) (journal.File, error) {
	file, err := f.FS.OpenFile(name)
	if err != nil || !strings.HasSuffix(name, ".journal") {
		return file, err
	}
	data, err := f.FS.ReadFile(name)
	if err != nil {
		file.Close()
		return nil, err
	}
	return &freeingFile{File: file, fs: f, size: int64(len(data))}, nil
}

// freeingFile is a journal file of a fullUntilFreed whose Truncate frees
// the disk when it cuts the file shorter.
type freeingFile struct {
	journal.File
	fs   *fullUntilFreed
	size int64 // when opened
}

func (h *freeingFile) Truncate(size int64) error {
	err := h.File.Truncate(size)
	if err == nil && size < h.size {
		h.fs.free()
	}
	return err
}

// TestLocalOpenOnDiskFullOfJournal: a writer crashed with the journal's
// disk full of its journal, one file. The open ships the journal to the
// store, so it can empty it and make room for the new journal: it does,
// instead of failing to begin a new file while the shipped ones fill the
// disk.
func TestLocalOpenOnDiskFullOfJournal(t *testing.T) {
	ctx := context.Background()
	jfs := &fullUntilFreed{FS: memfs.New(9)}
	store := objstore.NewMemory()
	opts := localOptions(jfs, "/journal")
	db := mustOpen(t, store, opts)
	want := putAwaited(t, db, "acked", 20)
	db.kill()
	jfs.fill()
	re, err := Open(ctx, store, opts)
	if err != nil {
		t.Fatalf("Open with the journal's disk full of the journal: %v", err)
	}
	defer re.Close(ctx)
	if jfs.full[0].Fired() == 0 {
		t.Fatal("the open created no file on the full disk")
	}
	checkAll(t, re, want)
	for k, v := range putAwaited(t, re, "after", 5) {
		want[k] = v
	}
	re.kill()
	jfs.Crash(false)
	again := mustOpen(t, store, opts)
	defer again.Close(ctx)
	checkAll(t, again, want)
}

// TestLocalOpenOnDiskFullOfOtherFiles: a writer crashed, and the
// journal's disk is full of something else: the open ships the journal
// and cannot begin the new file, not even after making room. It removed
// the whole journal first, so the next open, once there was room, said
// JOURNAL MISSING though every write was in the store. A file that names
// the epoch stays now: the shipped files before it are removed, and it is
// cut down to its header.
func TestLocalOpenOnDiskFullOfOtherFiles(t *testing.T) {
	forJournalKinds(t, func(t *testing.T, k journalKind) {
		ctx := context.Background()
		jfs := memfs.New(4)
		store := objstore.NewMemory()
		opts := k.options(t, jfs, "/journal")
		opts.JournalFileBytes = 512
		var logs testenv.SyncBuffer
		opts.Logger = logTo(&logs)
		db := mustOpen(t, store, opts)
		want := putAwaited(t, db, "acked", 40)
		if files := db.journal.Stats().Files; files < 2 {
			t.Fatalf("%d journal files, want several", files)
		}
		db.kill()
		full := jfs.Inject(memfs.Fault{Op: memfs.OpCreate, Path: ".journal", Err: syscall.ENOSPC})
		if _, err := Open(ctx, store, opts); !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("Open with the journal's disk full of other files = %v, want ENOSPC", err)
		}
		entries, err := jfs.ReadDir("/journal")
		if err != nil {
			t.Fatal(err)
		}
		var left []string
		for _, e := range entries {
			if strings.HasSuffix(e.Name, ".journal") {
				left = append(left, e.Name)
			}
		}
		if len(left) != 1 {
			t.Errorf("journal files left by the failed open: %v, want the newest one", left)
		} else if data, err := jfs.ReadFile("/journal/" + left[0]); err != nil || len(data) != k.headerSize() {
			t.Errorf("%s: %d bytes, %v; want its header alone", left[0], len(data), err)
		}
		full.Remove()
		jfs.Crash(false)
		re := mustOpen(t, store, opts)
		defer re.Close(ctx)
		checkAll(t, re, want)
		if strings.Contains(logs.String(), "JOURNAL MISSING") {
			t.Fatalf("every write was shipped, yet:\n%s", logs.String())
		}
	})
}

// TestLocalJournalBacklogIsBounded: while the journal's writes fail, the
// records appended to it wait in memory, to be written again. Writes that
// do not wait for durability went on being accepted meanwhile (the WAL
// shipped them, the memtables were flushed), and the journal's memory
// grew without bound. Now they wait (backpressure) once the journal holds
// MaxUnflushedBytes not yet on its disk, and go on when its writes succeed
// again, all of them durable.
func TestLocalJournalBacklogIsBounded(t *testing.T) {
	ctx := context.Background()
	jfs := memfs.New(11)
	store := objstore.NewMemory()
	opts := localOptions(jfs, "/journal")
	opts.FlushInterval = 2 * time.Millisecond
	opts.ShipInterval = 2 * time.Millisecond
	opts.MemtableBytes = 64 << 10
	opts.MaxUnflushedBytes = 256 << 10
	db := mustOpen(t, store, opts)
	failing := jfs.Inject(memfs.Fault{Op: memfs.OpWrite, Path: ".journal", Err: syscall.EIO})
	value := []byte(strings.Repeat("x", 4000))
	const n = 4096 // 64 times the bound
	key := func(i int) []byte { return []byte(fmt.Sprintf("k%06d", i)) }
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if err := db.Put(ctx, key(i), value, WriteOptions{}); err != nil {
				done <- fmt.Errorf("Put %s: %w", key(i), err)
				return
			}
		}
		done <- nil
	}()
	// held: the journal holds the bound, and the memtables (flushed, the
	// store works) do not: writes wait for the journal alone.
	bound := opts.MaxUnflushedBytes
	held := func() bool { return db.journal.Backlog() >= bound && !db.memtablesFull() }
	for deadline := time.Now().Add(10 * time.Second); !held(); time.Sleep(time.Millisecond) {
		select {
		case err := <-done:
			t.Fatalf("%d writes accepted while the journal's writes failed (%v): it holds %d bytes in memory, bound %d",
				n, err, db.journal.Backlog(), bound)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the journal never held the bound: %d bytes, bound %d", db.journal.Backlog(), bound)
		}
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := db.Put(canceled, []byte("probe"), value, WriteOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a write with the journal holding %d bytes (bound %d) = %v, want it to wait (backpressure)", db.journal.Backlog(), bound, err)
	}
	// One record may go in after the bound is reached, no more.
	if backlog, slack := db.journal.Backlog(), int64(2*len(value)); backlog > bound+slack {
		t.Fatalf("the journal holds %d bytes in memory, bound %d", backlog, bound)
	}
	select {
	case err := <-done:
		t.Fatalf("every write accepted while the journal's writes failed (%v)", err)
	default:
	}
	if db.Stats().BackpressureWaits == 0 {
		t.Fatal("writes waited for the journal, and no backpressure wait was counted")
	}

	failing.Remove()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := db.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	db.kill()
	jfs.Crash(false)
	re := mustOpen(t, store, opts)
	defer re.Close(ctx)
	for i := 0; i < n; i++ {
		if got, err := re.Get(ctx, key(i)); err != nil || !bytes.Equal(got, value) {
			t.Fatalf("%s after a crash: %v", key(i), err)
		}
	}
}

// TestLocalTwoWriters: a local-durability writer whose WAL PUTs do not get
// through keeps acknowledging from its journal; a second writer takes the
// database over (and warns that the first one's journal is missing). The
// first one's journal tail is then set aside when it restarts — never
// applied over the second writer's data.
func TestLocalTwoWriters(t *testing.T) {
	ctx := context.Background()
	inner := objstore.NewMemory()
	storeA := faultstore.New(inner, faultstore.Options{})
	jfs := memfs.New(6)
	optsA := localOptions(jfs, "/journal-a")
	optsA.FlushInterval = 2 * time.Millisecond
	optsA.ShipInterval = 2 * time.Millisecond
	var logsA testenv.SyncBuffer
	optsA.Logger = logTo(&logsA)
	a := mustOpen(t, storeA, optsA)
	shared := putAwaited(t, a, "shared", 5)
	if err := a.FlushWAL(ctx); err != nil {
		t.Fatal(err)
	}
	storeA.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPutIfAbsent}, Key: prefixed(walPrefix)})
	// A acknowledges these from its journal alone.
	for i := 0; i < 5; i++ {
		if err := a.Put(ctx, []byte(fmt.Sprintf("a-only-%d", i)), []byte("a"), WriteOptions{AwaitDurable: true}); err != nil {
			t.Fatal(err)
		}
	}

	var logsB testenv.SyncBuffer
	optsB := smallOptions()
	optsB.Logger = logTo(&logsB)
	b := mustOpen(t, inner, optsB)
	if !strings.Contains(logsB.String(), "JOURNAL MISSING") {
		t.Fatalf("the writer taking over did not report the first writer's journal as missing:\n%s", logsB.String())
	}
	bKeys := map[string]string{}
	for i := 0; i < 8; i++ {
		k, v := fmt.Sprintf("b-%d", i), "b"
		if err := b.Put(ctx, []byte(k), []byte(v), WriteOptions{AwaitDurable: true}); err != nil {
			t.Fatal(err)
		}
		bKeys[k] = v
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	a.kill() // the first writer dies with its tail in the journal

	storeA.ClearFaults()
	re := mustOpen(t, storeA, optsA)
	defer re.Close(ctx)
	checkAll(t, re, shared)
	checkAll(t, re, bKeys)
	for i := 0; i < 5; i++ {
		if _, err := re.Get(ctx, []byte(fmt.Sprintf("a-only-%d", i))); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a-only-%d from the fenced writer's journal was applied (%v)", i, err)
		}
	}
	if !strings.Contains(logsA.String(), "SET ASIDE") || !strings.Contains(logsA.String(), "another writer took the database over") {
		t.Fatalf("the set-aside tail was not reported:\n%s", logsA.String())
	}
	orphans, err := journal.ListOrphans(jfs, "/journal-a", nil)
	if err != nil || len(orphans) != 1 || orphans[0].Records < 5 {
		t.Fatalf("orphans %+v, %v; want one with the 5 unshipped records", orphans, err)
	}
	var found int
	journal.ReadOrphan(jfs, "/journal-a", orphans[0].Name, nil, func(_ journal.Header, r wal.Record) error {
		return r.ForEach(func(_ wal.Kind, key, _ []byte) error {
			if strings.HasPrefix(string(key), "a-only-") {
				found++
			}
			return nil
		})
	}, func(string, int64, int64) {})
	if found != 5 {
		t.Fatalf("the set-aside tail holds %d of the 5 unshipped writes", found)
	}
}

// TestLocalStoreDown: with the store down, local-durability writes go on
// into the journal, then wait (backpressure, never an error) once
// MaxUnflushedBytes is reached; when the store is back everything ships,
// and the store alone has it all.
func TestLocalStoreDown(t *testing.T) {
	ctx := context.Background()
	inner := objstore.NewMemory()
	faulty := faultstore.New(inner, faultstore.Options{})
	opts := localOptions(nil, t.TempDir())
	opts.FlushInterval = 5 * time.Millisecond
	opts.ShipInterval = 5 * time.Millisecond
	opts.MemtableBytes = 8 << 10
	opts.MaxUnflushedBytes = 32 << 10
	db := mustOpen(t, faulty, opts)
	defer db.Close(ctx)
	down := faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPut, objstore.OpPutIfAbsent}})
	value := strings.Repeat("v", 1000)
	want := map[string]string{}
	shortCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		k := fmt.Sprintf("k%04d", i)
		if err = db.Put(shortCtx, []byte(k), []byte(value), WriteOptions{AwaitDurable: true}); err == nil {
			want[k] = value
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("writes with the store down ended with %v after %d acknowledged, want backpressure until the deadline", err, len(want))
	}
	if len(want) < 10 {
		t.Fatalf("only %d writes were acknowledged with the store down", len(want))
	}
	st := db.Stats()
	if st.UnshippedBytes < int64(len(want))*1000 || st.UnshippedAge <= 0 || st.BackpressureWaits == 0 {
		t.Fatalf("with the store down: %d bytes unshipped, %v old, %d backpressure waits", st.UnshippedBytes, st.UnshippedAge, st.BackpressureWaits)
	}
	down.Remove()
	for k, v := range putAwaited(t, db, "after", 20) {
		want[k] = v
	}
	if err := db.FlushWAL(ctx); err != nil {
		t.Fatal(err)
	}
	if st := db.Stats(); st.UnshippedBytes != 0 {
		t.Fatalf("%d bytes unshipped after FlushWAL", st.UnshippedBytes)
	}
	db.kill()
	// The store alone (no journal) holds every acknowledged write.
	re := mustOpen(t, inner, smallOptions())
	defer re.Close(ctx)
	checkAll(t, re, want)
	t.Logf("%d writes acknowledged with the store down before backpressure", len(want))
}

// TestLocalToBucketRecovers: a journal left by a crashed local-durability
// writer is recovered by a writer opened with bucket durability too.
func TestLocalToBucketRecovers(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	dir := t.TempDir()
	db := mustOpen(t, store, localOptions(nil, dir))
	want := putAwaited(t, db, "k", 10)
	db.kill()
	opts := smallOptions()
	opts.JournalDir = dir
	re := mustOpen(t, store, opts)
	checkAll(t, re, want)
	if files, _ := filepath.Glob(filepath.Join(dir, "*.journal")); len(files) != 0 {
		t.Fatalf("journal files left by a bucket-durability writer: %v", files)
	}
	re.kill()
	again := mustOpen(t, store, smallOptions())
	defer again.Close(ctx)
	checkAll(t, again, want)
}

// TestLocalRecoveryInterrupted: shipping the journal's tail fails in the
// middle (the store fails a WAL PUT); Open fails, and the next Open ships
// the rest.
func TestLocalRecoveryInterrupted(t *testing.T) {
	ctx := context.Background()
	faulty := faultstore.New(objstore.NewMemory(), faultstore.Options{})
	opts := localOptions(nil, t.TempDir())
	db := mustOpen(t, faulty, opts)
	want := putAwaited(t, db, "k", 40)
	db.kill()
	opts.WALMaxBytes = 512 // recovery ships the tail in many WAL objects
	h := faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPutIfAbsent}, Key: prefixed(walPrefix), Skip: 2, Times: 1})
	if _, err := Open(ctx, faulty, opts); !errors.Is(err, faultstore.ErrInjected) {
		t.Fatalf("Open with a failing WAL PUT = %v, want the injected error", err)
	}
	if h.Fired() != 1 {
		t.Fatal("the fault did not fire")
	}
	re := mustOpen(t, faulty, opts)
	defer re.Close(ctx)
	checkAll(t, re, want)
}

// TestLocalCloseWithStoreDown: a Close that cannot reach the store keeps
// everything in the journal (an *UnflushedError with Journaled), and the
// next Open ships it, acknowledged or not.
func TestLocalCloseWithStoreDown(t *testing.T) {
	ctx := context.Background()
	inner := objstore.NewMemory()
	faulty := faultstore.New(inner, faultstore.Options{})
	dir := t.TempDir()
	opts := localOptions(nil, dir)
	db := mustOpen(t, faulty, opts)
	want := putAwaited(t, db, "acked", 10)
	if err := db.Put(ctx, []byte("unawaited"), []byte("u"), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	want["unawaited"] = "u"
	faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPut, objstore.OpPutIfAbsent}})
	closeCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err := db.Close(closeCtx)
	var ue *UnflushedError
	if !errors.As(err, &ue) || !ue.Journaled {
		t.Fatalf("Close with the store down = %v, want an UnflushedError with Journaled", err)
	}
	faulty.ClearFaults()
	re := mustOpen(t, faulty, opts)
	defer re.Close(ctx)
	checkAll(t, re, want)
}

// TestLocalCloseWithStoreAndJournalDown: a Close that can reach neither
// the store nor the journal's disk reports as lost only the batches after
// what the journal made durable: those before it stay in the journal, and
// the next Open ships them. It reported every batch not in the store as
// lost, the acknowledged ones too.
func TestLocalCloseWithStoreAndJournalDown(t *testing.T) {
	ctx := context.Background()
	faulty := faultstore.New(objstore.NewMemory(), faultstore.Options{})
	jfs := memfs.New(10)
	opts := localOptions(jfs, "/journal")
	db := mustOpen(t, faulty, opts)
	faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPut, objstore.OpPutIfAbsent}})
	want := putAwaited(t, db, "acked", 10) // from the journal
	durable := db.journal.Durable()
	for i := 0; i < 3; i++ {
		if err := db.Put(ctx, []byte(fmt.Sprintf("unawaited-%d", i)), []byte("u"), WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	jdown := jfs.Inject(memfs.Fault{Op: memfs.OpSync, Path: ".journal", Err: syscall.EIO})
	closeCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err := db.Close(closeCtx)
	var ue *UnflushedError
	if !errors.As(err, &ue) || ue.Journaled {
		t.Fatalf("Close with the store and the journal down = %v, want an UnflushedError without Journaled", err)
	}
	if ue.JournalSeq != durable || ue.JournalDir != "/journal" || ue.Batches != 3 || ue.FirstSeq != durable+1 || ue.LastSeq != durable+3 {
		t.Fatalf("Close reported %d batches lost (%d to %d) and the journal durable up to %d in %q; want the 3 after %d",
			ue.Batches, ue.FirstSeq, ue.LastSeq, ue.JournalSeq, ue.JournalDir, durable)
	}
	if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("up to sequence number %d are durable in the local journal /journal", durable)) {
		t.Fatalf("Close's error does not say what the journal keeps: %s", msg)
	}
	jdown.Remove()
	faulty.ClearFaults()
	re := mustOpen(t, faulty, opts)
	defer re.Close(ctx)
	checkAll(t, re, want)
}

// TestLocalCleanCloseJournalRemovalFails: a Close that put everything in
// the store and recorded the clean close, and then could not remove the
// journal's files, reports that failure as what it is. It reported an
// UnflushedError saying that the writes up to sequence number 0 were
// durable in the journal, which the export logged as an unflushed close.
// The next open removes the files, and finds nothing missing.
func TestLocalCleanCloseJournalRemovalFails(t *testing.T) {
	ctx := context.Background()
	jfs := memfs.New(3)
	opts := localOptions(jfs, "/journal")
	var logs testenv.SyncBuffer
	opts.Logger = logTo(&logs)
	store := objstore.NewMemory()
	db := mustOpen(t, store, opts)
	want := putAwaited(t, db, "acked", 5)
	stuck := jfs.Inject(memfs.Fault{Op: memfs.OpRemove, Path: ".journal", Err: syscall.EIO})
	err := db.Close(ctx)
	var ue *UnflushedError
	if err == nil || !errors.Is(err, syscall.EIO) || errors.As(err, &ue) {
		t.Fatalf("Close whose removal of the journal fails = %v, want its EIO and no UnflushedError", err)
	}
	stuck.Remove()
	re := mustOpen(t, store, opts)
	checkAll(t, re, want)
	if err := re.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Fatalf("errors after a clean close:\n%s", logs.String())
	}
	entries, err := jfs.ReadDir("/journal")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name, ".journal") {
			t.Fatalf("journal file %s left after a clean close", e.Name)
		}
	}
}

// syncWatcher is a journal file system that closes recovered once a
// journal file's Sync succeeds after one failed.
type syncWatcher struct {
	*memfs.FS
	failed    atomic.Bool
	once      sync.Once
	recovered chan struct{}
}

func (w *syncWatcher) OpenFile(name string) (journal.File, error) {
	f, err := w.FS.OpenFile(name)
	if err != nil {
		return nil, err
	}
	return &watchedFile{File: f, w: w}, nil
}

type watchedFile struct {
	journal.File
	w *syncWatcher
}

func (f *watchedFile) Sync() error {
	err := f.File.Sync()
	if err != nil {
		f.w.failed.Store(true)
	} else if f.w.failed.Load() {
		f.w.once.Do(func() { close(f.w.recovered) })
	}
	return err
}

// heldWALStore holds every WAL PUT, whatever its context, once hold is
// set, until release is closed.
type heldWALStore struct {
	objstore.Store
	hold    atomic.Bool
	release <-chan struct{}
}

func (s *heldWALStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if s.hold.Load() && strings.HasPrefix(key, walPrefix) {
		<-s.release
	}
	return s.Store.PutIfAbsent(ctx, key, data)
}

// TestLocalCloseReportsWhatTheJournalEndedWith: Close could not reach the
// store, and the journal's write of the last writes failed, then
// succeeded on its retry before the journal writer stopped. The close
// reports what the journal held when it stopped: every write. It read the
// journal's durable sequence number before, and reported the writes the
// retry made durable as lost.
func TestLocalCloseReportsWhatTheJournalEndedWith(t *testing.T) {
	ctx := context.Background()
	jfs := &syncWatcher{FS: memfs.New(10), recovered: make(chan struct{})}
	opts := localOptions(jfs, "/journal")
	// The WAL writer's PUT, under way when Close gives up on the store,
	// ends only once the journal's retry has succeeded: Close stops the
	// journal writer after the WAL writer.
	store := &heldWALStore{Store: objstore.NewMemory(), release: jfs.recovered}
	db := mustOpen(t, store, opts)
	want := putAwaited(t, db, "acked", 10)
	for i := 0; i < 3; i++ {
		k := fmt.Sprintf("unawaited-%d", i)
		if err := db.Put(ctx, []byte(k), []byte("u"), WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		want[k] = "u"
	}
	jfs.Inject(memfs.Fault{Op: memfs.OpSync, Path: ".journal", Err: syscall.EIO, Times: 1})
	store.hold.Store(true)
	closeCtx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err := db.Close(closeCtx)
	var ue *UnflushedError
	if !errors.As(err, &ue) || ue.Journaled {
		t.Fatalf("Close = %v, want an UnflushedError without Journaled", err)
	}
	if durable := db.journal.Durable(); ue.JournalSeq != durable || ue.Batches != 0 {
		t.Fatalf("Close reported %d batches lost and the journal durable up to %d; it ended durable up to %d, every write", ue.Batches, ue.JournalSeq, durable)
	}
	re := mustOpen(t, store, opts)
	defer re.Close(ctx)
	checkAll(t, re, want)
}

// TestLocalFencedTailSurvivesACollectedFence: the journal's side of
// TestFencedWriterCannotWriteIntoACollectedFence. A writer with local
// durability acknowledged writes from its journal while its WAL PUTs
// failed; another writer took over, flushed and collected its fence. When
// the store came back, the first writer's PUT landed in the collected id
// and it took that for shipping: it deleted its journal files, so the
// acknowledged tail was neither in any history nor set aside. Now it is
// fenced instead, and the tail is set aside at its next start.
func TestLocalFencedTailSurvivesACollectedFence(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	inner := objstore.NewMemoryClock(clock.Now)
	storeA := faultstore.New(inner, faultstore.Options{})
	jfs := memfs.New(7)
	optsA := localOptions(jfs, "/journal-a")
	optsA.Now = clock.Now
	optsA.GCMinAge = time.Hour
	var logsA testenv.SyncBuffer
	optsA.Logger = logTo(&logsA)
	a := mustOpen(t, storeA, optsA)
	storeA.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPutIfAbsent, objstore.OpHead, objstore.OpList, objstore.OpGet}})
	for i := 0; i < 5; i++ {
		if err := a.Put(ctx, []byte(fmt.Sprintf("a-only-%d", i)), []byte("a"), WriteOptions{AwaitDurable: true}); err != nil {
			t.Fatal(err)
		}
	}
	flushCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	if err := a.FlushWAL(flushCtx); err == nil {
		t.Fatal("FlushWAL succeeded with the store cut off")
	}
	cancel()

	if err := takeOverAndCollect(t, inner, clock, time.Hour, 2*time.Hour).Close(ctx); err != nil {
		t.Fatal(err)
	}

	storeA.ClearFaults()
	if err := a.FlushWAL(ctx); !errors.Is(err, ErrFenced) {
		t.Fatalf("the first writer's FlushWAL after the store came back = %v, want ErrFenced", err)
	}
	a.kill()
	re := mustOpen(t, storeA, optsA)
	defer re.Close(ctx)
	orphans, err := journal.ListOrphans(jfs, "/journal-a", nil)
	if err != nil || len(orphans) != 1 || orphans[0].Records < 5 {
		t.Fatalf("orphans %+v, %v; want one with the 5 writes acknowledged from the journal", orphans, err)
	}
}

// TestJournalShippedDuringATakeover: a restart ships the journal's tail
// to the store before it serves. If another writer opened, flushed past
// its fence and collected it while that shipping was stalled, the tail
// went into the collected id, where nobody replays it, and the journal
// was trimmed: writes acknowledged from it were lost. Now the store is
// read again after shipping, and the tail is set aside.
func TestJournalShippedDuringATakeover(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	inner := objstore.NewMemoryClock(clock.Now)
	faulty := faultstore.New(inner, faultstore.Options{})
	jfs := memfs.New(8)
	optsA := localOptions(jfs, "/journal-a")
	optsA.Now = clock.Now
	optsA.GCMinAge = time.Hour
	var logsA testenv.SyncBuffer
	optsA.Logger = logTo(&logsA)
	a := mustOpen(t, faulty, optsA)
	faulty.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpPutIfAbsent}, Key: prefixed(walPrefix)})
	for i := 0; i < 5; i++ {
		if err := a.Put(ctx, []byte(fmt.Sprintf("a-only-%d", i)), []byte("a"), WriteOptions{AwaitDurable: true}); err != nil {
			t.Fatal(err)
		}
	}
	a.kill() // crashed with its tail only in the journal
	faulty.ClearFaults()

	held := newHeldPut(inner, walPrefix)
	held.armed.Store(true)
	reopened := make(chan *DB, 1)
	go func() {
		db, err := Open(ctx, held, optsA)
		if err != nil {
			t.Errorf("restart: %v", err)
		}
		reopened <- db
	}()
	<-held.entered // the restart is shipping the journal's tail

	if err := takeOverAndCollect(t, inner, clock, time.Hour, 2*time.Hour).Close(ctx); err != nil {
		t.Fatal(err)
	}
	close(held.release)
	re := <-reopened
	if re == nil {
		t.FailNow()
	}
	defer re.Close(ctx)
	orphans, err := journal.ListOrphans(jfs, "/journal-a", nil)
	if err != nil || len(orphans) != 1 || orphans[0].Records < 5 {
		t.Fatalf("orphans %+v, %v; want the 5 writes acknowledged from the journal set aside", orphans, err)
	}
}
