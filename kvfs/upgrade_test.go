package kvfs_test

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/kvfs/lsmkv"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/lsm/sstable"
	"github.com/zerofs-go/zerofsd/objstore"
)

// format1Content is the content of the files of testdata/format1-store.
func format1Content(name string, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + len(name)*7 + i/1000)
	}
	return b
}

// copyDir copies the directory tree src into dst.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestOpensFormat1Store opens a store written before value separation and
// per-filesystem chunk sizes (testdata/format1-store: filesystem format 1
// with 64 KiB chunks, manifest format 2, SST format 1, a write left only in
// the WAL by a writer that did not close): every file reads back, fsck is
// clean, and new writes (separated values in the WAL) live alongside the
// old chunks through compaction, GC and a reopen.
func TestOpensFormat1Store(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	copyDir(t, filepath.Join("testdata", "format1-store"), dir)
	store, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	opts := lsm.Options{GCInterval: -1, MemtableBytes: 256 << 10, ValueGCMinBytes: 1, Logger: slog.New(slog.DiscardHandler)}
	db, err := lsm.Open(ctx, store, opts)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := kvfs.Open(ctx, lsmkv.New(db), kvfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if fsys.ChunkSize() != 64<<10 {
		t.Fatalf("chunk size %d, want the 64 KiB of format 1", fsys.ChunkSize())
	}
	want := map[string][]byte{
		"dir/small.txt": format1Content("small.txt", 100),
		"dir/big.bin":   format1Content("big.bin", 140000),
		"dir/edge.bin":  format1Content("edge.bin", 65536),
		"late.txt":      format1Content("late.txt", 3000),
	}
	copy(want["dir/big.bin"][1000:], "patched in L0")
	check := func(stage string) {
		t.Helper()
		for p, data := range want {
			ino := kvfs.RootIno
			for _, name := range strings.Split(path.Dir(p), "/") {
				if name == "." {
					continue
				}
				ino = must[kvfs.Attr](t)(fsys.Lookup(ctx, root, ino, name)).Ino
			}
			a := must[kvfs.Attr](t)(fsys.Lookup(ctx, root, ino, path.Base(p)))
			buf := make([]byte, len(data)+100)
			n, _, err := fsys.Read(ctx, root, a.Ino, 0, buf)
			if err != nil || !bytes.Equal(buf[:n], data) {
				t.Fatalf("%s: %s reads %d bytes (%v), not what was written", stage, p, n, err)
			}
		}
		if _, err := fsys.Lookup(ctx, root, must[kvfs.Attr](t)(fsys.Lookup(ctx, root, kvfs.RootIno, "dir")).Ino, "gone.bin"); err == nil {
			t.Fatalf("%s: the deleted file is back", stage)
		}
		checkFsck(t, fsys)
	}
	check("opened")

	// New data next to the old: separated values, an overwrite of an old
	// chunk, a new file; then compaction and GC.
	big := must[kvfs.Attr](t)(fsys.Lookup(ctx, root, must[kvfs.Attr](t)(fsys.Lookup(ctx, root, kvfs.RootIno, "dir")).Ino, "big.bin")).Ino
	patch := bytes.Repeat([]byte("new!"), 20000)
	must[kvfs.Change](t)(fsys.Write(ctx, root, big, 70000, patch))
	copy(want["dir/big.bin"][70000:], patch)
	want["dir/big.bin"] = append(want["dir/big.bin"], patch[len(want["dir/big.bin"])-70000:]...)
	f := must[kvfs.NewEntry](t)(fsys.Create(ctx, root, kvfs.RootIno, "new.bin", kvfs.CreateRequest{})).Attr.Ino
	want["new.bin"] = bytes.Repeat([]byte("0123456789"), 30000)
	must[kvfs.Change](t)(fsys.Write(ctx, root, f, 0, want["new.bin"]))
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Compact(ctx, true); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RunGC(ctx); err != nil {
		t.Fatal(err)
	}
	check("written, compacted and collected")
	fsys.Close(ctx)
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}

	if db, err = lsm.Open(ctx, store, opts); err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if fsys, err = kvfs.Open(ctx, lsmkv.New(db), kvfs.Options{}); err != nil {
		t.Fatal(err)
	}
	defer fsys.Close(ctx)
	if _, err := db.RunGC(ctx); err != nil {
		t.Fatal(err)
	}
	check("reopened")
}

// format2Content is the content of the files of testdata/format2-store
// (compressible text).
func format2Content(name string, n int) []byte {
	var b []byte
	for i := 0; len(b) < n; i++ {
		b = fmt.Appendf(b, "%s line %06d: values stay where the WAL put them\n", name, i)
	}
	return b[:n]
}

// TestOpensFormat2Store opens a store written with value separation and
// before separated values were compressed (testdata/format2-store:
// filesystem format 2 with 4 KiB chunks, manifest format 3, WAL objects of
// format 1, SST pointers to plain values in WAL objects and in a value
// object, a write left only in the WAL by a writer that did not close)
// with compression on: every file reads back, fsck is clean, and new
// (compressed) values live alongside the old plain ones through
// compaction, a value compaction that moves both kinds, and a reopen.
func TestOpensFormat2Store(t *testing.T) {
	ctx := context.Background()
	// The fixture is what it says: manifests of version 3, WAL objects of
	// version 1 (the first byte of each).
	for sub, version := range map[string]byte{"manifest": 3, "wal": 1} {
		names, err := os.ReadDir(filepath.Join("testdata", "format2-store", sub))
		if err != nil || len(names) == 0 {
			t.Fatalf("fixture %s: %d objects, %v", sub, len(names), err)
		}
		for _, n := range names {
			b, err := os.ReadFile(filepath.Join("testdata", "format2-store", sub, n.Name()))
			if err != nil || len(b) == 0 || b[0] != version {
				t.Fatalf("fixture %s/%s: not version %d (%v)", sub, n.Name(), version, err)
			}
		}
	}
	dir := t.TempDir()
	copyDir(t, filepath.Join("testdata", "format2-store"), dir)
	store, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	opts := lsm.Options{GCInterval: -1, GCMinAge: time.Nanosecond, ValueGCMinBytes: 1,
		Compression: sstable.CompressionSnappy, Logger: slog.New(slog.DiscardHandler)}
	db, err := lsm.Open(ctx, store, opts)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := kvfs.Open(ctx, lsmkv.New(db), kvfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{
		"dir/small.txt": format2Content("small.txt", 100),
		"dir/text.txt":  format2Content("text.txt", 40000),
		"dir/moved.bin": format2Content("moved.bin", 20000),
		"late.txt":      format2Content("late.txt", 9000),
	}
	copy(want["dir/text.txt"][5000:], "patched in the WAL tail")
	lookup := func(p string) uint64 {
		t.Helper()
		ino := kvfs.RootIno
		for _, name := range strings.Split(p, "/") {
			ino = must[kvfs.Attr](t)(fsys.Lookup(ctx, root, ino, name)).Ino
		}
		return ino
	}
	check := func(stage string) {
		t.Helper()
		for p, data := range want {
			buf := make([]byte, len(data)+100)
			n, _, err := fsys.Read(ctx, root, lookup(p), 0, buf)
			if err != nil || !bytes.Equal(buf[:n], data) {
				t.Fatalf("%s: %s reads %d bytes (%v), not what was written", stage, p, n, err)
			}
		}
		if _, err := fsys.Lookup(ctx, root, lookup("dir"), "junk.bin"); err == nil {
			t.Fatalf("%s: the deleted file is back", stage)
		}
		checkFsck(t, fsys)
	}
	check("opened")

	// New values next to the old: overwrite most of moved.bin (its old
	// value object becomes mostly garbage) and part of text.txt, add a
	// file; then compaction, and GC with a value compaction.
	patch := format2Content("patch", 16384)
	for _, p := range []string{"dir/moved.bin", "dir/text.txt"} {
		must[kvfs.Change](t)(fsys.Write(ctx, root, lookup(p), 0, patch))
		copy(want[p], patch)
	}
	f := must[kvfs.NewEntry](t)(fsys.Create(ctx, root, kvfs.RootIno, "new.txt", kvfs.CreateRequest{})).Attr.Ino
	want["new.txt"] = format2Content("new.txt", 50000)
	must[kvfs.Change](t)(fsys.Write(ctx, root, f, 0, want["new.txt"]))
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Compact(ctx, true); err != nil {
		t.Fatal(err)
	}
	relocated := false
	for range 2 {
		res, err := db.RunGC(ctx)
		if err != nil {
			t.Fatal(err)
		}
		relocated = relocated || res.ValueCompaction
	}
	if !relocated {
		t.Fatal("no value compaction ran")
	}
	check("written, compacted and collected")
	fsys.Close(ctx)
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}

	if db, err = lsm.Open(ctx, store, opts); err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	if fsys, err = kvfs.Open(ctx, lsmkv.New(db), kvfs.Options{}); err != nil {
		t.Fatal(err)
	}
	defer fsys.Close(ctx)
	if _, err := db.RunGC(ctx); err != nil {
		t.Fatal(err)
	}
	check("reopened")
}
