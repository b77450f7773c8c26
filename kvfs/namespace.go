package kvfs

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"syscall"
)

// Lookup returns the attributes of name in directory dir ("." and ".." included).
func (fs *FS) Lookup(ctx context.Context, cred Cred, dir uint64, name string) (Attr, error) {
	d, err := fs.getInode(ctx, dir)
	if err != nil {
		return Attr{}, err
	}
	if err := canSearch("lookup in", cred, dir, d); err != nil {
		return Attr{}, err
	}
	switch {
	case len(name) > MaxNameLen:
		return Attr{}, errName("lookup", dir, name, syscall.ENAMETOOLONG)
	case name == "" || name == ".":
		return d.attr(dir), nil
	case name == "..":
		return fs.lookupParent(ctx, dir, d)
	}
	// The entry and its inode are read one after the other, without a
	// lock: a rename over the name, or its removal, may come between them
	// and leave the inode read gone. Then the entry is read again (once
	// the change is over): a name replaced never goes missing.
	e, ok, err := fs.getEntry(ctx, dir, name)
	for range lookupRetries {
		if err != nil {
			return Attr{}, err
		}
		if !ok {
			return Attr{}, errName("lookup", dir, name, syscall.ENOENT)
		}
		n, ierr := fs.getInode(ctx, e.ino)
		if !isStale(ierr) {
			if ierr != nil {
				return Attr{}, ierr
			}
			return n.attr(e.ino), nil
		}
		gone := e.ino
		if e, ok, err = fs.settledEntry(ctx, dir, name); err == nil && ok && e.ino == gone {
			break // an entry naming a missing inode: damage (fsck reports it)
		}
	}
	if err != nil {
		return Attr{}, err
	}
	return Attr{}, errName("lookup", dir, name, syscall.ENOENT)
}

// lookupRetries bounds how many times a lookup reads again a name or a
// parent that changed between its reads, before it answers as if the name
// were gone (a loop only renames landing each time in that gap could keep
// going).
const lookupRetries = 8

// lookupParent returns the attributes of the parent of directory dir (d):
// if the parent read is gone, the directory may have moved meanwhile and
// its old parent been removed, so it reads where the directory is now.
func (fs *FS) lookupParent(ctx context.Context, dir uint64, d *inode) (Attr, error) {
	var err error
	for range lookupRetries {
		var p *inode
		if p, err = fs.getInode(ctx, d.parent); !isStale(err) {
			if err != nil {
				return Attr{}, err
			}
			return p.attr(d.parent), nil
		}
		gone := d.parent
		again, derr := fs.settledInode(ctx, dir)
		if derr != nil {
			return Attr{}, derr
		}
		if again.parent == gone {
			break
		}
		d = again
	}
	return Attr{}, err
}

// GetAttr returns the attributes of ino (ErrStale if it does not exist).
func (fs *FS) GetAttr(ctx context.Context, ino uint64) (Attr, error) {
	n, err := fs.getInode(ctx, ino)
	if err != nil {
		return Attr{}, err
	}
	return n.attr(ino), nil
}

// Parent returns the parent of directory dir; the root is its own parent.
func (fs *FS) Parent(ctx context.Context, dir uint64) (uint64, error) {
	d, err := fs.getInode(ctx, dir)
	if err != nil {
		return 0, err
	}
	if d.typ != TypeDir {
		return 0, errIno("parent of", dir, syscall.ENOTDIR)
	}
	return d.parent, nil
}

// Readlink returns a symlink's target.
func (fs *FS) Readlink(ctx context.Context, ino uint64) (string, error) {
	n, err := fs.getInode(ctx, ino)
	if err != nil {
		return "", err
	}
	if n.typ != TypeSymlink {
		return "", errIno("readlink", ino, syscall.EINVAL)
	}
	return n.target, nil
}

// newNode prepares a node for insertion in directory d by cred.
func (fs *FS) newNode(cred Cred, d *inode, typ FileType, mode uint32) *inode {
	now := fs.now().UnixNano()
	n := &inode{typ: typ, mode: mode & 0o7777, nlink: 1, uid: cred.UID, gid: cred.GID,
		gen: rand.Uint32() | 1, atime: now, mtime: now, ctime: now}
	if d.mode&0o2000 != 0 { // setgid directory: inherit its group; subdirectories inherit setgid
		n.gid = d.gid
		if typ == TypeDir {
			n.mode |= 0o2000
		}
	}
	if typ != TypeDir && n.mode&0o2000 != 0 && cred.UID != 0 && !inGroup(cred, n.gid) {
		n.mode &^= 0o2000
	}
	return n
}

// errExists carries the entry found by insert when the name is taken, and
// the directory's attributes read under the same lock.
type errExists struct {
	e       dirent
	dirAttr Attr
	op      string
	dir     uint64
	name    string
}

func (e *errExists) Error() string {
	return fmt.Sprintf("kvfs: %s %q in dir %d: %v", e.op, e.name, e.dir, syscall.EEXIST)
}
func (e *errExists) Unwrap() error { return syscall.EEXIST }

// insert links a new node built by build under name in dir, in one batch.
// When the name exists it returns an *errExists (matching EEXIST). Adding
// a name needs write and search permission on dir, checked before the
// name is looked up; with findFirst only search permission is checked
// first, and write permission once the name is known to be free (Create:
// Linux's server answers a CREATE of an existing name to a caller who may
// only search the directory).
func (fs *FS) insert(ctx context.Context, op string, cred Cred, dir uint64, name string, typ FileType, findFirst bool, build func(d *inode) (*inode, error)) (NewEntry, error) {
	if err := checkName(op, dir, name); err != nil {
		return NewEntry{}, err
	}
	ino, err := fs.allocIno(ctx)
	if err != nil {
		return NewEntry{}, err
	}
	unlock := fs.lockInodes(dir, ino)
	defer unlock()
	t := fs.newTxn(ino)
	d, err := t.get(ctx, dir)
	if err != nil {
		return NewEntry{}, err
	}
	before := d.attr(dir)
	if findFirst {
		err = canSearch(op, cred, dir, d)
	} else {
		err = canModifyEntries(op, cred, dir, d)
	}
	if err != nil {
		return NewEntry{}, err
	}
	if e, ok, err := fs.loadEntry(ctx, dir, name); err != nil {
		return NewEntry{}, err
	} else if ok {
		return NewEntry{}, &errExists{e: e, dirAttr: before, op: op, dir: dir, name: name}
	}
	if findFirst {
		if err := canModifyEntries(op, cred, dir, d); err != nil {
			return NewEntry{}, err
		}
	}
	n, err := build(d)
	if err != nil {
		return NewEntry{}, err
	}
	if typ == TypeDir {
		if d.nlink >= MaxLinks {
			return NewEntry{}, errIno(op, dir, syscall.EMLINK)
		}
		d.nlink++
		n.nlink = 2
		n.parent = dir
		n.nextCookie = firstCookie
	}
	e := dirent{ino: ino, typ: typ, cookie: d.nextCookie}
	d.nextCookie++
	d.mtime, d.ctime = n.ctime, n.ctime
	t.put(dir)
	t.create(ino, n)
	t.putEntry(dir, name, e)
	if err := t.commit(ctx); err != nil {
		return NewEntry{}, err
	}
	return NewEntry{Attr: n.attr(ino), Dir: Change{Before: before, After: d.attr(dir)}}, nil
}

// Create makes a regular file; see CreateMode for what happens when name
// exists. Finding that name needs only search permission on dir, making
// the file write permission too, as with Linux's server. When it creates
// nothing, the directory's Change has Before equal to After.
func (fs *FS) Create(ctx context.Context, cred Cred, dir uint64, name string, req CreateRequest) (NewEntry, error) {
	mode := uint32(0o644)
	if req.Mode == CreateExclusive {
		// An exclusive create carries no attributes: the client sets them
		// with a SETATTR that follows. Until then nobody but the owner
		// (who may always use its own file) can open it, as with Linux
		// nfsd: open(O_CREAT|O_EXCL, 0600) must not be readable by others
		// in between.
		mode = 0
	}
	if req.Attrs.Mode != nil {
		mode = *req.Attrs.Mode
	}
	build := func(d *inode) (*inode, error) {
		n := fs.newNode(cred, d, TypeRegular, mode)
		if req.Mode == CreateExclusive {
			n.flags |= inodeHasVerifier
			n.verifier = req.Verifier
			return n, nil
		}
		if size := req.Attrs.Size; size != nil { // as Linux's server applies it
			if *size > MaxFileSize {
				return nil, errName("create", dir, name, syscall.EFBIG)
			}
			n.size = *size // a hole: no chunk to write
		}
		owner := GrantableOwner(cred, req.Attrs)
		if owner.UID != nil {
			n.uid = *owner.UID
		}
		if owner.GID != nil {
			n.gid = *owner.GID
		}
		switch req.Attrs.Atime {
		case TimeClient:
			n.atime = storedTime(req.Attrs.AtimeTo)
		}
		switch req.Attrs.Mtime {
		case TimeClient:
			n.mtime = storedTime(req.Attrs.MtimeTo)
		}
		return n, nil
	}
	// The existing entry is read under the directory's lock, its inode
	// after: a rename over the name or its removal may come between them.
	// Then the create starts again, and makes the file or finds the new
	// entry.
	for attempt := 0; ; attempt++ {
		res, err := fs.insert(ctx, "create", cred, dir, name, TypeRegular, true, build)
		var ex *errExists
		if !errors.As(err, &ex) {
			return res, err
		}
		unchanged := Change{Before: ex.dirAttr, After: ex.dirAttr}
		var a Attr
		var aerr error
		switch req.Mode {
		case CreateGuarded:
			return NewEntry{}, err
		case CreateExclusive:
			n, gerr := fs.getInode(ctx, ex.e.ino)
			if gerr == nil && n.typ == TypeRegular && n.flags&inodeHasVerifier != 0 && n.verifier == req.Verifier {
				return NewEntry{Attr: n.attr(ex.e.ino), Dir: unchanged}, nil // a retransmitted CREATE
			}
			if !isStale(gerr) || attempt >= lookupRetries {
				return NewEntry{}, err
			}
			continue
		default: // CreateUnchecked
			a, aerr = fs.createExisting(ctx, cred, ex.e, req.Attrs.Size)
		}
		if isStale(aerr) && attempt < lookupRetries {
			continue
		}
		if aerr != nil {
			return NewEntry{}, aerr
		}
		return NewEntry{Attr: a, Dir: unchanged}, nil
	}
}

// createExisting is an unchecked CREATE of a name that exists (e): it
// succeeds, as with Linux's server: on a regular file it applies only a
// size (O_TRUNC), leaving the other attributes alone; any other type, a
// directory included, is answered as it is (the Linux client then reports
// EISDIR for a directory).
func (fs *FS) createExisting(ctx context.Context, cred Cred, e dirent, size *uint64) (Attr, error) {
	if size != nil && e.typ == TypeRegular {
		ch, err := fs.SetAttr(ctx, cred, e.ino, SetAttrRequest{Size: size})
		return ch.After, err
	}
	return fs.GetAttr(ctx, e.ino)
}

// Mkdir makes a directory.
func (fs *FS) Mkdir(ctx context.Context, cred Cred, dir uint64, name string, mode uint32) (NewEntry, error) {
	return fs.insert(ctx, "mkdir", cred, dir, name, TypeDir, false, func(d *inode) (*inode, error) {
		return fs.newNode(cred, d, TypeDir, mode), nil
	})
}

// Symlink makes a symbolic link to target (see CheckSymlinkTarget).
func (fs *FS) Symlink(ctx context.Context, cred Cred, dir uint64, name, target string, mode uint32) (NewEntry, error) {
	if err := CheckSymlinkTarget(target); err != nil {
		return NewEntry{}, errName("symlink", dir, name, err.(syscall.Errno))
	}
	return fs.insert(ctx, "symlink", cred, dir, name, TypeSymlink, false, func(d *inode) (*inode, error) {
		n := fs.newNode(cred, d, TypeSymlink, 0o777)
		n.target = target
		n.size = uint64(len(target))
		return n, nil
	})
}

// Mknod makes a device node, FIFO or socket.
func (fs *FS) Mknod(ctx context.Context, cred Cred, dir uint64, name string, typ FileType, mode, major, minor uint32) (NewEntry, error) {
	switch typ {
	case TypeBlock, TypeChar:
		if cred.UID != 0 {
			return NewEntry{}, errName("mknod", dir, name, syscall.EPERM) // devices need privilege
		}
	case TypeSocket, TypeFIFO:
	default:
		return NewEntry{}, errName("mknod", dir, name, syscall.EINVAL)
	}
	return fs.insert(ctx, "mknod", cred, dir, name, typ, false, func(d *inode) (*inode, error) {
		n := fs.newNode(cred, d, typ, mode)
		if typ == TypeBlock || typ == TypeChar {
			n.major, n.minor = major, minor
		}
		return n, nil
	})
}

// Link makes name in dir another link to ino (not a directory). The result
// holds ino's attributes after the link and the directory's change.
func (fs *FS) Link(ctx context.Context, cred Cred, ino uint64, dir uint64, name string) (NewEntry, error) {
	if err := checkName("link", dir, name); err != nil {
		return NewEntry{}, err
	}
	unlock := fs.lockInodes(dir, ino)
	defer unlock()
	t := fs.newTxn(ino)
	n, err := t.get(ctx, ino)
	if err != nil {
		return NewEntry{}, err
	}
	if n.typ == TypeDir {
		return NewEntry{}, errIno("link", ino, syscall.EPERM)
	}
	d, err := t.get(ctx, dir)
	if err != nil {
		return NewEntry{}, err
	}
	before := d.attr(dir)
	if err := canModifyEntries("link into", cred, dir, d); err != nil {
		return NewEntry{}, err
	}
	if _, ok, err := fs.loadEntry(ctx, dir, name); err != nil {
		return NewEntry{}, err
	} else if ok {
		return NewEntry{}, errName("link", dir, name, syscall.EEXIST)
	}
	if n.nlink >= MaxLinks {
		return NewEntry{}, errIno("link", ino, syscall.EMLINK)
	}
	now := fs.now().UnixNano()
	n.nlink++
	n.ctime = now
	e := dirent{ino: ino, typ: n.typ, cookie: d.nextCookie}
	d.nextCookie++
	d.mtime, d.ctime = now, now
	t.put(ino)
	t.put(dir)
	t.putEntry(dir, name, e)
	if err := t.commit(ctx); err != nil {
		return NewEntry{}, err
	}
	return NewEntry{Attr: n.attr(ino), Dir: Change{Before: before, After: d.attr(dir)}}, nil
}

// dropLink removes one link of n (already unlinked from its entry) in t:
// the inode goes when its link count reaches 0. NFS has no open state, so
// the data of a file is reclaimed as soon as its last link goes.
func dropLink(t *txn, ino uint64, n *inode, now int64) {
	if n.typ == TypeDir {
		t.remove(ino, n)
		return
	}
	n.nlink--
	if n.nlink == 0 {
		t.remove(ino, n)
		return
	}
	n.ctime = now
	t.put(ino)
}

// Unlink removes a non-directory entry and returns the directory's change.
func (fs *FS) Unlink(ctx context.Context, cred Cred, dir uint64, name string) (Change, error) {
	return fs.removeEntry(ctx, "unlink", cred, dir, name, false)
}

// Rmdir removes an empty directory and returns the change of dir.
func (fs *FS) Rmdir(ctx context.Context, cred Cred, dir uint64, name string) (Change, error) {
	if name == ".." {
		return Change{}, errName("rmdir", dir, name, syscall.ENOTEMPTY)
	}
	return fs.removeEntry(ctx, "rmdir", cred, dir, name, true)
}

func (fs *FS) removeEntry(ctx context.Context, op string, cred Cred, dir uint64, name string, wantDir bool) (Change, error) {
	if err := checkName(op, dir, name); err != nil {
		return Change{}, err
	}
	e, ok, unlock, err := fs.lockEntry(ctx, dir, name)
	if err != nil {
		return Change{}, err
	}
	defer unlock()
	t := fs.newTxn(e.ino)
	d, err := t.get(ctx, dir)
	if err != nil {
		return Change{}, err
	}
	before := d.attr(dir)
	if err := canModifyEntries(op, cred, dir, d); err != nil {
		return Change{}, err
	}
	if !ok {
		return Change{}, errName(op, dir, name, syscall.ENOENT)
	}
	n, err := t.get(ctx, e.ino)
	if err != nil {
		return Change{}, err
	}
	switch {
	case wantDir && n.typ != TypeDir:
		return Change{}, errName(op, dir, name, syscall.ENOTDIR)
	case !wantDir && n.typ == TypeDir:
		return Change{}, errName(op, dir, name, syscall.EISDIR)
	}
	if stickyDenies(cred, d, n) {
		return Change{}, errName(op, dir, name, syscall.EPERM)
	}
	if wantDir {
		empty, err := fs.dirEmpty(ctx, e.ino)
		if err != nil {
			return Change{}, err
		}
		if !empty {
			return Change{}, errName(op, dir, name, syscall.ENOTEMPTY)
		}
		d.nlink--
	}
	now := fs.now().UnixNano()
	t.deleteEntry(dir, name, e)
	dropLink(t, e.ino, n, now)
	d.mtime, d.ctime = now, now
	t.put(dir)
	if err := t.commit(ctx); err != nil {
		return Change{}, err
	}
	return Change{Before: before, After: d.attr(dir)}, nil
}

// dirEmpty reports whether directory ino has no entries.
func (fs *FS) dirEmpty(ctx context.Context, ino uint64) (bool, error) {
	p := inoPrefix(prefixCookie, ino)
	it, err := fs.kv.NewIterator(ctx, p, prefixEnd(p))
	if err != nil {
		return false, err
	}
	defer it.Close()
	if it.Next() {
		return false, nil
	}
	return true, it.Err()
}
