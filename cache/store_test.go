package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/objstore"
)

const testPageSize = 8 << 10 // two chunks per page: small objects span many pages

func testLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

func openTestDisk(t testing.TB, dir string, capacity int64) *Disk {
	t.Helper()
	d, err := OpenDiskWithOptions(dir, DiskOptions{CapacityBytes: capacity, PageSize: testPageSize, Logger: testLogger()})
	if err != nil {
		t.Fatalf("OpenDisk: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// patterned returns n bytes that differ at every offset and between seeds.
func patterned(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/251) ^ seed
	}
	return b
}

// want is what GetRange must return according to the objstore contract.
func want(obj []byte, off, n int64) []byte {
	if off >= int64(len(obj)) {
		return []byte{}
	}
	end := int64(len(obj))
	if n < end-off {
		end = off + n
	}
	return obj[off:end]
}

func mustGetRange(t *testing.T, s objstore.Store, key string, off, n int64) []byte {
	t.Helper()
	got, err := s.GetRange(context.Background(), key, off, n)
	if err != nil {
		t.Fatalf("GetRange(%q, %d, %d): %v", key, off, n, err)
	}
	return got
}

func checkRange(t *testing.T, s objstore.Store, key string, obj []byte, off, n int64) {
	t.Helper()
	got := mustGetRange(t, s, key, off, n)
	if w := want(obj, off, n); !bytes.Equal(got, w) {
		t.Fatalf("GetRange(%q, %d, %d) = %d bytes, want %d bytes (first diff %d)", key, off, n, len(got), len(w), firstDiff(got, w))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

const P = testPageSize

func TestGetRangeMatchesStore(t *testing.T) {
	sizes := []int{0, 1, chunkSize, P - 1, P, P + 1, 2 * P, 3*P + 100}
	type rng struct{ off, n int64 }
	ranges := []rng{
		{0, 1}, {0, 100}, {1, P}, {P - 1, 2}, {P, P}, {P - 10, P + 20}, {0, 4 * P},
		{3 * P, 100}, {3*P + 99, 10}, {10 * P, 5}, {P / 2, math.MaxInt64}, {0, math.MaxInt64 - 5},
		{chunkSize - 1, 2}, {5000, 3 * P},
	}
	for _, size := range sizes {
		t.Run(fmt.Sprintf("size=%d", size), func(t *testing.T) {
			inner := newMemStore()
			obj := patterned(size, 1)
			inner.Put(context.Background(), "obj", obj)
			d := openTestDisk(t, t.TempDir(), 1<<30)
			s := NewCachingStore(inner, d, "ns")
			for _, r := range ranges {
				checkRange(t, s, "obj", obj, r.off, r.n) // cold or partly cached
			}
			before := inner.getRanges.Load()
			for _, r := range ranges {
				checkRange(t, s, "obj", obj, r.off, r.n) // every page now resident
			}
			if n := inner.getRanges.Load() - before; n != 0 {
				t.Errorf("warm reads made %d inner GetRange calls, want 0 (log %v)", n, inner.takeRangeLog())
			}
		})
	}
}

func TestRandomRangesMatchStore(t *testing.T) {
	inner := newMemStore()
	obj := patterned(10*P+1234, 2)
	inner.Put(context.Background(), "obj", obj)
	// A capacity of about 4 pages forces evictions between reads.
	d := openTestDisk(t, t.TempDir(), 4*(P+300))
	s := NewCachingStore(inner, d, "ns")
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		off := rnd.Int64N(int64(len(obj)) + P)
		n := rnd.Int64N(3*P) + 1
		checkRange(t, s, "obj", obj, off, n)
	}
	st := d.Stats()
	if st.Bytes > 4*(P+300) || st.Evictions == 0 || st.Hits == 0 {
		t.Errorf("stats %+v: want bytes within capacity, evictions and hits", st)
	}
}

func TestHitMissAccounting(t *testing.T) {
	inner := newMemStore()
	obj := patterned(4*P, 3)
	inner.Put(context.Background(), "obj", obj)
	d := openTestDisk(t, t.TempDir(), 1<<30)
	s := NewCachingStore(inner, d, "ns")

	steps := []struct {
		off, n                        int64
		hits, misses, fetches, writes int64
		innerCalls                    []string
	}{
		{off: 10, n: 100, misses: 1, fetches: 1, writes: 1, innerCalls: []string{"obj 0 8192"}},
		{off: 200, n: 100, hits: 1},
		// pages 0..2: page 0 resident, pages 1 and 2 fetched with one call
		{off: 0, n: 3 * P, hits: 1, misses: 2, fetches: 1, writes: 2, innerCalls: []string{"obj 8192 16384"}},
		// pages 3..5: page 3 is full and the object ends with it, so the
		// empty page 4 is cached as the end marker; page 5 is not
		{off: 3*P + 5, n: 2 * P, misses: 3, fetches: 1, writes: 2, innerCalls: []string{"obj 24576 24576"}},
		{off: 4 * P, n: 10, hits: 1},
		{off: 0, n: 4 * P, hits: 4},
	}
	inner.takeRangeLog()
	var prev DiskStats
	for i, st := range steps {
		checkRange(t, s, "obj", obj, st.off, st.n)
		got := d.Stats()
		delta := DiskStats{Hits: got.Hits - prev.Hits, Misses: got.Misses - prev.Misses, Fetches: got.Fetches - prev.Fetches, Writes: got.Writes - prev.Writes}
		wantDelta := DiskStats{Hits: st.hits, Misses: st.misses, Fetches: st.fetches, Writes: st.writes}
		if delta != wantDelta {
			t.Errorf("step %d: stats delta %+v, want %+v", i, delta, wantDelta)
		}
		if log := inner.takeRangeLog(); fmt.Sprint(log) != fmt.Sprint(st.innerCalls) {
			t.Errorf("step %d: inner calls %v, want %v", i, log, st.innerCalls)
		}
		prev = got
	}
	if st := d.Stats(); st.Files != 5 || st.Corrupt != 0 {
		t.Errorf("stats %+v: want 5 files (4 pages and the end marker), no corruption", st)
	}
}

func TestMissingPagesFetchedInOneCall(t *testing.T) {
	inner := newMemStore()
	obj := patterned(6*P, 4)
	inner.Put(context.Background(), "obj", obj)
	d := openTestDisk(t, t.TempDir(), 1<<30)
	s := NewCachingStore(inner, d, "ns")
	checkRange(t, s, "obj", obj, 0, 1)
	checkRange(t, s, "obj", obj, 2*P, 1)
	inner.takeRangeLog()
	checkRange(t, s, "obj", obj, 0, 5*P) // pages 1, 3, 4 missing
	if log := inner.takeRangeLog(); len(log) != 1 || log[0] != fmt.Sprintf("obj %d %d", P, 4*P) {
		t.Errorf("inner calls %v, want one call spanning pages 1..4", log)
	}
}

func TestEvictionAtByteBound(t *testing.T) {
	inner := newMemStore()
	obj := patterned(8*P, 5)
	inner.Put(context.Background(), "obj", obj)
	fileSize := int64(pageHeaderLen(len("ns"), len("obj"), P) + P)
	d := openTestDisk(t, t.TempDir(), 3*fileSize)
	s := NewCachingStore(inner, d, "ns")
	for p := range int64(5) {
		checkRange(t, s, "obj", obj, p*P, 10)
	}
	st := d.Stats()
	if st.Files != 3 || st.Bytes != 3*fileSize || st.Evictions != 2 {
		t.Fatalf("stats %+v: want 3 files, %d bytes, 2 evictions", st, 3*fileSize)
	}
	// Pages 2, 3, 4 are resident; touch 2 so that 3 is the least recent.
	checkRange(t, s, "obj", obj, 2*P, 10)
	checkRange(t, s, "obj", obj, 5*P, 10)
	inner.takeRangeLog()
	checkRange(t, s, "obj", obj, 2*P, 10)
	checkRange(t, s, "obj", obj, 4*P, 10)
	if log := inner.takeRangeLog(); len(log) != 0 {
		t.Errorf("pages 2 and 4 should be resident, got inner calls %v", log)
	}
	checkRange(t, s, "obj", obj, 3*P, 10)
	if log := inner.takeRangeLog(); len(log) != 1 {
		t.Errorf("page 3 should have been evicted, got inner calls %v", log)
	}
	if n := countPageFiles(t, d.dir); int64(n) != d.Stats().Files {
		t.Errorf("%d page files on disk, index has %d", n, d.Stats().Files)
	}
}

// TestFilesStayWithinCapacityWhileWriting: room for a page is made before
// its file is written, so the files in the cache directory never add up to
// more than the capacity, not even while new pages are written, alone or
// several at once, and not yet indexed.
func TestFilesStayWithinCapacityWhileWriting(t *testing.T) {
	ctx := context.Background()
	inner := newMemStore()
	keys := []string{"ob0", "ob1", "ob2", "ob3", "ob4"}
	objs := make(map[string][]byte)
	for i, k := range keys {
		objs[k] = patterned(4*P, byte(10+i))
		inner.Put(ctx, k, objs[k])
	}
	fileSize := int64(pageHeaderLen(len("ns"), len("ob0"), P) + P)
	capacity := 3 * fileSize
	dir := t.TempDir()
	d := openTestDisk(t, dir, capacity)
	var worst atomic.Int64
	d.pageWritten = func(string) {
		u := dirUsage(t, dir)
		for w := worst.Load(); u > w && !worst.CompareAndSwap(w, u); w = worst.Load() {
		}
	}
	s := NewCachingStore(inner, d, "ns")
	// One page at a time: the cache fills, then every new page evicts one.
	for p := range int64(4) {
		checkRange(t, s, "ob0", objs["ob0"], p*P, 10)
	}
	// Several pages written at once, each needing room.
	var wg sync.WaitGroup
	for _, k := range keys[1:] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if got, err := s.GetRange(ctx, k, 0, 10); err != nil || !bytes.Equal(got, objs[k][:10]) {
				t.Errorf("GetRange(%s) = %q, %v", k, got, err)
			}
		}()
	}
	wg.Wait()
	if st := d.Stats(); st.Writes < 4 {
		t.Fatalf("stats %+v: want at least 4 pages written", st)
	}
	if w := worst.Load(); w > capacity {
		t.Fatalf("cache files added up to %d bytes while a page was written, capacity %d (%d page files)", w, capacity, w/fileSize)
	}
}

// TestEvictedRoomIsTakenOnlyOnceFilesAreGone: pages evicted to make room
// for a smaller one hold their room until their files are removed, so a
// write made meanwhile cannot take it and the files never exceed the
// capacity. Here a small page evicts a big one whose file is slow to go;
// another small page, which does not fit beside the big one, is written
// meanwhile only if the big one's room was handed out too soon.
func TestEvictedRoomIsTakenOnlyOnceFilesAreGone(t *testing.T) {
	ctx := context.Background()
	inner := newMemStore()
	big, small1, small2 := patterned(P, 60), patterned(100, 61), patterned(100, 62)
	inner.Put(ctx, "big", big)
	inner.Put(ctx, "sm1", small1)
	inner.Put(ctx, "sm2", small2)
	bigSize := int64(pageHeaderLen(len("ns"), len("big"), P) + P)
	smallSize := int64(pageHeaderLen(len("ns"), len("sm1"), 100) + 100)
	capacity := bigSize + smallSize - 1 // the big page, or both small ones, but not one beside the big one
	dir := t.TempDir()
	d := openTestDisk(t, dir, capacity)
	s := NewCachingStore(inner, d, "ns")
	checkRange(t, s, "big", big, 0, 10)
	var worst atomic.Int64
	d.pageWritten = func(string) {
		u := dirUsage(t, dir)
		for w := worst.Load(); u > w && !worst.CompareAndSwap(w, u); w = worst.Load() {
		}
	}
	stalled, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	d.removingFile = func(string) {
		once.Do(func() { close(stalled); <-release }) // the big page's file
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if got, err := s.GetRange(ctx, "sm1", 0, 100); err != nil || !bytes.Equal(got, small1) {
			t.Errorf("GetRange(sm1) = %d bytes, %v", len(got), err)
		}
	}()
	<-stalled // sm1 evicted the big page, whose file is still there
	checkRange(t, s, "sm2", small2, 0, 100)
	close(release)
	<-done
	if w := worst.Load(); w > capacity {
		t.Errorf("cache files added up to %d bytes, capacity %d", w, capacity)
	}
	if st := d.Stats(); st.Bytes != smallSize || st.Files != 1 {
		t.Errorf("stats %+v: want sm1's page alone cached (%d bytes)", st, smallSize)
	}
	d.mu.Lock()
	reserved, removing := d.reserved, d.removing
	d.mu.Unlock()
	if reserved != 0 || removing != 0 {
		t.Errorf("%d bytes reserved and %d being removed once every write is over, want 0", reserved, removing)
	}
}

// dirUsage is the sum of the sizes of the files under dir but LOCK, files
// being written included.
func dirUsage(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() || filepath.Base(path) == "LOCK" {
			return nil
		}
		if fi, err := de.Info(); err == nil {
			n += fi.Size()
		}
		return nil
	})
	return n
}

func TestPageLargerThanCapacityIsNotCached(t *testing.T) {
	inner := newMemStore()
	obj := patterned(2*P, 6)
	inner.Put(context.Background(), "obj", obj)
	d := openTestDisk(t, t.TempDir(), P/2)
	s := NewCachingStore(inner, d, "ns")
	checkRange(t, s, "obj", obj, 0, 2*P)
	checkRange(t, s, "obj", obj, 0, 2*P)
	if st := d.Stats(); st.Files != 0 || st.Bytes != 0 || st.Writes != 0 {
		t.Errorf("stats %+v: nothing fits, nothing should be written", st)
	}
}

func countPageFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err == nil && !de.IsDir() && filepath.Base(path) != "LOCK" {
			n++
		}
		return nil
	})
	return n
}

func TestRestartReusesCache(t *testing.T) {
	dir := t.TempDir()
	inner := newMemStore()
	objA, objB := patterned(3*P+17, 7), patterned(P, 8)
	inner.Put(context.Background(), "a", objA)
	inner.Put(context.Background(), "b", objB)

	d1, err := OpenDiskWithOptions(dir, DiskOptions{CapacityBytes: 1 << 30, PageSize: P, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	s1 := NewCachingStore(inner, d1, "ns")
	checkRange(t, s1, "a", objA, 0, 10*P)
	if _, err := s1.Get(context.Background(), "b"); err != nil {
		t.Fatal(err)
	}
	filesBefore := d1.Stats().Files
	if err := d1.Close(); err != nil {
		t.Fatal(err)
	}

	d2 := openTestDisk(t, dir, 1<<30)
	if st := d2.Stats(); st.Files != filesBefore || st.Corrupt != 0 {
		t.Fatalf("after reopen: stats %+v, want %d files", st, filesBefore)
	}
	s2 := NewCachingStore(inner, d2, "ns")
	gets, ranges := inner.gets.Load(), inner.getRanges.Load()
	checkRange(t, s2, "a", objA, 0, 10*P)
	checkRange(t, s2, "a", objA, P+5, P)
	got, err := s2.Get(context.Background(), "b")
	if err != nil || !bytes.Equal(got, objB) {
		t.Fatalf("Get(b) after restart = %d bytes, %v", len(got), err)
	}
	got, err = s2.Get(context.Background(), "a")
	if err != nil || !bytes.Equal(got, objA) {
		t.Fatalf("Get(a) after restart = %d bytes, %v", len(got), err)
	}
	if g, r := inner.gets.Load()-gets, inner.getRanges.Load()-ranges; g != 0 || r != 0 {
		t.Errorf("after restart: %d inner Gets and %d GetRanges, want none", g, r)
	}
	if st := d2.Stats(); st.Hits == 0 || st.Misses != 0 {
		t.Errorf("after restart: stats %+v, want only hits", st)
	}
}

func TestRestartWithSmallerCapacityEvictsOldest(t *testing.T) {
	dir := t.TempDir()
	inner := newMemStore()
	obj := patterned(4*P, 9)
	inner.Put(context.Background(), "obj", obj)
	d1 := openTestDisk(t, dir, 1<<30)
	s1 := NewCachingStore(inner, d1, "ns")
	base := time.Now().Add(-time.Hour)
	for p := range int64(4) {
		checkRange(t, s1, "obj", obj, p*P, 1)
	}
	// Give the files distinct, increasing modification times: page p is older than p+1.
	d1.mu.Lock()
	for id, e := range d1.pages {
		mt := base.Add(time.Duration(id.page) * time.Minute)
		os.Chtimes(e.path, mt, mt)
	}
	d1.mu.Unlock()
	d1.Close()

	fileSize := int64(pageHeaderLen(2, 3, P) + P)
	d2 := openTestDisk(t, dir, 2*fileSize)
	if st := d2.Stats(); st.Files != 2 || st.Evictions != 2 {
		t.Fatalf("stats %+v: want 2 files kept, 2 evicted", st)
	}
	s2 := NewCachingStore(inner, d2, "ns")
	inner.takeRangeLog()
	checkRange(t, s2, "obj", obj, 2*P, 2*P)
	if log := inner.takeRangeLog(); len(log) != 0 {
		t.Errorf("newest pages 2 and 3 should be kept, got inner calls %v", log)
	}
	if n := countPageFiles(t, dir); n != 2 {
		t.Errorf("%d files on disk, want 2", n)
	}
}

// pagePath returns the file of a resident page.
func pagePath(t *testing.T, d *Disk, ns, key string, page int64) string {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.pages[pageID{ns, key, page}]
	if e == nil {
		t.Fatalf("page %d of %q is not resident", page, key)
	}
	return e.path
}

func TestDamagedFilesAreNeverServed(t *testing.T) {
	damage := []struct {
		name string
		fn   func(t *testing.T, d *Disk, path string)
	}{
		{"payload byte flipped", func(t *testing.T, d *Disk, path string) { flipByte(t, path, -100) }},
		{"first payload byte flipped", func(t *testing.T, d *Disk, path string) { flipByte(t, path, -P) }},
		{"header byte flipped", func(t *testing.T, d *Disk, path string) { flipByte(t, path, 20) }},
		{"magic flipped", func(t *testing.T, d *Disk, path string) { flipByte(t, path, 0) }},
		{"truncated", func(t *testing.T, d *Disk, path string) { os.Truncate(path, 1000) }},
		{"truncated to nothing", func(t *testing.T, d *Disk, path string) { os.Truncate(path, 0) }},
		{"deleted", func(t *testing.T, d *Disk, path string) { os.Remove(path) }},
		{"replaced by another page", func(t *testing.T, d *Disk, path string) {
			other, err := os.ReadFile(pagePath(t, d, "ns", "obj", 2))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(path, other, 0o644)
		}},
		{"replaced by a directory", func(t *testing.T, d *Disk, path string) {
			os.Remove(path)
			os.Mkdir(path, 0o755)
		}},
	}
	for _, dm := range damage {
		t.Run(dm.name, func(t *testing.T) {
			inner := newMemStore()
			obj := patterned(3*P-100, 10) // page 2 is short: the size is known
			inner.Put(context.Background(), "obj", obj)
			d := openTestDisk(t, t.TempDir(), 1<<30)
			s := NewCachingStore(inner, d, "ns")
			checkRange(t, s, "obj", obj, 0, 3*P)
			dm.fn(t, d, pagePath(t, d, "ns", "obj", 1))
			inner.takeRangeLog()

			checkRange(t, s, "obj", obj, P, P) // whole page 1
			if st := d.Stats(); st.Corrupt != 1 {
				t.Errorf("stats %+v: want 1 corrupt file", st)
			}
			if log := inner.takeRangeLog(); fmt.Sprint(log) != fmt.Sprintf("[obj %d %d]", P, P) {
				t.Errorf("inner calls %v, want a refetch of page 1", log)
			}
			// The refetched page is cached again and now served.
			checkRange(t, s, "obj", obj, P, P)
			got, err := s.Get(context.Background(), "obj")
			if err != nil || !bytes.Equal(got, obj) {
				t.Fatalf("Get = %d bytes, %v", len(got), err)
			}
			if log := inner.takeRangeLog(); len(log) != 0 || inner.gets.Load() != 0 {
				t.Errorf("page 1 should be resident again, inner calls %v, gets %d", log, inner.gets.Load())
			}
		})
	}
}

func TestDamagedFileNeverServedByGet(t *testing.T) {
	inner := newMemStore()
	obj := patterned(2*P+5, 11)
	inner.Put(context.Background(), "obj", obj)
	d := openTestDisk(t, t.TempDir(), 1<<30)
	s := NewCachingStore(inner, d, "ns")
	if _, err := s.Get(context.Background(), "obj"); err != nil {
		t.Fatal(err)
	}
	flipByte(t, pagePath(t, d, "ns", "obj", 2), -1)
	got, err := s.Get(context.Background(), "obj")
	if err != nil || !bytes.Equal(got, obj) {
		t.Fatalf("Get = %d bytes, %v", len(got), err)
	}
	if st := d.Stats(); st.Corrupt != 1 || inner.gets.Load() != 2 {
		t.Errorf("stats %+v, inner gets %d: want 1 corrupt file and a refetch", st, inner.gets.Load())
	}
}

// flipByte inverts one byte of a file; a negative offset counts from the end.
func flipByte(t *testing.T, path string, off int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += len(b)
	}
	b[off] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOpenDropsInvalidAndTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	inner := newMemStore()
	obj := patterned(3*P, 12)
	inner.Put(context.Background(), "obj", obj)
	d1 := openTestDisk(t, dir, 1<<30)
	s1 := NewCachingStore(inner, d1, "ns")
	checkRange(t, s1, "obj", obj, 0, 3*P)
	headerDamaged := pagePath(t, d1, "ns", "obj", 0)
	truncated := pagePath(t, d1, "ns", "obj", 1)
	payloadDamaged := pagePath(t, d1, "ns", "obj", 2)
	d1.Close()

	flipByte(t, headerDamaged, 30)
	os.Truncate(truncated, 500)
	flipByte(t, payloadDamaged, -1) // found only when read
	tmp := filepath.Join(filepath.Dir(truncated), tmpPrefix+"123")
	os.WriteFile(tmp, []byte("half a page"), 0o644)
	foreign := filepath.Join(dir, "README")
	os.WriteFile(foreign, []byte("not a cache file"), 0o644)

	d2 := openTestDisk(t, dir, 1<<30)
	if st := d2.Stats(); st.Files != 1 || st.Corrupt != 2 {
		t.Fatalf("stats %+v: want 1 file indexed, 2 corrupt dropped", st)
	}
	for _, p := range []string{headerDamaged, truncated, tmp} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s should have been removed: %v", p, err)
		}
	}
	if _, err := os.Stat(foreign); err != nil {
		t.Errorf("a file that is not ours was touched: %v", err)
	}
	s2 := NewCachingStore(inner, d2, "ns")
	checkRange(t, s2, "obj", obj, 0, 3*P)
	if st := d2.Stats(); st.Corrupt != 3 || st.Files != 3 {
		t.Errorf("stats %+v: want the payload damage found on read, all pages resident again", st)
	}
}

func TestOpenDropsOtherPageSize(t *testing.T) {
	dir := t.TempDir()
	inner := newMemStore()
	obj := patterned(3*P, 13)
	inner.Put(context.Background(), "obj", obj)
	d1 := openTestDisk(t, dir, 1<<30)
	checkRange(t, NewCachingStore(inner, d1, "ns"), "obj", obj, 0, 3*P)
	d1.Close()
	d2, err := OpenDiskWithOptions(dir, DiskOptions{CapacityBytes: 1 << 30, PageSize: 2 * P, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if st := d2.Stats(); st.Files != 0 || st.Corrupt != 0 || countPageFiles(t, dir) != 0 {
		t.Errorf("stats %+v, %d files: files of another page size should be removed", st, countPageFiles(t, dir))
	}
	checkRange(t, NewCachingStore(inner, d2, "ns"), "obj", obj, 100, 3*P)
}

func TestConcurrentMissesShareOneFetch(t *testing.T) {
	inner := newMemStore()
	obj := patterned(4*P, 14)
	inner.Put(context.Background(), "obj", obj)
	d := openTestDisk(t, t.TempDir(), 1<<30)
	s := NewCachingStore(inner, d, "ns")

	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	inner.getRangeHook = func(key string, off, n int64) {
		once.Do(func() { close(entered); <-release })
	}
	const readers = 8
	var wg sync.WaitGroup
	errs := make(chan error, readers)
	for i := range readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := int64(P + i*100) // all inside page 1
			got, err := s.GetRange(context.Background(), "obj", off, 50)
			if err == nil && !bytes.Equal(got, want(obj, off, 50)) {
				err = fmt.Errorf("reader %d got wrong bytes", i)
			}
			errs <- err
		}()
	}
	<-entered
	// Wait until every other reader waits on the fetch in flight.
	waitForWaiters(t, d, pageID{"ns", "obj", 1}, readers-1)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := inner.getRanges.Load(); n != 1 {
		t.Errorf("%d inner GetRange calls, want 1", n)
	}
	if st := d.Stats(); st.Misses != 1 || st.Fetches != 1 || st.Writes != 1 {
		t.Errorf("stats %+v: want one miss, one fetch, one write", st)
	}
}

func TestWaiterRetriesWhenOwnerIsCancelled(t *testing.T) {
	inner := newMemStore()
	obj := patterned(2*P, 15)
	inner.Put(context.Background(), "obj", obj)
	d := openTestDisk(t, t.TempDir(), 1<<30)
	s := NewCachingStore(inner, d, "ns")

	ownerCtx, cancelOwner := context.WithCancel(context.Background())
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	inner.getRangeHook = func(key string, off, n int64) {
		once.Do(func() { close(entered); <-release })
	}
	ownerErr := make(chan error, 1)
	go func() {
		_, err := s.GetRange(ownerCtx, "obj", 0, 10)
		ownerErr <- err
	}()
	<-entered
	waiterDone := make(chan []byte, 1)
	go func() {
		got, err := s.GetRange(context.Background(), "obj", 5, 10)
		if err != nil {
			t.Errorf("waiter: %v", err)
		}
		waiterDone <- got
	}()
	waitForWaiters(t, d, pageID{"ns", "obj", 0}, 1)
	cancelOwner()
	close(release)
	if err := <-ownerErr; !errors.Is(err, context.Canceled) {
		t.Errorf("owner error %v, want context.Canceled", err)
	}
	if got := <-waiterDone; !bytes.Equal(got, obj[5:15]) {
		t.Errorf("waiter got %x", got)
	}
}

// waitForWaiters waits until n readers wait on the fetch of page id in
// flight; it fails the test after a long time (the bound of a hang, not a
// timing assertion).
func waitForWaiters(t *testing.T, d *Disk, id pageID, n int) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; {
		d.mu.Lock()
		w := 0
		if c := d.inflight[id]; c != nil {
			w = c.waiters
		}
		d.mu.Unlock()
		if w == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %d readers to wait on page %d of %q; %d do", n, id.page, id.key, w)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWaitersGetTheOwnersStoreError: when the fetch that readers of a page
// wait on fails with the store's error, each waiter returns that error
// rather than fetching the page again: one failed request to the store,
// not one per reader (against S3, each would wait out the client's whole
// retry budget before failing in turn).
func TestWaitersGetTheOwnersStoreError(t *testing.T) {
	ctx := context.Background()
	inner := newMemStore()
	inner.Put(ctx, "obj", patterned(2*P, 16))
	d := openTestDisk(t, t.TempDir(), 1<<30)
	s := NewCachingStore(inner, d, "ns")

	errDown := errors.New("the store is down")
	inner.getRangeErr = errDown
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	inner.getRangeHook = func(key string, off, n int64) {
		once.Do(func() { close(entered); <-release }) // the first fetch fails late
	}
	const readers = 4
	errs := make(chan error, readers)
	read := func(i int) {
		_, err := s.GetRange(ctx, "obj", int64(i*100), 50) // all inside page 0
		errs <- err
	}
	go read(0)
	<-entered
	for i := 1; i < readers; i++ {
		go read(i)
		waitForWaiters(t, d, pageID{"ns", "obj", 0}, i)
	}
	close(release)
	for range readers {
		if err := <-errs; !errors.Is(err, errDown) {
			t.Errorf("GetRange: %v, want the store's error", err)
		}
	}
	if n := inner.getRanges.Load(); n != 1 {
		t.Errorf("%d inner GetRange calls, want 1: the waiters read the failing store again", n)
	}
}

func TestDeleteEvicts(t *testing.T) {
	inner := newMemStore()
	obj := patterned(2*P, 16)
	inner.Put(context.Background(), "obj", obj)
	inner.Put(context.Background(), "other", obj)
	d := openTestDisk(t, t.TempDir(), 1<<30)
	s := NewCachingStore(inner, d, "ns")
	checkRange(t, s, "obj", obj, 0, 2*P)
	checkRange(t, s, "other", obj, 0, 2*P)
	path := pagePath(t, d, "ns", "obj", 0)
	if err := s.Delete(context.Background(), "obj"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetRange(context.Background(), "obj", 0, 10); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("GetRange after Delete: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(context.Background(), "obj"); !errors.Is(err, objstore.ErrNotFound) {
		t.Errorf("Get after Delete: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("page file still on disk: %v", err)
	}
	if st := d.Stats(); st.Files != 2 {
		t.Errorf("stats %+v: only the other object's pages should stay", st)
	}
	d.mu.Lock()
	_, tracked := d.objects[objectID{"ns", "obj"}]
	d.mu.Unlock()
	if tracked {
		t.Error("deleted object is still tracked")
	}
}

func TestPutReplacesCachedContent(t *testing.T) {
	inner := newMemStore()
	d := openTestDisk(t, t.TempDir(), 1<<30)
	s := NewCachingStore(inner, d, "ns")
	ctx := context.Background()
	v1, v2 := patterned(3*P, 17), patterned(P+10, 18)
	if err := s.Put(ctx, "obj", v1); err != nil {
		t.Fatal(err)
	}
	checkRange(t, s, "obj", v1, 0, 3*P)
	if err := s.Put(ctx, "obj", v2); err != nil {
		t.Fatal(err)
	}
	checkRange(t, s, "obj", v2, 0, 3*P)
	got, err := s.Get(ctx, "obj")
	if err != nil || !bytes.Equal(got, v2) {
		t.Fatalf("Get = %d bytes, %v", len(got), err)
	}
	if inner.getRanges.Load() != 0 || inner.gets.Load() != 0 {
		t.Errorf("Put should populate the cache: %d inner GetRanges, %d Gets", inner.getRanges.Load(), inner.gets.Load())
	}
	if st := d.Stats(); st.Files != 2 {
		t.Errorf("stats %+v: want the 2 pages of the new version only", st)
	}

	// PutIfAbsent on an existing key fails and leaves the cache as it was.
	if err := s.PutIfAbsent(ctx, "obj", v1); !errors.Is(err, objstore.ErrPreconditionFailed) {
		t.Fatalf("PutIfAbsent = %v", err)
	}
	checkRange(t, s, "obj", v2, 0, 3*P)
	if err := s.PutIfAbsent(ctx, "new", v1); err != nil {
		t.Fatal(err)
	}
	checkRange(t, s, "new", v1, 0, 3*P)
	if inner.getRanges.Load() != 0 {
		t.Errorf("%d inner GetRanges, want 0", inner.getRanges.Load())
	}
}

func TestOverwriteDuringFetchIsNotCached(t *testing.T) {
	inner := newMemStore()
	ctx := context.Background()
	v1, v2 := patterned(P, 19), patterned(P, 20)
	inner.Put(ctx, "obj", v1)
	d := openTestDisk(t, t.TempDir(), 1<<30)
	s := NewCachingStore(inner, d, "ns")
	var once sync.Once
	inner.getRangeHook = func(key string, off, n int64) {
		// The fetch has started (reading v1 is still allowed below): overwrite now.
		once.Do(func() {
			inner.mu.Lock()
			old := inner.objects["obj"]
			inner.mu.Unlock()
			if err := s.Put(ctx, "obj", v2); err != nil {
				t.Error(err)
			}
			inner.mu.Lock()
			inner.objects["obj"] = old // serve v1 to this fetch, as a slow reader would see it
			inner.mu.Unlock()
		})
	}
	mustGetRange(t, s, "obj", 0, P)
	inner.Put(ctx, "obj", v2)
	inner.getRangeHook = nil
	checkRange(t, s, "obj", v2, 0, P)
}

// TestChangeDuringGetIsNotCached: Get read the object from the store before
// it took the object's generation in the cache, unlike GetRange's fetch: a
// Delete or Put landing in between was missed, and the bytes read, stale
// by then, were cached and served to every later Get.
func TestChangeDuringGetIsNotCached(t *testing.T) {
	ctx := context.Background()
	v1, v2 := patterned(2*P+5, 23), patterned(P+1, 24)
	for _, tc := range []struct {
		name   string
		change func(s objstore.Store) error
		want   []byte // nil: the object is gone
	}{
		{"delete", func(s objstore.Store) error { return s.Delete(ctx, "obj") }, nil},
		{"overwrite", func(s objstore.Store) error { return s.Put(ctx, "obj", v2) }, v2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := newMemStore()
			inner.Put(ctx, "obj", v1)
			s := NewCachingStore(inner, openTestDisk(t, t.TempDir(), 1<<30), "ns")
			var once sync.Once
			inner.getHook = func(string) {
				// The old bytes are read, not yet returned: change the object now.
				once.Do(func() {
					if err := tc.change(s); err != nil {
						t.Error(err)
					}
				})
			}
			if got, err := s.Get(ctx, "obj"); err != nil || !bytes.Equal(got, v1) {
				t.Fatalf("Get racing the change = %d bytes, %v; want the old %d", len(got), err, len(v1))
			}
			inner.getHook = nil
			got, err := s.Get(ctx, "obj")
			switch {
			case tc.want == nil && !errors.Is(err, objstore.ErrNotFound):
				t.Fatalf("Get after the delete = %d bytes, %v; want objstore.ErrNotFound", len(got), err)
			case tc.want != nil && (err != nil || !bytes.Equal(got, tc.want)):
				t.Fatalf("Get after the overwrite = %d bytes (first difference at %d), %v; want the new %d", len(got), firstDiff(got, tc.want), err, len(tc.want))
			}
		})
	}
}

// TestRacingWritesCacheTheLastOne: a write whose bytes landed in the store
// first and that reaches the cache last must not leave its bytes cached
// over those of a write or delete that landed after it.
func TestRacingWritesCacheTheLastOne(t *testing.T) {
	ctx := context.Background()
	a, b := patterned(P+7, 25), patterned(P+9, 26)
	for _, tc := range []struct {
		name  string
		first func(s objstore.Store) error // writes a, then stalls
		then  func(s objstore.Store) error // runs while the first stalls
		want  []byte                       // nil: the object is gone
	}{
		{"put then put", func(s objstore.Store) error { return s.Put(ctx, "obj", a) }, func(s objstore.Store) error { return s.Put(ctx, "obj", b) }, b},
		{"put-if-absent then put", func(s objstore.Store) error { return s.PutIfAbsent(ctx, "obj", a) }, func(s objstore.Store) error { return s.Put(ctx, "obj", b) }, b},
		{"put then delete", func(s objstore.Store) error { return s.Put(ctx, "obj", a) }, func(s objstore.Store) error { return s.Delete(ctx, "obj") }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := newMemStore()
			s := NewCachingStore(inner, openTestDisk(t, t.TempDir(), 1<<30), "ns")
			applied, release := make(chan struct{}), make(chan struct{})
			inner.putHook = func(_ string, data []byte) {
				if bytes.Equal(data, a) { // a is in the store: stall before the cache hears of it
					close(applied)
					<-release
				}
			}
			done := make(chan error, 1)
			go func() { done <- tc.first(s) }()
			<-applied
			thenErr := tc.then(s)
			close(release)
			if thenErr != nil {
				t.Fatal(thenErr)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			for _, read := range []struct {
				name string
				get  func() ([]byte, error)
			}{
				{"Get", func() ([]byte, error) { return s.Get(ctx, "obj") }},
				{"GetRange", func() ([]byte, error) { return s.GetRange(ctx, "obj", 0, 2*P) }},
			} {
				got, err := read.get()
				switch {
				case tc.want == nil && !errors.Is(err, objstore.ErrNotFound):
					t.Errorf("%s after the delete = %d bytes, %v; want objstore.ErrNotFound", read.name, len(got), err)
				case tc.want != nil && (err != nil || !bytes.Equal(got, tc.want)):
					t.Errorf("%s = %d bytes (first difference at %d), %v; want the %d bytes of the last write", read.name, len(got), firstDiff(got, tc.want), err, len(tc.want))
				}
			}
		})
	}
}

func TestNamespacesAreIsolated(t *testing.T) {
	d := openTestDisk(t, t.TempDir(), 1<<30)
	innerA, innerB := newMemStore(), newMemStore()
	objA, objB := patterned(2*P, 21), patterned(P+3, 22)
	innerA.Put(context.Background(), "obj", objA)
	innerB.Put(context.Background(), "obj", objB)
	sa, sb := NewCachingStore(innerA, d, "team-a"), NewCachingStore(innerB, d, "team-b")
	for range 2 {
		checkRange(t, sa, "obj", objA, 0, 3*P)
		checkRange(t, sb, "obj", objB, 0, 3*P)
	}
	if innerA.getRanges.Load() != 1 || innerB.getRanges.Load() != 1 {
		t.Errorf("inner calls a=%d b=%d, want one each", innerA.getRanges.Load(), innerB.getRanges.Load())
	}
	if err := sa.Delete(context.Background(), "obj"); err != nil {
		t.Fatal(err)
	}
	checkRange(t, sb, "obj", objB, 0, 3*P)
	if innerB.getRanges.Load() != 1 {
		t.Error("deleting in one namespace evicted another's pages")
	}
	entries, _ := os.ReadDir(d.dir)
	nsDirs := 0
	for _, e := range entries {
		if e.IsDir() {
			nsDirs++
		}
	}
	if nsDirs != 2 {
		t.Errorf("%d namespace directories, want 2", nsDirs)
	}
}

func TestDirectoryDeletedWhileRunning(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	inner := newMemStore()
	obj := patterned(4*P, 23)
	inner.Put(context.Background(), "obj", obj)
	d := openTestDisk(t, dir, 1<<30)
	s := NewCachingStore(inner, d, "ns")
	checkRange(t, s, "obj", obj, 0, 4*P)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	checkRange(t, s, "obj", obj, 0, 4*P)
	got, err := s.Get(context.Background(), "obj")
	if err != nil || !bytes.Equal(got, obj) {
		t.Fatalf("Get = %d bytes, %v", len(got), err)
	}
	if err := s.Put(context.Background(), "new", obj); err != nil {
		t.Fatal(err)
	}
	// The cache recreated its directories and serves again.
	before := inner.getRanges.Load()
	checkRange(t, s, "obj", obj, 0, 4*P)
	checkRange(t, s, "new", obj, 0, 4*P)
	if n := inner.getRanges.Load() - before; n != 0 {
		t.Errorf("%d inner calls after the cache was rebuilt, want 0", n)
	}
	if st := d.Stats(); st.Corrupt != 4 || st.WriteErrors != 0 {
		t.Errorf("stats %+v: want the 4 vanished files counted, no write errors", st)
	}
}

// TestUnwritableDirectoryIsIgnored: when no page file can be written, reads
// are served from the inner store, right, every time, and the failures are
// counted. The namespace's directory is replaced by a regular file (ENOTDIR
// for every page under it), which root gets around no more than anyone.
func TestUnwritableDirectoryIsIgnored(t *testing.T) {
	dir := t.TempDir()
	inner := newMemStore()
	obj := patterned(2*P, 24)
	inner.Put(context.Background(), "obj", obj)
	d := openTestDisk(t, dir, 1<<30)
	s := NewCachingStore(inner, d, "ns")
	nsDir := filepath.Join(dir, namespaceDir("ns"))
	if err := os.RemoveAll(nsDir); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(nsDir, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkRange(t, s, "obj", obj, 0, 2*P)
	checkRange(t, s, "obj", obj, 0, 2*P)
	if n := inner.getRanges.Load(); n != 2 {
		t.Errorf("%d inner calls for two reads, want 2: a page was served from the cache", n)
	}
	if st := d.Stats(); st.WriteErrors == 0 || st.Files != 0 {
		t.Errorf("stats %+v: want write errors and nothing cached", st)
	}
}

func TestClosedDiskPassesThrough(t *testing.T) {
	inner := newMemStore()
	obj := patterned(2*P, 25)
	inner.Put(context.Background(), "obj", obj)
	d := openTestDisk(t, t.TempDir(), 1<<30)
	s := NewCachingStore(inner, d, "ns")
	checkRange(t, s, "obj", obj, 0, 2*P)
	d.Close()
	before := inner.getRanges.Load()
	checkRange(t, s, "obj", obj, 0, 2*P)
	if inner.getRanges.Load() != before+1 {
		t.Error("a closed disk should pass reads through")
	}
	if NewCachingStore(inner, nil, "ns") != objstore.Store(inner) {
		t.Error("a nil Disk should return the inner store")
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	dir := t.TempDir()
	d := openTestDisk(t, dir, 1<<20)
	if _, err := OpenDisk(dir, 1<<20, testLogger()); !errors.Is(err, ErrLocked) {
		t.Fatalf("second OpenDisk: %v, want ErrLocked", err)
	}
	d.Close()
	d2, err := OpenDisk(dir, 1<<20, testLogger())
	if err != nil {
		t.Fatalf("OpenDisk after Close: %v", err)
	}
	d2.Close()
}

func TestOpenRejectsBadOptions(t *testing.T) {
	for _, opts := range []DiskOptions{
		{CapacityBytes: 0},
		{CapacityBytes: -1},
		{CapacityBytes: 1 << 20, PageSize: 1000},
		{CapacityBytes: 1 << 20, PageSize: 32 << 20},
	} {
		if d, err := OpenDiskWithOptions(t.TempDir(), opts); err == nil {
			d.Close()
			t.Errorf("OpenDisk(%+v) succeeded", opts)
		}
	}
}

func TestConcurrentReadersAndWriters(t *testing.T) {
	inner := newMemStore()
	const objects = 6
	objs := make([][]byte, objects)
	for i := range objs {
		objs[i] = patterned(3*P+i*1000, byte(30+i))
		inner.Put(context.Background(), fmt.Sprintf("obj%d", i), objs[i])
	}
	d := openTestDisk(t, t.TempDir(), 6*(P+300))
	s := NewCachingStore(inner, d, "ns")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(g), 99))
			for range 200 {
				i := rnd.IntN(objects)
				key := fmt.Sprintf("obj%d", i)
				if rnd.IntN(10) == 0 {
					got, err := s.Get(context.Background(), key)
					if err != nil || !bytes.Equal(got, objs[i]) {
						t.Errorf("Get(%s) = %d bytes, %v", key, len(got), err)
						return
					}
					continue
				}
				off, n := rnd.Int64N(4*P), rnd.Int64N(2*P)+1
				got, err := s.GetRange(context.Background(), key, off, n)
				if err != nil || !bytes.Equal(got, want(objs[i], off, n)) {
					t.Errorf("GetRange(%s, %d, %d) = %d bytes, %v", key, off, n, len(got), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	st := d.Stats()
	if st.Bytes > 6*(P+300) || st.Corrupt != 0 {
		t.Errorf("stats %+v: over capacity or corrupt", st)
	}
	if n := countPageFiles(t, d.dir); int64(n) != st.Files {
		t.Errorf("%d page files on disk, index has %d", n, st.Files)
	}
}

func TestUncacheableNamesPassThrough(t *testing.T) {
	inner := newMemStore()
	longKey := string(bytes.Repeat([]byte("k"), maxNameLen+1))
	obj := patterned(P, 50)
	inner.Put(context.Background(), longKey, obj)
	inner.Put(context.Background(), "obj", obj)
	d := openTestDisk(t, t.TempDir(), 1<<30)
	s := NewCachingStore(inner, d, "ns")
	longNS := NewCachingStore(inner, d, string(bytes.Repeat([]byte("n"), maxNameLen+1)))
	if longNS != objstore.Store(inner) {
		t.Error("a namespace too long for the file header should not be cached")
	}
	for range 2 {
		checkRange(t, s, longKey, obj, 0, P)
		if got, err := s.Get(context.Background(), longKey); err != nil || !bytes.Equal(got, obj) {
			t.Fatalf("Get(long key) = %d bytes, %v", len(got), err)
		}
	}
	if st := d.Stats(); st.Files != 0 || st.Writes != 0 {
		t.Errorf("stats %+v: a key too long for the header should not be cached", st)
	}
	if err := s.Delete(context.Background(), longKey); err != nil {
		t.Fatal(err)
	}
}

func TestReadAfterPutDoesNotJoinAnOlderFetch(t *testing.T) {
	inner := newMemStore()
	ctx := context.Background()
	v1, v2 := patterned(P, 51), patterned(P, 52)
	inner.Put(ctx, "obj", v1)
	d := openTestDisk(t, t.TempDir(), 1<<30)
	s := NewCachingStore(inner, d, "ns")
	entered, release := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	inner.getRangeHook = func(key string, off, n int64) {
		if !first.Swap(true) { // only the first fetch blocks
			close(entered)
			<-release
		}
	}
	old := make(chan []byte, 1)
	go func() {
		got, err := s.GetRange(ctx, "obj", 0, P)
		if err != nil {
			t.Error(err)
		}
		old <- got
	}()
	<-entered // the slow fetch is in flight (it will read v2: the hook runs before the read)
	if err := s.Put(ctx, "obj", v2); err != nil {
		t.Fatal(err)
	}
	d.invalidate(objectID{"ns", "obj"}) // drop what Put cached: the next read must fetch
	checkRange(t, s, "obj", v2, 0, P)   // does not wait for the older fetch
	close(release)
	<-old
	checkRange(t, s, "obj", v2, 0, P)
}
