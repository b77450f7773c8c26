package kvfs_test

import (
	"context"
	"syscall"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
)

// TestCreateExistingName: CREATE of a name that exists needs only search
// permission on the directory, as with Linux's server, which asks for
// write permission only when it has a file to make. In a root-owned
// directory a user may then "create" root's file: UNCHECKED succeeds (a
// size in it is a truncation, with a truncation's permission checks),
// GUARDED and EXCLUSIVE answer EEXIST, and a replayed EXCLUSIVE create
// succeeds. Making a new name still needs write permission.
func TestCreateExistingName(t *testing.T) {
	ctx := context.Background()
	u32 := func(v uint32) *uint32 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	verf := [8]byte{1, 2, 3}
	tests := []struct {
		name     string
		dirMode  uint32 // of the root-owned directory
		file     string
		req      kvfs.CreateRequest
		want     syscall.Errno
		wantSize uint64
	}{
		{"unchecked", 0o755, "f", kvfs.CreateRequest{}, 0, 4},
		{"unchecked in a search-only directory", 0o711, "f", kvfs.CreateRequest{}, 0, 4},
		{"unchecked ignores a mode", 0o755, "f", kvfs.CreateRequest{Attrs: kvfs.SetAttrRequest{Mode: u32(0o600)}}, 0, 4},
		{"unchecked with a size on root's file", 0o755, "f", kvfs.CreateRequest{Attrs: kvfs.SetAttrRequest{Size: u64(0)}}, syscall.EACCES, 0},
		{"unchecked with a size on its own file", 0o755, "own", kvfs.CreateRequest{Attrs: kvfs.SetAttrRequest{Size: u64(1)}}, 0, 1},
		{"guarded", 0o755, "f", kvfs.CreateRequest{Mode: kvfs.CreateGuarded}, syscall.EEXIST, 0},
		{"exclusive", 0o755, "f", kvfs.CreateRequest{Mode: kvfs.CreateExclusive, Verifier: verf}, syscall.EEXIST, 0},
		{"exclusive replay", 0o755, "excl", kvfs.CreateRequest{Mode: kvfs.CreateExclusive, Verifier: verf}, 0, 0},
		{"without search permission", 0o754, "f", kvfs.CreateRequest{}, syscall.EACCES, 0},
		{"a new name", 0o755, "new", kvfs.CreateRequest{}, syscall.EACCES, 0},
		{"a new name, guarded", 0o755, "new", kvfs.CreateRequest{Mode: kvfs.CreateGuarded}, syscall.EACCES, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, _ := newFS(t, kvfs.Options{})
			dir := must[kvfs.NewEntry](t)(fs.Mkdir(ctx, root, kvfs.RootIno, "d", 0o777)).Attr.Ino
			mode := kvfs.SetAttrRequest{Mode: u32(0o644)}
			files := map[string]kvfs.Attr{}
			for _, c := range []struct {
				cred kvfs.Cred
				name string
				req  kvfs.CreateRequest
			}{
				{root, "f", kvfs.CreateRequest{Attrs: mode}},
				{alice, "own", kvfs.CreateRequest{Attrs: mode}},
				{alice, "excl", kvfs.CreateRequest{Mode: kvfs.CreateExclusive, Verifier: verf}},
			} {
				a := must[kvfs.NewEntry](t)(fs.Create(ctx, c.cred, dir, c.name, c.req)).Attr
				if c.req.Mode != kvfs.CreateExclusive {
					a = must[kvfs.Change](t)(fs.Write(ctx, c.cred, a.Ino, 0, []byte("data"))).After
				}
				files[c.name] = a
			}
			must[kvfs.Change](t)(fs.SetAttr(ctx, root, dir, kvfs.SetAttrRequest{Mode: u32(tt.dirMode)}))

			res, err := fs.Create(ctx, alice, dir, tt.file, tt.req)
			if errnoOf(err) != tt.want {
				t.Fatalf("create %q: %v, want errno %v", tt.file, err, tt.want)
			}
			if err == nil {
				f := files[tt.file]
				if res.Attr.Ino != f.Ino || res.Attr.Size != tt.wantSize || res.Attr.Mode != f.Mode {
					t.Fatalf("create %q answered %+v, want inode %d of size %d, mode %o", tt.file, res.Attr, f.Ino, tt.wantSize, f.Mode)
				}
				if res.Dir.Before != res.Dir.After {
					t.Fatalf("directory changed: %+v", res.Dir)
				}
			}
			if _, err := fs.Lookup(ctx, root, dir, "new"); errnoOf(err) != syscall.ENOENT {
				t.Fatalf("lookup of the new name: %v, want ENOENT", err)
			}
			checkFsck(t, fs)
		})
	}
}

// TestCreateOverAnotherType: UNCHECKED CREATE of a name that exists as
// something other than a regular file succeeds without changing it and
// answers that object, as Linux's server does (its client then reports
// EISDIR for a directory); GUARDED and EXCLUSIVE answer EEXIST.
func TestCreateOverAnotherType(t *testing.T) {
	ctx := context.Background()
	u64 := func(v uint64) *uint64 { return &v }
	made := []struct {
		what string
		make func(fs *kvfs.FS, name string) (kvfs.NewEntry, error)
	}{
		{"a directory", func(fs *kvfs.FS, name string) (kvfs.NewEntry, error) {
			return fs.Mkdir(ctx, root, kvfs.RootIno, name, 0o755)
		}},
		{"a symlink", func(fs *kvfs.FS, name string) (kvfs.NewEntry, error) {
			return fs.Symlink(ctx, root, kvfs.RootIno, name, "target", 0o777)
		}},
		{"a FIFO", func(fs *kvfs.FS, name string) (kvfs.NewEntry, error) {
			return fs.Mknod(ctx, root, kvfs.RootIno, name, kvfs.TypeFIFO, 0o644, 0, 0)
		}},
	}
	modes := []struct {
		name string
		req  kvfs.CreateRequest
		want syscall.Errno
	}{
		{"unchecked", kvfs.CreateRequest{}, 0},
		{"unchecked with a size", kvfs.CreateRequest{Attrs: kvfs.SetAttrRequest{Size: u64(0)}}, 0},
		{"guarded", kvfs.CreateRequest{Mode: kvfs.CreateGuarded}, syscall.EEXIST},
		{"exclusive", kvfs.CreateRequest{Mode: kvfs.CreateExclusive, Verifier: [8]byte{1}}, syscall.EEXIST},
	}
	for _, m := range made {
		for _, tt := range modes {
			t.Run(tt.name+" over "+m.what, func(t *testing.T) {
				fs, _ := newFS(t, kvfs.Options{})
				obj := must[kvfs.NewEntry](t)(m.make(fs, "x")).Attr
				res, err := fs.Create(ctx, root, kvfs.RootIno, "x", tt.req)
				if errnoOf(err) != tt.want {
					t.Fatalf("create: %v, want errno %v", err, tt.want)
				}
				if err == nil {
					if res.Attr != obj {
						t.Fatalf("create answered %+v, want the existing object %+v", res.Attr, obj)
					}
					if res.Dir.Before != res.Dir.After {
						t.Fatalf("directory changed: %+v", res.Dir)
					}
				}
				if got := must[kvfs.Attr](t)(fs.GetAttr(ctx, obj.Ino)); got != obj {
					t.Fatalf("the object changed: %+v, was %+v", got, obj)
				}
				checkFsck(t, fs)
			})
		}
	}
}

// TestCreateWithSize: a size in the attributes of a CREATE that makes a
// file is applied, as by Linux's server (the file reads as zeros up to
// it); one past MaxFileSize is EFBIG and makes nothing.
func TestCreateWithSize(t *testing.T) {
	ctx := context.Background()
	u64 := func(v uint64) *uint64 { return &v }
	tests := []struct {
		name string
		size *uint64
		want syscall.Errno
	}{
		{"no size", nil, 0},
		{"size 0", u64(0), 0},
		{"size 10", u64(10), 0},
		{"size of two chunks", u64(8192), 0},
		{"MaxFileSize", u64(kvfs.MaxFileSize), 0},
		{"past MaxFileSize", u64(kvfs.MaxFileSize + 1), syscall.EFBIG},
	}
	modes := []struct {
		name string
		mode kvfs.CreateMode
	}{{"unchecked", kvfs.CreateUnchecked}, {"guarded", kvfs.CreateGuarded}}
	for _, m := range modes {
		for _, tt := range tests {
			t.Run(m.name+", "+tt.name, func(t *testing.T) {
				fs, _ := newFS(t, kvfs.Options{})
				res, err := fs.Create(ctx, root, kvfs.RootIno, "f", kvfs.CreateRequest{Mode: m.mode, Attrs: kvfs.SetAttrRequest{Size: tt.size}})
				if errnoOf(err) != tt.want {
					t.Fatalf("create: %v, want errno %v", err, tt.want)
				}
				if err != nil {
					if _, err := fs.Lookup(ctx, root, kvfs.RootIno, "f"); errnoOf(err) != syscall.ENOENT {
						t.Fatalf("lookup after a refused create: %v, want ENOENT", err)
					}
					return
				}
				var want uint64
				if tt.size != nil {
					want = *tt.size
				}
				if res.Attr.Size != want || res.Attr.Used != 0 {
					t.Fatalf("created a file of size %d, %d bytes used; want %d, 0", res.Attr.Size, res.Attr.Used, want)
				}
				if got := must[kvfs.Attr](t)(fs.GetAttr(ctx, res.Attr.Ino)); got.Size != want {
					t.Fatalf("stored size %d, want %d", got.Size, want)
				}
				buf := []byte("xxxx")
				n, _, err := fs.Read(ctx, root, res.Attr.Ino, 0, buf)
				if err != nil || uint64(n) != min(want, 4) || string(buf[:n]) != string(make([]byte, n)) {
					t.Fatalf("read %q, %v; want %d zero bytes", buf[:n], err, min(want, 4))
				}
				checkFsck(t, fs)
			})
		}
	}
}
