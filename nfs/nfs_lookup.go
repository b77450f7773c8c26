package nfs

import (
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

func decodeLookupArgs(d *xdr.Decoder) (diropArgs, error) {
	a := getDiropArgs(d)
	return a, garbage(d.Err())
}

// nfsLookup is NFSPROC3_LOOKUP (section 3.3.3).
//
//	args: diropargs3 (dir nfs_fh3, filename3)
//	res:  nfsstat3 | OK: nfs_fh3, post_op_attr obj, post_op_attr dir
//	                 | fail: post_op_attr dir
func (r *request) nfsLookup() error {
	a, err := decodeLookupArgs(r.args)
	if err != nil {
		return err
	}
	t, st := r.resolve(a.dir)
	if st != StatusOK {
		return r.fail(st)
	}
	if t.attr.Type != kvfs.TypeDir {
		return r.failAttr(t, StatusNotDir)
	}
	var obj kvfs.Attr
	switch a.name {
	case ".", "..":
		granted, err := t.fs.Access(r.ctx, t.cred, t.ino, kvfs.AccessLookup)
		if err != nil {
			return r.failAttr(t, r.status(err))
		}
		if granted&kvfs.AccessLookup == 0 {
			return r.failAttr(t, StatusAcces)
		}
		obj = t.attr
		if a.name == ".." {
			if obj, err = t.fs.Lookup(r.ctx, t.cred, t.ino, ".."); err != nil {
				return r.failAttr(t, r.status(err))
			}
		}
	default:
		if st := checkName(a.name); st != StatusOK {
			return r.failAttr(t, st)
		}
		obj, err = t.fs.Lookup(r.ctx, t.cred, t.ino, a.name)
		if err != nil {
			return r.failAttr(t, r.status(err))
		}
	}
	r.status3(StatusOK)
	putFH(r.e, &obj, t.fsid)
	putPostOpAttr(r.e, &obj, t.fsid)
	putPostOpAttr(r.e, &t.attr, t.fsid)
	return nil
}
