package nfs

import (
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

func decodeRemoveArgs(d *xdr.Decoder) (diropArgs, error) {
	a := getDiropArgs(d)
	return a, garbage(d.Err())
}

// nfsRemove is NFSPROC3_REMOVE (section 3.3.12).
//
//	args: diropargs3
//	res:  nfsstat3, wcc_data dir
func (r *request) nfsRemove() error {
	return r.removeEntry(func(t target, name string) (kvfs.Change, error) {
		return t.fs.Unlink(r.ctx, t.cred, t.ino, name)
	})
}

// removeEntry is REMOVE and RMDIR.
func (r *request) removeEntry(remove func(t target, name string) (kvfs.Change, error)) error {
	a, err := decodeRemoveArgs(r.args)
	if err != nil {
		return err
	}
	t, st := r.resolve(a.dir)
	if st != StatusOK {
		return r.failWcc(t, st)
	}
	if t.attr.Type != kvfs.TypeDir {
		return r.failWcc(t, StatusNotDir)
	}
	if st := checkOldName(a.name); st != StatusOK {
		return r.failWcc(t, st)
	}
	ch, err := remove(t, a.name)
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
