package nfs

import (
	"github.com/zerofs-go/zerofsd/kvfs"
)

// failWcc answers a failure whose result is wcc_data of t (SETATTR, WRITE,
// CREATE, MKDIR, SYMLINK, MKNOD, REMOVE, RMDIR, COMMIT). Without a resolved
// target it answers empty attributes.
func (r *request) failWcc(t target, st Status) error {
	if t.fs == nil {
		return r.fail(st)
	}
	r.e.Truncate(r.resultStart)
	r.status3(st)
	r.postOnlyWcc(t)
	return nil
}

// postOnlyWcc appends wcc_data of t with the current attributes after and
// none before: only attributes read under the lock of a change may be sent
// as pre-operation attributes, and a failed or non-changing procedure has
// none (attributes read earlier could hide another client's change in
// between).
func (r *request) postOnlyWcc(t target) {
	if t.fs == nil {
		putWcc(r.e, nil, nil, 0)
		return
	}
	putWcc(r.e, nil, t.getAttr(r.ctx, t.ino), t.fsid)
}

// failAttr answers a failure whose result is the post_op_attr of t.
func (r *request) failAttr(t target, st Status) error {
	if t.fs == nil {
		return r.fail(st)
	}
	r.e.Truncate(r.resultStart)
	r.status3(st)
	putPostOpAttr(r.e, t.getAttr(r.ctx, t.ino), t.fsid)
	return nil
}

// createdResult answers a successful CREATE, MKDIR, SYMLINK or MKNOD in
// directory t: the new object's handle and attributes, and the
// directory's wcc_data.
func (r *request) createdResult(t target, res kvfs.NewEntry) error {
	if st := r.strictSync(t); st != StatusOK {
		return r.failWcc(t, st)
	}
	r.status3(StatusOK)
	putPostOpFH(r.e, &res.Attr, t.fsid)
	putPostOpAttr(r.e, &res.Attr, t.fsid)
	putChange(r.e, &res.Dir, t.fsid)
	return nil
}

// applyOwnerAndTimes applies what MKDIR, SYMLINK and MKNOD's sattr3 asks
// beyond the mode (owner, times) to a new inode, and returns the status to
// answer. An owner or group the caller may not give is dropped
// (kvfs.GrantableOwner, as CREATE does); any other failure, a storage one
// included, is the procedure's answer, though the object exists (as with
// Linux's server): NFS3_OK would tell the client its attributes were set.
func (r *request) applyOwnerAndTimes(t target, obj *kvfs.Attr, sa kvfs.SetAttrRequest) Status {
	sa = kvfs.GrantableOwner(t.cred, sa)
	sa.Mode = nil
	sa.Size = nil
	if sa.UID == nil && sa.GID == nil && sa.Atime == kvfs.TimeDontChange && sa.Mtime == kvfs.TimeDontChange {
		return StatusOK
	}
	ch, err := t.fs.SetAttr(r.ctx, t.cred, obj.Ino, sa)
	if err != nil {
		return r.status(err)
	}
	*obj = ch.After
	return StatusOK
}

// modeOr returns *m, or def when the client set no mode.
func modeOr(m *uint32, def uint32) uint32 {
	if m == nil {
		return def
	}
	return *m & 0o7777
}
