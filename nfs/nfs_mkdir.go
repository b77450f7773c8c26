package nfs

import (
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

type mkdirArgs struct {
	where diropArgs
	attrs kvfs.SetAttrRequest
}

func decodeMkdirArgs(d *xdr.Decoder) (mkdirArgs, error) {
	a := mkdirArgs{where: getDiropArgs(d), attrs: getSattr3(d)}
	return a, garbage(d.Err())
}

// nfsMkdir is NFSPROC3_MKDIR (section 3.3.9).
//
//	args: diropargs3, sattr3
//	res:  nfsstat3 | OK: post_op_fh3, post_op_attr, wcc_data dir | fail: wcc_data dir
func (r *request) nfsMkdir() error {
	a, err := decodeMkdirArgs(r.args)
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
	res, err := t.fs.Mkdir(r.ctx, t.cred, t.ino, a.where.name, modeOr(a.attrs.Mode, 0o755))
	if err != nil {
		return r.failWcc(t, r.status(err))
	}
	if st := r.applyOwnerAndTimes(t, &res.Attr, a.attrs); st != StatusOK {
		return r.failWcc(t, st)
	}
	return r.createdResult(t, res)
}
