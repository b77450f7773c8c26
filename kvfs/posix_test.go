package kvfs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/kvfs"
)

var (
	alice = kvfs.Cred{UID: 1000, GID: 1000}
	bob   = kvfs.Cred{UID: 1001, GID: 1001, Groups: []uint32{50}}
)

// fakeClock advances by one microsecond at each reading.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time { return time.Unix(0, c.ns.Add(1000)) }

// tree builds a small world: /pub (0777), /tmp (1777), /sg (2777, gid 50), /priv (0700), /pub/a (alice, 0644).
type tree struct {
	fs                 *kvfs.FS
	pub, tmp, sg, priv uint64
	fileA              uint64
	clock              *fakeClock
}

func newTree(t *testing.T) *tree {
	t.Helper()
	ctx := context.Background()
	clock := &fakeClock{}
	clock.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	fs, _ := newFS(t, kvfs.Options{Now: clock.Now})
	tr := &tree{fs: fs, clock: clock}
	tr.pub = must[kvfs.NewEntry](t)(fs.Mkdir(ctx, root, kvfs.RootIno, "pub", 0o777)).Attr.Ino
	tr.tmp = must[kvfs.NewEntry](t)(fs.Mkdir(ctx, root, kvfs.RootIno, "tmp", 0o1777)).Attr.Ino
	gid := uint32(50)
	tr.sg = must[kvfs.NewEntry](t)(fs.Mkdir(ctx, root, kvfs.RootIno, "sg", 0o2777)).Attr.Ino
	must[kvfs.Change](t)(fs.SetAttr(ctx, root, tr.sg, kvfs.SetAttrRequest{GID: &gid}))
	tr.priv = must[kvfs.NewEntry](t)(fs.Mkdir(ctx, root, kvfs.RootIno, "priv", 0o700)).Attr.Ino
	tr.fileA = must[kvfs.NewEntry](t)(fs.Create(ctx, alice, tr.pub, "a", kvfs.CreateRequest{})).Attr.Ino
	return tr
}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	if err != nil {
		return syscall.Errno(0xffff)
	}
	return 0
}

func TestPOSIXErrors(t *testing.T) {
	ctx := context.Background()
	u32 := func(v uint32) *uint32 { return &v }
	cases := []struct {
		name string
		op   func(tr *tree) error
		want syscall.Errno
	}{
		{"lookup missing", func(tr *tree) error { _, err := tr.fs.Lookup(ctx, root, tr.pub, "nope"); return err }, syscall.ENOENT},
		{"lookup in file", func(tr *tree) error { _, err := tr.fs.Lookup(ctx, root, tr.fileA, "x"); return err }, syscall.ENOTDIR},
		{"lookup without search permission", func(tr *tree) error { _, err := tr.fs.Lookup(ctx, alice, tr.priv, "x"); return err }, syscall.EACCES},
		{"create name too long", func(tr *tree) error {
			_, err := tr.fs.Create(ctx, root, tr.pub, strings.Repeat("n", 256), kvfs.CreateRequest{})
			return err
		}, syscall.ENAMETOOLONG},
		{"create 255-byte name", func(tr *tree) error {
			_, err := tr.fs.Create(ctx, root, tr.pub, strings.Repeat("n", 255), kvfs.CreateRequest{})
			return err
		}, 0},
		{"create dot", func(tr *tree) error { _, err := tr.fs.Create(ctx, root, tr.pub, ".", kvfs.CreateRequest{}); return err }, syscall.EINVAL},
		{"create with slash", func(tr *tree) error {
			_, err := tr.fs.Create(ctx, root, tr.pub, "a/b", kvfs.CreateRequest{})
			return err
		}, syscall.EINVAL},
		{"guarded create existing", func(tr *tree) error {
			_, err := tr.fs.Create(ctx, root, tr.pub, "a", kvfs.CreateRequest{Mode: kvfs.CreateGuarded})
			return err
		}, syscall.EEXIST},
		{"unchecked create existing", func(tr *tree) error { _, err := tr.fs.Create(ctx, root, tr.pub, "a", kvfs.CreateRequest{}); return err }, 0},
		{"unchecked create over dir", func(tr *tree) error {
			_, err := tr.fs.Create(ctx, root, kvfs.RootIno, "pub", kvfs.CreateRequest{})
			return err
		}, 0},
		{"guarded create over dir", func(tr *tree) error {
			_, err := tr.fs.Create(ctx, root, kvfs.RootIno, "pub", kvfs.CreateRequest{Mode: kvfs.CreateGuarded})
			return err
		}, syscall.EEXIST},
		{"symlink target of 4095 bytes", func(tr *tree) error {
			return errOf(tr.fs.Symlink(ctx, root, tr.pub, "s", strings.Repeat("t", 4095), 0o777))
		}, 0},
		{"symlink target of 4096 bytes", func(tr *tree) error {
			return errOf(tr.fs.Symlink(ctx, root, tr.pub, "s", strings.Repeat("t", 4096), 0o777))
		}, syscall.ENAMETOOLONG},
		{"symlink target with NUL", func(tr *tree) error { return errOf(tr.fs.Symlink(ctx, root, tr.pub, "s", "a\x00b", 0o777)) }, syscall.EINVAL},
		{"mkdir existing", func(tr *tree) error { _, err := tr.fs.Mkdir(ctx, root, kvfs.RootIno, "pub", 0o755); return err }, syscall.EEXIST},
		{"create in root-owned dir", func(tr *tree) error {
			_, err := tr.fs.Create(ctx, alice, kvfs.RootIno, "x", kvfs.CreateRequest{})
			return err
		}, syscall.EACCES},
		{"create in file", func(tr *tree) error {
			_, err := tr.fs.Create(ctx, root, tr.fileA, "x", kvfs.CreateRequest{})
			return err
		}, syscall.ENOTDIR},
		{"create in missing dir", func(tr *tree) error { _, err := tr.fs.Create(ctx, root, 999999, "x", kvfs.CreateRequest{}); return err }, syscall.ESTALE},
		{"rmdir non-empty", func(tr *tree) error { return errOf(tr.fs.Rmdir(ctx, root, kvfs.RootIno, "pub")) }, syscall.ENOTEMPTY},
		{"rmdir file", func(tr *tree) error { return errOf(tr.fs.Rmdir(ctx, root, tr.pub, "a")) }, syscall.ENOTDIR},
		{"rmdir dot", func(tr *tree) error { return errOf(tr.fs.Rmdir(ctx, root, tr.pub, ".")) }, syscall.EINVAL},
		{"rmdir dotdot", func(tr *tree) error { return errOf(tr.fs.Rmdir(ctx, root, tr.pub, "..")) }, syscall.ENOTEMPTY},
		{"unlink dir", func(tr *tree) error { return errOf(tr.fs.Unlink(ctx, root, kvfs.RootIno, "pub")) }, syscall.EISDIR},
		{"unlink missing", func(tr *tree) error { return errOf(tr.fs.Unlink(ctx, root, tr.pub, "zz")) }, syscall.ENOENT},
		{"link to dir", func(tr *tree) error { _, err := tr.fs.Link(ctx, root, tr.pub, kvfs.RootIno, "l"); return err }, syscall.EPERM},
		{"link over existing", func(tr *tree) error { _, err := tr.fs.Link(ctx, root, tr.fileA, kvfs.RootIno, "pub"); return err }, syscall.EEXIST},
		{"rename dir into itself", func(tr *tree) error { return errOf(tr.fs.Rename(ctx, root, kvfs.RootIno, "pub", tr.pub, "x")) }, syscall.EINVAL},
		{"rename dir into own subtree", func(tr *tree) error {
			sub := must[kvfs.NewEntry](t)(tr.fs.Mkdir(ctx, root, tr.pub, "sub", 0o755)).Attr
			return errOf(tr.fs.Rename(ctx, root, kvfs.RootIno, "pub", sub.Ino, "x"))
		}, syscall.EINVAL},
		{"rename dir over file", func(tr *tree) error { return errOf(tr.fs.Rename(ctx, root, kvfs.RootIno, "priv", tr.pub, "a")) }, syscall.ENOTDIR},
		{"rename file over dir", func(tr *tree) error { return errOf(tr.fs.Rename(ctx, root, tr.pub, "a", kvfs.RootIno, "priv")) }, syscall.EISDIR},
		{"rename dir over non-empty dir", func(tr *tree) error { return errOf(tr.fs.Rename(ctx, root, kvfs.RootIno, "priv", kvfs.RootIno, "pub")) }, syscall.ENOTEMPTY},
		{"rename missing", func(tr *tree) error { return errOf(tr.fs.Rename(ctx, root, tr.pub, "zz", tr.pub, "y")) }, syscall.ENOENT},
		{"rename to dotdot", func(tr *tree) error { return errOf(tr.fs.Rename(ctx, root, tr.pub, "a", tr.pub, "..")) }, syscall.EINVAL},
		{"sticky: other user unlinks", func(tr *tree) error {
			must[kvfs.NewEntry](t)(tr.fs.Create(ctx, alice, tr.tmp, "f", kvfs.CreateRequest{}))
			return errOf(tr.fs.Unlink(ctx, bob, tr.tmp, "f"))
		}, syscall.EPERM},
		{"sticky: other user renames away", func(tr *tree) error {
			must[kvfs.NewEntry](t)(tr.fs.Create(ctx, alice, tr.tmp, "f", kvfs.CreateRequest{}))
			return errOf(tr.fs.Rename(ctx, bob, tr.tmp, "f", tr.tmp, "g"))
		}, syscall.EPERM},
		{"sticky: other user renames over", func(tr *tree) error {
			must[kvfs.NewEntry](t)(tr.fs.Create(ctx, alice, tr.tmp, "f", kvfs.CreateRequest{}))
			must[kvfs.NewEntry](t)(tr.fs.Create(ctx, bob, tr.tmp, "g", kvfs.CreateRequest{}))
			return errOf(tr.fs.Rename(ctx, bob, tr.tmp, "g", tr.tmp, "f"))
		}, syscall.EPERM},
		{"sticky: owner unlinks", func(tr *tree) error {
			must[kvfs.NewEntry](t)(tr.fs.Create(ctx, alice, tr.tmp, "f", kvfs.CreateRequest{}))
			return errOf(tr.fs.Unlink(ctx, alice, tr.tmp, "f"))
		}, 0},
		{"sticky: root unlinks", func(tr *tree) error {
			must[kvfs.NewEntry](t)(tr.fs.Create(ctx, alice, tr.tmp, "f", kvfs.CreateRequest{}))
			return errOf(tr.fs.Unlink(ctx, root, tr.tmp, "f"))
		}, 0},
		{"non-sticky: other user unlinks", func(tr *tree) error { return errOf(tr.fs.Unlink(ctx, bob, tr.pub, "a")) }, 0},
		{"read without permission", func(tr *tree) error {
			must[kvfs.Change](t)(tr.fs.SetAttr(ctx, alice, tr.fileA, kvfs.SetAttrRequest{Mode: u32(0o600)}))
			_, _, err := tr.fs.Read(ctx, bob, tr.fileA, 0, make([]byte, 10))
			return err
		}, syscall.EACCES},
		{"read an execute-only file", func(tr *tree) error {
			must[kvfs.Change](t)(tr.fs.SetAttr(ctx, alice, tr.fileA, kvfs.SetAttrRequest{Mode: u32(0o711)}))
			_, _, err := tr.fs.Read(ctx, bob, tr.fileA, 0, make([]byte, 10))
			return err
		}, 0},
		{"read a group-execute-only file as a group member", func(tr *tree) error {
			must[kvfs.Change](t)(tr.fs.SetAttr(ctx, root, tr.fileA, kvfs.SetAttrRequest{GID: u32(50), Mode: u32(0o710)}))
			_, _, err := tr.fs.Read(ctx, bob, tr.fileA, 0, make([]byte, 10))
			return err
		}, 0},
		{"read an owner-execute-only file as another user", func(tr *tree) error {
			must[kvfs.Change](t)(tr.fs.SetAttr(ctx, alice, tr.fileA, kvfs.SetAttrRequest{Mode: u32(0o700)}))
			_, _, err := tr.fs.Read(ctx, bob, tr.fileA, 0, make([]byte, 10))
			return err
		}, syscall.EACCES},
		{"write an execute-only file", func(tr *tree) error {
			must[kvfs.Change](t)(tr.fs.SetAttr(ctx, alice, tr.fileA, kvfs.SetAttrRequest{Mode: u32(0o711)}))
			_, err := tr.fs.Write(ctx, bob, tr.fileA, 0, []byte("x"))
			return err
		}, syscall.EACCES},
		{"write without permission", func(tr *tree) error { _, err := tr.fs.Write(ctx, bob, tr.fileA, 0, []byte("x")); return err }, syscall.EACCES},
		{"owner writes a read-only file", func(tr *tree) error {
			must[kvfs.Change](t)(tr.fs.SetAttr(ctx, alice, tr.fileA, kvfs.SetAttrRequest{Mode: u32(0o444)}))
			_, err := tr.fs.Write(ctx, alice, tr.fileA, 0, []byte("x"))
			return err
		}, 0},
		{"group member writes", func(tr *tree) error {
			gid := uint32(50)
			must[kvfs.Change](t)(tr.fs.SetAttr(ctx, root, tr.fileA, kvfs.SetAttrRequest{GID: &gid, Mode: u32(0o664)}))
			_, err := tr.fs.Write(ctx, bob, tr.fileA, 0, []byte("x"))
			return err
		}, 0},
		{"write to dir", func(tr *tree) error { _, err := tr.fs.Write(ctx, root, tr.pub, 0, []byte("x")); return err }, syscall.EISDIR},
		{"read dir", func(tr *tree) error { _, _, err := tr.fs.Read(ctx, root, tr.pub, 0, make([]byte, 1)); return err }, syscall.EISDIR},
		{"write past max size", func(tr *tree) error {
			_, err := tr.fs.Write(ctx, root, tr.fileA, kvfs.MaxFileSize, []byte("x"))
			return err
		}, syscall.EFBIG},
		{"truncate past max size", func(tr *tree) error {
			s := kvfs.MaxFileSize + 1
			_, err := tr.fs.SetAttr(ctx, root, tr.fileA, kvfs.SetAttrRequest{Size: &s})
			return err
		}, syscall.EFBIG},
		{"truncate dir", func(tr *tree) error {
			s := uint64(0)
			_, err := tr.fs.SetAttr(ctx, root, tr.pub, kvfs.SetAttrRequest{Size: &s})
			return err
		}, syscall.EISDIR},
		{"chmod by non-owner", func(tr *tree) error {
			_, err := tr.fs.SetAttr(ctx, bob, tr.fileA, kvfs.SetAttrRequest{Mode: u32(0o777)})
			return err
		}, syscall.EPERM},
		{"chown by owner", func(tr *tree) error {
			_, err := tr.fs.SetAttr(ctx, alice, tr.fileA, kvfs.SetAttrRequest{UID: u32(1001)})
			return err
		}, syscall.EPERM},
		{"chown to self is no change", func(tr *tree) error {
			_, err := tr.fs.SetAttr(ctx, alice, tr.fileA, kvfs.SetAttrRequest{UID: u32(1000)})
			return err
		}, 0},
		{"chgrp to a foreign group", func(tr *tree) error {
			_, err := tr.fs.SetAttr(ctx, alice, tr.fileA, kvfs.SetAttrRequest{GID: u32(50)})
			return err
		}, syscall.EPERM},
		{"chgrp to own supplementary group", func(tr *tree) error {
			f := must[kvfs.NewEntry](t)(tr.fs.Create(ctx, bob, tr.pub, "b", kvfs.CreateRequest{})).Attr
			_, err := tr.fs.SetAttr(ctx, bob, f.Ino, kvfs.SetAttrRequest{GID: u32(50)})
			return err
		}, 0},
		{"set client times by non-owner", func(tr *tree) error {
			_, err := tr.fs.SetAttr(ctx, bob, tr.fileA, kvfs.SetAttrRequest{Mtime: kvfs.TimeClient, MtimeTo: time.Unix(5, 0)})
			return err
		}, syscall.EPERM},
		{"set server time with write access", func(tr *tree) error {
			must[kvfs.Change](t)(tr.fs.SetAttr(ctx, alice, tr.fileA, kvfs.SetAttrRequest{Mode: u32(0o666)}))
			_, err := tr.fs.SetAttr(ctx, bob, tr.fileA, kvfs.SetAttrRequest{Mtime: kvfs.TimeServer})
			return err
		}, 0},
		{"ctime guard mismatch", func(tr *tree) error {
			g := time.Unix(1, 0)
			_, err := tr.fs.SetAttr(ctx, root, tr.fileA, kvfs.SetAttrRequest{Mode: u32(0o600), GuardCtime: &g})
			if errors.Is(err, kvfs.ErrNotSync) {
				return nil
			}
			return errors.New("guard not honoured")
		}, 0},
		{"readlink of a file", func(tr *tree) error { _, err := tr.fs.Readlink(ctx, tr.fileA); return err }, syscall.EINVAL},
		{"mknod of a device by a user", func(tr *tree) error {
			_, err := tr.fs.Mknod(ctx, alice, tr.pub, "n", kvfs.TypeChar, 0o644, 1, 3)
			return err
		}, syscall.EPERM},
		{"mknod of a fifo by a user", func(tr *tree) error {
			_, err := tr.fs.Mknod(ctx, alice, tr.pub, "n", kvfs.TypeFIFO, 0o644, 0, 0)
			return err
		}, 0},
		{"mknod of a bad type", func(tr *tree) error {
			_, err := tr.fs.Mknod(ctx, root, tr.pub, "n", kvfs.TypeDir, 0o644, 0, 0)
			return err
		}, syscall.EINVAL},
		{"getattr of a removed inode", func(tr *tree) error {
			if _, err := tr.fs.Unlink(ctx, root, tr.pub, "a"); err != nil {
				return err
			}
			_, err := tr.fs.GetAttr(ctx, tr.fileA)
			return err
		}, syscall.ESTALE},
		{"readdir without read permission", func(tr *tree) error { _, _, err := tr.fs.ReadDir(ctx, alice, tr.priv, 0, 10, false); return err }, syscall.EACCES},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := newTree(t)
			if got := errnoOf(c.op(tr)); got != c.want {
				t.Fatalf("got errno %v (%d), want %v", got, got, c.want)
			}
			checkFsck(t, tr.fs)
		})
	}
}

func TestRenameSemantics(t *testing.T) {
	ctx := context.Background()
	a := must[kvfs.Attr](t)
	t.Run("over existing file", func(t *testing.T) {
		tr := newTree(t)
		b := must[kvfs.NewEntry](t)(tr.fs.Create(ctx, root, tr.pub, "b", kvfs.CreateRequest{})).Attr
		must[kvfs.Change](t)(tr.fs.Write(ctx, root, b.Ino, 0, []byte("bbbb")))
		if _, err := tr.fs.Rename(ctx, root, tr.pub, "a", tr.pub, "b"); err != nil {
			t.Fatal(err)
		}
		if got := a(tr.fs.Lookup(ctx, root, tr.pub, "b")); got.Ino != tr.fileA {
			t.Fatalf("b is inode %d, want %d", got.Ino, tr.fileA)
		}
		if _, err := tr.fs.GetAttr(ctx, b.Ino); !errors.Is(err, kvfs.ErrStale) {
			t.Fatalf("replaced inode still exists: %v", err)
		}
		ents, _, _ := tr.fs.ReadDir(ctx, root, tr.pub, 0, 100, false)
		if len(ents) != 1 || ents[0].Name != "b" {
			t.Fatalf("entries %+v", ents)
		}
		checkFsck(t, tr.fs)
	})
	t.Run("over empty dir", func(t *testing.T) {
		tr := newTree(t)
		x := must[kvfs.NewEntry](t)(tr.fs.Mkdir(ctx, root, tr.pub, "x", 0o755)).Attr
		must[kvfs.NewEntry](t)(tr.fs.Mkdir(ctx, root, tr.pub, "y", 0o755))
		if _, err := tr.fs.Rename(ctx, root, tr.pub, "x", tr.pub, "y"); err != nil {
			t.Fatal(err)
		}
		if got := a(tr.fs.Lookup(ctx, root, tr.pub, "y")); got.Ino != x.Ino {
			t.Fatal("y is not the moved directory")
		}
		if got := a(tr.fs.GetAttr(ctx, tr.pub)); got.Nlink != 3 {
			t.Fatalf("pub nlink %d, want 3", got.Nlink)
		}
		checkFsck(t, tr.fs)
	})
	t.Run("onto itself", func(t *testing.T) {
		tr := newTree(t)
		if _, err := tr.fs.Rename(ctx, root, tr.pub, "a", tr.pub, "a"); err != nil {
			t.Fatal(err)
		}
		a(tr.fs.Lookup(ctx, root, tr.pub, "a"))
		checkFsck(t, tr.fs)
	})
	t.Run("onto another link of the same file", func(t *testing.T) {
		tr := newTree(t)
		must[kvfs.NewEntry](t)(tr.fs.Link(ctx, root, tr.fileA, tr.pub, "a2"))
		if _, err := tr.fs.Rename(ctx, root, tr.pub, "a", tr.pub, "a2"); err != nil {
			t.Fatal(err)
		}
		a(tr.fs.Lookup(ctx, root, tr.pub, "a"))
		if got := a(tr.fs.Lookup(ctx, root, tr.pub, "a2")); got.Nlink != 2 {
			t.Fatalf("nlink %d", got.Nlink)
		}
		checkFsck(t, tr.fs)
	})
	t.Run("directory across parents", func(t *testing.T) {
		tr := newTree(t)
		x := must[kvfs.NewEntry](t)(tr.fs.Mkdir(ctx, root, tr.pub, "x", 0o755)).Attr
		if _, err := tr.fs.Rename(ctx, root, tr.pub, "x", tr.tmp, "x"); err != nil {
			t.Fatal(err)
		}
		if p, _ := tr.fs.Parent(ctx, x.Ino); p != tr.tmp {
			t.Fatalf("parent %d, want %d", p, tr.tmp)
		}
		if got := a(tr.fs.Lookup(ctx, root, x.Ino, "..")); got.Ino != tr.tmp {
			t.Fatal(".. not updated")
		}
		if a(tr.fs.GetAttr(ctx, tr.pub)).Nlink != 2 || a(tr.fs.GetAttr(ctx, tr.tmp)).Nlink != 3 {
			t.Fatal("parent link counts not updated")
		}
		checkFsck(t, tr.fs)
	})
	t.Run("moving a directory needs write access to it", func(t *testing.T) {
		tr := newTree(t)
		must[kvfs.NewEntry](t)(tr.fs.Mkdir(ctx, root, tr.pub, "x", 0o755))
		wantErrno(t, errOf(tr.fs.Rename(ctx, alice, tr.pub, "x", tr.tmp, "x")), syscall.EACCES)
	})
}

func TestHardLinks(t *testing.T) {
	ctx := context.Background()
	a := must[kvfs.Attr](t)
	tr := newTree(t)
	must[kvfs.Change](t)(tr.fs.Write(ctx, root, tr.fileA, 0, []byte("data")))
	for _, name := range []string{"l1", "l2"} {
		must[kvfs.NewEntry](t)(tr.fs.Link(ctx, root, tr.fileA, tr.tmp, name))
	}
	if n := a(tr.fs.GetAttr(ctx, tr.fileA)).Nlink; n != 3 {
		t.Fatalf("nlink %d want 3", n)
	}
	for i, name := range []string{"l1", "l2"} {
		if _, err := tr.fs.Unlink(ctx, root, tr.tmp, name); err != nil {
			t.Fatal(err)
		}
		if n := a(tr.fs.GetAttr(ctx, tr.fileA)).Nlink; n != uint32(2-i) {
			t.Fatalf("nlink %d want %d", n, 2-i)
		}
	}
	buf := make([]byte, 10)
	n, _, err := tr.fs.Read(ctx, root, tr.fileA, 0, buf)
	if err != nil || string(buf[:n]) != "data" {
		t.Fatalf("read %q %v", buf[:n], err)
	}
	checkFsck(t, tr.fs)
}

func TestExclusiveCreate(t *testing.T) {
	ctx := context.Background()
	tr := newTree(t)
	var wg sync.WaitGroup
	var wins, exists atomic.Int32
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := tr.fs.Create(ctx, root, tr.pub, "race", kvfs.CreateRequest{Mode: kvfs.CreateGuarded})
			switch errnoOf(err) {
			case 0:
				wins.Add(1)
			case syscall.EEXIST:
				exists.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || exists.Load() != 15 {
		t.Fatalf("%d winners, %d EEXIST", wins.Load(), exists.Load())
	}
	v1, v2 := [8]byte{1}, [8]byte{2}
	f := must[kvfs.NewEntry](t)(tr.fs.Create(ctx, root, tr.pub, "ex", kvfs.CreateRequest{Mode: kvfs.CreateExclusive, Verifier: v1})).Attr
	again, err := tr.fs.Create(ctx, root, tr.pub, "ex", kvfs.CreateRequest{Mode: kvfs.CreateExclusive, Verifier: v1})
	if err != nil || again.Attr.Ino != f.Ino {
		t.Fatalf("retransmitted exclusive create: %v (ino %d want %d)", err, again.Attr.Ino, f.Ino)
	}
	_, err = tr.fs.Create(ctx, root, tr.pub, "ex", kvfs.CreateRequest{Mode: kvfs.CreateExclusive, Verifier: v2})
	wantErrno(t, err, syscall.EEXIST)
	checkFsck(t, tr.fs)
}

// TestExclusiveCreateVerifierRetires: a retransmitted exclusive CREATE
// succeeds only while the file is as the create left it, as with Linux's
// server: once its times are set (the client's SETATTR that follows the
// create), it is written or its size is set, the same verifier answers
// EEXIST, also after the filesystem is reopened. A change of mode or owner
// alone leaves the file matching.
func TestExclusiveCreateVerifierRetires(t *testing.T) {
	ctx := context.Background()
	u32 := func(v uint32) *uint32 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	tests := []struct {
		name   string
		change func(fs *kvfs.FS, ino uint64) error
		want   syscall.Errno
	}{
		{"nothing", func(*kvfs.FS, uint64) error { return nil }, 0},
		{"mode", func(fs *kvfs.FS, ino uint64) error {
			return errOf(fs.SetAttr(ctx, alice, ino, kvfs.SetAttrRequest{Mode: u32(0o600)}))
		}, 0},
		{"owner", func(fs *kvfs.FS, ino uint64) error {
			return errOf(fs.SetAttr(ctx, root, ino, kvfs.SetAttrRequest{UID: u32(bob.UID)}))
		}, 0},
		{"empty write", func(fs *kvfs.FS, ino uint64) error { return errOf(fs.Write(ctx, alice, ino, 0, nil)) }, 0},
		{"times", func(fs *kvfs.FS, ino uint64) error {
			return errOf(fs.SetAttr(ctx, alice, ino, kvfs.SetAttrRequest{Mode: u32(0o600), Atime: kvfs.TimeServer, Mtime: kvfs.TimeServer}))
		}, syscall.EEXIST},
		{"client mtime", func(fs *kvfs.FS, ino uint64) error {
			return errOf(fs.SetAttr(ctx, alice, ino, kvfs.SetAttrRequest{Mtime: kvfs.TimeClient, MtimeTo: time.Unix(1e9, 0)}))
		}, syscall.EEXIST},
		{"write", func(fs *kvfs.FS, ino uint64) error { return errOf(fs.Write(ctx, alice, ino, 0, []byte("0123456789"))) }, syscall.EEXIST},
		{"size", func(fs *kvfs.FS, ino uint64) error {
			return errOf(fs.SetAttr(ctx, alice, ino, kvfs.SetAttrRequest{Size: u64(0)}))
		}, syscall.EEXIST},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, kv := newFS(t, kvfs.Options{})
			must[kvfs.Change](t)(fs.SetAttr(ctx, root, kvfs.RootIno, kvfs.SetAttrRequest{Mode: u32(0o777)}))
			v := [8]byte{1, 2, 3}
			create := func(fs *kvfs.FS) (kvfs.NewEntry, error) {
				return fs.Create(ctx, alice, kvfs.RootIno, "ex", kvfs.CreateRequest{Mode: kvfs.CreateExclusive, Verifier: v})
			}
			f := must[kvfs.NewEntry](t)(create(fs)).Attr
			if err := tt.change(fs, f.Ino); err != nil {
				t.Fatal(err)
			}
			again, err := create(fs)
			if errnoOf(err) != tt.want || (err == nil && again.Attr.Ino != f.Ino) {
				t.Fatalf("replayed exclusive create: ino %d, %v; want ino %d, errno %v", again.Attr.Ino, err, f.Ino, tt.want)
			}
			// What the filesystem stored, not only what it caches.
			reopened, err := kvfs.Open(ctx, kv, kvfs.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer reopened.Close(ctx)
			if _, err := create(reopened); errnoOf(err) != tt.want {
				t.Fatalf("replayed exclusive create after reopening: %v, want errno %v", err, tt.want)
			}
			checkFsck(t, reopened)
		})
	}
}

// TestExclusiveCreateIsPrivateUntilSetattr: an exclusive create carries
// no mode (the client sends it in a SETATTR right after), so the file is
// created with no permission bits: another user cannot open it in between,
// while its owner can still write it.
func TestExclusiveCreateIsPrivateUntilSetattr(t *testing.T) {
	ctx := context.Background()
	tr := newTree(t)
	f := must[kvfs.NewEntry](t)(tr.fs.Create(ctx, alice, tr.pub, "secret", kvfs.CreateRequest{Mode: kvfs.CreateExclusive, Verifier: [8]byte{7}})).Attr
	if f.Mode&0o7777 != 0 {
		t.Fatalf("exclusively created file has mode %o, want no permission bits until the client sets them", f.Mode&0o7777)
	}
	if _, err := tr.fs.Write(ctx, alice, f.Ino, 0, []byte("mine")); err != nil {
		t.Fatalf("the owner's write before the SETATTR: %v", err)
	}
	_, _, err := tr.fs.Read(ctx, bob, f.Ino, 0, make([]byte, 4))
	wantErrno(t, err, syscall.EACCES)
}

func TestSetgidAndPrivileges(t *testing.T) {
	ctx := context.Background()
	u32 := func(v uint32) *uint32 { return &v }
	tr := newTree(t)
	f := must[kvfs.NewEntry](t)(tr.fs.Create(ctx, alice, tr.sg, "f", kvfs.CreateRequest{})).Attr
	if f.GID != 50 {
		t.Fatalf("file in setgid dir has gid %d, want 50", f.GID)
	}
	d := must[kvfs.NewEntry](t)(tr.fs.Mkdir(ctx, alice, tr.sg, "d", 0o755)).Attr
	if d.GID != 50 || d.Mode&0o2000 == 0 {
		t.Fatalf("subdir of setgid dir: gid %d mode %o", d.GID, d.Mode)
	}
	p := must[kvfs.NewEntry](t)(tr.fs.Create(ctx, alice, tr.pub, "p", kvfs.CreateRequest{})).Attr
	if p.GID != alice.GID {
		t.Fatalf("file in plain dir has gid %d", p.GID)
	}
	// chmod g+s by a non-member of the file's group drops setgid.
	got := must[kvfs.Change](t)(tr.fs.SetAttr(ctx, alice, f.Ino, kvfs.SetAttrRequest{Mode: u32(0o2755)})).After
	if got.Mode != 0o755 {
		t.Fatalf("mode %o, want 0755", got.Mode)
	}
	got = must[kvfs.Change](t)(tr.fs.SetAttr(ctx, alice, p.Ino, kvfs.SetAttrRequest{Mode: u32(0o6777)})).After
	if got.Mode != 0o6777 {
		t.Fatalf("mode %o, want 06777", got.Mode)
	}
	// A write by another user drops setuid and setgid.
	got = must[kvfs.Change](t)(tr.fs.Write(ctx, bob, p.Ino, 0, []byte("x"))).After
	if got.Mode != 0o777 {
		t.Fatalf("mode after foreign write %o, want 0777", got.Mode)
	}
	// chown drops setuid.
	must[kvfs.Change](t)(tr.fs.SetAttr(ctx, root, p.Ino, kvfs.SetAttrRequest{Mode: u32(0o4755)}))
	got = must[kvfs.Change](t)(tr.fs.SetAttr(ctx, root, p.Ino, kvfs.SetAttrRequest{UID: u32(7)})).After
	if got.Mode != 0o755 || got.UID != 7 {
		t.Fatalf("after chown: mode %o uid %d", got.Mode, got.UID)
	}
}

// TestSetAttrSizeAndMode: a SETATTR that truncates and sets the mode
// applies the size first, as Linux does: the truncation drops the setuid
// and setgid bits of the mode the file had, not of the mode set with it.
// A change of owner in the request still drops them.
func TestSetAttrSizeAndMode(t *testing.T) {
	ctx := context.Background()
	u32 := func(v uint32) *uint32 { return &v }
	u64 := func(v uint64) *uint64 { return &v }
	tests := []struct {
		name string
		mode uint32 // the file's mode before
		req  kvfs.SetAttrRequest
		want uint32
	}{
		{"setuid with the size", 0o644, kvfs.SetAttrRequest{Mode: u32(0o4755), Size: u64(0)}, 0o4755},
		{"setuid and setgid with a larger size", 0o644, kvfs.SetAttrRequest{Mode: u32(0o6755), Size: u64(100)}, 0o6755},
		{"size alone drops setuid", 0o4755, kvfs.SetAttrRequest{Size: u64(0)}, 0o755},
		{"chown with them drops setuid", 0o644, kvfs.SetAttrRequest{Mode: u32(0o4755), Size: u64(0), UID: u32(alice.UID)}, 0o755},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTree(t)
			f := must[kvfs.NewEntry](t)(tr.fs.Create(ctx, alice, tr.pub, "f", kvfs.CreateRequest{Attrs: kvfs.SetAttrRequest{Mode: u32(tt.mode)}})).Attr
			// Root's write keeps the setuid and setgid bits.
			if a := must[kvfs.Change](t)(tr.fs.Write(ctx, root, f.Ino, 0, []byte("some data"))).After; a.Mode != tt.mode {
				t.Fatalf("mode %o before the SETATTR, want %o", a.Mode, tt.mode)
			}
			got := must[kvfs.Change](t)(tr.fs.SetAttr(ctx, alice, f.Ino, tt.req)).After
			if got.Mode != tt.want || got.Size != *tt.req.Size {
				t.Fatalf("mode %o size %d, want %o and %d", got.Mode, got.Size, tt.want, *tt.req.Size)
			}
		})
	}
}

func TestAccess(t *testing.T) {
	ctx := context.Background()
	tr := newTree(t)
	all := kvfs.AccessRead | kvfs.AccessLookup | kvfs.AccessModify | kvfs.AccessExtend | kvfs.AccessDelete | kvfs.AccessExecute
	// Changing a directory's entries needs write and search permission.
	mode200 := uint32(0o200)
	dirRW := must[kvfs.NewEntry](t)(tr.fs.Mkdir(ctx, alice, tr.pub, "rw", 0o600)).Attr.Ino
	dirW := must[kvfs.NewEntry](t)(tr.fs.Mkdir(ctx, alice, tr.pub, "w", 0o200)).Attr.Ino
	dirWX := must[kvfs.NewEntry](t)(tr.fs.Mkdir(ctx, alice, tr.pub, "wx", 0o300)).Attr.Ino
	fileW := must[kvfs.NewEntry](t)(tr.fs.Create(ctx, alice, tr.pub, "w-file", kvfs.CreateRequest{Attrs: kvfs.SetAttrRequest{Mode: &mode200}})).Attr.Ino
	cases := []struct {
		cred kvfs.Cred
		ino  uint64
		want uint32
	}{
		{root, tr.priv, kvfs.AccessRead | kvfs.AccessLookup | kvfs.AccessModify | kvfs.AccessExtend | kvfs.AccessDelete},
		{alice, tr.priv, 0},
		{alice, tr.pub, kvfs.AccessRead | kvfs.AccessLookup | kvfs.AccessModify | kvfs.AccessExtend | kvfs.AccessDelete},
		{alice, tr.fileA, kvfs.AccessRead | kvfs.AccessModify | kvfs.AccessExtend},
		{bob, tr.fileA, kvfs.AccessRead},
		{root, tr.fileA, kvfs.AccessRead | kvfs.AccessModify | kvfs.AccessExtend},                                     // no x bit: root may not execute
		{bob, tr.sg, kvfs.AccessRead | kvfs.AccessLookup | kvfs.AccessModify | kvfs.AccessExtend | kvfs.AccessDelete}, // via group 50
		{alice, dirRW, kvfs.AccessRead},
		{alice, dirW, 0},
		{alice, dirWX, kvfs.AccessLookup | kvfs.AccessModify | kvfs.AccessExtend | kvfs.AccessDelete},
		{alice, fileW, kvfs.AccessModify | kvfs.AccessExtend}, // a file needs no execute to be written
	}
	for i, c := range cases {
		got, err := tr.fs.Access(ctx, c.cred, c.ino, all)
		if err != nil || got != c.want {
			t.Errorf("case %d: got %#x err %v, want %#x", i, got, err, c.want)
		}
	}
}

func TestTimestamps(t *testing.T) {
	ctx := context.Background()
	a := must[kvfs.Attr](t)
	u32 := func(v uint32) *uint32 { return &v }
	tr := newTree(t)
	d0 := a(tr.fs.GetAttr(ctx, tr.pub))
	f := must[kvfs.NewEntry](t)(tr.fs.Create(ctx, root, tr.pub, "t", kvfs.CreateRequest{})).Attr
	d1 := a(tr.fs.GetAttr(ctx, tr.pub))
	if !d1.Mtime.After(d0.Mtime) || !d1.Ctime.After(d0.Ctime) {
		t.Fatal("create did not advance the directory's mtime/ctime")
	}
	w := must[kvfs.Change](t)(tr.fs.Write(ctx, root, f.Ino, 0, []byte("x"))).After
	if !w.Mtime.After(f.Mtime) || !w.Ctime.After(f.Ctime) {
		t.Fatal("write did not advance mtime/ctime")
	}
	c := must[kvfs.Change](t)(tr.fs.SetAttr(ctx, root, f.Ino, kvfs.SetAttrRequest{Mode: u32(0o600)})).After
	if !c.Mtime.Equal(w.Mtime) || !c.Ctime.After(w.Ctime) {
		t.Fatal("chmod must change ctime only")
	}
	l := must[kvfs.NewEntry](t)(tr.fs.Link(ctx, root, f.Ino, tr.tmp, "t2")).Attr
	if !l.Ctime.After(c.Ctime) || !l.Mtime.Equal(c.Mtime) {
		t.Fatal("link must change ctime only")
	}
	to := time.Date(2001, 2, 3, 4, 5, 6, 7, time.UTC)
	s := must[kvfs.Change](t)(tr.fs.SetAttr(ctx, root, f.Ino, kvfs.SetAttrRequest{Atime: kvfs.TimeClient, AtimeTo: to, Mtime: kvfs.TimeClient, MtimeTo: to})).After
	if !s.Atime.Equal(to) || !s.Mtime.Equal(to) || !s.Ctime.After(l.Ctime) {
		t.Fatalf("set times: %+v", s)
	}
	d2 := a(tr.fs.GetAttr(ctx, tr.pub))
	if _, err := tr.fs.Rename(ctx, root, tr.pub, "t", tr.pub, "u"); err != nil {
		t.Fatal(err)
	}
	d3 := a(tr.fs.GetAttr(ctx, tr.pub))
	if !d3.Mtime.After(d2.Mtime) {
		t.Fatal("rename did not advance the directory's mtime")
	}
}

func TestTruncateAndHoles(t *testing.T) {
	ctx := context.Background()
	a := must[kvfs.Attr](t)
	tr := newTree(t)
	data := bytes.Repeat([]byte{0xab}, 3*kvfs.DefaultChunkSize+100)
	must[kvfs.Change](t)(tr.fs.Write(ctx, root, tr.fileA, 0, data))
	for _, size := range []uint64{kvfs.DefaultChunkSize + 7, 5, 0, 2*kvfs.DefaultChunkSize + 3, 10 * kvfs.DefaultChunkSize} {
		got := must[kvfs.Change](t)(tr.fs.SetAttr(ctx, root, tr.fileA, kvfs.SetAttrRequest{Size: &size})).After
		if got.Size != size {
			t.Fatalf("size %d want %d", got.Size, size)
		}
	}
	// Now: 0 bytes of data, extended to 10 chunks: all zeros, nothing stored.
	buf := make([]byte, 10*kvfs.DefaultChunkSize)
	n, eof, err := tr.fs.Read(ctx, root, tr.fileA, 0, buf)
	if err != nil || n != len(buf) || !eof || !bytes.Equal(buf, make([]byte, len(buf))) {
		t.Fatalf("read after truncates: n=%d eof=%v err=%v", n, eof, err)
	}
	if u := a(tr.fs.GetAttr(ctx, tr.fileA)).Used; u != 0 {
		t.Fatalf("used %d after truncating to 0 and extending", u)
	}
	// Partial truncate keeps the head and zeroes the tail after extension.
	must[kvfs.Change](t)(tr.fs.Write(ctx, root, tr.fileA, 0, data))
	s1, s2 := uint64(10), uint64(kvfs.DefaultChunkSize)
	must[kvfs.Change](t)(tr.fs.SetAttr(ctx, root, tr.fileA, kvfs.SetAttrRequest{Size: &s1}))
	must[kvfs.Change](t)(tr.fs.SetAttr(ctx, root, tr.fileA, kvfs.SetAttrRequest{Size: &s2}))
	n, _, _ = tr.fs.Read(ctx, root, tr.fileA, 0, buf)
	want := append(bytes.Repeat([]byte{0xab}, 10), make([]byte, kvfs.DefaultChunkSize-10)...)
	if !bytes.Equal(buf[:n], want) {
		t.Fatal("tail after truncate down and up is not zero")
	}
	checkFsck(t, tr.fs)
}

func TestSizeLimit(t *testing.T) {
	ctx := context.Background()
	fs, _ := newFS(t, kvfs.Options{SizeLimitBytes: 3 * kvfs.DefaultChunkSize})
	f := must[kvfs.NewEntry](t)(fs.Create(ctx, root, kvfs.RootIno, "f", kvfs.CreateRequest{})).Attr
	if _, err := fs.Write(ctx, root, f.Ino, 0, make([]byte, 2*kvfs.DefaultChunkSize)); err != nil {
		t.Fatal(err)
	}
	_, err := fs.Write(ctx, root, f.Ino, 2*kvfs.DefaultChunkSize, make([]byte, 2*kvfs.DefaultChunkSize))
	wantErrno(t, err, syscall.ENOSPC)
	// Overwriting in place needs no space.
	if _, err := fs.Write(ctx, root, f.Ino, 0, make([]byte, kvfs.DefaultChunkSize)); err != nil {
		t.Fatal(err)
	}
	st := must[kvfs.StatFS](t)(fs.StatFS(ctx))
	if st.TotalBytes != 3*kvfs.DefaultChunkSize || st.FreeBytes != kvfs.DefaultChunkSize {
		t.Fatalf("statfs %+v", st)
	}
	checkFsck(t, fs)
}

// TestSetSizeLimit changes the limit of an open filesystem: space written
// while it had none counts against a limit set later, a lowered limit keeps
// the data above it and refuses growth, and 0 lifts it.
func TestSetSizeLimit(t *testing.T) {
	ctx := context.Background()
	create := must[kvfs.NewEntry](t)
	write := must[kvfs.Change](t)
	fs, _ := newFS(t, kvfs.Options{})
	f := create(fs.Create(ctx, root, kvfs.RootIno, "f", kvfs.CreateRequest{})).Attr.Ino
	write(fs.Write(ctx, root, f, 0, make([]byte, 2*kvfs.DefaultChunkSize)))
	g := create(fs.Create(ctx, root, kvfs.RootIno, "g", kvfs.CreateRequest{})).Attr.Ino
	write(fs.Write(ctx, root, g, 0, make([]byte, kvfs.DefaultChunkSize)))

	fs.SetSizeLimit(4 * kvfs.DefaultChunkSize)
	write(fs.Write(ctx, root, f, 2*kvfs.DefaultChunkSize, make([]byte, kvfs.DefaultChunkSize)))
	_, err := fs.Write(ctx, root, f, 3*kvfs.DefaultChunkSize, make([]byte, kvfs.DefaultChunkSize))
	wantErrno(t, err, syscall.ENOSPC)
	if st := must[kvfs.StatFS](t)(fs.StatFS(ctx)); st.TotalBytes != 4*kvfs.DefaultChunkSize || st.FreeBytes != 0 {
		t.Fatalf("statfs with a limit of 4 chunks and 4 used: %+v", st)
	}

	fs.SetSizeLimit(2 * kvfs.DefaultChunkSize) // below what is stored
	_, err = fs.Write(ctx, root, g, kvfs.DefaultChunkSize, make([]byte, 1))
	wantErrno(t, err, syscall.ENOSPC)
	if st := must[kvfs.StatFS](t)(fs.StatFS(ctx)); st.TotalBytes != 2*kvfs.DefaultChunkSize || st.FreeBytes != 0 {
		t.Fatalf("statfs with a limit of 2 chunks and 4 used: %+v", st)
	}

	fs.SetSizeLimit(0)
	if _, err := fs.Unlink(ctx, root, kvfs.RootIno, "g"); err != nil {
		t.Fatal(err)
	}
	waitReclaimed(t, fs, 3*kvfs.DefaultChunkSize)
	fs.SetSizeLimit(3 * kvfs.DefaultChunkSize) // space freed while there was no limit counts
	_, err = fs.Write(ctx, root, f, 3*kvfs.DefaultChunkSize, make([]byte, 1))
	wantErrno(t, err, syscall.ENOSPC)

	fs.SetSizeLimit(0)
	write(fs.Write(ctx, root, f, 3*kvfs.DefaultChunkSize, make([]byte, 4*kvfs.DefaultChunkSize)))
	if st := must[kvfs.StatFS](t)(fs.StatFS(ctx)); st.TotalBytes < 1<<50 {
		t.Fatalf("statfs without a limit: %+v", st)
	}
	fs.SetSizeLimit(8 * kvfs.DefaultChunkSize)
	if st := must[kvfs.StatFS](t)(fs.StatFS(ctx)); st.TotalBytes != 8*kvfs.DefaultChunkSize || st.FreeBytes != kvfs.DefaultChunkSize {
		t.Fatalf("statfs with a limit of 8 chunks and 7 used: %+v", st)
	}
	write(fs.Write(ctx, root, f, 7*kvfs.DefaultChunkSize, make([]byte, kvfs.DefaultChunkSize)))
	_, err = fs.Write(ctx, root, f, 8*kvfs.DefaultChunkSize, make([]byte, 1))
	wantErrno(t, err, syscall.ENOSPC)
	checkFsck(t, fs)
}

// waitReclaimed waits until StatFS reports used bytes (with no size limit).
func waitReclaimed(t *testing.T, fs *kvfs.FS, used uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := must[kvfs.StatFS](t)(fs.StatFS(context.Background()))
		if st.TotalBytes-st.FreeBytes == used {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("statfs used %d, want %d", st.TotalBytes-st.FreeBytes, used)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOverwriteAccounting(t *testing.T) {
	for _, chunk := range []uint64{kvfs.DefaultChunkSize, kvfs.MaxChunkSize} {
		t.Run(fmt.Sprintf("chunk %d", chunk), func(t *testing.T) { testOverwriteAccounting(t, chunk) })
	}
}

func testOverwriteAccounting(t *testing.T, chunk uint64) {
	ctx := context.Background()
	fs, _ := newFS(t, kvfs.Options{ChunkSize: int(chunk)})
	f := must[kvfs.NewEntry](t)(fs.Create(ctx, root, kvfs.RootIno, "f", kvfs.CreateRequest{})).Attr.Ino
	size := 3*chunk + 1000
	must[kvfs.Change](t)(fs.Write(ctx, root, f, 0, make([]byte, size))) // dense
	cases := []struct {
		off, n   uint64
		wantUsed uint64
	}{
		{0, chunk, size},                  // full chunk over a full chunk
		{3 * chunk, chunk, 4 * chunk},     // full chunk over the short tail chunk
		{6 * chunk, chunk, 5 * chunk},     // past the end: a hole at chunk 4 and 5
		{4 * chunk, chunk, 6 * chunk},     // full chunk into the hole (file not dense)
		{1 * chunk, 2 * chunk, 6 * chunk}, // overwrite two full chunks
		{6*chunk + 10, 100, 6 * chunk},    // inside a chunk: read, modify, write
		{7*chunk - 10, 20, 6*chunk + 10},  // across two chunks, the second new
	}
	for i, c := range cases {
		got := must[kvfs.Change](t)(fs.Write(ctx, root, f, c.off, bytes.Repeat([]byte{byte(i + 1)}, int(c.n)))).After
		if got.Used != c.wantUsed {
			t.Fatalf("case %d: used %d, want %d", i, got.Used, c.wantUsed)
		}
		checkFsck(t, fs)
	}
}

// TestSizeLimitConcurrent has writers of different counter shards check the
// limit at once (a lock-order bug here deadlocks) and never exceed it.
func TestSizeLimitConcurrent(t *testing.T) {
	ctx := context.Background()
	const limit = 64 * kvfs.DefaultChunkSize
	fs, _ := newFS(t, kvfs.Options{SizeLimitBytes: limit})
	var wg sync.WaitGroup
	var written atomic.Int64
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := fs.Create(ctx, root, kvfs.RootIno, fmt.Sprintf("f%d", g), kvfs.CreateRequest{})
			if err != nil {
				t.Error(err)
				return
			}
			buf := make([]byte, kvfs.DefaultChunkSize)
			for i := range 20 {
				_, err := fs.Write(ctx, root, f.Attr.Ino, uint64(i)*kvfs.DefaultChunkSize, buf)
				switch errnoOf(err) {
				case 0:
					written.Add(kvfs.DefaultChunkSize)
				case syscall.ENOSPC:
				default:
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if written.Load() > limit {
		t.Fatalf("wrote %d bytes past a limit of %d", written.Load(), limit)
	}
	st := must[kvfs.StatFS](t)(fs.StatFS(ctx))
	if st.TotalBytes-st.FreeBytes != uint64(written.Load()) {
		t.Fatalf("statfs used %d, written %d", st.TotalBytes-st.FreeBytes, written.Load())
	}
	checkFsck(t, fs)
}

// TestClientTimesOutsideStoredRange: kvfs stores times as signed
// nanoseconds since the epoch (1677 to 2262); a time outside that range is
// clamped to its nearest end, as Linux clamps timestamps to a
// filesystem's range, instead of wrapping around.
func TestClientTimesOutsideStoredRange(t *testing.T) {
	ctx := context.Background()
	tr := newTree(t)
	minT, maxT := time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)
	cases := []struct {
		name     string
		set, get time.Time
	}{
		{"year 1000", time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), minT},
		{"year 3000", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), maxT},
		{"first storable instant", minT, minT},
		{"last storable instant", maxT, maxT},
		{"1960", time.Date(1960, 1, 1, 0, 0, 0, 3, time.UTC), time.Date(1960, 1, 1, 0, 0, 0, 3, time.UTC)},
	}
	for _, c := range cases {
		a := must[kvfs.Change](t)(tr.fs.SetAttr(ctx, root, tr.fileA, kvfs.SetAttrRequest{
			Atime: kvfs.TimeClient, AtimeTo: c.set, Mtime: kvfs.TimeClient, MtimeTo: c.set})).After
		if !a.Atime.Equal(c.get) || !a.Mtime.Equal(c.get) {
			t.Errorf("%s: atime %v mtime %v, want %v", c.name, a.Atime, a.Mtime, c.get)
		}
		e := must[kvfs.NewEntry](t)(tr.fs.Create(ctx, root, tr.pub, "t-"+c.name, kvfs.CreateRequest{
			Attrs: kvfs.SetAttrRequest{Mtime: kvfs.TimeClient, MtimeTo: c.set}}))
		if !e.Attr.Mtime.Equal(c.get) {
			t.Errorf("%s: created with mtime %v, want %v", c.name, e.Attr.Mtime, c.get)
		}
	}
}
