package nfs

import (
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

func decodePathconfArgs(d *xdr.Decoder) (getattrArgs, error) {
	a := getattrArgs{fh: getFH(d)}
	return a, garbage(d.Err())
}

// nfsPathconf is NFSPROC3_PATHCONF (section 3.3.20).
//
//	args: nfs_fh3
//	res:  nfsstat3 | OK: post_op_attr, linkmax, name_max, bool no_trunc,
//	                     chown_restricted, case_insensitive, case_preserving
//	                 | fail: post_op_attr
func (r *request) nfsPathconf() error {
	a, err := decodePathconfArgs(r.args)
	if err != nil {
		return err
	}
	t, st := r.resolve(a.fh)
	if st != StatusOK {
		return r.fail(st)
	}
	r.status3(StatusOK)
	putPostOpAttr(r.e, &t.attr, t.fsid)
	r.e.Uint32(kvfs.MaxLinks)
	r.e.Uint32(kvfs.MaxNameLen)
	r.e.Bool(true)  // no_trunc: long names are refused, not cut
	r.e.Bool(true)  // chown_restricted
	r.e.Bool(false) // case_insensitive
	r.e.Bool(true)  // case_preserving
	return nil
}
