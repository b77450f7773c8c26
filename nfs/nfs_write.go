package nfs

import (
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

type writeArgs struct {
	fh     []byte
	offset uint64
	count  uint32
	stable uint32
	data   []byte
}

func decodeWriteArgs(d *xdr.Decoder) (writeArgs, error) {
	a := writeArgs{fh: getFH(d), offset: d.Uint64(), count: d.Uint32(), stable: d.Uint32()}
	if a.stable > stableFileSync {
		d.Fail(xdr.ErrBadValue)
	}
	a.data = d.Opaque(maxIOSize)
	if int(a.count) != len(a.data) {
		d.Fail(xdr.ErrBadValue) // count and data disagree: Linux's server refuses the call too
	}
	return a, garbage(d.Err())
}

// nfsWrite is NFSPROC3_WRITE (section 3.3.7). UNSTABLE writes are applied
// and answered UNSTABLE; DATA_SYNC and FILE_SYNC writes are flushed first
// and answered FILE_SYNC. Every answer carries the export's write verifier
// (Server.WriteVerifier). A count other than the length of the data is
// GARBAGE_ARGS.
//
//	args: nfs_fh3, offset3, count3, stable_how, opaque data<>
//	res:  nfsstat3 | OK: wcc_data, count3, stable_how committed, writeverf3
//	                 | fail: wcc_data
func (r *request) nfsWrite() error {
	a, err := decodeWriteArgs(r.args)
	if err != nil {
		return err
	}
	t, st := r.resolve(a.fh)
	if st != StatusOK {
		return r.failWcc(t, st)
	}
	switch t.attr.Type {
	case kvfs.TypeRegular:
	case kvfs.TypeDir:
		return r.failWcc(t, StatusIsDir)
	default:
		return r.failWcc(t, StatusInval)
	}
	ch, err := t.fs.Write(r.ctx, t.cred, t.ino, a.offset, a.data)
	if err != nil {
		return r.failWcc(t, r.status(err))
	}
	committed := uint32(stableUnstable)
	if a.stable != stableUnstable {
		if err := t.fs.Flush(r.ctx); err != nil {
			return r.failWcc(t, r.status(err))
		}
		committed = stableFileSync
	}
	r.status3(StatusOK)
	putChange(r.e, &ch, t.fsid)
	r.e.Uint32(a.count)
	r.e.Uint32(committed)
	verf := r.s.WriteVerifier(t.exp)
	r.e.FixedOpaque(verf[:])
	return nil
}
