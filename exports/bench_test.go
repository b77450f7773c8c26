package exports_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/cache"
	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

// The cost of encryption through the whole stack (registry, lsm with the
// disk cache, kvfs), without NFS: each benchmark runs on a local-directory
// store (also with durability = "local", whose journal is sealed when the
// export is encrypted), a memory store and versitygw (S3 on loopback;
// skipped without it), unencrypted and encrypted. The memory caches
// (cache.memory_mb) are off except in the benchmarks named ...Cached, so
// every read of SST data goes through the disk cache and the decryption.
// Each reports CPU time per operation (the whole process's, background
// work included) beside wall time, and the bytes written to the store per
// operation (stored-B/op: write amplification). Compare plain and encrypted
// of the same store:
//
//	go test ./exports -run XXX -bench BenchmarkStack -benchtime 64x -count 5
//
// (-count runs one variant five times in a row; on a shared machine,
// repeat whole runs with -count 1 instead, so that plain and encrypted
// alternate, and compare medians.)

// benchLSMEnv names an environment variable whose value, if set, is the
// body of the [lsm] table of every benchmark's configuration: for example
// "memtable_mb = 16\nmax_unflushed_mb = 64" to see what the memory bounds
// do to the peak resident size (/usr/bin/time -v).
const benchLSMEnv = "ZEROFS_BENCH_LSM"

type benchStack struct {
	fs      *kvfs.FS
	reg     *exports.Registry
	cpu     time.Duration // CPU time when the timed part began
	written int64         // bytes written to the store when it began
}

// start begins the timed part, after the setup.
func (s *benchStack) start(b *testing.B) {
	b.ResetTimer()
	s.cpu = testenv.CPUTime()
	s.written = s.storeWritten()
}

// storeWritten is how many bytes the export has written to its store (as
// stored: sealed when encrypted).
func (s *benchStack) storeWritten() int64 {
	return s.reg.StoreStats()["bench"].Total().BytesWritten
}

func openBenchStack(b *testing.B, store string, encrypted bool, memoryMB int) *benchStack {
	b.Helper()
	dir := b.TempDir()
	var exp, s3, extra string
	switch store {
	case "file":
		exp = "file://" + filepath.Join(dir, "store")
	case "file-local":
		exp = "file://" + filepath.Join(dir, "store")
		extra = "durability = \"local\"\n"
	case "memory":
		exp = "memory://bench"
	case "s3":
		env := testenv.S3(b)
		exp = "s3://" + env.Bucket + "/bench"
		s3 = fmt.Sprintf("[exports.s3]\nendpoint = %q\naccess_key_id = %q\nsecret_access_key = %q\nregion = %q\nallow_http = true\n",
			env.Endpoint, env.AccessKeyID, env.SecretAccessKey, env.Region)
	}
	content := fmt.Sprintf("[cache]\ndir = %q\nsize_gb = 2\nmemory_mb = %d\n[lsm]\n%s\n[[exports]]\nname = \"bench\"\npath = \"/bench\"\nstore = %q\n",
		filepath.Join(dir, "cache"), memoryMB, os.Getenv(benchLSMEnv), exp) + extra
	if encrypted {
		key := filepath.Join(dir, "key")
		if err := os.WriteFile(key, make([]byte, 32), 0o600); err != nil {
			b.Fatal(err)
		}
		content += fmt.Sprintf("encryption = true\nkey_file = %q\n", key)
	}
	content += s3
	path := filepath.Join(dir, "zerofs.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	disk, err := cache.OpenDisk(cfg.Cache.Dir, cfg.Cache.SizeBytes(), log)
	if err != nil {
		b.Fatal(err)
	}
	reg, err := exports.Open(context.Background(), cfg, exports.Options{DiskCache: disk, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		reg.Close(context.Background())
		disk.Close()
	})
	fs, _ := reg.FS("bench")
	return &benchStack{fs: fs, reg: reg}
}

func benchVariants(b *testing.B, run func(b *testing.B, s *benchStack)) {
	benchVariantsMemory(b, 0, run)
}

// benchVariantsMemory runs the variants with cache.memory_mb = memoryMB.
func benchVariantsMemory(b *testing.B, memoryMB int, run func(b *testing.B, s *benchStack)) {
	for _, store := range []string{"file", "file-local", "memory", "s3"} {
		for _, enc := range []bool{false, true} {
			name := store + "/plain"
			if enc {
				name = store + "/encrypted"
			}
			b.Run(name, func(b *testing.B) {
				s := openBenchStack(b, store, enc, memoryMB)
				run(b, s)
				b.ReportMetric(float64(testenv.CPUTime()-s.cpu)/float64(b.N), "cpu-ns/op")
				b.ReportMetric(float64(s.storeWritten()-s.written)/float64(b.N), "stored-B/op")
			})
		}
	}
}

var benchCred = kvfs.Cred{}

// benchData is incompressible data (most file data that matters is: media,
// archives, already compressed formats), so that every byte is encrypted.
func benchData(n int) []byte {
	r := rand.New(rand.NewPCG(uint64(n), 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// BenchmarkStackSeqWrite writes one file 1 MiB at a time (b.N MiB), then
// makes it durable and writes the memtables out as SSTs.
func BenchmarkStackSeqWrite(b *testing.B) {
	benchVariants(b, func(b *testing.B, s *benchStack) {
		ctx := context.Background()
		f, err := s.fs.Create(ctx, benchCred, kvfs.RootIno, "f", kvfs.CreateRequest{})
		if err != nil {
			b.Fatal(err)
		}
		buf := benchData(1 << 20)
		b.SetBytes(int64(len(buf)))
		s.start(b)
		for i := range b.N {
			if _, err := s.fs.Write(ctx, benchCred, f.Attr.Ino, uint64(i)<<20, buf); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.fs.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		db, _ := s.reg.DB("bench")
		if err := db.FlushMemtable(ctx); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkStackSeqRead reads a 64 MiB file from SSTs, 1 MiB at a time,
// through the disk cache (warmed by one pass first).
func BenchmarkStackSeqRead(b *testing.B) { benchVariants(b, seqRead) }

// BenchmarkStackSeqReadCached is BenchmarkStackSeqRead with the memory
// caches on (cache.memory_mb = 256, the default): the block cache, and for
// the encrypted export the cache of decrypted frames, each 128 MiB.
func BenchmarkStackSeqReadCached(b *testing.B) {
	benchVariantsMemory(b, config.DefaultCacheMemoryMB, seqRead)
}

func seqRead(b *testing.B, s *benchStack) {
	const size = 64 << 20
	ctx := context.Background()
	f, err := s.fs.Create(ctx, benchCred, kvfs.RootIno, "f", kvfs.CreateRequest{})
	if err != nil {
		b.Fatal(err)
	}
	buf := benchData(1 << 20)
	for off := 0; off < size; off += len(buf) {
		if _, err := s.fs.Write(ctx, benchCred, f.Attr.Ino, uint64(off), buf); err != nil {
			b.Fatal(err)
		}
	}
	db, _ := s.reg.DB("bench")
	if err := db.FlushMemtable(ctx); err != nil {
		b.Fatal(err)
	}
	read := func(off int) {
		if _, _, err := s.fs.Read(ctx, benchCred, f.Attr.Ino, uint64(off%size), buf); err != nil {
			b.Fatal(err)
		}
	}
	for off := 0; off < size; off += len(buf) {
		read(off)
	}
	b.SetBytes(int64(len(buf)))
	s.start(b)
	for i := range b.N {
		read(i << 20)
	}
}

// BenchmarkStackSmallFiles creates a 4 KiB file per iteration, then makes
// them durable; the memtable is written out as an SST and every file read
// back once.
func BenchmarkStackSmallFiles(b *testing.B) { benchVariants(b, smallFiles) }

// BenchmarkStackSmallFilesCached is BenchmarkStackSmallFiles with the
// memory caches on (cache.memory_mb = 256, the default), as an export
// runs: the reads of SST blocks and, encrypted, of the frames of file
// data that are still cached decrypt nothing again.
func BenchmarkStackSmallFilesCached(b *testing.B) {
	benchVariantsMemory(b, config.DefaultCacheMemoryMB, smallFiles)
}

func smallFiles(b *testing.B, s *benchStack) {
	ctx := context.Background()
	data := benchData(4096)
	inos := make([]uint64, 0, b.N)
	s.start(b)
	for i := range b.N {
		f, err := s.fs.Create(ctx, benchCred, kvfs.RootIno, fmt.Sprintf("small-%d", i), kvfs.CreateRequest{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.fs.Write(ctx, benchCred, f.Attr.Ino, 0, data); err != nil {
			b.Fatal(err)
		}
		inos = append(inos, f.Attr.Ino)
	}
	if err := s.fs.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	db, _ := s.reg.DB("bench")
	if err := db.FlushMemtable(ctx); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 4096)
	for _, ino := range inos {
		if _, _, err := s.fs.Read(ctx, benchCred, ino, 0, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "files/s")
}

// BenchmarkStackColdRead reads a file of b.N MiB once, 1 MiB at a time,
// right after it was written out as SSTs: every page comes from the store
// (and fills the disk cache).
func BenchmarkStackColdRead(b *testing.B) {
	benchVariants(b, func(b *testing.B, s *benchStack) {
		ctx := context.Background()
		f, err := s.fs.Create(ctx, benchCred, kvfs.RootIno, "f", kvfs.CreateRequest{})
		if err != nil {
			b.Fatal(err)
		}
		buf := benchData(1 << 20)
		for i := range b.N {
			if _, err := s.fs.Write(ctx, benchCred, f.Attr.Ino, uint64(i)<<20, buf); err != nil {
				b.Fatal(err)
			}
		}
		db, _ := s.reg.DB("bench")
		if err := db.FlushMemtable(ctx); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(buf)))
		s.start(b)
		for i := range b.N {
			if _, _, err := s.fs.Read(ctx, benchCred, f.Attr.Ino, uint64(i)<<20, buf); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStackStrictSmallFile is what tar asks of an export answering
// strictly for each small file it unpacks, without NFS: a CREATE, a 4 KiB
// WRITE made durable (FILE_SYNC), and a SETATTR of its mode, each durable
// before its reply, on a local-directory store with durability = "local"
// (three journal fdatasyncs per file):
//
//	go test ./exports -run XXX -bench BenchmarkStackStrictSmallFile -count 5
func BenchmarkStackStrictSmallFile(b *testing.B) {
	s := openBenchStack(b, "file-local", false, 0)
	ctx := context.Background()
	data := benchData(4096)
	durable := func() {
		if err := s.fs.Flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	s.start(b)
	for i := range b.N {
		f, err := s.fs.Create(ctx, benchCred, kvfs.RootIno, fmt.Sprintf("f%d", i), kvfs.CreateRequest{})
		if err != nil {
			b.Fatal(err)
		}
		durable()
		if _, err := s.fs.Write(ctx, benchCred, f.Attr.Ino, 0, data); err != nil {
			b.Fatal(err)
		}
		durable()
		mode := uint32(0o644)
		if _, err := s.fs.SetAttr(ctx, benchCred, f.Attr.Ino, kvfs.SetAttrRequest{Mode: &mode}); err != nil {
			b.Fatal(err)
		}
		durable()
	}
	b.ReportMetric(float64(testenv.CPUTime()-s.cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkStackStrictSetattr is the cost of one metadata change made
// durable before its reply, as an export with sync = "strict" answers a
// SETATTR (tar sets the mode and times of every file it writes): a
// SetAttr then a Flush, on a local-directory store with durability =
// "local" (one journal fdatasync per change) and "bucket" (one WAL object
// per change), beside the SetAttr alone (sync = "commit"). fdatasync is the
// cost of the journal's write and fdatasync of one small record, without
// the database, on the same disk:
//
//	go test ./exports -run XXX -bench BenchmarkStackStrictSetattr -count 5
func BenchmarkStackStrictSetattr(b *testing.B) {
	for _, v := range []struct {
		name, store string
		flush       bool
	}{
		{"file-local/strict", "file-local", true},
		{"file-local/commit", "file-local", false},
		{"file/strict", "file", true},
	} {
		b.Run(v.name, func(b *testing.B) {
			s := openBenchStack(b, v.store, false, 0)
			ctx := context.Background()
			f, err := s.fs.Create(ctx, benchCred, kvfs.RootIno, "f", kvfs.CreateRequest{})
			if err != nil {
				b.Fatal(err)
			}
			s.start(b)
			for i := range b.N {
				mode := uint32(0o600 | i&0o77)
				if _, err := s.fs.SetAttr(ctx, benchCred, f.Attr.Ino, kvfs.SetAttrRequest{Mode: &mode}); err != nil {
					b.Fatal(err)
				}
				if v.flush {
					if err := s.fs.Flush(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(testenv.CPUTime()-s.cpu)/float64(b.N), "cpu-ns/op")
		})
	}
	b.Run("fdatasync", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "j"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		rec := make([]byte, 300)
		b.ResetTimer()
		for range b.N {
			if _, err := f.Write(rec); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkStackColdSeqRead reads a 32 MiB file from start to end in 1 MiB
// calls, cold: each iteration opens the export anew (a fresh database, so
// no block cache and no opened SST) over an empty disk cache, so that every
// byte comes from the object store, whose every Get and GetRange waits the
// sub-benchmark's latency (0, or 10 ms as in a real region). inflight is how
// many calls are outstanding at once: 1, or a few as a kernel client's
// read-ahead keeps. It reports the GETs and the CPU time (the whole
// process's) per MiB read. The 0 ms runs are the baseline of the same read:
//
//	go test ./exports -run XXX -bench BenchmarkStackColdSeqRead -benchtime 3x
func BenchmarkStackColdSeqRead(b *testing.B) {
	const size = 32 << 20
	mem := objstore.NewMemory()
	store := faultstore.New(mem, faultstore.Options{})
	cold := coldReadStack{b: b, store: store, dir: b.TempDir()}
	ino := cold.writeFile(size)
	for _, latency := range []time.Duration{0, 10 * time.Millisecond} {
		for _, inflight := range []int{1, 2, 4} {
			b.Run(fmt.Sprintf("get=%v/inflight=%d", latency, inflight), func(b *testing.B) {
				b.SetBytes(size)
				b.ResetTimer()
				var gets int64
				var cpu time.Duration
				for range b.N {
					b.StopTimer()
					fs, _, done := cold.open()
					before := store.Calls(objstore.OpGet) + store.Calls(objstore.OpGetRange)
					h := store.Inject(faultstore.Fault{Ops: []objstore.Op{objstore.OpGet, objstore.OpGetRange},
						Action: faultstore.DelayOnly, Latency: latency})
					b.StartTimer()
					cpu0 := testenv.CPUTime()
					readSequential(b, fs, ino, size, inflight)
					cpu += testenv.CPUTime() - cpu0
					b.StopTimer()
					h.Remove()
					gets += store.Calls(objstore.OpGet) + store.Calls(objstore.OpGetRange) - before
					done()
					b.StartTimer()
				}
				b.ReportMetric(float64(gets)/float64(b.N)/(size>>20), "gets/MiB")
				b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N)/(size>>20), "cpu-ms/MiB")
			})
		}
	}
}

// coldReadStack opens an export over one store again and again, each time
// with an empty disk cache.
type coldReadStack struct {
	b     *testing.B
	store objstore.Store
	dir   string
	n     int
}

// open opens the export over a new, empty disk cache; done closes both.
func (c *coldReadStack) open() (*kvfs.FS, *lsm.DB, func()) {
	b := c.b
	c.n++
	dir := filepath.Join(c.dir, fmt.Sprint(c.n))
	content := fmt.Sprintf("[cache]\ndir = %q\nsize_gb = 2\n[[exports]]\nname = \"bench\"\npath = \"/bench\"\nstore = \"memory://cold\"\n",
		filepath.Join(dir, "cache"))
	path := filepath.Join(c.dir, fmt.Sprintf("zerofs-%d.toml", c.n))
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	disk, err := cache.OpenDisk(cfg.Cache.Dir, cfg.Cache.SizeBytes(), log)
	if err != nil {
		b.Fatal(err)
	}
	reg, err := exports.Open(context.Background(), cfg, exports.Options{DiskCache: disk, Logger: log,
		OpenStore: func(context.Context, config.Export) (objstore.Store, error) { return c.store, nil }})
	if err != nil {
		b.Fatal(err)
	}
	fs, _ := reg.FS("bench")
	db, _ := reg.DB("bench")
	return fs, db, func() {
		if err := reg.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		disk.Close()
		os.RemoveAll(dir)
	}
}

// writeFile writes a file of size bytes of incompressible data, 1 MiB at a
// time, makes it durable and writes it out as SSTs; it returns its inode.
func (c *coldReadStack) writeFile(size int) uint64 {
	b := c.b
	ctx := context.Background()
	fs, db, done := c.open()
	defer done()
	f, err := fs.Create(ctx, benchCred, kvfs.RootIno, "f", kvfs.CreateRequest{})
	if err != nil {
		b.Fatal(err)
	}
	for off := 0; off < size; off += 1 << 20 {
		if _, err := fs.Write(ctx, benchCred, f.Attr.Ino, uint64(off), benchData(1<<20)); err != nil {
			b.Fatal(err)
		}
	}
	if err := fs.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	if err := db.FlushMemtable(ctx); err != nil {
		b.Fatal(err)
	}
	return f.Attr.Ino
}

// readSequential reads [0, size) of ino in 1 MiB calls in ascending order,
// with up to inflight calls outstanding, and checks every call read 1 MiB.
func readSequential(b *testing.B, fs *kvfs.FS, ino uint64, size, inflight int) {
	ctx := context.Background()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range inflight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1<<20)
			for {
				off := next.Add(1<<20) - 1<<20
				if off >= int64(size) {
					return
				}
				n, _, err := fs.Read(ctx, benchCred, ino, uint64(off), buf)
				if err != nil || n != len(buf) {
					b.Errorf("read at %d: %d bytes, %v", off, n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
