package kvfs_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
)

// TestLargeDirectoryListingUnderChanges lists a big directory page by page
// while other goroutines create and delete entries: every entry that exists
// throughout must be listed exactly once, and no name twice.
func TestLargeDirectoryListingUnderChanges(t *testing.T) {
	ctx := context.Background()
	// The full 200,000 entries take about a minute of CPU; run them with KVFS_LARGE=1.
	n := 50000
	if testing.Short() {
		n = 10000
	}
	if os.Getenv("KVFS_LARGE") != "" {
		n = 200000
	}
	fs, _ := newFS(t, kvfs.Options{InodeCacheEntries: 10000})
	dir := must[kvfs.NewEntry](t)(fs.Mkdir(ctx, root, kvfs.RootIno, "big", 0o755)).Attr.Ino
	// Even entries are stable; odd entries get deleted during the listing.
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				if _, err := fs.Create(ctx, root, dir, fmt.Sprintf("e%07d", i), kvfs.CreateRequest{Mode: kvfs.CreateGuarded}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if err := fs.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var churn sync.WaitGroup
	churn.Add(2)
	go func() { // delete the odd entries
		defer churn.Done()
		for i := 1; i < n; i += 2 {
			if _, err := fs.Unlink(ctx, root, dir, fmt.Sprintf("e%07d", i)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() { // add new ones while the listing runs (bounded, so the listing ends)
		defer churn.Done()
		for i := 0; i < n/4; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := fs.Create(ctx, root, dir, fmt.Sprintf("new%07d", i), kvfs.CreateRequest{}); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	seen := map[string]bool{}
	var cookie uint64
	for pages := 0; ; pages++ {
		ents, eof, err := fs.ReadDir(ctx, root, dir, cookie, 1000, pages%2 == 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if seen[e.Name] {
				t.Fatalf("entry %q listed twice", e.Name)
			}
			seen[e.Name] = true
			if e.Cookie <= cookie {
				t.Fatalf("cookie %d after %d", e.Cookie, cookie)
			}
			cookie = e.Cookie
		}
		if eof {
			break
		}
	}
	close(stop)
	churn.Wait()
	for i := 0; i < n; i += 2 {
		if name := fmt.Sprintf("e%07d", i); !seen[name] {
			t.Fatalf("stable entry %q not listed", name)
		}
	}
	// Lookups in the big directory still work.
	for _, i := range []int{0, n / 2, n - 2} {
		must[kvfs.Attr](t)(fs.Lookup(ctx, root, dir, fmt.Sprintf("e%07d", i)))
	}
	if !testing.Short() {
		checkFsck(t, fs)
	}
}

// sparseModel is a reference for a sparse file: the writes in order.
type sparseWrite struct {
	off  uint64
	data []byte
}

func sparseExpect(writes []sparseWrite, off uint64, n int) []byte {
	out := make([]byte, n)
	for _, w := range writes {
		lo, hi := max(off, w.off), min(off+uint64(n), w.off+uint64(len(w.data)))
		if lo < hi {
			copy(out[lo-off:hi-off], w.data[lo-w.off:hi-w.off])
		}
	}
	return out
}

// TestLargeSparseFile writes at random offsets of a file of more than 1 TiB
// and checks what is read back by checksum; holes cost no storage.
func TestLargeSparseFile(t *testing.T) {
	ctx := context.Background()
	fs, kv := newFS(t, kvfs.Options{})
	f := must[kvfs.NewEntry](t)(fs.Create(ctx, root, kvfs.RootIno, "sparse", kvfs.CreateRequest{})).Attr.Ino
	rng := rand.New(rand.NewPCG(1, 2))
	const span = 3 << 40 // 3 TiB
	var writes []sparseWrite
	for range 300 {
		off := rng.Uint64N(span)
		if rng.IntN(4) == 0 {
			off = off / kvfs.DefaultChunkSize * kvfs.DefaultChunkSize
		}
		data := make([]byte, 1+rng.IntN(3*kvfs.DefaultChunkSize))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		if _, err := fs.Write(ctx, root, f, off, data); err != nil {
			t.Fatal(err)
		}
		writes = append(writes, sparseWrite{off, data})
		// Overlap some writes on purpose.
		if rng.IntN(5) == 0 {
			o2 := off + uint64(rng.IntN(len(data)))
			d2 := bytes.Repeat([]byte{byte(rng.Uint32())}, 1+rng.IntN(kvfs.DefaultChunkSize))
			if _, err := fs.Write(ctx, root, f, o2, d2); err != nil {
				t.Fatal(err)
			}
			writes = append(writes, sparseWrite{o2, d2})
		}
	}
	a := must[kvfs.Attr](t)(fs.GetAttr(ctx, f))
	var size uint64
	for _, w := range writes {
		size = max(size, w.off+uint64(len(w.data)))
	}
	if a.Size != size || a.Size < 1<<40 {
		t.Fatalf("size %d want %d", a.Size, size)
	}
	// Storage: only chunks written, each at most ChunkSize.
	chunks := kv.Len(inoKey(4, f), inoKey(4, f+1))
	if a.Used > uint64(chunks)*kvfs.DefaultChunkSize || chunks > len(writes)*5 {
		t.Fatalf("used %d bytes in %d chunks for %d writes", a.Used, chunks, len(writes))
	}
	check := func(off uint64, n int) {
		t.Helper()
		buf := make([]byte, n)
		got, _, err := fs.Read(ctx, root, f, off, buf)
		if err != nil {
			t.Fatal(err)
		}
		want := sparseExpect(writes, off, n)
		want = want[:min(uint64(n), size-min(size, off))]
		if crc32.ChecksumIEEE(buf[:got]) != crc32.ChecksumIEEE(want) || got != len(want) {
			t.Fatalf("read at %d len %d: checksum mismatch", off, n)
		}
	}
	for _, w := range writes {
		check(w.off-min(w.off, 100), len(w.data)+200)
	}
	for range 100 {
		check(rng.Uint64N(size), 1+rng.IntN(200000))
	}
	check(size-10, 100)
	checkFsck(t, fs)
}

func inoKey(prefix byte, ino uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{prefix}, ino)
}

// TestReclaim checks that the chunks of deleted and truncated big files are
// removed in the background, also after a crash.
func TestReclaim(t *testing.T) {
	ctx := context.Background()
	const nchunks = 700 // above what a truncate deletes inline
	mk := func(t *testing.T, fs *kvfs.FS, name string) uint64 {
		f := must[kvfs.NewEntry](t)(fs.Create(ctx, root, kvfs.RootIno, name, kvfs.CreateRequest{})).Attr.Ino
		for c := range nchunks {
			if _, err := fs.Write(ctx, root, f, uint64(c)*kvfs.DefaultChunkSize, []byte{byte(c), 1, 2}); err != nil {
				t.Fatal(err)
			}
		}
		return f
	}
	chunkKeys := func(kv *kvfs.MemKV, ino uint64) int { return kv.Len(inoKey(4, ino), inoKey(4, ino+1)) }
	t.Run("unlink", func(t *testing.T) {
		fs, kv := newFS(t, kvfs.Options{})
		f := mk(t, fs, "f")
		if n := chunkKeys(kv, f); n != nchunks {
			t.Fatalf("%d chunk keys, want %d", n, nchunks)
		}
		if _, err := fs.Unlink(ctx, root, kvfs.RootIno, "f"); err != nil {
			t.Fatal(err)
		}
		if _, err := fs.ReclaimPass(ctx); err != nil {
			t.Fatal(err)
		}
		if n := chunkKeys(kv, f); n != 0 {
			t.Fatalf("%d chunk keys left after reclaim", n)
		}
		if st := must[kvfs.StatFS](t)(fs.StatFS(ctx)); st.FreeBytes != st.TotalBytes {
			t.Fatalf("statfs after reclaim: %+v", st)
		}
		checkFsck(t, fs)
	})
	t.Run("unlink then crash", func(t *testing.T) {
		kv := kvfs.NewMemKV()
		fs := must[*kvfs.FS](t)(kvfs.Open(ctx, kv, kvfs.Options{}))
		defer fs.Close(ctx)
		f := mk(t, fs, "f")
		// The reclaimer is idle: the unlink is the next batch. Crash right after it.
		before := kv.Pending()
		if _, err := fs.Unlink(ctx, root, kvfs.RootIno, "f"); err != nil {
			t.Fatal(err)
		}
		crashed := kv.CrashKeeping(before + 1)
		if n := chunkKeys(crashed, f); n != nchunks {
			t.Fatalf("%d chunk keys at the crash, want %d", n, nchunks)
		}
		fs2 := must[*kvfs.FS](t)(kvfs.Open(ctx, crashed, kvfs.Options{}))
		defer fs2.Close(ctx)
		if _, err := fs2.GetAttr(ctx, f); !errors.Is(err, kvfs.ErrStale) {
			t.Fatalf("unlinked inode after crash: %v", err)
		}
		checkFsck(t, fs2) // the pending reclaim record accounts for the chunks
		if _, err := fs2.ReclaimPass(ctx); err != nil {
			t.Fatal(err)
		}
		if n := chunkKeys(crashed, f); n != 0 {
			t.Fatalf("%d chunk keys left after reclaim", n)
		}
		checkFsck(t, fs2)
	})
	t.Run("truncate", func(t *testing.T) {
		fs, kv := newFS(t, kvfs.Options{})
		f := mk(t, fs, "f")
		size := uint64(10*kvfs.DefaultChunkSize + 1)
		a := must[kvfs.Change](t)(fs.SetAttr(ctx, root, f, kvfs.SetAttrRequest{Size: &size})).After
		if a.Size != size {
			t.Fatal("size not set")
		}
		checkFsck(t, fs) // pending reclaim is consistent
		if _, err := fs.ReclaimPass(ctx); err != nil {
			t.Fatal(err)
		}
		if n := chunkKeys(kv, f); n != 11 {
			t.Fatalf("%d chunk keys after truncate and reclaim, want 11", n)
		}
		if a := must[kvfs.Attr](t)(fs.GetAttr(ctx, f)); a.Used != 10*3+1 {
			t.Fatalf("used %d, want 31", a.Used)
		}
		checkFsck(t, fs)
	})
	t.Run("truncate then extend before reclaim", func(t *testing.T) {
		kv := kvfs.NewMemKV()
		fs := must[*kvfs.FS](t)(kvfs.Open(ctx, kv, kvfs.Options{}))
		f := mk(t, fs, "f")
		fs.Close(ctx)
		// Reopen; truncate and at once write far out, racing the reclaimer.
		fs = must[*kvfs.FS](t)(kvfs.Open(ctx, kv, kvfs.Options{}))
		defer fs.Close(ctx)
		zero := uint64(0)
		must[kvfs.Change](t)(fs.SetAttr(ctx, root, f, kvfs.SetAttrRequest{Size: &zero}))
		must[kvfs.Change](t)(fs.Write(ctx, root, f, 500*kvfs.DefaultChunkSize, []byte("end")))
		buf := make([]byte, 3*kvfs.DefaultChunkSize)
		n, _, err := fs.Read(ctx, root, f, 499*kvfs.DefaultChunkSize-100, buf)
		if err != nil {
			t.Fatal(err)
		}
		want := append(make([]byte, kvfs.DefaultChunkSize+100), "end"...)
		if !bytes.Equal(buf[:n], want) {
			t.Fatal("old data visible after truncate and extend")
		}
		if _, err := fs.ReclaimPass(ctx); err != nil {
			t.Fatal(err)
		}
		if n := chunkKeys(kv, f); n != 1 {
			t.Fatalf("%d chunk keys, want 1", n)
		}
		checkFsck(t, fs)
	})
}
