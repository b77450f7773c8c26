package journal

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/lsm/wal"
)

// TestAppendBehindMovesNothing: while the writer is behind (a round in
// progress holds the write lock), Append copies each record once, under
// the commit path's lock: what is already buffered is never moved to a
// larger buffer, however much piles up. Then one round makes it all
// durable, in order.
func TestAppendBehindMovesNothing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cipher Cipher
	}{{"clear", nil}, {"sealed", fixedCipher{}}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newTestWriter(t, OSFS{}, tc.cipher, WriterOptions{FileBytes: 1 << 30})
			const n = 48
			recs := make([][]byte, n)
			appended := 0
			for i := range recs {
				value := bytes.Repeat([]byte{byte(i)}, 1<<20+i)
				recs[i] = wal.AppendRecord(nil, uint64(i+1), 1, wal.AppendEntry(nil, wal.KindSet, []byte("key"), value))
				appended += len(recs[i])
			}
			w.wmu.Lock() // a round in progress: nothing is taken from the buffer
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for i, rec := range recs {
				w.Append(rec, uint64(i+1))
			}
			runtime.ReadMemStats(&after)
			w.wmu.Unlock()
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(appended)*5/4 {
				t.Errorf("appending %d bytes behind the writer allocated %d bytes: buffered records were moved", appended, alloc)
			}
			if err := w.Sync(context.Background(), n); err != nil {
				t.Fatal(err)
			}
			c, err := w.d.Scan()
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Groups) != 1 || len(c.Groups[0].Records) != n {
				t.Fatalf("scan: %d groups, want 1 with %d records", len(c.Groups), n)
			}
			for i, r := range c.Groups[0].Records {
				if got := wal.AppendRecord(nil, r.FirstSeq, r.Count, r.Entries); !bytes.Equal(got, recs[i]) {
					t.Fatalf("record %d differs from what was appended", i+1)
				}
			}
		})
	}
}

// TestChunkPoolServesNearbySizes: records a little over a chunk come in
// slightly different sizes (a stream of 1 MiB writes); a chunk given back
// after one of them serves the next instead of a new allocation each time.
func TestChunkPoolServesNearbySizes(t *testing.T) {
	for _, tc := range []struct {
		name        string
		first, next int
	}{
		{"small", 100, 2000},
		{"a chunk", chunkBytes, chunkBytes - 1},
		{"over a chunk", chunkBytes + 5551, chunkBytes + 5583},
		{"4 MiB record", 4<<20 + 100, 4<<20 + 140},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p chunkPool
			c := p.get(tc.first)
			c = append(c, make([]byte, tc.first)...)
			first := &c[0]
			p.put(c)
			d := p.get(tc.next)
			if cap(d) < tc.next {
				t.Fatalf("get(%d) has room for %d bytes", tc.next, cap(d))
			}
			if len(d) != 0 || &d[:1][0] != first {
				t.Errorf("get(%d) after a chunk of %d went back: a new buffer (cap %d), not the pooled one", tc.next, tc.first, cap(d))
			}
		})
	}
}

// TestWriterBehindReusesItsChunks: a writer that is behind takes tens of
// MiB per round; the records appended while it writes one go into the
// chunks of the round before, not into new buffers (which the Go runtime
// clears first: most of a sealed round's cost once it ran a round behind).
// A small round gives the memory back, and so does a writer idle for
// idleTrim after a big one.
func TestWriterBehindReusesItsChunks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cipher Cipher
	}{{"clear", nil}, {"sealed", fixedCipher{}}} {
		t.Run(tc.name, func(t *testing.T) {
			// The rounds follow each other far sooner than this: no idle
			// trim comes between them, however slow the machine.
			w := newTestWriter(t, OSFS{}, tc.cipher, WriterOptions{FileBytes: 1 << 30, idleTrim: time.Hour})
			b := newRoundBuilder(t, w)
			b.round()
			if alloc := b.round(); alloc > 4<<20 {
				t.Errorf("a second round of %d MiB behind the writer allocated %d bytes; want the first round's chunks reused", roundRecords, alloc)
			}
			b.small()
			if kept := keptChunkBytes(w); kept > minPooledBytes {
				t.Errorf("after a small round the writer keeps %d bytes of chunks; want at most %d", kept, minPooledBytes)
			}
			b.round()
			if kept := keptChunkBytes(w); kept <= minPooledBytes {
				t.Fatalf("after a big round the writer keeps %d bytes of chunks; want the round's", kept)
			}
		})
		t.Run(tc.name+"/idle", func(t *testing.T) {
			const idleTrim = 300 * time.Millisecond
			w := newTestWriter(t, OSFS{}, tc.cipher, WriterOptions{FileBytes: 1 << 30, idleTrim: idleTrim})
			newRoundBuilder(t, w).round()
			const patience = idleTrim + 10*time.Second
			deadline := time.Now().Add(patience)
			for keptChunkBytes(w) > minPooledBytes {
				if time.Now().After(deadline) {
					t.Fatalf("idle for %v after a big round, the writer still keeps %d bytes of chunks", patience, keptChunkBytes(w))
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// roundRecords is the records (of 1 MiB each) of a big round.
const roundRecords = 24

// roundBuilder appends rounds of records to a writer while a round is in
// progress (so that they pile up), with their records built beforehand.
type roundBuilder struct {
	t   testing.TB
	w   *Writer
	seq uint64
}

func newRoundBuilder(t testing.TB, w *Writer) *roundBuilder { return &roundBuilder{t: t, w: w} }

func (b *roundBuilder) record(size int) []byte {
	b.seq++
	return wal.AppendRecord(nil, b.seq, 1, wal.AppendEntry(nil, wal.KindSet, []byte("key"), make([]byte, size)))
}

// round appends a big round and makes it durable; it returns the bytes
// allocated while the records were appended.
func (b *roundBuilder) round() uint64 {
	recs := make([][]byte, roundRecords)
	first := b.seq + 1
	for i := range recs {
		recs[i] = b.record(1<<20 + i)
	}
	var before, after runtime.MemStats
	b.w.wmu.Lock() // a round in progress: the records pile up
	runtime.ReadMemStats(&before)
	for i, r := range recs {
		b.w.Append(r, first+uint64(i))
	}
	runtime.ReadMemStats(&after)
	b.w.wmu.Unlock()
	b.sync()
	return after.TotalAlloc - before.TotalAlloc
}

// small appends a small round and makes it durable.
func (b *roundBuilder) small() {
	r := b.record(100)
	b.w.Append(r, b.seq)
	b.sync()
}

func (b *roundBuilder) sync() {
	b.t.Helper()
	if err := b.w.Sync(context.Background(), b.seq); err != nil {
		b.t.Fatal(err)
	}
}

// keptChunkBytes is the bytes of chunks w keeps for its next round.
func keptChunkBytes(w *Writer) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.chunks.bytes
}

// zeroWatchFS records, for the files it opens, the writes of zeros that
// reach past the records written before them.
type zeroWatchFS struct {
	OSFS
	mu    sync.Mutex
	zeros []int64 // end of each write of zeros
}

type zeroWatchFile struct {
	File
	fs *zeroWatchFS
}

func (z *zeroWatchFS) OpenFile(name string) (File, error) {
	f, err := z.OSFS.OpenFile(name)
	if err != nil {
		return nil, err
	}
	return &zeroWatchFile{File: f, fs: z}, nil
}

func (f *zeroWatchFile) WriteAt(p []byte, off int64) (int, error) {
	if len(p) > 0 && !slices.ContainsFunc(p, func(b byte) bool { return b != 0 }) {
		f.fs.mu.Lock()
		f.fs.zeros = append(f.fs.zeros, off+int64(len(p)))
		f.fs.mu.Unlock()
	}
	return f.File.WriteAt(p, off)
}

// filledTo is how far zeros have been written.
func (z *zeroWatchFS) filledTo() int64 {
	z.mu.Lock()
	defer z.mu.Unlock()
	end := int64(0)
	for _, e := range z.zeros {
		end = max(end, e)
	}
	return end
}

// TestSmallRoundsWriteOverFilledSpace: a small round (a strict reply's
// record) fills the space ahead of it with zeros, so that the next small
// rounds overwrite written blocks and their fdatasync flushes data alone;
// big rounds, bound by the data they write, fill nothing.
func TestSmallRoundsWriteOverFilledSpace(t *testing.T) {
	for _, tc := range []struct {
		name       string
		valueBytes int
		wantFilled bool
	}{{"small records", 200, true}, {"1 MiB records", 1 << 20, false}} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := &zeroWatchFS{}
			w := newTestWriter(t, fsys, nil, WriterOptions{FileBytes: 1 << 30})
			for seq := uint64(1); seq <= 20; seq++ {
				w.Append(wal.AppendRecord(nil, seq, 1, wal.AppendEntry(nil, wal.KindSet, []byte("key"), make([]byte, tc.valueBytes))), seq)
				if err := w.Sync(context.Background(), seq); err != nil {
					t.Fatal(err)
				}
				w.wmu.Lock()
				off := w.off
				w.wmu.Unlock()
				filled := fsys.filledTo()
				if tc.wantFilled && filled < off+zeroFillStep/2 {
					t.Fatalf("after record %d (file at %d), zeros reach %d: the space ahead is not filled", seq, off, filled)
				}
				if !tc.wantFilled && filled != 0 {
					t.Fatalf("after record %d, zeros written up to %d: a big round filled space", seq, filled)
				}
			}
		})
	}
}

// TestBacklogCountsWhatIsHeld: the backlog, which the database bounds by
// max_unflushed_mb, counts the bytes the writer holds for its records,
// a sealed journal's framing included (32 bytes a record: a third more
// than the records themselves for small metadata changes).
func TestBacklogCountsWhatIsHeld(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cipher Cipher
	}{{"clear", nil}, {"sealed", fixedCipher{}}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newTestWriter(t, OSFS{}, tc.cipher, WriterOptions{FileBytes: 1 << 30})
			w.wmu.Lock() // a round in progress: the records stay buffered
			for seq := uint64(1); seq <= 100; seq++ {
				w.Append(wal.AppendRecord(nil, seq, 1, wal.AppendEntry(nil, wal.KindSet, []byte("key"), make([]byte, 60))), seq)
			}
			w.mu.Lock()
			held := totalLen(w.buf)
			w.mu.Unlock()
			backlog := w.Backlog()
			w.wmu.Unlock()
			if backlog != int64(held) {
				t.Errorf("backlog %d bytes, the writer holds %d for its records", backlog, held)
			}
			if err := w.Sync(context.Background(), 100); err != nil {
				t.Fatal(err)
			}
			if b := w.Backlog(); b != 0 {
				t.Errorf("backlog %d bytes after every record is durable", b)
			}
		})
	}
}

// newTestWriter starts a writer on a new journal in a temporary directory
// of fsys, with opts (and a quiet logger); the test closes it.
func newTestWriter(t *testing.T, fsys FS, c Cipher, opts WriterOptions) *Writer {
	t.Helper()
	d, err := OpenDir(fsys, t.TempDir(), c)
	if err != nil {
		t.Fatal(err)
	}
	h := Header{Epoch: 1}
	num, err := d.Begin(h)
	if err != nil {
		t.Fatal(err)
	}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	w, err := d.NewWriter(h, num, 0, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}
