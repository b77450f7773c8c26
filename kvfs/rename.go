package kvfs

import (
	"context"
	"errors"
	"syscall"
)

// Rename moves fromDir/fromName to toDir/toName, atomically replacing an
// existing target, and returns the changes of both directories.
//
// Lock order: every operation locks the stripes of all inodes it changes at
// once, in ascending stripe order (lockInodes), after looking the entries up
// without locks and re-checking them once locked. Renames that move a
// directory to another parent first take renameMu, so that the check that
// the target is not inside the moved directory walks parents that cannot
// change meanwhile.
func (fs *FS) Rename(ctx context.Context, cred Cred, fromDir uint64, fromName string, toDir uint64, toName string) (Renamed, error) {
	if err := checkName("rename", fromDir, fromName); err != nil {
		return Renamed{}, err
	}
	if err := checkName("rename to", toDir, toName); err != nil {
		return Renamed{}, err
	}
	for {
		src, ok, err := fs.getEntry(ctx, fromDir, fromName)
		if err != nil {
			return Renamed{}, err
		}
		if !ok {
			// Report ENOTDIR/EACCES/ESTALE of the directory first.
			d, err := fs.getInode(ctx, fromDir)
			if err != nil {
				return Renamed{}, err
			}
			if err := canModifyEntries("rename from", cred, fromDir, d); err != nil {
				return Renamed{}, err
			}
			return Renamed{}, errName("rename", fromDir, fromName, syscall.ENOENT)
		}
		dst, dstOK, err := fs.getEntry(ctx, toDir, toName)
		if err != nil {
			return Renamed{}, err
		}
		moveDir := src.typ == TypeDir && fromDir != toDir
		if moveDir {
			fs.renameMu.Lock()
		}
		inos := []uint64{fromDir, toDir, src.ino}
		if dstOK {
			inos = append(inos, dst.ino)
		}
		unlock := fs.lockInodes(inos...)
		src2, ok2, err1 := fs.loadEntry(ctx, fromDir, fromName)
		dst2, dstOK2, err2 := fs.loadEntry(ctx, toDir, toName)
		if err = errors.Join(err1, err2); err == nil && ok2 && src2 == src && dstOK2 == dstOK && dst2 == dst {
			res, err := fs.renameLocked(ctx, cred, fromDir, fromName, src, toDir, toName, dst, dstOK, moveDir)
			unlock()
			if moveDir {
				fs.renameMu.Unlock()
			}
			return res, err
		}
		unlock()
		if moveDir {
			fs.renameMu.Unlock()
		}
		if err != nil {
			return Renamed{}, err
		}
	}
}

func (fs *FS) renameLocked(ctx context.Context, cred Cred, fromDir uint64, fromName string, src dirent,
	toDir uint64, toName string, dst dirent, dstOK, moveDir bool) (Renamed, error) {
	t := fs.newTxn(src.ino)
	fd, err := t.get(ctx, fromDir)
	if err != nil {
		return Renamed{}, err
	}
	fromBefore := fd.attr(fromDir)
	if err := canModifyEntries("rename from", cred, fromDir, fd); err != nil {
		return Renamed{}, err
	}
	td, err := t.get(ctx, toDir)
	if err != nil {
		return Renamed{}, err
	}
	toBefore := td.attr(toDir)
	if err := canModifyEntries("rename into", cred, toDir, td); err != nil {
		return Renamed{}, err
	}
	sn, err := t.get(ctx, src.ino)
	if err != nil {
		return Renamed{}, err
	}
	if dstOK && dst.ino == src.ino {
		// Both names are links to the same file: nothing to do.
		return Renamed{From: Change{Before: fromBefore, After: fromBefore}, To: Change{Before: toBefore, After: toBefore}}, nil
	}
	if stickyDenies(cred, fd, sn) {
		return Renamed{}, errName("rename", fromDir, fromName, syscall.EPERM)
	}
	if moveDir {
		// Moving a directory rewrites its "..": it needs write permission on it.
		if !permits(cred, sn, permWrite) {
			return Renamed{}, errName("rename", fromDir, fromName, syscall.EACCES)
		}
		// The target directory must not be the moved directory or inside it.
		for p := toDir; ; {
			if p == src.ino {
				return Renamed{}, errName("rename into own subtree", fromDir, fromName, syscall.EINVAL)
			}
			if p == RootIno {
				break
			}
			pn, err := fs.peekInode(ctx, p)
			if err != nil {
				return Renamed{}, err
			}
			p = pn.parent
		}
	}
	now := fs.now().UnixNano()
	if dstOK {
		dn, err := t.get(ctx, dst.ino)
		if err != nil {
			return Renamed{}, err
		}
		if stickyDenies(cred, td, dn) {
			return Renamed{}, errName("rename over", toDir, toName, syscall.EPERM)
		}
		switch {
		case sn.typ == TypeDir && dn.typ != TypeDir:
			return Renamed{}, errName("rename over", toDir, toName, syscall.ENOTDIR)
		case sn.typ != TypeDir && dn.typ == TypeDir:
			return Renamed{}, errName("rename over", toDir, toName, syscall.EISDIR)
		case dn.typ == TypeDir:
			empty, err := fs.dirEmpty(ctx, dst.ino)
			if err != nil {
				return Renamed{}, err
			}
			if !empty {
				return Renamed{}, errName("rename over", toDir, toName, syscall.ENOTEMPTY)
			}
			td.nlink--
		}
		t.ops = append(t.ops, KVOp{Key: cookieKey(toDir, dst.cookie), Delete: true})
		dropLink(t, dst.ino, dn, now)
	}
	t.deleteEntry(fromDir, fromName, src)
	e := dirent{ino: src.ino, typ: src.typ, cookie: td.nextCookie}
	td.nextCookie++
	t.putEntry(toDir, toName, e)
	if moveDir {
		sn.parent = toDir
		fd.nlink--
		td.nlink++
	}
	sn.ctime = now
	t.put(src.ino)
	fd.mtime, fd.ctime = now, now
	td.mtime, td.ctime = now, now
	t.put(fromDir)
	t.put(toDir)
	if err := t.commit(ctx); err != nil {
		return Renamed{}, err
	}
	return Renamed{From: Change{Before: fromBefore, After: fd.attr(fromDir)}, To: Change{Before: toBefore, After: td.attr(toDir)}}, nil
}
