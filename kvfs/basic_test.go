package kvfs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
)

var root = kvfs.Cred{}

func newFS(t testing.TB, opts kvfs.Options) (*kvfs.FS, *kvfs.MemKV) {
	t.Helper()
	kv := kvfs.NewMemKV()
	fs, err := kvfs.Open(context.Background(), kv, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close(context.Background()) })
	return fs, kv
}

func must[T any](t testing.TB) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// errOf returns the error of a call that also returns a result.
func errOf[T any](_ T, err error) error { return err }

func wantErrno(t testing.TB, err error, want syscall.Errno) {
	t.Helper()
	var got syscall.Errno
	if !errors.As(err, &got) || got != want {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

func TestBasicOperations(t *testing.T) {
	ctx := context.Background()
	fs, _ := newFS(t, kvfs.Options{})
	a := must[kvfs.Attr](t)
	rootAttr := a(fs.GetAttr(ctx, kvfs.RootIno))
	if rootAttr.Type != kvfs.TypeDir || rootAttr.Mode != 0o755 || rootAttr.Nlink != 2 {
		t.Fatalf("root attr %+v", rootAttr)
	}
	d := must[kvfs.NewEntry](t)(fs.Mkdir(ctx, root, kvfs.RootIno, "d", 0o755)).Attr
	f := must[kvfs.NewEntry](t)(fs.Create(ctx, root, d.Ino, "f", kvfs.CreateRequest{})).Attr
	if got := a(fs.Lookup(ctx, root, d.Ino, "f")); got.Ino != f.Ino {
		t.Fatalf("lookup got ino %d want %d", got.Ino, f.Ino)
	}
	data := bytes.Repeat([]byte("hello world "), 20000)
	w := must[kvfs.Change](t)(fs.Write(ctx, root, f.Ino, 100, data)).After
	if w.Size != uint64(100+len(data)) {
		t.Fatalf("size %d", w.Size)
	}
	buf := make([]byte, len(data)+500)
	n, eof, err := fs.Read(ctx, root, f.Ino, 0, buf)
	if err != nil || !eof || n != len(data)+100 {
		t.Fatalf("read n=%d eof=%v err=%v", n, eof, err)
	}
	if !bytes.Equal(buf[:100], make([]byte, 100)) || !bytes.Equal(buf[100:n], data) {
		t.Fatal("read data mismatch")
	}
	if got := a(fs.GetAttr(ctx, kvfs.RootIno)); got.Nlink != 3 {
		t.Fatalf("root nlink %d after mkdir", got.Nlink)
	}
	for i := range 10 {
		must[kvfs.NewEntry](t)(fs.Create(ctx, root, d.Ino, fmt.Sprintf("x%d", i), kvfs.CreateRequest{}))
	}
	ents, eof, err := fs.ReadDir(ctx, root, d.Ino, 0, 100, true)
	if err != nil || !eof || len(ents) != 11 {
		t.Fatalf("readdir %d entries eof=%v err=%v", len(ents), eof, err)
	}
	if _, err := fs.Rename(ctx, root, d.Ino, "f", kvfs.RootIno, "g"); err != nil {
		t.Fatal(err)
	}
	_, err = fs.Lookup(ctx, root, d.Ino, "f")
	wantErrno(t, err, syscall.ENOENT)
	if got := a(fs.Lookup(ctx, root, kvfs.RootIno, "g")); got.Ino != f.Ino {
		t.Fatal("renamed file not found")
	}
	wantErrno(t, errOf(fs.Rmdir(ctx, root, kvfs.RootIno, "d")), syscall.ENOTEMPTY)
	for i := range 10 {
		if _, err := fs.Unlink(ctx, root, d.Ino, fmt.Sprintf("x%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fs.Rmdir(ctx, root, kvfs.RootIno, "d"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Unlink(ctx, root, kvfs.RootIno, "g"); err != nil {
		t.Fatal(err)
	}
	_, err = fs.GetAttr(ctx, f.Ino)
	if !errors.Is(err, kvfs.ErrStale) {
		t.Fatalf("getattr of removed inode: %v", err)
	}
	if _, err := fs.ReclaimPass(ctx); err != nil {
		t.Fatal(err)
	}
	checkFsck(t, fs)
	st := must[kvfs.StatFS](t)(fs.StatFS(ctx))
	if st.FreeBytes != st.TotalBytes || st.TotalInodes-st.FreeInodes != 1 {
		t.Fatalf("statfs after removing everything: %+v", st)
	}
}

func checkFsck(t testing.TB, fs *kvfs.FS) {
	t.Helper()
	r, err := fs.Fsck(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() {
		t.Fatalf("fsck found problems:\n%s", strings.Join(r.Problems, "\n"))
	}
}

func TestReadOnly(t *testing.T) {
	ctx := context.Background()
	kv := kvfs.NewMemKV()
	if _, err := kvfs.Open(ctx, kv, kvfs.Options{ReadOnly: true}); err == nil {
		t.Fatal("read-only open of an empty store succeeded")
	}
	fs := must[*kvfs.FS](t)(kvfs.Open(ctx, kv, kvfs.Options{}))
	f := must[kvfs.NewEntry](t)(fs.Create(ctx, root, kvfs.RootIno, "f", kvfs.CreateRequest{})).Attr
	must[kvfs.Change](t)(fs.Write(ctx, root, f.Ino, 0, []byte("data")))
	if err := fs.Close(ctx); err != nil {
		t.Fatal(err)
	}
	before := kv.Writes()
	ro := must[*kvfs.FS](t)(kvfs.Open(ctx, kv, kvfs.Options{ReadOnly: true}))
	defer ro.Close(ctx)
	buf := make([]byte, 10)
	if n, _, err := ro.Read(ctx, root, f.Ino, 0, buf); err != nil || string(buf[:n]) != "data" {
		t.Fatalf("read %q %v", buf[:n], err)
	}
	_, err := ro.Write(ctx, root, f.Ino, 0, []byte("x"))
	wantErrno(t, err, syscall.EROFS)
	_, err = ro.Create(ctx, root, kvfs.RootIno, "g", kvfs.CreateRequest{})
	wantErrno(t, err, syscall.EROFS)
	wantErrno(t, errOf(ro.Unlink(ctx, root, kvfs.RootIno, "f")), syscall.EROFS)
	if kv.Writes() != before {
		t.Fatal("read-only filesystem wrote to the store")
	}
}

func TestCheckName(t *testing.T) {
	tests := []struct {
		name string
		want error
	}{
		{"a", nil},
		{strings.Repeat("x", kvfs.MaxNameLen), nil},
		{"with space", nil},
		{"..a", nil},
		{strings.Repeat("x", kvfs.MaxNameLen+1), syscall.ENAMETOOLONG},
		{strings.Repeat("/", kvfs.MaxNameLen+1), syscall.ENAMETOOLONG},
		{"", syscall.EINVAL},
		{".", syscall.EINVAL},
		{"..", syscall.EINVAL},
		{"a/b", syscall.EINVAL},
		{"a\x00b", syscall.EINVAL},
	}
	for _, tt := range tests {
		if got := kvfs.CheckName(tt.name); got != tt.want {
			t.Errorf("CheckName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
