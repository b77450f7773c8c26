package kvfs_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/kvfs/kvfstest"
	"github.com/zerofs-go/zerofsd/kvfs/lsmkv"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/lsm/compress"
	"github.com/zerofs-go/zerofsd/lsm/sstable"
	"github.com/zerofs-go/zerofsd/lsm/vlog"
	"github.com/zerofs-go/zerofsd/objstore"
)

// lsmStore crashes an lsm database by opening a new writer on its object
// store (which fences the old one) without flushing the old one first.
type lsmStore struct {
	store objstore.Store
	db    *lsm.DB
	opts  lsm.Options
}

func newLSMStore(t testing.TB, store objstore.Store) *lsmStore {
	opts := lsm.Options{GCInterval: -1, Logger: slog.New(slog.DiscardHandler)}
	db, err := lsm.Open(context.Background(), store, opts)
	if err != nil {
		t.Fatal(err)
	}
	s := &lsmStore{store: store, db: db, opts: opts}
	t.Cleanup(func() { s.db.Close(context.Background()) })
	return s
}

func (s *lsmStore) KV() kvfs.KV { return lsmkv.New(s.db) }

func (s *lsmStore) Crash(ctx context.Context, rng *rand.Rand) (kvfs.KV, error) {
	db, err := lsm.Open(ctx, s.store, s.opts)
	if err != nil {
		return nil, err
	}
	old := s.db
	s.db = db
	old.Close(ctx) // fenced: fails without writing anything more
	return lsmkv.New(db), nil
}

func TestModelOnLSM(t *testing.T) {
	o := kvfstest.ModelOptions{Rounds: 15, Steps: 40}
	if testing.Short() {
		o.Rounds = 5
	}
	t.Run("memory", func(t *testing.T) {
		kvfstest.RunModel(t, newLSMStore(t, objstore.NewMemory()), o)
	})
	t.Run("local", func(t *testing.T) {
		local, err := objstore.NewLocal(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		kvfstest.RunModel(t, newLSMStore(t, local), o)
	})
}

// benchKV returns the KV benchmarks run on: MemKV, or with
// KVFS_BENCH_STORE=local an lsm database on a local directory.
func benchKV(b testing.TB) kvfs.KV {
	if os.Getenv("KVFS_BENCH_STORE") != "local" {
		return kvfs.NewMemKV()
	}
	local, err := objstore.NewLocal(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	return newLSMStore(b, local).KV()
}

// TestFsckReadsEveryValue: fsck reads every chunk, so a chunk whose value
// is kept outside the SSTs (in a WAL object, plain or compressed) and is
// gone or damaged there makes it fail, naming the object.
func TestFsckReadsEveryValue(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		damage string
		codec  sstable.Compression
	}{{"deleted", sstable.CompressionNone}, {"flipped", sstable.CompressionNone}, {"flipped", sstable.CompressionZstd}} {
		damage := tc.damage
		t.Run(damage+"/"+tc.codec.String(), func(t *testing.T) {
			mem := objstore.NewMemory()
			db, err := lsm.Open(ctx, mem, lsm.Options{GCInterval: -1, Compression: tc.codec, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close(ctx)
			fs, err := kvfs.Open(ctx, lsmkv.New(db), kvfs.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer fs.Close(ctx)
			f := must[kvfs.NewEntry](t)(fs.Create(ctx, root, kvfs.RootIno, "f", kvfs.CreateRequest{})).Attr.Ino
			data := bytes.Repeat([]byte("abcdefgh"), 4096)
			must[kvfs.Change](t)(fs.Write(ctx, root, f, 0, data))
			stored := data[:4096] // what the WAL holds of the first chunk
			if tc.codec != sstable.CompressionNone {
				c := compress.NewCompressor(tc.codec, nil)
				stored, _, _ = vlog.AppendCompressed(nil, &c, data[:4096])
			}
			if err := db.FlushMemtable(ctx); err != nil {
				t.Fatal(err)
			}
			checkFsck(t, fs)
			page, err := mem.List(ctx, "wal/", objstore.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			hit := false
			for _, o := range page.Objects {
				obj, err := mem.Get(ctx, o.Key)
				if err != nil {
					t.Fatal(err)
				}
				i := bytes.Index(obj, stored)
				if i < 0 {
					continue
				}
				hit = true
				if damage == "deleted" {
					err = mem.Delete(ctx, o.Key)
				} else {
					obj = bytes.Clone(obj)
					obj[i+len(stored)/2] ^= 1
					err = mem.Put(ctx, o.Key, obj)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !hit {
				t.Fatal("the file's data is in no WAL object")
			}
			if rep, err := fs.Fsck(ctx); err == nil {
				t.Fatalf("fsck over a %s value: no error (%+v)", damage, rep)
			} else {
				t.Logf("fsck: %v", err)
			}
		})
	}
}

// TestCompressedFileData: with compression, compressible file data takes
// much less room in the bucket than the client wrote, from the WAL on
// (file data is in WAL objects, not SST blocks); incompressible data takes
// what it took without compression. Both read back, and fsck is clean.
func TestCompressedFileData(t *testing.T) {
	ctx := context.Background()
	text := func(r *rand.Rand, b []byte) {
		words := []string{"the", "of", "file", "data", "value", "write", "object", "store", "chunk", "block"}
		for i := 0; i < len(b); {
			i += copy(b[i:], fmt.Sprintf("%s %d ", words[r.IntN(len(words))], r.IntN(1000)))
		}
	}
	random := func(r *rand.Rand, b []byte) {
		for i := range b {
			b[i] = byte(r.Uint32())
		}
	}
	type result struct{ put, stored int64 }
	results := map[string]result{}
	const size = 1 << 20
	for _, data := range []struct {
		name string
		fill func(*rand.Rand, []byte)
	}{{"text", text}, {"random", random}} {
		for _, codec := range []sstable.Compression{sstable.CompressionNone, sstable.CompressionSnappy, sstable.CompressionZstd} {
			name := data.name + "/" + codec.String()
			t.Run(name, func(t *testing.T) {
				mem := objstore.NewMemory()
				counted := objstore.NewCounting(mem)
				db, err := lsm.Open(ctx, counted, lsm.Options{GCInterval: -1, Compression: codec, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close(ctx)
				fs, err := kvfs.Open(ctx, lsmkv.New(db), kvfs.Options{})
				if err != nil {
					t.Fatal(err)
				}
				defer fs.Close(ctx)
				f := must[kvfs.NewEntry](t)(fs.Create(ctx, root, kvfs.RootIno, "f", kvfs.CreateRequest{})).Attr.Ino
				content := make([]byte, size)
				data.fill(rand.New(rand.NewPCG(1, 2)), content)
				put0 := putBytes(counted)
				for off := 0; off < size; off += 64 << 10 {
					must[kvfs.Change](t)(fs.Write(ctx, root, f, uint64(off), content[off:off+64<<10]))
				}
				if err := db.FlushMemtable(ctx); err != nil {
					t.Fatal(err)
				}
				r := result{put: putBytes(counted) - put0}
				page, err := mem.List(ctx, "", objstore.ListOptions{})
				if err != nil {
					t.Fatal(err)
				}
				for _, o := range page.Objects {
					r.stored += o.Size
				}
				results[name] = r
				t.Logf("%s: %d bytes written by the client, %d PUT, %d stored", name, size, r.put, r.stored)
				buf := make([]byte, size+1)
				if n, _, err := fs.Read(ctx, root, f, 0, buf); err != nil || !bytes.Equal(buf[:n], content) {
					t.Fatalf("read back %d bytes (%v), not what was written", n, err)
				}
				checkFsck(t, fs)
			})
		}
	}
	for _, tc := range []struct {
		name    string
		maxPut  float64 // of the client bytes
		vsPlain float64 // of what the same data costs without compression
	}{
		{"text/snappy", 0.75, 0},
		{"text/zstd", 0.6, 0},
		{"random/snappy", 0, 1.002},
		{"random/zstd", 0, 1.002},
	} {
		r := results[tc.name]
		if tc.maxPut > 0 && (float64(r.put) > tc.maxPut*size || float64(r.stored) > tc.maxPut*size) {
			t.Errorf("%s: %d bytes PUT and %d stored for %d written, want at most %.2f of it", tc.name, r.put, r.stored, size, tc.maxPut)
		}
		plain := results[strings.Split(tc.name, "/")[0]+"/none"]
		if tc.vsPlain > 0 && (float64(r.put) > tc.vsPlain*float64(plain.put) || float64(r.stored) > tc.vsPlain*float64(plain.stored)) {
			t.Errorf("%s: %d bytes PUT and %d stored, without compression %d and %d", tc.name, r.put, r.stored, plain.put, plain.stored)
		}
	}
}

// putBytes is what was written to the store so far.
func putBytes(c *objstore.Counting) int64 {
	s := c.Stats()
	return s[objstore.OpPut].BytesWritten + s[objstore.OpPutIfAbsent].BytesWritten
}
