package nfs

import (
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

func decodeReadlinkArgs(d *xdr.Decoder) (getattrArgs, error) {
	a := getattrArgs{fh: getFH(d)}
	return a, garbage(d.Err())
}

// nfsReadlink is NFSPROC3_READLINK (section 3.3.5).
//
//	args: nfs_fh3
//	res:  nfsstat3 | OK: post_op_attr, nfspath3 | fail: post_op_attr
func (r *request) nfsReadlink() error {
	a, err := decodeReadlinkArgs(r.args)
	if err != nil {
		return err
	}
	t, st := r.resolve(a.fh)
	if st != StatusOK {
		return r.fail(st)
	}
	if t.attr.Type != kvfs.TypeSymlink {
		return r.failAttr(t, StatusInval)
	}
	target, err := t.fs.Readlink(r.ctx, t.ino)
	if err != nil {
		return r.failAttr(t, r.status(err))
	}
	r.status3(StatusOK)
	putPostOpAttr(r.e, &t.attr, t.fsid)
	r.e.String(target)
	return nil
}
