package kvfs

import (
	"context"
	"slices"
	"syscall"
)

// Permission bits as checked by permits.
const (
	permRead  uint32 = 4
	permWrite uint32 = 2
	permExec  uint32 = 1
)

func inGroup(cred Cred, gid uint32) bool {
	return cred.GID == gid || slices.Contains(cred.Groups, gid)
}

// permits reports whether cred has every bit of want (permRead|permWrite|permExec)
// on n under POSIX rules: the owner class, else the group class (primary or
// supplementary group), else others. Root passes everything except execute
// of a non-directory without any execute bit.
func permits(cred Cred, n *inode, want uint32) bool {
	if cred.UID == 0 {
		return want&permExec == 0 || n.typ == TypeDir || n.mode&0o111 != 0
	}
	var bits uint32
	switch {
	case cred.UID == n.uid:
		bits = n.mode >> 6
	case inGroup(cred, n.gid):
		bits = n.mode >> 3
	default:
		bits = n.mode
	}
	return bits&7&want == want
}

// mayChown reports whether cred may set the owner to uid and the group to
// gid (nil: not set) of n, under POSIX with _POSIX_CHOWN_RESTRICTED as
// Linux applies it: root may set anything; the owner may set the owner
// only to itself and the group only to the current group or one it belongs
// to (primary or supplementary); anyone else may set neither, even to the
// current values. Setting nothing needs no permission.
func mayChown(cred Cred, n *inode, uid, gid *uint32) bool {
	switch {
	case cred.UID == 0 || (uid == nil && gid == nil):
		return true
	case cred.UID != n.uid:
		return false
	case uid != nil && *uid != n.uid:
		return false
	case gid != nil && *gid != n.gid && !inGroup(cred, *gid):
		return false
	}
	return true
}

// GrantableOwner returns req without the owner and group that cred may not
// give an object it creates: root may give any; another caller only
// itself as owner and, as group, one it belongs to (primary or
// supplementary). They are dropped, not refused, as Linux's server drops
// them. Create applies it to its attributes; the NFS server to those of
// MKDIR, SYMLINK and MKNOD, which it sets with SetAttr once the object is
// made.
func GrantableOwner(cred Cred, req SetAttrRequest) SetAttrRequest {
	if cred.UID == 0 {
		return req
	}
	if req.UID != nil && *req.UID != cred.UID {
		req.UID = nil
	}
	if req.GID != nil && !inGroup(cred, *req.GID) {
		req.GID = nil
	}
	return req
}

// dropSetID returns mode without setuid, and without setgid where setgid
// means "set group id on execution" (group execute set); without group
// execute, setgid marks mandatory locking on some systems and stays.
func dropSetID(mode uint32) uint32 {
	mode &^= 0o4000
	if mode&0o010 != 0 {
		mode &^= 0o2000
	}
	return mode
}

// canModifyEntries checks that cred may add or remove entries of directory d.
func canModifyEntries(op string, cred Cred, ino uint64, d *inode) error {
	if d.typ != TypeDir {
		return errIno(op, ino, syscall.ENOTDIR)
	}
	if !permits(cred, d, permWrite|permExec) {
		return errIno(op, ino, syscall.EACCES)
	}
	return nil
}

// canSearch checks that cred may look names up in directory d.
func canSearch(op string, cred Cred, ino uint64, d *inode) error {
	if d.typ != TypeDir {
		return errIno(op, ino, syscall.ENOTDIR)
	}
	if !permits(cred, d, permExec) {
		return errIno(op, ino, syscall.EACCES)
	}
	return nil
}

// stickyDenies reports whether the sticky bit of dir d forbids cred to
// remove or rename child n: only the owner of the file or of the directory,
// or root, may.
func stickyDenies(cred Cred, d, n *inode) bool {
	return d.mode&0o1000 != 0 && cred.UID != 0 && cred.UID != d.uid && cred.UID != n.uid
}

// Access returns the subset of the requested Access* bits that cred is granted on ino.
func (fs *FS) Access(ctx context.Context, cred Cred, ino uint64, mask uint32) (uint32, error) {
	n, err := fs.getInode(ctx, ino)
	if err != nil {
		return 0, err
	}
	var granted uint32
	if mask&AccessRead != 0 && permits(cred, n, permRead) {
		granted |= AccessRead
	}
	if mask&AccessLookup != 0 && n.typ == TypeDir && permits(cred, n, permExec) {
		granted |= AccessLookup
	}
	if mask&AccessExecute != 0 && n.typ != TypeDir && permits(cred, n, permExec) {
		granted |= AccessExecute
	}
	// Writing a file needs write permission; changing a directory's
	// entries (MODIFY, EXTEND, DELETE) needs search permission too, as
	// for the operations themselves (canModifyEntries) and in Linux's nfsd.
	switch {
	case n.typ != TypeDir && permits(cred, n, permWrite):
		granted |= mask & (AccessModify | AccessExtend)
	case n.typ == TypeDir && permits(cred, n, permWrite|permExec):
		granted |= mask & (AccessModify | AccessExtend | AccessDelete)
	}
	return granted, nil
}
