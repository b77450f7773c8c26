package nfs

import "github.com/zerofs-go/zerofsd/nfs/xdr"

func decodeFsstatArgs(d *xdr.Decoder) (getattrArgs, error) {
	a := getattrArgs{fh: getFH(d)}
	return a, garbage(d.Err())
}

// nfsFsstat is NFSPROC3_FSSTAT (section 3.3.18).
//
//	args: nfs_fh3 fsroot
//	res:  nfsstat3 | OK: post_op_attr, tbytes, fbytes, abytes, tfiles,
//	                     ffiles, afiles (size3), uint32 invarsec
//	                 | fail: post_op_attr
func (r *request) nfsFsstat() error {
	a, err := decodeFsstatArgs(r.args)
	if err != nil {
		return err
	}
	t, st := r.resolve(a.fh)
	if st != StatusOK {
		return r.fail(st)
	}
	s, err := t.fs.StatFS(r.ctx)
	if err != nil {
		return r.failAttr(t, r.status(err))
	}
	r.status3(StatusOK)
	putPostOpAttr(r.e, &t.attr, t.fsid)
	r.e.Uint64(s.TotalBytes)
	r.e.Uint64(s.FreeBytes)
	r.e.Uint64(s.AvailBytes)
	r.e.Uint64(s.TotalInodes)
	r.e.Uint64(s.FreeInodes)
	r.e.Uint64(s.AvailInodes)
	r.e.Uint32(0) // invarsec: the numbers change at any time
	return nil
}
