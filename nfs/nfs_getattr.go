package nfs

import "github.com/zerofs-go/zerofsd/nfs/xdr"

type getattrArgs struct{ fh []byte }

func decodeGetattrArgs(d *xdr.Decoder) (getattrArgs, error) {
	a := getattrArgs{fh: getFH(d)}
	return a, garbage(d.Err())
}

// nfsGetattr is NFSPROC3_GETATTR (section 3.3.1).
//
//	args: nfs_fh3
//	res:  nfsstat3 | OK: fattr3
func (r *request) nfsGetattr() error {
	a, err := decodeGetattrArgs(r.args)
	if err != nil {
		return err
	}
	t, st := r.resolve(a.fh)
	if st != StatusOK {
		return r.fail(st)
	}
	r.status3(StatusOK)
	putFattr3(r.e, &t.attr, t.fsid)
	return nil
}
