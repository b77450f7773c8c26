package journal_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/lsm/journal"
	"github.com/zerofs-go/zerofsd/lsm/journal/memfs"
	"github.com/zerofs-go/zerofsd/lsm/wal"
)

var testHeader = journal.Header{DBID: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, Epoch: 7}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// record encodes a one-entry batch at seq whose value names it.
func record(seq uint64) []byte {
	value := bytes.Repeat([]byte(fmt.Sprintf("v%d-", seq)), 1+int(seq%7))
	return wal.AppendRecord(nil, seq, 1, wal.AppendEntry(nil, wal.KindSet, []byte(fmt.Sprintf("k%d", seq)), value))
}

// testCipher is a journal.Cipher for tests: AES-256-GCM under SHA-256 of
// its secret and the salt. Another secret stands for another export.
type testCipher struct{ secret string }

func (c testCipher) JournalKey(salt []byte) (cipher.AEAD, error) {
	key := sha256.Sum256(append([]byte(c.secret), salt...))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// format is a journal file format: in the clear, or sealed with a cipher.
type format struct {
	name   string
	cipher journal.Cipher
}

var (
	clearFormat  = format{"clear", nil}
	sealedFormat = format{"sealed", testCipher{"export a"}}
	formats      = []format{clearFormat, sealedFormat}
)

// headerSize is the size of a file header.
func (f format) headerSize() int {
	if f.cipher != nil {
		return journal.SealedHeaderSize
	}
	return journal.HeaderSize
}

// recordSize is the stored size of record(seq).
func (f format) recordSize(seq uint64) int {
	n := len(record(seq))
	if f.cipher != nil {
		n += 8 + 8 + 16 // length and checksum, sequence number, tag
	}
	return n
}

// forFormats runs test once per format.
func forFormats(t *testing.T, test func(t *testing.T, f format)) {
	for _, f := range formats {
		t.Run(f.name, func(t *testing.T) { test(t, f) })
	}
}

// begin opens dir and starts a writer after sequence number 0.
func (f format) begin(t *testing.T, fsys journal.FS, dir string, opts journal.WriterOptions) (*journal.Dir, *journal.Writer) {
	t.Helper()
	d, err := journal.OpenDir(fsys, dir, f.cipher)
	if err != nil {
		t.Fatal(err)
	}
	num, err := d.Begin(testHeader)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = quiet()
	}
	w, err := d.NewWriter(testHeader, num, 0, opts)
	if err != nil {
		t.Fatal(err)
	}
	return d, w
}

// checkRecords checks that g holds exactly the records 1..n.
func checkRecords(t *testing.T, g *journal.Group, n uint64) {
	t.Helper()
	if uint64(len(g.Records)) != n {
		t.Fatalf("group has %d records, want %d", len(g.Records), n)
	}
	for i, r := range g.Records {
		seq := uint64(i + 1)
		want := record(seq)
		if got := wal.AppendRecord(nil, r.FirstSeq, r.Count, r.Entries); !bytes.Equal(got, want) {
			t.Fatalf("record %d differs from what was appended", seq)
		}
	}
}

func (f format) scan(t testing.TB, fsys journal.FS, dir string) *journal.Contents {
	t.Helper()
	d, err := journal.OpenDir(fsys, dir, f.cipher)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := d.Scan()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHeaderRoundTripAndDamage(t *testing.T) {
	b := journal.AppendHeader(nil, testHeader)
	if len(b) != journal.HeaderSize {
		t.Fatalf("header is %d bytes, want %d", len(b), journal.HeaderSize)
	}
	h, err := journal.DecodeHeader(b)
	if err != nil || h != testHeader {
		t.Fatalf("DecodeHeader = %v, %v", h, err)
	}
	for i := range b {
		bad := bytes.Clone(b)
		bad[i] ^= 0x40
		if _, err := journal.DecodeHeader(bad); !errors.Is(err, journal.ErrCorrupt) {
			t.Fatalf("flipping byte %d: %v, want ErrCorrupt", i, err)
		}
	}
	if _, err := journal.DecodeHeader(b[:journal.HeaderSize-1]); !errors.Is(err, journal.ErrCorrupt) {
		t.Fatalf("short header: %v", err)
	}
}

func TestDirIsLocked(t *testing.T) {
	dir := t.TempDir()
	d, err := journal.OpenDir(nil, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := journal.OpenDir(nil, dir, nil); !errors.Is(err, journal.ErrLocked) {
		t.Fatalf("second OpenDir = %v, want ErrLocked", err)
	}
	d.Close()
	d2, err := journal.OpenDir(nil, dir, nil)
	if err != nil {
		t.Fatalf("OpenDir after Close: %v", err)
	}
	d2.Close()
}

// TestGroupFsync: concurrent waiters share fsyncs, and everything they were
// told is durable is in the file, in order.
func TestGroupFsync(t *testing.T) {
	forFormats(t, func(t *testing.T, f format) {
		dir := t.TempDir()
		d, w := f.begin(t, nil, dir, journal.WriterOptions{Interval: time.Hour})
		var mu sync.Mutex // appends happen in sequence order, as under commitMu
		var next uint64
		const writers, each = 16, 25
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range each {
					mu.Lock()
					next++
					seq := next
					w.Append(record(seq), seq)
					mu.Unlock()
					if err := w.Sync(context.Background(), seq); err != nil {
						errs <- err
						return
					}
					if w.Durable() < seq {
						errs <- fmt.Errorf("Sync(%d) returned with durable %d", seq, w.Durable())
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		st := w.Stats()
		if st.Fsyncs >= writers*each {
			t.Fatalf("%d awaited appends took %d fsyncs: waiters should share them", writers*each, st.Fsyncs)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		d.Close()
		c := f.scan(t, nil, dir)
		if len(c.Groups) != 1 || len(c.Torn) != 0 || c.Groups[0].Sealed != (f.cipher != nil) {
			t.Fatalf("scan: %d groups, torn %+v", len(c.Groups), c.Torn)
		}
		checkRecords(t, c.Groups[0], writers*each)
		t.Logf("%d awaited appends, %d fsyncs", writers*each, st.Fsyncs)
	})
}

// TestUnawaitedAppendsBecomeDurable: records nobody waits for are written
// within the interval.
func TestUnawaitedAppendsBecomeDurable(t *testing.T) {
	_, w := clearFormat.begin(t, nil, t.TempDir(), journal.WriterOptions{Interval: 5 * time.Millisecond})
	defer w.Close()
	for seq := uint64(1); seq <= 10; seq++ {
		w.Append(record(seq), seq)
	}
	deadline := time.Now().Add(5 * time.Second)
	for w.Durable() < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("unawaited appends not durable after 5s (durable %d)", w.Durable())
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRotationAndShipped: the writer starts new files at FileBytes and
// deletes the files whose records are all shipped, never the current one.
func TestRotationAndShipped(t *testing.T) {
	forFormats(t, func(t *testing.T, f format) {
		dir := t.TempDir()
		d, w := f.begin(t, nil, dir, journal.WriterOptions{Interval: time.Hour, FileBytes: 1 << 10})
		scan := func() *journal.Contents {
			c, err := d.Scan()
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		ctx := context.Background()
		const n = 300
		for seq := uint64(1); seq <= n; seq++ {
			w.Append(record(seq), seq)
			if seq%10 == 0 {
				if err := w.Sync(ctx, seq); err != nil {
					t.Fatal(err)
				}
			}
		}
		// The writer may still be starting the next file after the last
		// Sync returned: wait until the files on disk are the ones it counts.
		var c *journal.Contents
		waitFor(t, func() bool {
			c = scan()
			return len(c.Groups) == 1 && len(c.Groups[0].Files) == int(w.Stats().Files)
		})
		if files := w.Stats().Files; files < 5 {
			t.Fatalf("%d files after %d records with 1 KiB files: no rotation", files, n)
		}
		checkRecords(t, c.Groups[0], n)

		w.Shipped(150)
		waitFor(t, func() bool {
			c, err := d.Scan() // may race with a removal: then try again
			return err == nil && len(c.Groups) == 1 && c.Groups[0].FirstSeq() > 1 && c.Groups[0].FirstSeq() <= 151
		})
		w.Shipped(n)
		waitFor(t, func() bool { return w.Stats().Files == 1 })
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		c = scan()
		d.Close()
		if len(c.Groups) != 1 || len(c.Groups[0].Files) != 1 {
			t.Fatalf("after shipping everything: %d groups", len(c.Groups))
		}
		if last := c.Groups[0].LastSeq(); last != 0 && last != n {
			t.Fatalf("the current file holds records up to %d", last)
		}
		if st := w.Stats(); st.Files != 1 {
			t.Fatalf("Stats.Files = %d", st.Files)
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestWriteErrors: a failing write or fsync (a full disk) fails the callers
// waiting for it, is retried from the last durable offset, and once the
// disk recovers every record is in the file exactly once, in order.
func TestWriteErrors(t *testing.T) {
	forFormats(t, func(t *testing.T, f format) {
		for _, op := range []memfs.Op{memfs.OpWrite, memfs.OpSync} {
			t.Run(fmt.Sprint(op), func(t *testing.T) {
				fsys := memfs.New(1)
				_, w := f.begin(t, fsys, "/j", journal.WriterOptions{Interval: time.Hour})
				defer w.Close()
				ctx := context.Background()
				for seq := uint64(1); seq <= 5; seq++ {
					w.Append(record(seq), seq)
				}
				if err := w.Sync(ctx, 5); err != nil {
					t.Fatal(err)
				}
				if b := w.Backlog(); b != 0 {
					t.Fatalf("backlog %d with every record on disk", b)
				}
				full := fsys.Inject(memfs.Fault{Op: op, Path: ".journal", Err: syscall.ENOSPC})
				w.Append(record(6), 6)
				err := w.Sync(ctx, 6)
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("Sync on a full disk = %v, want ENOSPC", err)
				}
				if w.Durable() != 5 {
					t.Fatalf("durable %d after a failed write, want 5", w.Durable())
				}
				w.Append(record(7), 7)
				if err := w.Sync(ctx, 7); !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("second Sync on a full disk = %v", err)
				}
				// The records the failed writes are to write again, as the
				// writer holds them: a sealed record with its framing (the
				// length, checksum and sequence number before it, the tag
				// after it: 32 bytes).
				framing := 0
				if f.cipher != nil {
					framing = 32
				}
				if b, want := w.Backlog(), int64(len(record(6))+len(record(7))+2*framing); b != want {
					t.Fatalf("backlog %d after failed writes, want %d", b, want)
				}
				full.Remove()
				// The writer retries by itself; a later Sync succeeds.
				waitFor(t, func() bool { return w.Sync(ctx, 7) == nil })
				w.Append(record(8), 8)
				if err := w.Sync(ctx, 8); err != nil {
					t.Fatal(err)
				}
				if b := w.Backlog(); b != 0 {
					t.Fatalf("backlog %d once every record is on disk", b)
				}
				if w.Stats().FsyncFailures == 0 {
					t.Fatal("no failure counted")
				}
				w.Close()
				fsys.Crash(false) // only what was synced survives
				c := f.scan(t, fsys, "/j")
				if len(c.Groups) != 1 || len(c.Torn) != 0 || c.Groups[0].Damage != nil {
					t.Fatalf("scan after recovery from a full disk: %d groups, torn %+v", len(c.Groups), c.Torn)
				}
				checkRecords(t, c.Groups[0], 8)
			})
		}
	})
}

// TestFailedWritesBackOff: while the disk refuses writes, callers of Sync
// that would write their round themselves leave it to the writer's
// backoff instead of retrying at once, so a full disk is not hammered by
// every waiting caller; once the disk takes writes again, every record is
// written.
func TestFailedWritesBackOff(t *testing.T) {
	forFormats(t, func(t *testing.T, f format) {
		fsys := memfs.New(1)
		_, w := f.begin(t, fsys, "/j", journal.WriterOptions{Interval: time.Hour})
		defer w.Close()
		full := fsys.Inject(memfs.Fault{Op: memfs.OpWrite, Path: ".journal", Err: syscall.ENOSPC})
		var mu sync.Mutex
		var next uint64
		var calls atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					mu.Lock()
					next++
					seq := next
					w.Append(record(seq), seq)
					mu.Unlock()
					calls.Add(1)
					_ = w.Sync(context.Background(), seq) // fails while the disk is full
				}
			}()
		}
		waitFor(t, func() bool { return calls.Load() >= 40 })
		close(stop)
		wg.Wait()
		// Backoff starts at 10 ms and doubles, and the eight callers
		// share each retried round: about one attempt per eight calls.
		// Callers writing at once would make one attempt per call.
		if fired := int64(full.Fired()); fired > calls.Load()/3 {
			t.Fatalf("%d write attempts for %d failed Sync calls: callers retry without backoff", fired, calls.Load())
		}
		full.Remove()
		last := next
		waitFor(t, func() bool { return w.Sync(context.Background(), last) == nil })
		w.Close()
		fsys.Crash(false)
		c := f.scan(t, fsys, "/j")
		if len(c.Groups) != 1 || len(c.Torn) != 0 || c.Groups[0].Damage != nil {
			t.Fatalf("scan after the disk came back: %d groups, torn %+v", len(c.Groups), c.Torn)
		}
		checkRecords(t, c.Groups[0], last)
	})
}

// TestCrashKeepsAcknowledged: after a machine crash that tears what was
// not synced, the journal holds a prefix of the appends that includes
// every acknowledged one.
func TestCrashKeepsAcknowledged(t *testing.T) {
	forFormats(t, func(t *testing.T, f format) {
		for seed := uint64(1); seed <= 30; seed++ {
			fsys := memfs.New(seed)
			r := rand.New(rand.NewPCG(seed, 2))
			_, w := f.begin(t, fsys, "/j", journal.WriterOptions{Interval: time.Hour, FileBytes: 2 << 10})
			var acked uint64
			n := uint64(20 + r.IntN(200))
			for seq := uint64(1); seq <= n; seq++ {
				w.Append(record(seq), seq)
				if r.IntN(8) == 0 {
					if err := w.Sync(context.Background(), seq); err != nil {
						t.Fatal(err)
					}
					acked = seq
				}
			}
			w.Close()
			fsys.Crash(true)
			d, err := journal.OpenDir(fsys, "/j", f.cipher)
			if err != nil {
				t.Fatal(err)
			}
			c, err := d.Scan()
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Groups) != 1 || c.Groups[0].Damage != nil {
				t.Fatalf("seed %d: %d groups, damage %+v", seed, len(c.Groups), c.Groups[0].Damage)
			}
			got := c.Groups[0].LastSeq()
			if got < acked {
				t.Fatalf("seed %d: journal holds up to %d after a crash, %d was acknowledged", seed, got, acked)
			}
			checkRecords(t, c.Groups[0], got)
			for _, torn := range c.Torn {
				if err := d.TrimTorn(&torn); err != nil {
					t.Fatal(err)
				}
			}
			c2, _ := d.Scan()
			if len(c2.Torn) != 0 || c2.Groups[0].LastSeq() != got {
				t.Fatalf("seed %d: after TrimTorn: torn %+v, last %d", seed, c2.Torn, c2.Groups[0].LastSeq())
			}
			d.Close()
		}
	})
}

// writeJournal writes records 1..n to a fresh journal in dir with small
// files and returns the file paths.
func (f format) writeJournal(t *testing.T, dir string, n uint64, fileBytes int64) []string {
	t.Helper()
	d, w := f.begin(t, nil, dir, journal.WriterOptions{Interval: time.Hour, FileBytes: fileBytes})
	for seq := uint64(1); seq <= n; seq++ {
		w.Append(record(seq), seq)
		if seq%5 == 0 || seq == n {
			if err := w.Sync(context.Background(), seq); err != nil {
				t.Fatal(err)
			}
		}
	}
	w.Close()
	d.Close()
	files, _ := filepath.Glob(filepath.Join(dir, "*.journal"))
	if len(files) > 0 {
		trimReserved(t, f, files[len(files)-1])
	}
	return files
}

// trimReserved cuts the zeros the writer reserved ahead of its records off
// the end of a file, so that tests can cut and change records at the end
// of the file. Scanning with the zeros is tested on its own
// (TestTornTail's padded cuts, TestReservedSpace). The file's records are
// followed by their length fields (never zero), not by stripping zeros: a
// record may end in zeros (a sealed one does when its tag does).
func trimReserved(t *testing.T, f format, name string) {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	end := f.headerSize()
	for end+wal.RecordHeaderSize <= len(data) && binary.LittleEndian.Uint32(data[end:]) != 0 {
		end += recordAt(t, data, end)
	}
	if end > len(data) {
		t.Fatalf("%s: the last record runs past the end (%d > %d bytes)", name, end, len(data))
	}
	if err := os.Truncate(name, int64(end)); err != nil {
		t.Fatal(err)
	}
}

// TestTornTail: the newest file cut at every byte offset scans as the
// complete records before the cut, never a partial one, and reports the
// cut bytes as torn.
func TestTornTail(t *testing.T) {
	forFormats(t, func(t *testing.T, f format) {
		dir := t.TempDir()
		files := f.writeJournal(t, dir, 12, 1<<20)
		if len(files) != 1 {
			t.Fatalf("%d files", len(files))
		}
		full, _ := os.ReadFile(files[0])
		// Record boundaries: how many complete records fit in each prefix.
		var ends []int
		off := f.headerSize()
		for seq := uint64(1); seq <= 12; seq++ {
			off += f.recordSize(seq)
			ends = append(ends, off)
		}
		if off != len(full) {
			t.Fatalf("the file holds %d bytes, want %d", len(full), off)
		}
		for i := 0; i <= 2*len(full)+1; i++ {
			// Each cut twice: the file ending there, and the same
			// followed by zeros, as when the writer had reserved space
			// past the records (a crash leaves the zeros).
			cut, padded := i/2, i%2 == 1
			data := full[:cut]
			if padded {
				data = append(slices.Clone(data), make([]byte, 4096)...)
			}
			if err := os.WriteFile(files[0], data, 0o644); err != nil {
				t.Fatal(err)
			}
			// kept: the bytes of the file the data still holds. The
			// zeros after a padded cut give back the cut bytes that were
			// zeros (a sealed record ends in zeros when its tag does).
			kept := cut
			for padded && kept < len(full) && full[kept] == 0 {
				kept++
			}
			c := f.scan(t, nil, dir)
			want := uint64(0)
			for _, e := range ends {
				if e <= kept {
					want++
				}
			}
			if kept < f.headerSize() {
				if len(c.Groups) != 0 || len(c.Torn) != 1 || !c.Torn[0].WholeFile {
					t.Fatalf("cut %d inside the header: groups %d, torn %+v", cut, len(c.Groups), c.Torn)
				}
				continue
			}
			if len(c.Groups) != 1 || c.Groups[0].Damage != nil {
				t.Fatalf("cut %d: %d groups, damage %+v", cut, len(c.Groups), c.Groups[0].Damage)
			}
			checkRecords(t, c.Groups[0], want)
			atBoundary := kept == f.headerSize() || (want > 0 && ends[want-1] == kept)
			if atBoundary != (len(c.Torn) == 0) {
				t.Fatalf("cut %d: torn = %+v, at a record boundary %v", cut, c.Torn, atBoundary)
			}
		}
	})
}

// TestDamagedHeaderOfNewestFile: a header that does not read at the start
// of the newest file is a torn header (the file is removed) only when the
// file holds no more than a header before its zeros: Begin makes a header
// durable before any record is written, so a header in front of records
// was durable, and its file is damage, set aside whole.
func TestDamagedHeaderOfNewestFile(t *testing.T) {
	forFormats(t, func(t *testing.T, f format) {
		for _, tc := range []struct {
			name    string
			records uint64 // in the file
			zeros   int    // after them
			damage  func(data []byte)
			torn    bool
		}{
			{"database id flipped, records follow", 12, 0, func(b []byte) { b[10] ^= 1 }, false},
			{"checksum flipped, records and zeros follow", 12, 4096, func(b []byte) { b[f.headerSize()-1] ^= 1 }, false},
			{"unknown version, records follow", 12, 0, func(b []byte) { b[4] = 9 }, false},
			{"magic flipped, records follow", 12, 0, func(b []byte) { b[0] ^= 1 }, false},
			{"database id flipped, header alone", 0, 0, func(b []byte) { b[10] ^= 1 }, true},
			{"checksum flipped, header alone before zeros", 0, 4096, func(b []byte) { b[f.headerSize()-1] ^= 1 }, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				dir := t.TempDir()
				var name string
				if tc.records > 0 {
					files := f.writeJournal(t, dir, tc.records, 1<<20)
					if len(files) != 1 {
						t.Fatalf("%d files", len(files))
					}
					name = files[0]
				} else {
					d, err := journal.OpenDir(nil, dir, f.cipher)
					if err != nil {
						t.Fatal(err)
					}
					if _, err := d.Begin(testHeader); err != nil {
						t.Fatal(err)
					}
					d.Close()
					files, _ := filepath.Glob(filepath.Join(dir, "*.journal"))
					name = files[0]
				}
				data, _ := os.ReadFile(name)
				tc.damage(data)
				data = append(data, make([]byte, tc.zeros)...)
				if err := os.WriteFile(name, data, 0o644); err != nil {
					t.Fatal(err)
				}
				c := f.scan(t, nil, dir)
				if tc.torn {
					if len(c.Groups) != 0 || len(c.Torn) != 1 || !c.Torn[0].WholeFile {
						t.Fatalf("a header alone, damaged: groups %+v, torn %+v; want a torn header", c.Groups, c.Torn)
					}
					return
				}
				if len(c.Torn) != 0 || len(c.Groups) != 1 {
					t.Fatalf("a damaged header before records: torn %+v, %d groups; want one damaged group", c.Torn, len(c.Groups))
				}
				g := c.Groups[0]
				if g.Damage == nil || g.Damage.File != filepath.Base(name) || g.Damage.Offset != 0 || g.Damage.Bytes != int64(len(data)) ||
					len(g.Records) != 0 || !errors.Is(g.Damage.Err, journal.ErrCorrupt) {
					t.Fatalf("damage %+v, %d records; want the whole of %s from offset 0", g.Damage, len(g.Records), filepath.Base(name))
				}
			})
		}
	})
}

// TestTornTailGarbage: garbage or zeros after the last record of the
// newest file (a torn write on a file system that exposes unwritten
// blocks) is torn, not damage.
func TestTornTailGarbage(t *testing.T) {
	forFormats(t, func(t *testing.T, f format) {
		for name, tail := range map[string][]byte{
			"garbage":              bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 100),
			"partial":              record(6)[:10],
			"garbage before zeros": append(bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 100), make([]byte, 1000)...),
			"partial before zeros": append(slices.Clone(record(6)[:10]), make([]byte, 1000)...),
			"zeros":                make([]byte, 300), // reserved space: the end, not a torn write
		} {
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				files := f.writeJournal(t, dir, 5, 1<<20)
				data, _ := os.ReadFile(files[0])
				os.WriteFile(files[0], append(data, tail...), 0o644)
				c := f.scan(t, nil, dir)
				if c.Groups[0].Damage != nil {
					t.Fatalf("damage %+v", c.Groups[0].Damage)
				}
				if name == "zeros" {
					if len(c.Torn) != 0 {
						t.Fatalf("reserved zeros taken for a torn write: %+v", c.Torn)
					}
				} else if len(c.Torn) != 1 || c.Torn[0].Bytes != int64(len(tail)) {
					t.Fatalf("torn %+v, want %d bytes", c.Torn, len(tail))
				}
				checkRecords(t, c.Groups[0], 5)
			})
		}
	})
}

// TestDamagedLastRecordBeforeRotation: the writer rotated after a round,
// so every record of file 1 was acknowledged, and stopped before it wrote
// into file 2. A damaged last record of file 1 is damage, to be set
// aside, not a torn write to cut off: a file after it means file 1 was
// complete, though file 2 holds nothing but its header.
func TestDamagedLastRecordBeforeRotation(t *testing.T) {
	forFormats(t, func(t *testing.T, f format) {
		dir := t.TempDir()
		d, w := f.begin(t, nil, dir, journal.WriterOptions{Interval: time.Hour, FileBytes: 200})
		// The round that fills file 1 begins file 2.
		var acked uint64
		for size := f.headerSize(); size < 200; size += f.recordSize(acked) {
			acked++
			w.Append(record(acked), acked)
			if err := w.Sync(context.Background(), acked); err != nil {
				t.Fatal(err)
			}
		}
		var files []string
		waitFor(t, func() bool {
			files, _ = filepath.Glob(filepath.Join(dir, "*.journal"))
			return len(files) == 2
		})
		w.Close()
		d.Close()
		trimReserved(t, f, files[0])
		data, err := os.ReadFile(files[0])
		if err != nil {
			t.Fatal(err)
		}
		last := f.headerSize()
		for last+recordAt(t, data, last) < len(data) {
			last += recordAt(t, data, last)
		}
		data[len(data)-3] ^= 0x40 // bit rot in the last record, acknowledged
		if err := os.WriteFile(files[0], data, 0o644); err != nil {
			t.Fatal(err)
		}

		d, err = journal.OpenDir(nil, dir, f.cipher)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		c, err := d.Scan()
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Torn) != 0 || len(c.Groups) != 1 {
			t.Fatalf("torn %+v, %d groups: acknowledged record %d taken for a torn write", c.Torn, len(c.Groups), acked)
		}
		g := c.Groups[0]
		if g.Damage == nil || g.Damage.File != filepath.Base(files[0]) || g.Damage.Offset != int64(last) {
			t.Fatalf("damage %+v, want the record at %d of %s", g.Damage, last, filepath.Base(files[0]))
		}
		checkRecords(t, g, acked-1)
		if _, err := d.SetAside(g, false, "test: damaged record"); err != nil {
			t.Fatal(err)
		}
		orphans, err := journal.ListOrphans(nil, dir, f.cipher)
		if err != nil || len(orphans) != 1 || orphans[0].Damaged == 0 {
			t.Fatalf("ListOrphans = %+v, %v; want the damaged record set aside", orphans, err)
		}
	})
}

// TestDamagedEndBeforeLaterFile: the writer begins the next file only
// after a successful round and writes nothing more into the one before,
// so a garbled end of a file that is followed by another is damage, not a
// torn write, whatever the later file holds. A later file whose header is
// torn (it holds no more than a header) is a torn write of its own.
func TestDamagedEndBeforeLaterFile(t *testing.T) {
	forFormats(t, func(t *testing.T, f format) {
		for _, tc := range []struct {
			name string
			// next makes the second file from a header alone.
			next       func(header []byte) []byte
			tornHeader bool
		}{
			{"header alone", func(h []byte) []byte { return h }, false},
			{"header alone, reserved zeros", func(h []byte) []byte { return append(h, make([]byte, 4096)...) }, false},
			{"torn header", func(h []byte) []byte { return h[:10] }, true},
			{"header and a record", nil, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				dir := t.TempDir()
				files := f.writeJournal(t, dir, 12, 1<<20)
				if len(files) != 1 {
					t.Fatalf("%d files", len(files))
				}
				d, err := journal.OpenDir(nil, dir, f.cipher)
				if err != nil {
					t.Fatal(err)
				}
				num, err := d.Begin(testHeader)
				if err != nil {
					t.Fatal(err)
				}
				if tc.next == nil {
					w, err := d.NewWriter(testHeader, num, 12, journal.WriterOptions{Interval: time.Hour, Logger: quiet()})
					if err != nil {
						t.Fatal(err)
					}
					w.Append(record(13), 13)
					if err := w.Sync(context.Background(), 13); err != nil {
						t.Fatal(err)
					}
					w.Close()
				}
				d.Close()
				all, _ := filepath.Glob(filepath.Join(dir, "*.journal"))
				if len(all) != 2 {
					t.Fatalf("%d files, want 2", len(all))
				}
				if tc.next != nil {
					header, _ := os.ReadFile(all[1])
					if err := os.WriteFile(all[1], tc.next(header[:f.headerSize()]), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				data, _ := os.ReadFile(files[0])
				tail := record(13)[:10]
				if err := os.WriteFile(files[0], append(data, tail...), 0o644); err != nil {
					t.Fatal(err)
				}

				c := f.scan(t, nil, dir)
				g := c.Groups[0]
				if g.Damage == nil || g.Damage.File != filepath.Base(files[0]) || g.Damage.Offset != int64(len(data)) {
					t.Fatalf("a garbled end before a later file: damage %+v, torn %+v; want damage at %d", g.Damage, c.Torn, len(data))
				}
				checkRecords(t, g, 12)
				if !tc.tornHeader {
					if len(c.Torn) != 0 {
						t.Fatalf("torn %+v, want none", c.Torn)
					}
					return
				}
				if len(c.Torn) != 1 || c.Torn[0].File != filepath.Base(all[1]) || !c.Torn[0].WholeFile {
					t.Fatalf("torn %+v, want the second file's header", c.Torn)
				}
			})
		}
	})
}

// TestDamageInTheMiddle: a damaged record followed by valid ones, or one
// in an older file, is damage: the records before it are returned, and
// SetAside moves the rest under orphaned/, where ReadOrphan finds it.
func TestDamageInTheMiddle(t *testing.T) {
	forFormats(t, func(t *testing.T, f format) {
		for _, tc := range []struct {
			name      string
			fileBytes int64
			victim    func(files []string) string
		}{
			{"newest file", 1 << 20, func(f []string) string { return f[len(f)-1] }},
			{"older file", 400, func(f []string) string { return f[0] }},
		} {
			t.Run(tc.name, func(t *testing.T) {
				dir := t.TempDir()
				files := f.writeJournal(t, dir, 30, tc.fileBytes)
				victim := tc.victim(files)
				data, _ := os.ReadFile(victim)
				// Damage the second record of the victim file.
				h := f.headerSize()
				size := recordAt(t, data, h)
				bad := h + size
				data[bad+wal.RecordHeaderSize+1] ^= 0xff
				os.WriteFile(victim, data, 0o644)

				d, err := journal.OpenDir(nil, dir, f.cipher)
				if err != nil {
					t.Fatal(err)
				}
				defer d.Close()
				c, err := d.Scan()
				if err != nil {
					t.Fatal(err)
				}
				g := c.Groups[0]
				if g.Damage == nil || g.Damage.File != filepath.Base(victim) || g.Damage.Offset != int64(bad) {
					t.Fatalf("damage %+v, want %s at %d", g.Damage, filepath.Base(victim), bad)
				}
				good := g.LastSeq()
				checkRecords(t, g, good)
				if good >= 30 {
					t.Fatalf("records after the damage were returned (last %d)", good)
				}
				orphan, err := d.SetAside(g, false, "test: damaged record")
				if err != nil {
					t.Fatal(err)
				}
				// The good prefix stays and now scans clean.
				c2, _ := d.Scan()
				if len(c2.Groups) != 1 || c2.Groups[0].Damage != nil || c2.Groups[0].LastSeq() != good || len(c2.Torn) != 0 {
					t.Fatalf("after SetAside: %d groups, last %d, damage %+v, torn %+v", len(c2.Groups), c2.Groups[0].LastSeq(), c2.Groups[0].Damage, c2.Torn)
				}
				orphans, err := journal.ListOrphans(nil, dir, f.cipher)
				if err != nil || len(orphans) != 1 {
					t.Fatalf("ListOrphans = %v, %v", orphans, err)
				}
				o := orphans[0]
				if o.Path != orphan || o.Reason != "test: damaged record" || o.Damaged == 0 || o.Headers[0] != testHeader {
					t.Fatalf("orphan %+v", o)
				}
				// Everything after the damaged record is readable from the orphan.
				var seqs []uint64
				var skips int
				err = journal.ReadOrphan(nil, dir, o.Name, f.cipher, func(h journal.Header, r wal.Record) error {
					seqs = append(seqs, r.FirstSeq)
					return nil
				}, func(string, int64, int64) { skips++ })
				if err != nil {
					t.Fatal(err)
				}
				if skips != 1 || len(seqs) == 0 || seqs[0] != good+2 || seqs[len(seqs)-1] != 30 {
					t.Fatalf("orphan read: %d skips, seqs %v (good prefix up to %d)", skips, seqs, good)
				}
			})
		}
	})
}

// recordAt returns the stored size of the record at off in a journal
// file's data (its length field and framing).
func recordAt(t *testing.T, data []byte, off int) int {
	t.Helper()
	if off+wal.RecordHeaderSize > len(data) {
		t.Fatalf("no record at offset %d of %d bytes", off, len(data))
	}
	return wal.RecordHeaderSize + int(binary.LittleEndian.Uint32(data[off:]))
}

// TestGroupsByHeader: files of different writer epochs are separate
// groups, and SetAside(whole) moves one group entirely.
func TestGroupsByHeader(t *testing.T) {
	forFormats(t, func(t *testing.T, f format) {
		fsys := memfs.New(3)
		d, err := journal.OpenDir(fsys, "/j", f.cipher)
		if err != nil {
			t.Fatal(err)
		}
		old := testHeader
		old.Epoch = 6
		for _, h := range []journal.Header{old, testHeader} {
			num, err := d.Begin(h)
			if err != nil {
				t.Fatal(err)
			}
			w, err := d.NewWriter(h, num, 0, journal.WriterOptions{Logger: quiet()})
			if err != nil {
				t.Fatal(err)
			}
			w.Append(record(1), 1)
			if err := w.Sync(context.Background(), 1); err != nil {
				t.Fatal(err)
			}
			w.Close()
		}
		c, err := d.Scan()
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Groups) != 2 || c.Groups[0].Header != old || c.Groups[1].Header != testHeader {
			t.Fatalf("groups %+v", c.Groups)
		}
		if _, err := d.SetAside(c.Groups[0], true, "taken over"); err != nil {
			t.Fatal(err)
		}
		fsys.Crash(false) // SetAside is durable
		c, _ = d.Scan()
		if len(c.Groups) != 1 || c.Groups[0].Header != testHeader {
			t.Fatalf("after SetAside: groups %+v", c.Groups)
		}
		orphans, err := journal.ListOrphans(fsys, "/j", f.cipher)
		if err != nil || len(orphans) != 1 || orphans[0].Records != 1 || orphans[0].Headers[0] != old {
			t.Fatalf("orphans %+v, %v", orphans, err)
		}
	})
}

// TestResurrectedFile: a file whose records were shipped and which was
// removed, but came back after a crash while the files after it did not,
// is skipped instead of taken for damage.
func TestResurrectedFile(t *testing.T) {
	forFormats(t, func(t *testing.T, f format) {
		dir := t.TempDir()
		files := f.writeJournal(t, dir, 60, 600)
		if len(files) < 4 {
			t.Fatalf("%d files", len(files))
		}
		// Remove the second file: the first one is the "resurrected" one.
		if err := os.Remove(files[1]); err != nil {
			t.Fatal(err)
		}
		c := f.scan(t, nil, dir)
		if len(c.Groups) != 1 || c.Groups[0].Damage != nil || len(c.Torn) != 0 {
			t.Fatalf("scan: %d groups, damage %+v, torn %+v", len(c.Groups), c.Groups[0].Damage, c.Torn)
		}
		g := c.Groups[0]
		if g.LastSeq() != 60 || g.FirstSeq() <= 2 {
			t.Fatalf("records %d..%d, want from after the gap to 60", g.FirstSeq(), g.LastSeq())
		}
		for i, r := range g.Records {
			if r.FirstSeq != g.FirstSeq()+uint64(i) {
				t.Fatalf("records not contiguous at %d", i)
			}
		}
	})
}

func FuzzScan(f *testing.F) {
	for _, sealed := range []bool{false, true} {
		var file []byte
		if sealed {
			file = sealedFile(f, 3)
		} else {
			file = journal.AppendHeader(file, testHeader)
			for seq := uint64(1); seq <= 3; seq++ {
				file = append(file, record(seq)...)
			}
		}
		f.Add(file, sealed)
		f.Add(file[:len(file)-5], sealed)
	}
	f.Add([]byte("not a journal"), false)
	f.Fuzz(func(t *testing.T, data []byte, sealed bool) {
		var c journal.Cipher
		if sealed {
			c = sealedFormat.cipher
		}
		fsys := memfs.New(1)
		fsys.MkdirAll("/j")
		fsys.WriteFile("/j/00000000000000000001.journal", data)
		d, err := journal.OpenDir(fsys, "/j", c)
		if err != nil {
			t.Fatal(err)
		}
		c1, err := d.Scan()
		if errors.Is(err, journal.ErrSealed) && !sealed {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range c1.Groups {
			for i, r := range g.Records {
				if r.Count == 0 || (i > 0 && r.FirstSeq != g.Records[i-1].LastSeq()+1) {
					t.Fatalf("scan returned non-contiguous records")
				}
			}
		}
		for _, torn := range c1.Torn {
			if err := d.TrimTorn(&torn); err != nil {
				t.Fatal(err)
			}
		}
		// After trimming, scanning again finds nothing torn and the same records.
		c2, err := d.Scan()
		if err != nil {
			t.Fatal(err)
		}
		if len(c2.Torn) != 0 {
			t.Fatalf("torn after TrimTorn: %+v", c2.Torn)
		}
		if len(c1.Groups) != len(c2.Groups) || (len(c1.Groups) > 0 && len(c1.Groups[0].Records) != len(c2.Groups[0].Records)) {
			t.Fatalf("TrimTorn changed the records")
		}
	})
}

// sealedFile returns the bytes of a sealed journal file holding records
// 1..n, written with sealedFormat's cipher.
func sealedFile(tb testing.TB, n uint64) []byte {
	tb.Helper()
	fsys := memfs.New(1)
	d, err := journal.OpenDir(fsys, "/s", sealedFormat.cipher)
	if err != nil {
		tb.Fatal(err)
	}
	defer d.Close()
	num, err := d.Begin(testHeader)
	if err != nil {
		tb.Fatal(err)
	}
	w, err := d.NewWriter(testHeader, num, 0, journal.WriterOptions{Logger: quiet()})
	if err != nil {
		tb.Fatal(err)
	}
	for seq := uint64(1); seq <= n; seq++ {
		w.Append(record(seq), seq)
	}
	if err := w.Sync(context.Background(), n); err != nil {
		tb.Fatal(err)
	}
	w.Close()
	data, err := fsys.ReadFile(fmt.Sprintf("/s/%020d.journal", num))
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// TestReservedSpace: the writer reserves space ahead of its records, so
// that their fdatasync writes only data; the zeros it leaves at the end of
// a file, after a crash or in a file whose rotation did not give them
// back, are the end of the file's records, never a torn write or damage.
// Where the file system cannot reserve space, or reserving fails, the
// journal works as before.
func TestReservedSpace(t *testing.T) {
	forFormats(t, func(t *testing.T, f format) {
		const fileBytes = 16 << 10
		// write appends and syncs records 1..n, then calls check, and
		// closes the writer as a crash would stop it: reserved zeros stay.
		write := func(t *testing.T, fsys journal.FS, dir string, n uint64, check func()) {
			d, w := f.begin(t, fsys, dir, journal.WriterOptions{Interval: time.Hour, FileBytes: fileBytes})
			for seq := uint64(1); seq <= n; seq++ {
				w.Append(record(seq), seq)
				if err := w.Sync(context.Background(), seq); err != nil {
					t.Fatal(err)
				}
			}
			check()
			w.Close()
			d.Close()
		}
		t.Run("reserved", func(t *testing.T) {
			dir := t.TempDir()
			write(t, nil, dir, 3, func() {
				files, _ := filepath.Glob(filepath.Join(dir, "*.journal"))
				st, err := os.Stat(files[0])
				if err != nil {
					t.Fatal(err)
				}
				if st.Size() != fileBytes {
					t.Fatalf("the file being written holds %d bytes, want %d reserved", st.Size(), fileBytes)
				}
			})
			c := f.scan(t, nil, dir)
			if len(c.Groups) != 1 || len(c.Torn) != 0 || c.Groups[0].Damage != nil {
				t.Fatalf("scan with reserved space: %d groups, torn %+v", len(c.Groups), c.Torn)
			}
			checkRecords(t, c.Groups[0], 3)
		})
		t.Run("older files", func(t *testing.T) {
			dir := t.TempDir()
			const n = 2000 // several files
			write(t, nil, dir, n, func() {})
			files, _ := filepath.Glob(filepath.Join(dir, "*.journal"))
			if len(files) < 3 {
				t.Fatalf("%d files: want several", len(files))
			}
			// Rotation gives back what is reserved past the records
			// without a sync: after a crash the zeros can come back.
			for _, name := range files[:len(files)-1] {
				st, _ := os.Stat(name)
				if err := os.Truncate(name, st.Size()+fileBytes); err != nil {
					t.Fatal(err)
				}
			}
			c := f.scan(t, nil, dir)
			if len(c.Groups) != 1 || len(c.Torn) != 0 || c.Groups[0].Damage != nil {
				t.Fatalf("scan with zeros after older files' records: %d groups, torn %+v, damage %+v", len(c.Groups), c.Torn, c.Groups[0].Damage)
			}
			checkRecords(t, c.Groups[0], n)
		})
		for _, tc := range []struct {
			name string
			err  error
		}{
			{"unsupported", errors.ErrUnsupported},
			{"disk full", syscall.ENOSPC},
		} {
			t.Run(tc.name, func(t *testing.T) {
				fsys := memfs.New(1)
				h := fsys.Inject(memfs.Fault{Op: memfs.OpAllocate, Path: ".journal", Err: tc.err})
				write(t, fsys, "/j", 10, func() {})
				if h.Fired() == 0 {
					t.Fatal("the writer never reserved space")
				}
				// Not tried again on a file system that cannot, nor before
				// the writer is past the step that failed (all 10
				// records fit in the first).
				if h.Fired() != 1 {
					t.Fatalf("reserving tried %d times", h.Fired())
				}
				fsys.Crash(false)
				c := f.scan(t, fsys, "/j")
				if len(c.Groups) != 1 || len(c.Torn) != 0 || c.Groups[0].Damage != nil {
					t.Fatalf("scan: %d groups, torn %+v", len(c.Groups), c.Torn)
				}
				checkRecords(t, c.Groups[0], 10)
			})
		}
	})
}

// zeroEndedRecord encodes a one-entry batch at seq whose value ends in
// zero bytes, as many values do (a block of a file, an inode's last
// fields).
func zeroEndedRecord(seq uint64) []byte {
	value := append([]byte(fmt.Sprintf("v%d-", seq)), make([]byte, 1+int(seq%5))...)
	return wal.AppendRecord(nil, seq, 1, wal.AppendEntry(nil, wal.KindSet, []byte(fmt.Sprintf("k%d", seq)), value))
}

// newestFileEndingInZeros returns the newest file of a journal of
// records whose values end in zeros (zeroEndedRecord), cut after the
// first record k >= 2 whose stored bytes end in a zero byte (any record
// in the clear; a sealed record whose tag does), with the offsets of
// records k-1 and k.
func (f format) newestFileEndingInZeros(t *testing.T) (data []byte, prev, last int, k uint64) {
	t.Helper()
	const n = 500
	for attempt := 0; attempt < 20; attempt++ {
		fsys := memfs.New(1)
		d, w := f.begin(t, fsys, "/j", journal.WriterOptions{Interval: time.Hour})
		for seq := uint64(1); seq <= n; seq++ {
			w.Append(zeroEndedRecord(seq), seq)
		}
		if err := w.Sync(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		w.Close()
		d.Close()
		ents, err := fsys.ReadDir("/j")
		if err != nil {
			t.Fatal(err)
		}
		var file []byte
		for _, e := range ents {
			if filepath.Ext(e.Name) == ".journal" {
				if file, err = fsys.ReadFile("/j/" + e.Name); err != nil {
					t.Fatal(err)
				}
			}
		}
		off, prevOff := f.headerSize(), 0
		for seq := uint64(1); seq <= n; seq++ {
			size := recordAt(t, file, off)
			if seq >= 2 && file[off+size-1] == 0 {
				return slices.Clone(file[:off+size]), prevOff, off, seq
			}
			prevOff, off = off, off+size
		}
	}
	t.Fatal("no record ends in a zero byte")
	return nil, 0, 0, 0
}

// TestDamageBeforeRecordEndingInZeros: in the newest file, a damaged
// record followed by a valid one is damage, not a torn tail, also when
// the valid record's last bytes are zeros (and reserved zeros follow it,
// or not): the zero tail bounds where records start, not where they end.
// Taken for a torn tail, the valid record, acknowledged, would be cut
// off.
func TestDamageBeforeRecordEndingInZeros(t *testing.T) {
	forFormats(t, func(t *testing.T, f format) {
		file, prev, last, k := f.newestFileEndingInZeros(t)
		file[prev+wal.RecordHeaderSize+1] ^= 0xff // garble record k-1
		for _, reserved := range []int{0, 4096} {
			fsys := memfs.New(1)
			fsys.MkdirAll("/j")
			fsys.WriteFile("/j/00000000000000000001.journal", append(slices.Clone(file), make([]byte, reserved)...))
			c := f.scan(t, fsys, "/j")
			if len(c.Torn) != 0 {
				t.Fatalf("reserved %d: record %d (at %d) garbled and a valid record %d (at %d) after it taken for a torn tail: %+v",
					reserved, k-1, prev, k, last, c.Torn)
			}
			if len(c.Groups) != 1 || c.Groups[0].Damage == nil || c.Groups[0].Damage.Offset != int64(prev) || c.Groups[0].LastSeq() != k-2 {
				t.Fatalf("reserved %d: %d groups, damage %+v, want damage at %d after record %d", reserved, len(c.Groups), c.Groups[0].Damage, prev, k-2)
			}
		}
	})
}

// TestOrphanWithReservedSpace: a damaged tail set aside from a file with
// space reserved after its records reads as its records and the damaged
// bytes alone: the reserved zeros are the end of the file's records there
// too, not damage.
func TestOrphanWithReservedSpace(t *testing.T) {
	forFormats(t, func(t *testing.T, f format) {
		fsys := memfs.New(1)
		d, w := f.begin(t, fsys, "/j", journal.WriterOptions{Interval: time.Hour})
		const n = 30
		for seq := uint64(1); seq <= n; seq++ {
			w.Append(record(seq), seq)
		}
		if err := w.Sync(context.Background(), n); err != nil {
			t.Fatal(err)
		}
		w.Close()
		ents, _ := fsys.ReadDir("/j")
		name := "/j/" + ents[len(ents)-1].Name
		data, err := fsys.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		h := f.headerSize()
		bad := h + recordAt(t, data, h)
		badSize := recordAt(t, data, bad)
		if data[len(data)-1] != 0 {
			t.Fatal("the writer reserved no space after its records")
		}
		data[bad+wal.RecordHeaderSize+1] ^= 0xff // garble record 2
		fsys.WriteFile(name, data)
		c, err := d.Scan()
		if err != nil {
			t.Fatal(err)
		}
		g := c.Groups[0]
		if g.Damage == nil || g.Damage.Offset != int64(bad) {
			t.Fatalf("damage %+v, want at %d", g.Damage, bad)
		}
		if _, err := d.SetAside(g, false, "test"); err != nil {
			t.Fatal(err)
		}
		orphans, err := journal.ListOrphans(fsys, "/j", f.cipher)
		if err != nil || len(orphans) != 1 {
			t.Fatalf("ListOrphans = %v, %v", orphans, err)
		}
		if o := orphans[0]; o.Damaged != int64(badSize) || o.Records != n-2 {
			t.Fatalf("orphan: %d damaged bytes and %d records, want the %d bytes of record 2 and %d records", o.Damaged, o.Records, badSize, n-2)
		}
		var skips []int64
		err = journal.ReadOrphan(fsys, "/j", orphans[0].Name, f.cipher, func(journal.Header, wal.Record) error { return nil },
			func(_ string, off, n int64) { skips = append(skips, n) })
		if err != nil || len(skips) != 1 || skips[0] != int64(badSize) {
			t.Fatalf("ReadOrphan skipped %v (%v), want record 2's %d bytes alone", skips, err, badSize)
		}
	})
}

// TestFailedRotationLeavesNoFile: a new file whose header could not be
// made durable (a full disk) was left behind: nothing wrote to it or
// removed it, each retry added one, and recovery found each as a damaged
// group to set aside. It is removed now.
func TestFailedRotationLeavesNoFile(t *testing.T) {
	forFormats(t, func(t *testing.T, f format) {
		fsys := memfs.New(3)
		d, w := f.begin(t, fsys, "/j", journal.WriterOptions{Interval: time.Hour, FileBytes: 1 << 10})
		defer d.Close()
		full := fsys.Inject(memfs.Fault{Op: memfs.OpSync, Path: "00000000000000000002", Err: syscall.ENOSPC})
		ctx := context.Background()
		for seq := uint64(1); seq <= 60; seq++ {
			w.Append(record(seq), seq)
			if err := w.Sync(ctx, seq); err != nil {
				t.Fatal(err)
			}
		}
		if full.Fired() == 0 {
			t.Fatal("no rotation tried to start file 2")
		}
		full.Remove()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		entries, err := fsys.ReadDir("/j")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if strings.Contains(e.Name, "00000000000000000002") {
				t.Fatalf("the file whose start failed is still there: %s", e.Name)
			}
		}
		c, err := d.Scan()
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range c.Groups {
			if g.Damage != nil {
				t.Fatalf("recovery finds damage: %+v", g.Damage)
			}
		}
		checkRecords(t, c.Groups[len(c.Groups)-1], 60)
	})
}

// TestNewDirSurvivesCrash opens the journal of a new export, whose
// directory and parents do not exist yet, syncs records and crashes the
// machine: the directories OpenDir created were synced into their parents,
// so the acknowledged records are still there (memfs drops a directory
// whose entry was never synced, as a file system may after a power cut).
func TestNewDirSurvivesCrash(t *testing.T) {
	tests := []struct{ name, existing, dir string }{
		{"parents missing", "", "/cache/journal/0123456789abcdef"},
		{"journal_dir exists", "/cache/journal", "/cache/journal/0123456789abcdef"},
		{"relative", "", "cache/journal/0123456789abcdef"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			forFormats(t, func(t *testing.T, f format) {
				fsys := memfs.New(1)
				if tc.existing != "" {
					if err := fsys.MkdirAll(tc.existing); err != nil {
						t.Fatal(err)
					}
					for p := tc.existing; p != "/"; p = filepath.Dir(p) {
						if err := fsys.SyncDir(filepath.Dir(p)); err != nil {
							t.Fatal(err)
						}
					}
				}
				_, w := f.begin(t, fsys, tc.dir, journal.WriterOptions{Interval: time.Hour})
				for seq := uint64(1); seq <= 5; seq++ {
					w.Append(record(seq), seq)
				}
				if err := w.Sync(context.Background(), 5); err != nil {
					t.Fatal(err)
				}
				fsys.Crash(false)
				c := f.scan(t, fsys, tc.dir)
				if len(c.Groups) != 1 {
					t.Fatalf("%d groups after a crash, want the one acknowledged", len(c.Groups))
				}
				checkRecords(t, c.Groups[0], 5)
			})
		})
	}
}

// TestBegunFileThatDoesNotOpen: a rotation began file 2 (its header
// durable) and could not open it. The writer gave file 2 up and went on
// writing into file 1, so a crash could leave a complete file 2 after a
// file 1 whose end was torn, or after records of file 1 that came after
// it. It keeps file 2 now and writes nothing more into file 1: the next
// rounds fail until file 2 opens. After a crash that tears what was not
// synced, Scan finds every acknowledged record and no damage.
func TestBegunFileThatDoesNotOpen(t *testing.T) {
	const fileBytes = 1 << 10
	second := "/j/00000000000000000002.journal"
	for _, tc := range []struct {
		name  string
		opens int // failed attempts to open file 2
	}{
		{"fails once", 1},
		{"fails again at the next round", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forFormats(t, func(t *testing.T, f format) {
				for seed := uint64(1); seed <= 10; seed++ {
					fsys := memfs.New(seed)
					open := fsys.Inject(memfs.Fault{Op: memfs.OpOpen, Path: second, Err: syscall.EIO, Times: tc.opens})
					// A removal of file 2 does not happen (nor, after a
					// crash, would one that was not yet durable).
					fsys.Inject(memfs.Fault{Op: memfs.OpRemove, Path: second, Err: syscall.EIO})
					d, w := f.begin(t, fsys, "/j", journal.WriterOptions{Interval: time.Hour, FileBytes: fileBytes})
					ctx := context.Background()
					var seq uint64
					appendAndSync := func() error {
						seq++
						w.Append(record(seq), seq)
						return w.Sync(ctx, seq)
					}
					// Fill file 1: the round that reaches fileBytes rotates.
					for size := f.headerSize(); size < fileBytes; size += f.recordSize(seq) {
						if err := appendAndSync(); err != nil {
							t.Fatal(err)
						}
					}
					waitFor(t, func() bool { return open.Fired() > 0 })
					first, err := fsys.ReadFile("/j/00000000000000000001.journal")
					if err != nil {
						t.Fatal(err)
					}

					err = appendAndSync()
					if tc.opens > 1 {
						if !errors.Is(err, syscall.EIO) {
							t.Fatalf("Sync while file 2 does not open = %v, want EIO", err)
						}
						last := seq
						waitFor(t, func() bool { return w.Sync(ctx, last) == nil })
					} else if err != nil {
						t.Fatal(err)
					}
					for range 3 {
						if err := appendAndSync(); err != nil {
							t.Fatal(err)
						}
					}
					acked := seq
					// A last round written and not synced, which the crash tears.
					unsynced := fsys.Inject(memfs.Fault{Op: memfs.OpSync, Path: ".journal", Err: syscall.EIO})
					if err := appendAndSync(); err == nil {
						t.Fatal("Sync succeeded with fsync failing")
					}
					w.Close()
					d.Close()
					unsynced.Remove()

					now, err := fsys.ReadFile("/j/00000000000000000001.journal")
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.HasPrefix(first, now) {
						t.Fatalf("seed %d: file 1 was written after file 2 began: %d bytes then, %d now", seed, len(first), len(now))
					}
					fsys.Crash(true)
					c := f.scan(t, fsys, "/j")
					if len(c.Groups) != 1 || c.Groups[0].Damage != nil {
						t.Fatalf("seed %d: %d groups, damage %+v", seed, len(c.Groups), c.Groups[0].Damage)
					}
					g := c.Groups[0]
					if len(g.Files) != 2 || g.Files[1] != filepath.Base(second) {
						t.Fatalf("seed %d: files %v, want file 1 and file 2", seed, g.Files)
					}
					if g.LastSeq() < acked {
						t.Fatalf("seed %d: the journal holds up to %d after a crash, %d was acknowledged", seed, g.LastSeq(), acked)
					}
					checkRecords(t, g, g.LastSeq())
				}
			})
		})
	}
}
