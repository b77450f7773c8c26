package snapdir

import (
	"context"
	"fmt"
	"syscall"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs"
)

// DirIno is the inode id of the snapshot directory in the live filesystem.
// kvfs hands out inode ids upwards from 2 and never reaches it.
const DirIno uint64 = 1<<63 - 1

// dirGen is the generation of the snapshot directory.
const dirGen = 1

// errNoEnt answers a name that is not a snapshot.
var errNoEnt = syscall.ENOENT

// cookieBase offsets an entry's cookie from its snapshot's ID: filesystem
// cookies 0 to 2 are reserved.
const cookieBase = 3

// dirFS is the live filesystem with the snapshot directory at its root.
type dirFS struct {
	nfs.Filesystem
	name string
	set  *Set
}

// Wrap returns live with the snapshot directory named name at its root.
func (s *Set) Wrap(live nfs.Filesystem, name string) nfs.Filesystem {
	return &dirFS{Filesystem: live, name: name, set: s}
}

// isDir reports whether (dir, name) names the snapshot directory.
func (d *dirFS) isDir(dir uint64, name string) bool {
	return dir == kvfs.RootIno && name == d.name
}

func (d *dirFS) dirAttr(ctx context.Context) (kvfs.Attr, error) {
	list, changed, err := d.set.snapshots(ctx)
	if err != nil {
		return kvfs.Attr{}, err
	}
	return kvfs.Attr{
		Ino: DirIno, Gen: dirGen, Type: kvfs.TypeDir, Mode: 0o555,
		Nlink: uint32(2 + len(list)), Size: uint64(len(list)),
		Atime: changed, Mtime: changed, Ctime: changed,
	}, nil
}

// refused is the error of a change in the snapshot directory.
func refused(op string) error {
	return fmt.Errorf("%s in the snapshot directory: %w", op, syscall.EROFS)
}

func (d *dirFS) GetAttr(ctx context.Context, ino uint64) (kvfs.Attr, error) {
	if ino == DirIno {
		return d.dirAttr(ctx)
	}
	return d.Filesystem.GetAttr(ctx, ino)
}

func (d *dirFS) SetAttr(ctx context.Context, cred kvfs.Cred, ino uint64, req kvfs.SetAttrRequest) (kvfs.Change, error) {
	if ino == DirIno {
		return kvfs.Change{}, refused("setattr")
	}
	return d.Filesystem.SetAttr(ctx, cred, ino, req)
}

func (d *dirFS) Lookup(ctx context.Context, cred kvfs.Cred, dir uint64, name string) (kvfs.Attr, error) {
	switch {
	case d.isDir(dir, name):
		// The root's own permissions decide whether it may be searched.
		if g, err := d.Filesystem.Access(ctx, cred, kvfs.RootIno, kvfs.AccessLookup); err != nil {
			return kvfs.Attr{}, err
		} else if g&kvfs.AccessLookup == 0 {
			return kvfs.Attr{}, fmt.Errorf("lookup in the root: %w", syscall.EACCES)
		}
		return d.dirAttr(ctx)
	case dir == DirIno && name == "..":
		return d.Filesystem.GetAttr(ctx, kvfs.RootIno)
	case dir == DirIno:
		sn, err := d.set.byNameRefreshing(ctx, name)
		if err != nil {
			return kvfs.Attr{}, err
		}
		a, err := sn.view.GetAttr(ctx, kvfs.RootIno)
		if err != nil {
			return kvfs.Attr{}, err
		}
		a.FSID = sn.fsid
		return a, nil
	}
	return d.Filesystem.Lookup(ctx, cred, dir, name)
}

func (d *dirFS) Access(ctx context.Context, cred kvfs.Cred, ino uint64, mask uint32) (uint32, error) {
	if ino == DirIno {
		return mask & (kvfs.AccessRead | kvfs.AccessLookup | kvfs.AccessExecute), nil
	}
	return d.Filesystem.Access(ctx, cred, ino, mask)
}

func (d *dirFS) Readlink(ctx context.Context, ino uint64) (string, error) {
	if ino == DirIno {
		return "", fmt.Errorf("readlink of the snapshot directory: %w", syscall.EINVAL)
	}
	return d.Filesystem.Readlink(ctx, ino)
}

func (d *dirFS) Read(ctx context.Context, cred kvfs.Cred, ino uint64, off uint64, buf []byte) (int, bool, error) {
	if ino == DirIno {
		return 0, false, fmt.Errorf("read of the snapshot directory: %w", syscall.EISDIR)
	}
	return d.Filesystem.Read(ctx, cred, ino, off, buf)
}

func (d *dirFS) Write(ctx context.Context, cred kvfs.Cred, ino uint64, off uint64, data []byte) (kvfs.Change, error) {
	if ino == DirIno {
		return kvfs.Change{}, refused("write")
	}
	return d.Filesystem.Write(ctx, cred, ino, off, data)
}

// exists answers a new entry named like the snapshot directory.
func (d *dirFS) exists(dir uint64, name string) error {
	if d.isDir(dir, name) {
		return fmt.Errorf("%q is the snapshot directory: %w", name, syscall.EEXIST)
	}
	if dir == DirIno {
		return refused("create")
	}
	return nil
}

func (d *dirFS) Create(ctx context.Context, cred kvfs.Cred, dir uint64, name string, req kvfs.CreateRequest) (kvfs.NewEntry, error) {
	if req.Mode == kvfs.CreateUnchecked && d.isDir(dir, name) {
		// As over any other directory (and as Linux's server does): the
		// existing object, unchanged.
		a, err := d.Lookup(ctx, cred, dir, name)
		if err != nil {
			return kvfs.NewEntry{}, err
		}
		root, err := d.Filesystem.GetAttr(ctx, dir)
		if err != nil {
			return kvfs.NewEntry{}, err
		}
		return kvfs.NewEntry{Attr: a, Dir: kvfs.Change{Before: root, After: root}}, nil
	}
	if err := d.exists(dir, name); err != nil {
		return kvfs.NewEntry{}, err
	}
	return d.Filesystem.Create(ctx, cred, dir, name, req)
}

func (d *dirFS) Mkdir(ctx context.Context, cred kvfs.Cred, dir uint64, name string, mode uint32) (kvfs.NewEntry, error) {
	if err := d.exists(dir, name); err != nil {
		return kvfs.NewEntry{}, err
	}
	return d.Filesystem.Mkdir(ctx, cred, dir, name, mode)
}

func (d *dirFS) Symlink(ctx context.Context, cred kvfs.Cred, dir uint64, name, target string, mode uint32) (kvfs.NewEntry, error) {
	if err := d.exists(dir, name); err != nil {
		return kvfs.NewEntry{}, err
	}
	return d.Filesystem.Symlink(ctx, cred, dir, name, target, mode)
}

func (d *dirFS) Mknod(ctx context.Context, cred kvfs.Cred, dir uint64, name string, typ kvfs.FileType, mode, major, minor uint32) (kvfs.NewEntry, error) {
	if err := d.exists(dir, name); err != nil {
		return kvfs.NewEntry{}, err
	}
	return d.Filesystem.Mknod(ctx, cred, dir, name, typ, mode, major, minor)
}

func (d *dirFS) Link(ctx context.Context, cred kvfs.Cred, ino uint64, dir uint64, name string) (kvfs.NewEntry, error) {
	if ino == DirIno {
		return kvfs.NewEntry{}, refused("link")
	}
	if err := d.exists(dir, name); err != nil {
		return kvfs.NewEntry{}, err
	}
	return d.Filesystem.Link(ctx, cred, ino, dir, name)
}

func (d *dirFS) Unlink(ctx context.Context, cred kvfs.Cred, dir uint64, name string) (kvfs.Change, error) {
	if d.isDir(dir, name) || dir == DirIno {
		return kvfs.Change{}, refused("remove")
	}
	return d.Filesystem.Unlink(ctx, cred, dir, name)
}

func (d *dirFS) Rmdir(ctx context.Context, cred kvfs.Cred, dir uint64, name string) (kvfs.Change, error) {
	if d.isDir(dir, name) || dir == DirIno {
		return kvfs.Change{}, refused("rmdir")
	}
	return d.Filesystem.Rmdir(ctx, cred, dir, name)
}

func (d *dirFS) Rename(ctx context.Context, cred kvfs.Cred, fromDir uint64, fromName string, toDir uint64, toName string) (kvfs.Renamed, error) {
	if d.isDir(fromDir, fromName) || d.isDir(toDir, toName) || fromDir == DirIno || toDir == DirIno {
		return kvfs.Renamed{}, refused("rename")
	}
	return d.Filesystem.Rename(ctx, cred, fromDir, fromName, toDir, toName)
}

func (d *dirFS) ReadDir(ctx context.Context, cred kvfs.Cred, dir uint64, cookie uint64, max int, withAttr bool) ([]kvfs.DirEntry, bool, error) {
	if dir != DirIno {
		ents, eof, err := d.Filesystem.ReadDir(ctx, cred, dir, cookie, max, withAttr)
		if dir == kvfs.RootIno && err == nil {
			// A live entry of that name is shadowed: hide it too.
			for i, e := range ents {
				if e.Name == d.name {
					ents = append(ents[:i:i], ents[i+1:]...)
					break
				}
			}
		}
		return ents, eof, err
	}
	list, _, err := d.set.snapshots(ctx)
	if err != nil {
		return nil, false, err
	}
	var ents []kvfs.DirEntry
	for _, sn := range list {
		c := sn.info.ID + cookieBase
		if c <= cookie {
			continue
		}
		if len(ents) == max {
			return ents, false, nil
		}
		// No attributes: a client that wants them looks the name up, which
		// opens that snapshot only.
		ents = append(ents, kvfs.DirEntry{Name: sn.info.Name, Ino: kvfs.RootIno, Type: kvfs.TypeDir, Cookie: c})
	}
	return ents, true, nil
}

func (d *dirFS) Parent(ctx context.Context, dir uint64) (uint64, error) {
	if dir == DirIno {
		return kvfs.RootIno, nil
	}
	return d.Filesystem.Parent(ctx, dir)
}

// Unwrap returns the live filesystem.
func (d *dirFS) Unwrap() nfs.Filesystem { return d.Filesystem }
