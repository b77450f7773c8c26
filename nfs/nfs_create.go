package nfs

import (
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

type createArgs struct {
	where diropArgs
	req   kvfs.CreateRequest
}

func decodeCreateArgs(d *xdr.Decoder) (createArgs, error) {
	a := createArgs{where: getDiropArgs(d)}
	switch mode := d.Uint32(); mode {
	case createUnchecked, createGuarded:
		a.req.Mode = kvfs.CreateUnchecked
		if mode == createGuarded {
			a.req.Mode = kvfs.CreateGuarded
		}
		a.req.Attrs = getSattr3(d)
	case createExclusive:
		a.req.Mode = kvfs.CreateExclusive
		copy(a.req.Verifier[:], d.FixedOpaque(8))
	default:
		d.Fail(xdr.ErrBadValue)
	}
	return a, garbage(d.Err())
}

// nfsCreate is NFSPROC3_CREATE (section 3.3.8): UNCHECKED, GUARDED, or
// EXCLUSIVE with the client's verifier (the filesystem makes a retried
// exclusive create with the same verifier succeed). A new file gets the
// mode, owner, size and times of the attributes, mode 0 if they set none.
//
//	args: diropargs3, createhow3 (mode; sattr3 or createverf3)
//	res:  nfsstat3 | OK: post_op_fh3, post_op_attr, wcc_data dir | fail: wcc_data dir
func (r *request) nfsCreate() error {
	a, err := decodeCreateArgs(r.args)
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
	// A new file gets the mode of the attributes, or mode 0 when they set
	// none (as with Linux's server; an EXCLUSIVE create carries none).
	var mode uint32
	if a.req.Attrs.Mode != nil {
		mode = *a.req.Attrs.Mode & 0o7777
	}
	a.req.Attrs.Mode = &mode
	res, err := t.fs.Create(r.ctx, t.cred, t.ino, a.where.name, a.req)
	if err != nil {
		return r.failWcc(t, r.status(err))
	}
	return r.createdResult(t, res)
}
