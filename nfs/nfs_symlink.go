package nfs

import (
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

type symlinkArgs struct {
	where  diropArgs
	attrs  kvfs.SetAttrRequest
	target string
}

func decodeSymlinkArgs(d *xdr.Decoder) (symlinkArgs, error) {
	a := symlinkArgs{where: getDiropArgs(d), attrs: getSattr3(d), target: d.String(maxPathWire)}
	return a, garbage(d.Err())
}

// nfsSymlink is NFSPROC3_SYMLINK (section 3.3.10).
//
//	args: diropargs3, symlinkdata3 (sattr3, nfspath3)
//	res:  nfsstat3 | OK: post_op_fh3, post_op_attr, wcc_data dir | fail: wcc_data dir
func (r *request) nfsSymlink() error {
	a, err := decodeSymlinkArgs(r.args)
	if err != nil {
		return err
	}
	t, st := r.resolve(a.where.dir)
	if st != StatusOK {
		return r.failWcc(t, st)
	}
	if t.attr.Type != kvfs.TypeDir {
		return r.failWcc(t, StatusNotDir)
	}
	if st := checkNewName(a.where.name); st != StatusOK {
		return r.failWcc(t, st)
	}
	if err := kvfs.CheckSymlinkTarget(a.target); err != nil {
		st, _ := statusOf(err)
		return r.failWcc(t, st)
	}
	res, err := t.fs.Symlink(r.ctx, t.cred, t.ino, a.where.name, a.target, modeOr(a.attrs.Mode, 0o777))
	if err != nil {
		return r.failWcc(t, r.status(err))
	}
	if st := r.applyOwnerAndTimes(t, &res.Attr, a.attrs); st != StatusOK {
		return r.failWcc(t, st)
	}
	return r.createdResult(t, res)
}
