package nfs

import (
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

type accessArgs struct {
	fh   []byte
	mask uint32
}

func decodeAccessArgs(d *xdr.Decoder) (accessArgs, error) {
	a := accessArgs{fh: getFH(d), mask: d.Uint32()}
	return a, garbage(d.Err())
}

// nfsAccess is NFSPROC3_ACCESS (section 3.3.4). On a read-only export,
// MODIFY, EXTEND and DELETE are never granted.
//
//	args: nfs_fh3, uint32 access
//	res:  nfsstat3 | OK: post_op_attr, uint32 access | fail: post_op_attr
func (r *request) nfsAccess() error {
	a, err := decodeAccessArgs(r.args)
	if err != nil {
		return err
	}
	t, st := r.resolve(a.fh)
	if st != StatusOK {
		return r.fail(st)
	}
	mask := a.mask & (kvfs.AccessRead | kvfs.AccessLookup | kvfs.AccessModify | kvfs.AccessExtend | kvfs.AccessDelete | kvfs.AccessExecute)
	granted, err := t.fs.Access(r.ctx, t.cred, t.ino, mask)
	if err != nil {
		return r.failAttr(t, r.status(err))
	}
	if t.exp.ReadOnly {
		granted &^= kvfs.AccessModify | kvfs.AccessExtend | kvfs.AccessDelete
	}
	r.status3(StatusOK)
	putPostOpAttr(r.e, &t.attr, t.fsid)
	r.e.Uint32(granted & mask)
	return nil
}
