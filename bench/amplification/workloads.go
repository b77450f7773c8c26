package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/zerofs-go/zerofsd/cache"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/kvfs/lsmkv"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/objstore"
)

// Config sizes the workloads.
type Config struct {
	// FileBytes is the size of the big file of the random, sequential and
	// overwrite workloads.
	FileBytes int64
	// RandomBytes is how many client bytes of aligned 4 KiB writes the
	// random workload makes into the big file.
	RandomBytes int64
	// TreeFiles is the number of files of the tree the overwrite workload
	// creates, then deletes half of.
	TreeFiles int
	// SmallFiles is the number of files the small-file workload writes and
	// reads back.
	SmallFiles int
	// GCEveryBytes runs a GC round every this many client bytes, as the
	// daemon's background GC would while the workload runs.
	GCEveryBytes int64
	// LSM is the database's options (memtable size, ...). GC is run by
	// the workloads; GCMinAge is made tiny so each round sees the final
	// state.
	LSM lsm.Options
	// FS is the filesystem's options.
	FS kvfs.Options
	// Text makes file contents compressible text (fillText) instead of
	// random bytes.
	Text bool
}

// Result is what one workload cost in the bucket.
type Result struct {
	Name string
	// ClientBytes is what the client wrote (file data).
	ClientBytes int64
	// PutBytes and Puts count what reached the bucket from the start of
	// the workload through compaction and GC.
	PutBytes, Puts int64
	// StoredBytes is the size of every object in the bucket at the end;
	// LiveBytes the file data the filesystem holds then.
	StoredBytes, LiveBytes int64
	// Files is how many files the workload wrote (small-file workload);
	// ReadGets counts the GET and ranged GET requests reading them all
	// back from a cold database and cache.
	Files    int
	ReadGets int64
	// WALBytes, Relocated and CompactedBytes break PutBytes down: WAL
	// objects, live values value compactions copied, SSTs compactions wrote.
	WALBytes, Relocated, CompactedBytes int64
	// Took is the wall time of the workload and CPU the process's CPU
	// time (user and system) meanwhile, background work included.
	Took, CPU time.Duration
}

// WriteAmp is bucket bytes written per client byte.
func (r Result) WriteAmp() float64 { return ratio(r.PutBytes, r.ClientBytes) }

// SpaceAmp is bucket bytes stored per live byte.
func (r Result) SpaceAmp() float64 { return ratio(r.StoredBytes, r.LiveBytes) }

func ratio(a, b int64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

var root = kvfs.Cred{}

// env is one filesystem on an lsm database on a counted memory store.
type env struct {
	cfg   Config
	mem   *objstore.Memory
	store *objstore.Counting
	db    *lsm.DB
	fs    *kvfs.FS
}

func newEnv(ctx context.Context, cfg Config) (*env, error) {
	e := &env{cfg: cfg, mem: objstore.NewMemory()}
	e.store = objstore.NewCounting(e.mem)
	opts := cfg.LSM
	opts.GCInterval = -1
	opts.GCMinAge = time.Nanosecond
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	db, err := lsm.Open(ctx, e.store, opts)
	if err != nil {
		return nil, err
	}
	fs, err := kvfs.Open(ctx, lsmkv.New(db), cfg.FS)
	if err != nil {
		_ = db.Close(ctx)
		return nil, err
	}
	e.db, e.fs = db, fs
	return e, nil
}

func (e *env) close(ctx context.Context) {
	_ = e.fs.Close(ctx)
	_ = e.db.Close(ctx)
}

// puts returns the bytes and requests written to the bucket so far.
func (e *env) puts() (bytes, n int64) {
	s := e.store.Stats()
	for _, op := range []objstore.Op{objstore.OpPut, objstore.OpPutIfAbsent} {
		bytes += s[op].BytesWritten
		n += s[op].Requests
	}
	return bytes, n
}

// settle does what the daemon does once a workload stops: background
// reclaim finishes, the memtables are written out (as at a clean stop),
// compactions run while the trigger says so, and GC rounds run until one
// has nothing left to do (the daemon's GC runs one a minute; a round right
// after writes puts off value compactions the next round then runs).
func (e *env) settle(ctx context.Context) error {
	for {
		n, err := e.fs.ReclaimPass(ctx)
		if err != nil {
			return fmt.Errorf("reclaim: %w", err)
		}
		if n == 0 {
			break
		}
	}
	if err := e.db.FlushMemtable(ctx); err != nil {
		return fmt.Errorf("flush memtable: %w", err)
	}
	for {
		did, err := e.db.Compact(ctx, false)
		if err != nil {
			return fmt.Errorf("compact: %w", err)
		}
		if !did {
			break
		}
	}
	for range 4 {
		res, err := e.db.RunGC(ctx)
		if err != nil {
			return fmt.Errorf("gc: %w", err)
		}
		if !res.ValueCompaction && !res.ValueCompactionDeferred {
			break
		}
	}
	return nil
}

// gc runs one GC round.
func (e *env) gc(ctx context.Context) error {
	if _, err := e.db.RunGC(ctx); err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	return nil
}

// measure fills r's bucket figures: bytes written since (put0, n0), the
// bucket's size and the filesystem's live bytes.
func (e *env) measure(ctx context.Context, r *Result, put0, n0 int64, s0 lsm.Stats) error {
	put, n := e.puts()
	r.PutBytes, r.Puts = put-put0, n-n0
	s := e.db.Stats()
	r.WALBytes = s.WALBytes - s0.WALBytes
	r.Relocated = s.ValueBytesRelocated - s0.ValueBytesRelocated
	r.CompactedBytes = s.CompactionBytesOut - s0.CompactionBytesOut
	stored, err := storedBytes(ctx, e.mem)
	if err != nil {
		return err
	}
	r.StoredBytes = stored
	st, err := e.fs.StatFS(ctx)
	if err != nil {
		return err
	}
	r.LiveBytes = int64(st.TotalBytes - st.FreeBytes)
	return nil
}

// cpuTime returns the process's CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// storedBytes sums the sizes of every object in the store.
func storedBytes(ctx context.Context, s objstore.Store) (int64, error) {
	var total int64
	opts := objstore.ListOptions{}
	for {
		page, err := s.List(ctx, "", opts)
		if err != nil {
			return 0, err
		}
		for _, o := range page.Objects {
			total += o.Size
		}
		if !page.Truncated || len(page.Objects) == 0 {
			return total, nil
		}
		opts.StartAfter = page.Objects[len(page.Objects)-1].Key
	}
}

// writeSequential writes size bytes of pseudo-random data at offset 0 of
// ino in 1 MiB writes and returns the client bytes.
func (e *env) writeSequential(ctx context.Context, ino uint64, size int64, seed uint64, gc *gcClock) (int64, error) {
	r := rand.New(rand.NewPCG(seed, 0))
	buf := make([]byte, 1<<20)
	var written int64
	for off := int64(0); off < size; off += int64(len(buf)) {
		n := min(int64(len(buf)), size-off)
		e.fill(r, buf[:n])
		if _, err := e.fs.Write(ctx, root, ino, uint64(off), buf[:n]); err != nil {
			return written, fmt.Errorf("write at %d: %w", off, err)
		}
		written += n
		if err := gc.tick(ctx, n); err != nil {
			return written, err
		}
	}
	return written, nil
}

// fill writes the workload's file contents: random bytes, or text with
// Config.Text.
func (e *env) fill(r *rand.Rand, b []byte) {
	if e.cfg.Text {
		fillText(r, b)
		return
	}
	fill(r, b)
}

// fill writes incompressible bytes (file contents are usually compressed
// or binary; compression must not flatter the figures).
func fill(r *rand.Rand, b []byte) {
	for i := 0; i+8 <= len(b); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := len(b) &^ 7; i < len(b); i++ {
		b[i] = byte(r.Uint32())
	}
}

// gcClock runs a GC round every cfg.GCEveryBytes client bytes.
type gcClock struct {
	e     *env
	every int64
	since int64
}

func (g *gcClock) tick(ctx context.Context, n int64) error {
	if g == nil || g.every <= 0 {
		return nil
	}
	g.since += n
	if g.since < g.every {
		return nil
	}
	g.since = 0
	return g.e.gc(ctx)
}

func (e *env) createFile(ctx context.Context, dir uint64, name string) (uint64, error) {
	ne, err := e.fs.Create(ctx, root, dir, name, kvfs.CreateRequest{})
	if err != nil {
		return 0, err
	}
	return ne.Attr.Ino, nil
}

// RandomWrite writes cfg.FileBytes sequentially (not counted), settles,
// then makes cfg.RandomBytes of aligned 4 KiB writes at uniformly random
// offsets and settles again. It reports the second part.
func RandomWrite(ctx context.Context, cfg Config) (Result, error) {
	r := Result{Name: fmt.Sprintf("random 4 KiB writes, %d MiB into a %d MiB file", cfg.RandomBytes>>20, cfg.FileBytes>>20)}
	e, err := newEnv(ctx, cfg)
	if err != nil {
		return r, err
	}
	defer e.close(ctx)
	ino, err := e.createFile(ctx, kvfs.RootIno, "big")
	if err != nil {
		return r, err
	}
	if _, err := e.writeSequential(ctx, ino, cfg.FileBytes, 1, nil); err != nil {
		return r, err
	}
	if err := e.settle(ctx); err != nil {
		return r, err
	}
	put0, n0 := e.puts()
	s0 := e.db.Stats()
	start, cpu0 := time.Now(), cpuTime()
	rng := rand.New(rand.NewPCG(2, 0))
	gc := &gcClock{e: e, every: cfg.GCEveryBytes}
	buf := make([]byte, 4096)
	blocks := cfg.FileBytes / int64(len(buf))
	for r.ClientBytes < cfg.RandomBytes {
		e.fill(rng, buf)
		off := uint64(rng.Int64N(blocks)) * uint64(len(buf))
		if _, err := e.fs.Write(ctx, root, ino, off, buf); err != nil {
			return r, fmt.Errorf("write at %d: %w", off, err)
		}
		r.ClientBytes += int64(len(buf))
		if err := gc.tick(ctx, int64(len(buf))); err != nil {
			return r, err
		}
	}
	if err := e.settle(ctx); err != nil {
		return r, err
	}
	r.Took, r.CPU = time.Since(start), cpuTime()-cpu0
	return r, e.measure(ctx, &r, put0, n0, s0)
}

// SequentialWrite writes a file of cfg.FileBytes in 1 MiB writes and settles.
func SequentialWrite(ctx context.Context, cfg Config) (Result, error) {
	r := Result{Name: fmt.Sprintf("sequential writes, a %d MiB file", cfg.FileBytes>>20)}
	e, err := newEnv(ctx, cfg)
	if err != nil {
		return r, err
	}
	defer e.close(ctx)
	put0, n0 := e.puts()
	s0 := e.db.Stats()
	start, cpu0 := time.Now(), cpuTime()
	ino, err := e.createFile(ctx, kvfs.RootIno, "big")
	if err != nil {
		return r, err
	}
	gc := &gcClock{e: e, every: cfg.GCEveryBytes}
	if r.ClientBytes, err = e.writeSequential(ctx, ino, cfg.FileBytes, 1, gc); err != nil {
		return r, err
	}
	if err := e.settle(ctx); err != nil {
		return r, err
	}
	r.Took, r.CPU = time.Since(start), cpuTime()-cpu0
	return r, e.measure(ctx, &r, put0, n0, s0)
}

// treeFileSize draws a file size for the tree: log-uniform between 256 B
// and 64 KiB (a source tree's spread; mean about 12 KiB).
func treeFileSize(r *rand.Rand) int64 {
	return int64(math.Exp(math.Log(256) + r.Float64()*(math.Log(64<<10)-math.Log(256))))
}

// OverwriteDelete writes a file of cfg.FileBytes four times over, creates
// a tree of cfg.TreeFiles files (100 per directory), deletes a random half
// of them, and settles.
func OverwriteDelete(ctx context.Context, cfg Config) (Result, error) {
	r := Result{Name: fmt.Sprintf("a %d MiB file written 4x, %d-file tree, half deleted, GC", cfg.FileBytes>>20, cfg.TreeFiles)}
	e, err := newEnv(ctx, cfg)
	if err != nil {
		return r, err
	}
	defer e.close(ctx)
	put0, n0 := e.puts()
	s0 := e.db.Stats()
	start, cpu0 := time.Now(), cpuTime()
	gc := &gcClock{e: e, every: cfg.GCEveryBytes}
	ino, err := e.createFile(ctx, kvfs.RootIno, "big")
	if err != nil {
		return r, err
	}
	for pass := range 4 {
		n, err := e.writeSequential(ctx, ino, cfg.FileBytes, uint64(10+pass), gc)
		r.ClientBytes += n
		if err != nil {
			return r, err
		}
	}
	rng := rand.New(rand.NewPCG(3, 0))
	type file struct {
		dir  uint64
		name string
	}
	var files []file
	var dir uint64
	buf := make([]byte, 64<<10)
	for i := range cfg.TreeFiles {
		if i%100 == 0 {
			ne, err := e.fs.Mkdir(ctx, root, kvfs.RootIno, fmt.Sprintf("d%03d", i/100), 0o755)
			if err != nil {
				return r, err
			}
			dir = ne.Attr.Ino
		}
		name := fmt.Sprintf("f%05d", i)
		f, err := e.createFile(ctx, dir, name)
		if err != nil {
			return r, err
		}
		data := buf[:treeFileSize(rng)]
		e.fill(rng, data)
		if _, err := e.fs.Write(ctx, root, f, 0, data); err != nil {
			return r, err
		}
		r.ClientBytes += int64(len(data))
		if err := gc.tick(ctx, int64(len(data))); err != nil {
			return r, err
		}
		files = append(files, file{dir, name})
	}
	rng.Shuffle(len(files), func(i, j int) { files[i], files[j] = files[j], files[i] })
	for _, f := range files[:len(files)/2] {
		if _, err := e.fs.Unlink(ctx, root, f.dir, f.name); err != nil {
			return r, err
		}
	}
	if err := e.settle(ctx); err != nil {
		return r, err
	}
	r.Took, r.CPU = time.Since(start), cpuTime()-cpu0
	return r, e.measure(ctx, &r, put0, n0, s0)
}

// SmallFiles writes cfg.SmallFiles files of 1 to 16 KiB (uniform) into
// directories of 100, settles, then opens the store again read-only with
// cold caches (a fresh disk cache, as after a restart on a new machine)
// and reads every file back, counting the GETs.
func SmallFiles(ctx context.Context, cfg Config) (Result, error) {
	r := Result{Name: fmt.Sprintf("%d small files (1-16 KiB): write, then read cold", cfg.SmallFiles)}
	e, err := newEnv(ctx, cfg)
	if err != nil {
		return r, err
	}
	defer e.close(ctx)
	put0, n0 := e.puts()
	s0 := e.db.Stats()
	start, cpu0 := time.Now(), cpuTime()
	rng := rand.New(rand.NewPCG(4, 0))
	type file struct {
		dir  uint64
		name string
		size int
	}
	var files []file
	var dir uint64
	buf := make([]byte, 16<<10)
	for i := range cfg.SmallFiles {
		if i%100 == 0 {
			ne, err := e.fs.Mkdir(ctx, root, kvfs.RootIno, fmt.Sprintf("d%03d", i/100), 0o755)
			if err != nil {
				return r, err
			}
			dir = ne.Attr.Ino
		}
		name := fmt.Sprintf("f%05d", i)
		f, err := e.createFile(ctx, dir, name)
		if err != nil {
			return r, err
		}
		data := buf[:1+rng.IntN(len(buf))]
		e.fill(rng, data)
		if _, err := e.fs.Write(ctx, root, f, 0, data); err != nil {
			return r, err
		}
		r.ClientBytes += int64(len(data))
		files = append(files, file{dir, name, len(data)})
	}
	if err := e.settle(ctx); err != nil {
		return r, err
	}
	r.Took, r.CPU = time.Since(start), cpuTime()-cpu0
	r.Files = len(files)
	if err := e.measure(ctx, &r, put0, n0, s0); err != nil {
		return r, err
	}

	cacheDir, err := os.MkdirTemp("", "amplification-cache-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(cacheDir)
	disk, err := cache.OpenDisk(cacheDir, 1<<30, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		return r, err
	}
	defer disk.Close()
	counted := objstore.NewCounting(e.mem)
	ro, err := lsm.OpenReadOnly(ctx, counted, lsm.ReadOnlyOptions{DiskCache: disk, CacheNamespace: "small",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return r, err
	}
	defer ro.Close(ctx)
	rfs, err := kvfs.Open(ctx, lsmkv.New(ro), kvfs.Options{ReadOnly: true})
	if err != nil {
		return r, err
	}
	c0 := counted.Stats()
	for _, f := range files {
		a, err := rfs.Lookup(ctx, root, f.dir, f.name)
		if err != nil {
			return r, err
		}
		n, _, err := rfs.Read(ctx, root, a.Ino, 0, buf)
		if err != nil {
			return r, err
		}
		if n != f.size {
			return r, errors.New("short read of " + f.name)
		}
	}
	s1 := counted.Stats()
	for _, op := range []objstore.Op{objstore.OpGet, objstore.OpGetRange} {
		r.ReadGets += s1[op].Requests - c0[op].Requests
	}
	return r, nil
}

// textWords is the vocabulary of fillText.
var textWords = strings.Fields(`the of and to in is that for it as with was on be by at this from or an
	are which but not have had has were all can their more one will would there been its also
	when file data value write read object store bucket memtable compaction block pointer chunk
	offset length record batch manifest journal export client server request reply error`)

// fillText writes lines of words drawn at random from a small vocabulary,
// after a line number: 4 KiB of it shrinks to about 0.6 of its size with
// snappy and 0.4 with zstd, like source code, logs or documents.
func fillText(r *rand.Rand, b []byte) {
	var line []byte
	for n := 0; n < len(b); n += copy(b[n:], line) {
		line = fmt.Appendf(line[:0], "%08d", r.Uint32N(1e8))
		for range 4 + r.IntN(10) {
			line = append(line, ' ')
			line = append(line, textWords[r.IntN(len(textWords))]...)
		}
		line = append(line, '\n')
	}
}
