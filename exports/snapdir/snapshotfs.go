package snapdir

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs"
)

// snapshotFS is the nfs.Filesystem of one snapshot: every call borrows the
// snapshot's reader (opening it if needed), and a call that fails for a
// reason other than the filesystem's own (an errno not of its storage)
// answers ErrStale when the snapshot turns out to be gone.
type snapshotFS struct {
	sn *snapshot
}

var _ nfs.Filesystem = (*snapshotFS)(nil)

// errROFS is every change's answer.
var errROFS = fmt.Errorf("snapshots are read-only: %w", syscall.EROFS)

// do runs f on the snapshot's reader.
func (v *snapshotFS) do(ctx context.Context, f func(nfs.Filesystem) error) error {
	fs, err := v.sn.acquire(ctx)
	if err != nil {
		return err
	}
	err = f(fs)
	v.sn.release(ctx)
	if err == nil {
		return nil
	}
	var (
		storage *kvfs.StorageError
		errno   syscall.Errno
	)
	if !errors.As(err, &storage) && (errors.As(err, &errno) || errors.Is(err, kvfs.ErrNotSync)) {
		return err // the filesystem's own answer
	}
	if !v.sn.set.stillThere(ctx, v.sn) {
		// The storage's error is only the cause here (%v): kept in the
		// chain, it would make the answer a storage failure (EIO).
		return fmt.Errorf("snapshot %q no longer exists (%v): %w", v.sn.info.Name, err, kvfs.ErrStale)
	}
	return err
}

func (v *snapshotFS) FSID() uint64 { return v.sn.fsid }

func (v *snapshotFS) GetAttr(ctx context.Context, ino uint64) (a kvfs.Attr, err error) {
	err = v.do(ctx, func(fs nfs.Filesystem) error { a, err = fs.GetAttr(ctx, ino); return err })
	return a, err
}

func (v *snapshotFS) Lookup(ctx context.Context, cred kvfs.Cred, dir uint64, name string) (a kvfs.Attr, err error) {
	err = v.do(ctx, func(fs nfs.Filesystem) error { a, err = fs.Lookup(ctx, cred, dir, name); return err })
	return a, err
}

func (v *snapshotFS) Access(ctx context.Context, cred kvfs.Cred, ino uint64, mask uint32) (g uint32, err error) {
	err = v.do(ctx, func(fs nfs.Filesystem) error { g, err = fs.Access(ctx, cred, ino, mask); return err })
	return g &^ (kvfs.AccessModify | kvfs.AccessExtend | kvfs.AccessDelete), err
}

func (v *snapshotFS) Readlink(ctx context.Context, ino uint64) (s string, err error) {
	err = v.do(ctx, func(fs nfs.Filesystem) error { s, err = fs.Readlink(ctx, ino); return err })
	return s, err
}

func (v *snapshotFS) Read(ctx context.Context, cred kvfs.Cred, ino uint64, off uint64, buf []byte) (n int, eof bool, err error) {
	err = v.do(ctx, func(fs nfs.Filesystem) error { n, eof, err = fs.Read(ctx, cred, ino, off, buf); return err })
	return n, eof, err
}

func (v *snapshotFS) ReadDir(ctx context.Context, cred kvfs.Cred, dir uint64, cookie uint64, max int, withAttr bool) (ents []kvfs.DirEntry, eof bool, err error) {
	err = v.do(ctx, func(fs nfs.Filesystem) error {
		ents, eof, err = fs.ReadDir(ctx, cred, dir, cookie, max, withAttr)
		return err
	})
	return ents, eof, err
}

func (v *snapshotFS) Parent(ctx context.Context, dir uint64) (p uint64, err error) {
	err = v.do(ctx, func(fs nfs.Filesystem) error { p, err = fs.Parent(ctx, dir); return err })
	return p, err
}

func (v *snapshotFS) StatFS(ctx context.Context) (st kvfs.StatFS, err error) {
	err = v.do(ctx, func(fs nfs.Filesystem) error { st, err = fs.StatFS(ctx); return err })
	st.FreeBytes, st.AvailBytes, st.FreeInodes, st.AvailInodes = 0, 0, 0, 0
	return st, err
}

// Flush has nothing to make durable.
func (v *snapshotFS) Flush(context.Context) error { return nil }

func (v *snapshotFS) SetAttr(context.Context, kvfs.Cred, uint64, kvfs.SetAttrRequest) (kvfs.Change, error) {
	return kvfs.Change{}, errROFS
}

func (v *snapshotFS) Write(context.Context, kvfs.Cred, uint64, uint64, []byte) (kvfs.Change, error) {
	return kvfs.Change{}, errROFS
}

func (v *snapshotFS) Create(context.Context, kvfs.Cred, uint64, string, kvfs.CreateRequest) (kvfs.NewEntry, error) {
	return kvfs.NewEntry{}, errROFS
}

func (v *snapshotFS) Mkdir(context.Context, kvfs.Cred, uint64, string, uint32) (kvfs.NewEntry, error) {
	return kvfs.NewEntry{}, errROFS
}

func (v *snapshotFS) Symlink(context.Context, kvfs.Cred, uint64, string, string, uint32) (kvfs.NewEntry, error) {
	return kvfs.NewEntry{}, errROFS
}

func (v *snapshotFS) Mknod(context.Context, kvfs.Cred, uint64, string, kvfs.FileType, uint32, uint32, uint32) (kvfs.NewEntry, error) {
	return kvfs.NewEntry{}, errROFS
}

func (v *snapshotFS) Link(context.Context, kvfs.Cred, uint64, uint64, string) (kvfs.NewEntry, error) {
	return kvfs.NewEntry{}, errROFS
}

func (v *snapshotFS) Unlink(context.Context, kvfs.Cred, uint64, string) (kvfs.Change, error) {
	return kvfs.Change{}, errROFS
}

func (v *snapshotFS) Rmdir(context.Context, kvfs.Cred, uint64, string) (kvfs.Change, error) {
	return kvfs.Change{}, errROFS
}

func (v *snapshotFS) Rename(context.Context, kvfs.Cred, uint64, string, uint64, string) (kvfs.Renamed, error) {
	return kvfs.Renamed{}, errROFS
}
