package nfs

import "github.com/zerofs-go/zerofsd/nfs/xdr"

type commitArgs struct {
	fh     []byte
	offset uint64
	count  uint32
}

func decodeCommitArgs(d *xdr.Decoder) (commitArgs, error) {
	a := commitArgs{fh: getFH(d), offset: d.Uint64(), count: d.Uint32()}
	return a, garbage(d.Err())
}

// nfsCommit is NFSPROC3_COMMIT (section 3.3.21): it returns only after the
// export's filesystem has made everything durable (the range is ignored:
// Flush covers all of it), with the export's write verifier.
//
//	args: nfs_fh3, offset3, count3
//	res:  nfsstat3 | OK: wcc_data, writeverf3 | fail: wcc_data
func (r *request) nfsCommit() error {
	a, err := decodeCommitArgs(r.args)
	if err != nil {
		return err
	}
	t, st := r.resolve(a.fh)
	if st != StatusOK {
		return r.failWcc(t, st)
	}
	if err := t.fs.Flush(r.ctx); err != nil {
		return r.failWcc(t, r.status(err))
	}
	r.status3(StatusOK)
	r.postOnlyWcc(t)
	verf := r.s.WriteVerifier(t.exp)
	r.e.FixedOpaque(verf[:])
	return nil
}
