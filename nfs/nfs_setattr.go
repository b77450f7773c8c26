package nfs

import (
	"time"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

type setattrArgs struct {
	fh    []byte
	attrs kvfs.SetAttrRequest
	guard *time.Time
}

func decodeSetattrArgs(d *xdr.Decoder) (setattrArgs, error) {
	a := setattrArgs{fh: getFH(d), attrs: getSattr3(d)}
	if d.Bool() {
		t := getTime(d)
		a.guard = &t
	}
	return a, garbage(d.Err())
}

// nfsSetattr is NFSPROC3_SETATTR (section 3.3.2), with the ctime guard.
//
//	args: nfs_fh3, sattr3, sattrguard3 (bool, nfstime3)
//	res:  nfsstat3, wcc_data
func (r *request) nfsSetattr() error {
	a, err := decodeSetattrArgs(r.args)
	if err != nil {
		return err
	}
	t, st := r.resolve(a.fh)
	if st != StatusOK {
		return r.failWcc(t, st)
	}
	a.attrs.GuardCtime = a.guard
	ch, err := t.fs.SetAttr(r.ctx, t.cred, t.ino, a.attrs)
	if err != nil {
		return r.failWcc(t, r.status(err))
	}
	if st := r.strictSync(t); st != StatusOK {
		return r.failWcc(t, st)
	}
	r.status3(StatusOK)
	putChange(r.e, &ch, t.fsid)
	return nil
}
