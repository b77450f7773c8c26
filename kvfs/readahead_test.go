package kvfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// cutKV passes everything to MemKV until cut, then fails every read.
type cutKV struct {
	*MemKV
	cut atomic.Bool
}

var errCut = errors.New("the KV is cut off")

func (k *cutKV) Get(ctx context.Context, key []byte) ([]byte, error) {
	if k.cut.Load() {
		return nil, errCut
	}
	return k.MemKV.Get(ctx, key)
}

func (k *cutKV) NewIterator(ctx context.Context, lower, upper []byte) (KVIterator, error) {
	if k.cut.Load() {
		return nil, errCut
	}
	return k.MemKV.NewIterator(ctx, lower, upper)
}

// blockingKV makes iterators, once block is set, wait in Next until their
// context is cancelled (a read-ahead fetch stuck on a slow store). It
// sends on entered once per context whose iterators begin to wait, and on
// cancelled once per context that ended a wait. Point reads (Get) never
// block.
type blockingKV struct {
	*MemKV
	block              atomic.Bool
	entered, cancelled chan struct{}
	seenIn, seenOut    sync.Map // context.Context -> true
}

func (k *blockingKV) NewIterator(ctx context.Context, lower, upper []byte) (KVIterator, error) {
	it, err := k.MemKV.NewIterator(ctx, lower, upper)
	if err != nil || !k.block.Load() {
		return it, err
	}
	return &blockingIter{KVIterator: it, ctx: ctx, kv: k}, nil
}

type blockingIter struct {
	KVIterator
	ctx context.Context
	kv  *blockingKV
	err error
}

func (it *blockingIter) Next() bool {
	if it.err == nil {
		if _, dup := it.kv.seenIn.LoadOrStore(it.ctx, true); !dup {
			it.kv.entered <- struct{}{}
		}
		<-it.ctx.Done()
		it.err = it.ctx.Err()
		if _, dup := it.kv.seenOut.LoadOrStore(it.ctx, true); !dup {
			it.kv.cancelled <- struct{}{}
		}
	}
	return false
}

func (it *blockingIter) Err() error { return it.err }

// waitFor waits until cond holds; it fails the test after a long time
// (the bound of a hang, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30s for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// fetchesDone reports whether every segment of every stream is fetched.
func fetchesDone(fs *FS) bool {
	fs.ra.mu.Lock()
	defer fs.ra.mu.Unlock()
	for _, s := range fs.ra.streams {
		for _, seg := range s.segs {
			if !seg.finished {
				return false
			}
		}
	}
	return true
}

// raFile creates a file of size bytes of a seeded pattern on fs and returns
// its inode and content.
func raFile(t *testing.T, fs *FS, name string, size int) (uint64, []byte) {
	t.Helper()
	ctx := context.Background()
	e, err := fs.Create(ctx, Cred{}, RootIno, name, CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, size)
	var seed [32]byte
	copy(seed[:], name)
	_, _ = rand.NewChaCha8(seed).Read(data)
	for off := 0; off < size; off += 1 << 20 {
		if _, err := fs.Write(ctx, Cred{}, e.Attr.Ino, uint64(off), data[off:min(off+1<<20, size)]); err != nil {
			t.Fatal(err)
		}
	}
	return e.Attr.Ino, data
}

// readAt reads n bytes at off and checks them against want (the file as
// it must read, up to its end).
func readAt(t *testing.T, fs *FS, ino uint64, off, n int, want []byte) {
	t.Helper()
	buf := make([]byte, n)
	got, _, err := fs.Read(context.Background(), Cred{}, ino, uint64(off), buf)
	if err != nil {
		t.Fatalf("read [%d,+%d): %v", off, n, err)
	}
	w := want[min(off, len(want)):min(off+n, len(want))]
	if !bytes.Equal(buf[:got], w) {
		t.Fatalf("read [%d,+%d): %d bytes differ from the %d expected", off, n, got, len(w))
	}
}

// TestReadAheadServesSequentialReads reads a file sequentially, waits for
// the read-ahead to fetch what lies ahead, then cuts the KV off: the next
// reads must still return the file's bytes, from memory. Without
// read-ahead they fail.
func TestReadAheadServesSequentialReads(t *testing.T) {
	for _, chunk := range []int{MinChunkSize, MaxChunkSize} {
		for _, rsize := range []int{1 << 20, 64 << 10} {
			t.Run(fmt.Sprintf("chunk %d read %d", chunk, rsize), func(t *testing.T) {
				ctx := context.Background()
				kv := &cutKV{MemKV: NewMemKV()}
				fs, err := Open(ctx, kv, Options{ChunkSize: chunk})
				if err != nil {
					t.Fatal(err)
				}
				defer fs.Close(ctx)
				const size = 6 << 20
				ino, data := raFile(t, fs, "f", size)
				off := 0
				for ; off < 2<<20; off += rsize {
					readAt(t, fs, ino, off, rsize, data)
				}
				// The window is at least raMinWindow past the reader.
				waitFor(t, "the read-ahead", func() bool { return fetchesDone(fs) })
				served := fs.ReadAheadStats().ServedBytes
				kv.cut.Store(true)
				for end := off + raMinWindow; off < end; off += rsize {
					readAt(t, fs, ino, off, rsize, data)
				}
				if s := fs.ReadAheadStats(); s.ServedBytes-served != raMinWindow {
					t.Errorf("read-ahead served %d bytes after the cut, want %d", s.ServedBytes-served, raMinWindow)
				}
			})
		}
	}
}

// TestReadAheadNeverStale changes a file after the read-ahead fetched
// what lies ahead of its reader: every later read must see the change.
func TestReadAheadNeverStale(t *testing.T) {
	const size = 12 << 20
	ctx := context.Background()
	cases := []struct {
		name   string
		change func(t *testing.T, fs *FS, ino uint64, data []byte) []byte
	}{
		{"overwrite ahead", func(t *testing.T, fs *FS, ino uint64, data []byte) []byte {
			patch := bytes.Repeat([]byte{0xA5}, 3<<20+100)
			if _, err := fs.Write(ctx, Cred{}, ino, 2<<20+50, patch); err != nil {
				t.Fatal(err)
			}
			return append(append(data[:2<<20+50:2<<20+50], patch...), data[2<<20+50+len(patch):]...)
		}},
		{"truncate", func(t *testing.T, fs *FS, ino uint64, data []byte) []byte {
			sz := uint64(3<<20 + 7)
			if _, err := fs.SetAttr(ctx, Cred{}, ino, SetAttrRequest{Size: &sz}); err != nil {
				t.Fatal(err)
			}
			return data[:sz]
		}},
		{"truncate and extend", func(t *testing.T, fs *FS, ino uint64, data []byte) []byte {
			sz, big := uint64(2<<20+7), uint64(size)
			for _, s := range []*uint64{&sz, &big} {
				if _, err := fs.SetAttr(ctx, Cred{}, ino, SetAttrRequest{Size: s}); err != nil {
					t.Fatal(err)
				}
			}
			// Reclaim of the truncated chunks may still be pending.
			return append(data[:sz:sz], make([]byte, big-sz)...)
		}},
		{"truncate, extend and reclaim", func(t *testing.T, fs *FS, ino uint64, data []byte) []byte {
			sz, big := uint64(2<<20+7), uint64(size)
			if _, err := fs.SetAttr(ctx, Cred{}, ino, SetAttrRequest{Size: &sz}); err != nil {
				t.Fatal(err)
			}
			if _, err := fs.ReclaimPass(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := fs.SetAttr(ctx, Cred{}, ino, SetAttrRequest{Size: &big}); err != nil {
				t.Fatal(err)
			}
			return append(data[:sz:sz], make([]byte, big-sz)...)
		}},
		{"append", func(t *testing.T, fs *FS, ino uint64, data []byte) []byte {
			tail := bytes.Repeat([]byte{7}, 1<<20)
			if _, err := fs.Write(ctx, Cred{}, ino, size, tail); err != nil {
				t.Fatal(err)
			}
			return append(data, tail...)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := Open(ctx, NewMemKV(), Options{InlineTruncateChunks: 16})
			if err != nil {
				t.Fatal(err)
			}
			defer fs.Close(ctx)
			ino, data := raFile(t, fs, "f", size)
			readAt(t, fs, ino, 0, 1<<20, data)
			readAt(t, fs, ino, 1<<20, 1<<20, data)
			waitFor(t, "the read-ahead", func() bool { return fetchesDone(fs) })
			if s := fs.ReadAheadStats(); s.FetchedBytes < 4<<20 {
				t.Fatalf("read-ahead fetched %d bytes, want the 4 MiB past the reader", s.FetchedBytes)
			}
			want := tc.change(t, fs, ino, bytes.Clone(data))
			for off := 2 << 20; off < len(want)+1<<20; off += 1 << 20 {
				readAt(t, fs, ino, off, 1<<20, want)
			}
			if s := fs.ReadAheadStats(); s.Dropped == 0 {
				t.Errorf("no segment dropped: %+v", s)
			}
		})
	}
}

// TestReadAheadConcurrentWrites reads a file sequentially, again and
// again, while another goroutine rewrites its 1 MiB regions with ever
// newer versions: no read may return a version older than one whose write
// had returned before the read began.
func TestReadAheadConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	fs, err := Open(ctx, NewMemKV(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close(ctx)
	const regions = 8
	const size = regions << 20
	e, err := fs.Create(ctx, Cred{}, RootIno, "f", CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	ino := e.Attr.Ino
	if _, err := fs.Write(ctx, Cred{}, ino, 0, bytes.Repeat([]byte{1}, size)); err != nil {
		t.Fatal(err)
	}
	var written [regions]atomic.Int32 // the newest version whose write returned
	for i := range written {
		written[i].Store(1)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(1, 2))
		for v := 2; v < 250; v++ {
			select {
			case <-stop:
				return
			default:
			}
			k := r.IntN(regions)
			if _, err := fs.Write(ctx, Cred{}, ino, uint64(k)<<20, bytes.Repeat([]byte{byte(v)}, 1<<20)); err != nil {
				t.Error(err)
				return
			}
			written[k].Store(int32(v))
		}
	}()
	buf := make([]byte, 1<<20)
	for pass := 0; pass < 20 && !t.Failed(); pass++ {
		for k := range regions {
			min := byte(written[k].Load())
			if _, _, err := fs.Read(ctx, Cred{}, ino, uint64(k)<<20, buf); err != nil {
				t.Fatal(err)
			}
			for c := 0; c < len(buf); c += MinChunkSize {
				if buf[c] < min {
					t.Fatalf("pass %d: region %d chunk %d reads version %d, but version %d was written before the read", pass, k, c/MinChunkSize, buf[c], min)
				}
			}
		}
	}
	close(stop)
	wg.Wait()
	if s := fs.ReadAheadStats(); s.ServedBytes == 0 {
		t.Errorf("the read-ahead served nothing: %+v", s)
	}
}

// TestReadAheadBoundedMemory reads many files sequentially at once with a
// small budget: the read-ahead never holds more, and every read is right.
func TestReadAheadBoundedMemory(t *testing.T) {
	ctx := context.Background()
	const budget = 3 << 20
	fs, err := Open(ctx, NewMemKV(), Options{ReadAheadBytes: budget})
	if err != nil {
		t.Fatal(err)
	}
	const files, size = 4, 6 << 20
	var wg sync.WaitGroup
	inos := make([]uint64, files)
	datas := make([][]byte, files)
	for i := range files {
		inos[i], datas[i] = raFile(t, fs, fmt.Sprint("f", i), size)
	}
	for i := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			for off := 0; off < size; off += len(buf) {
				n, _, err := fs.Read(ctx, Cred{}, inos[i], uint64(off), buf)
				if err != nil || !bytes.Equal(buf[:n], datas[i][off:off+len(buf)]) {
					t.Errorf("file %d: read at %d: %d bytes, %v, or wrong bytes", i, off, n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	s := fs.ReadAheadStats()
	if s.PeakHeldBytes > budget || s.PeakHeldBytes == 0 {
		t.Errorf("read-ahead held at most %d bytes, want some, and at most %d", s.PeakHeldBytes, budget)
	}
	if err := fs.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := fs.ReadAheadStats(); s.HeldBytes != 0 || s.Streams != 0 {
		t.Errorf("after Close: %+v", s)
	}
}

// TestReadAheadCancelled has the read-ahead's fetches hang on the KV: a
// read elsewhere in the file must cancel them, and so must Close.
func TestReadAheadCancelled(t *testing.T) {
	ctx := context.Background()
	kv := &blockingKV{MemKV: NewMemKV(), entered: make(chan struct{}, 16), cancelled: make(chan struct{}, 16)}
	fs, err := Open(ctx, kv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ino, data := raFile(t, fs, "f", 8<<20)
	kv.block.Store(true)
	// Reads of a few chunks are point reads: they do not hang; the fetches
	// of the segments the first one starts (up to raMinWindow past it) do.
	const segs = (32<<10 + raMinWindow + raSegment - 1) / raSegment
	readAt(t, fs, ino, 0, 32<<10, data)
	for range segs {
		<-kv.entered
	}
	readAt(t, fs, ino, 6<<20, 32<<10, data)
	for range segs {
		<-kv.cancelled // hangs if the segments are not cancelled
	}
	if s := fs.ReadAheadStats(); s.Dropped != segs || s.FetchedBytes != 0 {
		t.Errorf("after a jump: %+v, want %d segments dropped, none fetched", s, segs)
	}
	readAt(t, fs, ino, 0, 32<<10, data)
	for range segs {
		<-kv.entered
	}
	closed := make(chan error)
	go func() { closed <- fs.Close(ctx) }()
	for range segs {
		<-kv.cancelled
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if s := fs.ReadAheadStats(); s.HeldBytes != 0 || s.Dropped != 2*segs || s.Streams != 0 {
		t.Errorf("after Close: %+v, want nothing held and %d segments dropped", s, 2*segs)
	}
}

// TestReadAheadIgnoresRandomReads reads a file at offsets far apart, and
// once near the previous read: nothing is fetched ahead.
func TestReadAheadIgnoresRandomReads(t *testing.T) {
	ctx := context.Background()
	fs, err := Open(ctx, NewMemKV(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close(ctx)
	e, err := fs.Create(ctx, Cred{}, RootIno, "sparse", CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	size := uint64(64 << 20)
	if _, err := fs.SetAttr(ctx, Cred{}, e.Attr.Ino, SetAttrRequest{Size: &size}); err != nil {
		t.Fatal(err)
	}
	zeros := make([]byte, size)
	for _, off := range []int{8 << 20, 40 << 20, 20 << 20, 60 << 20, 30 << 20, 30<<20 + 64<<10, 10 << 20, 50 << 20} {
		readAt(t, fs, e.Attr.Ino, off, 64<<10, zeros)
	}
	if s := fs.ReadAheadStats(); s.PeakHeldBytes != 0 {
		t.Errorf("random reads were read ahead: %+v", s)
	}
	// Two reads in a row near the last one: now it is sequential.
	readAt(t, fs, e.Attr.Ino, 50<<20+64<<10, 64<<10, zeros)
	readAt(t, fs, e.Attr.Ino, 50<<20+128<<10, 64<<10, zeros)
	if s := fs.ReadAheadStats(); s.PeakHeldBytes == 0 {
		t.Errorf("sequential reads were not read ahead: %+v", s)
	}
}

// TestReadAheadStatsPlus: two filesystems' read-ahead together add their
// counters and what they hold, and keep the larger peak.
func TestReadAheadStatsPlus(t *testing.T) {
	a := ReadAheadStats{Streams: 1, HeldBytes: 10, PeakHeldBytes: 50, FetchedBytes: 100, ServedBytes: 90, Dropped: 2}
	b := ReadAheadStats{Streams: 2, HeldBytes: 5, PeakHeldBytes: 70, FetchedBytes: 7, ServedBytes: 6, Dropped: 1}
	want := ReadAheadStats{Streams: 3, HeldBytes: 15, PeakHeldBytes: 70, FetchedBytes: 107, ServedBytes: 96, Dropped: 3}
	for _, got := range []ReadAheadStats{a.Plus(b), b.Plus(a)} {
		if got != want {
			t.Errorf("Plus = %+v, want %+v", got, want)
		}
	}
	if got := a.Plus(ReadAheadStats{}); got != a {
		t.Errorf("a.Plus(zero) = %+v, want %+v", got, a)
	}
}

// TestReadAheadFailureIsNotServedLater: read-ahead fetches that failed
// while the store was cut off do not fail reads made after it came back,
// and a read covered by a failed segment reads its own chunks (so one bad
// chunk fails only the reads of that chunk, not its whole segment).
func TestReadAheadFailureIsNotServedLater(t *testing.T) {
	ctx := context.Background()
	kv := &cutKV{MemKV: NewMemKV()}
	fs, err := Open(ctx, kv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close(ctx)
	ino, data := raFile(t, fs, "f", 3<<20)
	readAt(t, fs, ino, 0, 64<<10, data) // a sequential reader: read-ahead starts
	kv.cut.Store(true)
	buf := make([]byte, 64<<10)
	for off := 64 << 10; off < 1<<20; off += len(buf) {
		_, _, _ = fs.Read(ctx, Cred{}, ino, uint64(off), buf) // the store is cut off: errors
	}
	waitFor(t, "the read-ahead fetches to end", func() bool { return fetchesDone(fs) })
	if s := fs.ReadAheadStats(); s.Streams == 0 {
		t.Fatalf("no read-ahead stream: the test tests nothing (%+v)", s)
	}
	kv.cut.Store(false)
	for off := 64 << 10; off < len(data); off += len(buf) {
		readAt(t, fs, ino, off, len(buf), data)
	}
}
