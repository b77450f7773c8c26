package nfs

import (
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

type mknodArgs struct {
	where        diropArgs
	ftype        uint32
	attrs        kvfs.SetAttrRequest
	major, minor uint32
}

func decodeMknodArgs(d *xdr.Decoder) (mknodArgs, error) {
	a := mknodArgs{where: getDiropArgs(d), ftype: d.Uint32()}
	switch a.ftype {
	case nf3Chr, nf3Blk:
		a.attrs = getSattr3(d)
		a.major, a.minor = d.Uint32(), d.Uint32()
	case nf3Sock, nf3Fifo:
		a.attrs = getSattr3(d)
	}
	return a, garbage(d.Err())
}

// nfsMknod is NFSPROC3_MKNOD (section 3.3.11): character and block
// devices, sockets and FIFOs; other types are NFS3ERR_BADTYPE.
//
//	args: diropargs3, mknoddata3 (ftype3; devicedata3 | sattr3 | void)
//	res:  nfsstat3 | OK: post_op_fh3, post_op_attr, wcc_data dir | fail: wcc_data dir
func (r *request) nfsMknod() error {
	a, err := decodeMknodArgs(r.args)
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
	var typ kvfs.FileType
	switch a.ftype {
	case nf3Chr:
		typ = kvfs.TypeChar
	case nf3Blk:
		typ = kvfs.TypeBlock
	case nf3Sock:
		typ = kvfs.TypeSocket
	case nf3Fifo:
		typ = kvfs.TypeFIFO
	default:
		return r.failWcc(t, StatusBadType)
	}
	if st := checkNewName(a.where.name); st != StatusOK {
		return r.failWcc(t, st)
	}
	res, err := t.fs.Mknod(r.ctx, t.cred, t.ino, a.where.name, typ, modeOr(a.attrs.Mode, 0o644), a.major, a.minor)
	if err != nil {
		return r.failWcc(t, r.status(err))
	}
	if st := r.applyOwnerAndTimes(t, &res.Attr, a.attrs); st != StatusOK {
		return r.failWcc(t, st)
	}
	return r.createdResult(t, res)
}
