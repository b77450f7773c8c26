package journal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by Sync once the Writer is closed.
var ErrClosed = errors.New("journal: closed")

// allocateStep is how much space a Writer reserves ahead of its records at
// a time (never past FileBytes): writes into reserved space change no
// metadata, so their fdatasync costs less, and one round in this many
// bytes pays for the reservation.
const allocateStep = 4 << 20

// zeroFillBelow and zeroFillStep: a round of fewer than zeroFillBelow bytes
// (a strict metadata reply, a small file's FILE_SYNC write: rounds bound by
// the fdatasync's latency) first fills the next zeroFillStep bytes of the
// file with zeros, written and synced with it, so that the rounds after it
// overwrite written blocks. Space that is only reserved (Allocate) is
// "unwritten" in the file system's extent map until written: the first
// write to each block changes that map, so its fdatasync commits the file
// system's journal as well as the data. Measured on ext4 here, a 4 KiB
// write and fdatasync costs 1.5–1.8 times as much into reserved space as
// over written blocks; filling 1 MiB costs one round about 3 ms. Larger
// rounds skip it: their fdatasync is bound by the data they write, which
// zeros would double.
const (
	zeroFillBelow = 64 << 10
	zeroFillStep  = 1 << 20
)

// zeroBlock is what zero-filling writes, a block at a time. Never written.
var zeroBlock [64 << 10]byte

// maxBuffered makes the writer write (and fsync) appended records without
// waiting for Interval once this many bytes are buffered.
const maxBuffered = 4 << 20

// WriterOptions configure a Writer. Zero fields take the defaults.
type WriterOptions struct {
	// Interval is the longest an appended record waits for its fsync when
	// nobody waits for it. Default 50ms.
	Interval time.Duration
	// FileBytes starts a new file once the current one holds this many
	// bytes. Default 64 MiB.
	FileBytes int64
	// Logger receives the writer's logs. Default slog.Default().
	Logger *slog.Logger

	// idleTrim is how long a writer with nothing to write keeps the
	// chunks of its last round for a next one. Default idleTrimDelay.
	idleTrim time.Duration
}

func (o WriterOptions) withDefaults() WriterOptions {
	if o.idleTrim <= 0 {
		o.idleTrim = idleTrimDelay
	}
	if o.Interval <= 0 {
		o.Interval = 50 * time.Millisecond
	}
	if o.FileBytes <= 0 {
		o.FileBytes = 64 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Stats are a Writer's counters.
type Stats struct {
	// Fsyncs counts successful write+fdatasync rounds; FsyncFailures the
	// failed ones (each retried).
	Fsyncs, FsyncFailures int64
	// BytesWritten counts record bytes made durable.
	BytesWritten int64
	// Files and DiskBytes describe the journal files on disk now: their
	// headers and records (the space reserved ahead of the records of the
	// file being written, up to 4 MiB, is not counted).
	Files     int64
	DiskBytes int64
}

// Writer appends records to the journal and makes them durable in groups.
// Append, Sync, Shipped and Stats are safe for concurrent use.
type Writer struct {
	d    *Dir
	h    Header
	opts WriterOptions
	// sealed says that the writer's files are sealed: Append lays records
	// out for sealing in place, and writeRound seals them there.
	sealed bool

	mu       sync.Mutex
	buf      [][]byte  // appended, not yet taken by a round: whole records, in chunks
	buffered int       // bytes in buf
	bufSince time.Time // when buf became non-empty
	chunks   chunkPool // for buf
	// lastRound is when the last round ended: the chunks it kept are
	// given back once the writer has been idle for opts.idleTrim.
	lastRound time.Time
	appended  uint64 // sequence number of the last appended record
	next      *round // completed by the next write
	inflight  *round // being written, or nil
	closed    bool

	durable atomic.Uint64
	shipped atomic.Uint64
	// backlog counts the bytes of the records appended and not yet
	// durable, as the writer holds them (with a sealed journal's framing):
	// buffered, or pending after a failed round.
	backlog atomic.Int64

	kick chan struct{}
	stop chan struct{}
	done chan struct{}

	// wmu is the write lock: whoever holds it (the loop goroutine, or a
	// caller of Sync writing its own round) owns the fields below.
	wmu        sync.Mutex
	failing    int       // failed rounds in a row
	retryAt    time.Time // no round before this after a failure
	file       File
	codec      *codec // of the file being written
	off        int64
	allocated  int64       // the file's space reserved up to here
	filled     int64       // the file's space filled with zeros up to here
	noAllocate bool        // the file system cannot reserve space
	pending    [][]byte    // taken from buf as stored, not yet durable (retried after a failure)
	pendingRaw int64       // the bytes of pending's records, as counted in backlog
	files      []fileState // this writer's files, oldest first; the last is being written
	// begun is the next file, begun (its header durable) but not opened
	// yet: nothing more is written into the current file, and rounds fail
	// until it opens.
	begun *begunFile

	fsyncs, failures, bytesWritten, diskBytes, nfiles atomic.Int64
}

type fileState struct {
	num     uint64
	lastSeq uint64 // of the last record written to it
	size    int64
}

// begunFile is a file rotate began and could not open.
type begunFile struct {
	num   uint64
	codec *codec
}

// round is one write+fsync; its waiters learn its outcome together.
type round struct {
	upTo   uint64 // every record up to this sequence number
	wanted bool   // somebody waits for it
	done   chan struct{}
	err    error
}

func newRound() *round { return &round{done: make(chan struct{})} }

// NewWriter starts a writer appending to file num, which Begin created with
// header h and which holds nothing else yet. Records appended must continue
// from sequence number after. A sealed file's records are sealed as the
// writer writes them (not in Append).
func (d *Dir) NewWriter(h Header, num uint64, after uint64, opts WriterOptions) (*Writer, error) {
	name := d.file(fileName(num))
	data, err := d.fs.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("journal: reading %s: %w", name, err)
	}
	fh, err := decodeFileHeader(data)
	if err == nil && (fh.Header != h || len(data) != len(fh.raw)) {
		err = fmt.Errorf("it is not a new file of %s (%d bytes, of %s)", h, len(data), fh.Header)
	}
	var cd *codec
	if err == nil {
		cd, err = codecOf(fh, d.cipher)
	}
	if err == nil && cd.sealed() != (d.cipher != nil) {
		// Rotation begins files as the Dir seals them; Append lays records
		// out for one kind.
		err = fmt.Errorf("it is in the clear and the journal is sealed")
	}
	if err != nil {
		return nil, fmt.Errorf("journal: starting a writer on %s: %w", name, err)
	}
	f, err := d.fs.OpenFile(name)
	if err != nil {
		return nil, fmt.Errorf("journal: opening %s: %w", name, err)
	}
	w := &Writer{
		d: d, h: h, opts: opts.withDefaults(),
		appended:  after,
		next:      newRound(),
		kick:      make(chan struct{}, 1),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		file:      f,
		codec:     cd,
		sealed:    cd.sealed(),
		off:       int64(cd.hdrLen),
		allocated: int64(cd.hdrLen),
		filled:    int64(cd.hdrLen),
		files:     []fileState{{num: num, lastSeq: after, size: int64(cd.hdrLen)}},
	}
	w.durable.Store(after)
	w.shipped.Store(after)
	w.diskBytes.Store(int64(cd.hdrLen))
	w.nfiles.Store(1)
	go w.loop()
	return w, nil
}

// Append buffers one encoded record (wal.AppendRecord) whose last entry has
// sequence number lastSeq. Records must be appended in sequence order.
func (w *Writer) Append(rec []byte, lastSeq uint64) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	if w.buffered == 0 {
		w.bufSince = time.Now()
	}
	// A record goes whole into the last chunk, or a new one: what is
	// buffered is never moved (this runs under the commit path's lock, and
	// a writer that is behind may hold tens of MiB).
	size := laidOutSize(len(rec), w.sealed)
	if n := len(w.buf); n == 0 || len(w.buf[n-1])+size > cap(w.buf[n-1]) {
		w.buf = append(w.buf, w.chunks.get(size))
	}
	last := &w.buf[len(w.buf)-1]
	if w.sealed {
		*last = appendLaidOut(*last, rec)
	} else {
		*last = append(*last, rec...)
	}
	w.buffered += size
	w.appended = lastSeq
	wake := w.buffered == size || w.buffered >= maxBuffered
	w.mu.Unlock()
	w.backlog.Add(int64(size))
	if wake {
		kickCh(w.kick)
	}
}

// Durable is the sequence number up to which every record is on disk.
func (w *Writer) Durable() uint64 { return w.durable.Load() }

// Backlog is how many bytes of appended records are not on disk yet:
// buffered, or kept after a failed write to be written again, as the writer
// holds them (a sealed journal's records with their framing). The writer
// holds them in memory; nothing bounds them but its caller, which waits
// (Sync) for the writer to catch up.
func (w *Writer) Backlog() int64 { return w.backlog.Load() }

// Sync waits until every record up to seq is on disk. If the write or
// fsync that carries it fails, Sync returns that error (the record is then
// not acknowledged; the writer keeps retrying in the background).
func (w *Writer) Sync(ctx context.Context, seq uint64) error {
	for {
		if w.durable.Load() >= seq {
			return nil
		}
		w.mu.Lock()
		if w.closed {
			w.mu.Unlock()
			return ErrClosed
		}
		seq = min(seq, w.appended) // nothing later can become durable
		if w.durable.Load() >= seq {
			w.mu.Unlock()
			return nil
		}
		r, lead := w.next, false
		if w.inflight != nil && seq <= w.inflight.upTo {
			r = w.inflight
		} else {
			r.wanted, lead = true, true
		}
		w.mu.Unlock()
		if lead && w.wmu.TryLock() {
			// Nobody is writing: write the round here rather than hand
			// it to the loop goroutine and wait to be woken (two thread
			// wake-ups per call, as much as the fdatasync itself on a
			// small machine). Callers arriving meanwhile kick the loop
			// goroutine, which writes the next round once this one ends.
			w.writeAsLeader(seq)
			w.wmu.Unlock()
		} else {
			kickCh(w.kick)
		}
		select {
		case <-r.done:
			if errors.Is(r.err, ErrClosed) {
				return ErrClosed
			}
			if r.err != nil {
				return fmt.Errorf("journal: write not durable (retrying in background): %w", r.err)
			}
		case <-ctx.Done():
			return fmt.Errorf("journal: waiting for fsync: %w", ctx.Err())
		}
	}
}

// Shipped tells the writer that every record up to seq is in the object
// store: files holding nothing newer are deleted.
func (w *Writer) Shipped(seq uint64) {
	for {
		cur := w.shipped.Load()
		if seq <= cur || w.shipped.CompareAndSwap(cur, seq) {
			break
		}
	}
	kickCh(w.kick)
}

// Stats returns the writer's counters.
func (w *Writer) Stats() Stats {
	return Stats{
		Fsyncs:        w.fsyncs.Load(),
		FsyncFailures: w.failures.Load(),
		BytesWritten:  w.bytesWritten.Load(),
		Files:         w.nfiles.Load(),
		DiskBytes:     w.diskBytes.Load(),
	}
}

// Close stops the writer without writing what is still buffered (a caller
// that wants it durable calls Sync first) and fails waiting callers with
// ErrClosed. The files stay; the Dir stays locked.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	<-w.done
	w.wmu.Lock() // a caller of Sync writing a round finishes it
	defer w.wmu.Unlock()
	w.mu.Lock()
	w.next.err = ErrClosed
	close(w.next.done)
	w.mu.Unlock()
	return w.file.Close()
}

// writeAsLeader writes the next round on the caller's goroutine, under
// wmu, unless the records up to seq are already durable, the writer is
// closed, or a failed round is waiting for its backoff (the loop retries
// it). It rotates and removes files as the loop does after a round.
func (w *Writer) writeAsLeader(seq uint64) {
	if w.durable.Load() >= seq || time.Now().Before(w.retryAt) {
		return
	}
	w.mu.Lock()
	closed := w.closed
	w.mu.Unlock()
	if closed {
		return
	}
	w.writeAndAccount()
	w.rotateAndRemove()
	if w.failing > 0 {
		kickCh(w.kick) // the loop retries after the backoff
	}
}

// writeAndAccount writes a round under wmu and keeps the failure count
// and backoff that the loop and writeAsLeader both honour.
func (w *Writer) writeAndAccount() {
	if err := w.writeRound(); err != nil {
		w.failing++
		w.retryAt = time.Now().Add(min(10*time.Millisecond<<min(w.failing-1, 7), time.Second))
		w.opts.Logger.Warn("journal: write failed; retrying from the last durable offset",
			"file", w.d.file(fileName(w.files[len(w.files)-1].num)), "offset", w.off, "bytes", totalLen(w.pending), "err", err)
		return
	}
	w.failing, w.retryAt = 0, time.Time{}
}

func (w *Writer) loop() {
	defer close(w.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		w.mu.Lock()
		wanted, buffered, since := w.next.wanted, w.buffered, w.bufSince
		kept, lastRound := w.chunks.bytes > minPooledBytes, w.lastRound
		w.mu.Unlock()
		w.wmu.Lock()
		retryAt, pending := w.retryAt, len(w.pending)
		w.wmu.Unlock()
		now := time.Now()
		wait := time.Duration(-1) // until kicked
		switch {
		case now.Before(retryAt):
			wait = retryAt.Sub(now)
		case wanted || buffered >= maxBuffered || pending > 0:
			wait = 0
		case buffered > 0:
			wait = max(0, since.Add(w.opts.Interval).Sub(now))
		case kept:
			if trimAt := lastRound.Add(w.opts.idleTrim); now.Before(trimAt) {
				wait = trimAt.Sub(now)
			} else {
				w.idle()
			}
		}
		if wait != 0 {
			if wait > 0 {
				timer.Reset(wait)
			}
			select {
			case <-w.stop:
				timer.Stop()
				return
			case <-w.kick:
			case <-timer.C:
			}
			timer.Stop()
			w.wmu.Lock()
			w.rotateAndRemove()
			w.wmu.Unlock()
			continue
		}
		w.wmu.Lock()
		w.writeAndAccount()
		w.rotateAndRemove()
		w.wmu.Unlock()
	}
}

// idleTrimDelay is how long a writer with nothing to write keeps the
// chunks of its last round for a next one.
const idleTrimDelay = 2 * time.Second

// idle gives back the chunks kept past minPooledBytes: the writer has had
// nothing to write for opts.idleTrim.
func (w *Writer) idle() {
	w.mu.Lock()
	w.chunks.keep = minPooledBytes
	w.chunks.trim()
	w.mu.Unlock()
}

// rotateAndRemove starts the next file once the current one is full (after
// a successful round) and deletes the files already shipped. Under wmu.
func (w *Writer) rotateAndRemove() {
	if w.begun == nil && w.failing == 0 && len(w.pending) == 0 && w.off >= w.opts.FileBytes {
		w.rotate()
	}
	w.removeShipped()
}

// writeRound writes everything appended so far (after what an earlier
// failed round left) at the last durable offset, fsyncs, and completes the
// round's waiters with the outcome.
func (w *Writer) writeRound() error {
	if w.begun != nil {
		// The records go into the file begun last, never into the one
		// before it: a later file means the earlier ones are complete.
		if err := w.openBegun(); err != nil {
			w.failRound(err)
			return err
		}
	}
	w.mu.Lock()
	r := w.next
	r.upTo = w.appended
	w.next = newRound()
	raw := w.buf
	w.pendingRaw += int64(w.buffered)
	w.buf, w.buffered = nil, 0
	w.bufSince = time.Time{}
	w.inflight = r
	w.mu.Unlock()

	// Records are sealed here, off the commit path, once, where Append laid
	// them out: a retry writes the same bytes, and no chunk is copied.
	if w.sealed {
		for _, c := range raw {
			w.codec.sealInPlace(c)
		}
	}
	w.pending = append(w.pending, raw...)
	roundBytes := totalLen(raw)

	var err error
	var written [][]byte
	if n := int64(totalLen(w.pending)); n > 0 {
		w.reserve(w.off+n, n < zeroFillBelow)
		off := w.off
		for _, c := range w.pending {
			if _, err = w.file.WriteAt(c, off); err != nil {
				break
			}
			off += int64(len(c))
		}
		if err == nil {
			err = w.file.Sync()
		}
		if err == nil {
			w.off += n
			cur := &w.files[len(w.files)-1]
			cur.lastSeq, cur.size = r.upTo, w.off
			w.fsyncs.Add(1)
			w.bytesWritten.Add(n)
			w.diskBytes.Add(n)
			written, w.pending = w.pending, nil
			w.backlog.Add(-w.pendingRaw)
			w.pendingRaw = 0
		} else {
			w.failures.Add(1)
		}
	}
	w.mu.Lock()
	// Keep as many chunks as this round took, for the records appended
	// while it was written: a writer that is behind reuses its buffers
	// instead of allocating (and the Go runtime clearing) a round's worth
	// every round; one that caught up gives the rest back.
	w.chunks.keep = max(minPooledBytes, roundBytes)
	for _, c := range written {
		w.chunks.put(c)
	}
	w.chunks.trim()
	w.lastRound = time.Now()
	if w.chunks.bytes > minPooledBytes {
		// The loop gives them back once idle: it may be waiting for a
		// kick, having looked before this round (a caller of Sync's).
		kickCh(w.kick)
	}
	w.inflight = nil
	if err == nil {
		w.durable.Store(r.upTo)
	}
	r.err = err
	close(r.done)
	w.mu.Unlock()
	return err
}

// failRound fails the next round's waiters with err before anything is
// taken from the buffer: its records wait there for the retry.
func (w *Writer) failRound(err error) {
	w.failures.Add(1)
	w.mu.Lock()
	r := w.next
	w.next = newRound()
	r.err = err
	close(r.done)
	w.mu.Unlock()
}

// reserve reserves the current file's space up to at least end, a step
// ahead, unless the file system cannot. A failure other than that is left
// to the write, which says whether the disk is full, and reserving is not
// tried again before the writer is past the step that failed: a nearly
// full disk does not pay a failing fallocate on every round.
//
// A small round (see zeroFillBelow) also fills the space ahead of the
// records with zeros, unless it is filled already.
func (w *Writer) reserve(end int64, small bool) {
	if small && end > w.filled {
		w.zeroFill(end)
	}
	if w.noAllocate || end <= w.allocated {
		return
	}
	to := min(max(end, w.allocated+allocateStep), max(end, w.opts.FileBytes))
	if err := w.file.Allocate(w.allocated, to-w.allocated); err != nil {
		if errors.Is(err, errors.ErrUnsupported) {
			w.noAllocate = true
			w.opts.Logger.Info("journal: the file system cannot reserve space ahead; journal files grow as they are written", "dir", w.d.path, "err", err)
		}
	}
	w.allocated = to // on failure: where reserving is tried next
}

// zeroFill writes zeros from the end of the records (or of the space
// filled before) up to at least end, zeroFillStep ahead, never past
// FileBytes unless end is. The round's records then overwrite their part,
// and its fdatasync makes the rest written blocks. A failure is left to the
// round's own write, and filling is not tried again before the writer is
// past the step that failed.
func (w *Writer) zeroFill(end int64) {
	from := max(w.filled, w.off) // never over records
	to := min(max(end, from+zeroFillStep), max(end, w.opts.FileBytes))
	for off := from; off < to; {
		n := min(int64(len(zeroBlock)), to-off)
		if _, err := w.file.WriteAt(zeroBlock[:n], off); err != nil {
			break
		}
		off += n
	}
	w.filled = to
}

// rotate starts the next file. If beginning it fails, the current one
// goes on growing and rotation is tried again after the next write. Once
// it is begun, its header durable, nothing more is written into the
// current file (Scan takes a later file for proof that the earlier ones
// are complete): if it does not open, the next rounds fail, and each
// tries to open it again.
func (w *Writer) rotate() {
	num, cd, err := w.d.begin(w.h)
	if err != nil {
		w.opts.Logger.Warn("journal: starting a new file failed; the current one keeps growing", "dir", w.d.path, "err", err)
		return
	}
	w.begun = &begunFile{num: num, codec: cd}
	w.diskBytes.Add(int64(cd.hdrLen))
	w.nfiles.Add(1)
	if err := w.openBegun(); err != nil {
		w.opts.Logger.Warn("journal: opening the new file failed; writes wait until it opens", "dir", w.d.path, "err", err)
	}
}

// openBegun opens the file rotate began and writes into it from now on.
func (w *Writer) openBegun() error {
	b := w.begun
	name := w.d.file(fileName(b.num))
	f, err := w.d.fs.OpenFile(name)
	if err != nil {
		return fmt.Errorf("journal: opening %s: %w", name, err)
	}
	// Give back the space reserved past the last record (not synced:
	// zeros that come back after a crash are read as the end of the file).
	if max(w.allocated, w.filled) > w.off {
		_ = w.file.Truncate(w.off)
	}
	w.file.Close()
	w.file, w.codec, w.off = f, b.codec, int64(b.codec.hdrLen)
	w.allocated, w.filled = w.off, w.off
	w.files = append(w.files, fileState{num: b.num, lastSeq: w.files[len(w.files)-1].lastSeq, size: w.off})
	w.begun = nil
	return nil
}

// removeShipped deletes the files (all but the current one) whose records
// are all in the object store.
func (w *Writer) removeShipped() {
	shipped := w.shipped.Load()
	removed := 0
	for len(w.files) > 1 && w.files[0].lastSeq <= shipped {
		name := w.d.file(fileName(w.files[0].num))
		if err := w.d.fs.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			w.opts.Logger.Warn("journal: removing a shipped file failed", "file", name, "err", err)
			break
		}
		w.diskBytes.Add(-w.files[0].size)
		w.nfiles.Add(-1)
		w.files = w.files[1:]
		removed++
	}
	if removed > 0 {
		if err := w.d.syncDir(w.d.path); err != nil {
			w.opts.Logger.Warn("journal: syncing the directory after removing shipped files", "err", err)
		}
	}
}

// chunkBytes is the size of the chunks records are buffered in (a larger
// record gets a chunk of its own size).
const chunkBytes = 1 << 20

// minPooledBytes is the least a chunkPool keeps for reuse. Above it, a
// writer keeps what its last round took (Writer.writeRound), so that a
// burst that put it far behind leaves little memory held after it.
const minPooledBytes = 8 << 20

// chunkPool keeps the buffers of written rounds for the next ones, up to
// keep bytes. Not safe for concurrent use: each is guarded by its owner's
// lock.
type chunkPool struct {
	free  [][]byte
	bytes int
	keep  int
}

// largeChunkStep is the granularity of chunks larger than chunkBytes: a
// chunk made for one large record is rounded up to it, so that it serves
// the next records of about that size (a stream of 1 MiB writes makes
// records a few bytes apart, each a little over chunkBytes).
const largeChunkStep = 64 << 10

// get returns an empty buffer with room for n bytes.
func (p *chunkPool) get(n int) []byte {
	for i, c := range p.free {
		if cap(c) >= n {
			p.free = slices.Delete(p.free, i, i+1)
			p.bytes -= cap(c)
			return c[:0]
		}
	}
	size := chunkBytes
	if n > chunkBytes {
		size = (n + largeChunkStep - 1) / largeChunkStep * largeChunkStep
	}
	return make([]byte, 0, size)
}

// put keeps c for reuse, unless the pool holds enough already.
func (p *chunkPool) put(c []byte) {
	if p.bytes+cap(c) > max(p.keep, minPooledBytes) {
		return
	}
	p.free = append(p.free, c[:0])
	p.bytes += cap(c)
}

// trim drops the chunks past keep bytes, the most recently kept first.
func (p *chunkPool) trim() {
	for len(p.free) > 0 && p.bytes > max(p.keep, minPooledBytes) {
		last := len(p.free) - 1
		p.bytes -= cap(p.free[last])
		p.free[last] = nil
		p.free = p.free[:last]
	}
}

// totalLen is the number of bytes in chunks.
func totalLen(chunks [][]byte) int {
	n := 0
	for _, c := range chunks {
		n += len(c)
	}
	return n
}

func kickCh(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
