package nfs

import (
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

func decodeFsinfoArgs(d *xdr.Decoder) (getattrArgs, error) {
	a := getattrArgs{fh: getFH(d)}
	return a, garbage(d.Err())
}

// nfsFsinfo is NFSPROC3_FSINFO (section 3.3.19): 1 MiB reads and writes,
// 1 ns timestamps, hard links and symlinks.
//
//	args: nfs_fh3 fsroot
//	res:  nfsstat3 | OK: post_op_attr, rtmax, rtpref, rtmult, wtmax, wtpref,
//	                     wtmult, dtpref, size3 maxfilesize, nfstime3
//	                     time_delta, uint32 properties
//	                 | fail: post_op_attr
func (r *request) nfsFsinfo() error {
	a, err := decodeFsinfoArgs(r.args)
	if err != nil {
		return err
	}
	t, st := r.resolve(a.fh)
	if st != StatusOK {
		return r.fail(st)
	}
	r.status3(StatusOK)
	putPostOpAttr(r.e, &t.attr, t.fsid)
	r.e.Uint32(maxIOSize) // rtmax
	r.e.Uint32(maxIOSize) // rtpref
	r.e.Uint32(4096)      // rtmult
	r.e.Uint32(maxIOSize) // wtmax
	r.e.Uint32(maxIOSize) // wtpref
	r.e.Uint32(4096)      // wtmult
	r.e.Uint32(dirPref)   // dtpref
	// maxfilesize: a client refuses larger writes itself, before caching them.
	r.e.Uint64(kvfs.MaxFileSize)
	r.e.Uint32(0) // time_delta: 1 ns
	r.e.Uint32(1)
	r.e.Uint32(fsfLink | fsfSymlink | fsfHomogeneous | fsfCanSetTime)
	return nil
}
