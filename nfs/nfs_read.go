package nfs

import (
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

type readArgs struct {
	fh     []byte
	offset uint64
	count  uint32
}

func decodeReadArgs(d *xdr.Decoder) (readArgs, error) {
	a := readArgs{fh: getFH(d), offset: d.Uint64(), count: d.Uint32()}
	return a, garbage(d.Err())
}

// nfsRead is NFSPROC3_READ (section 3.3.6). The data is read straight into
// the reply buffer; counts above rtmax are cut to rtmax.
//
//	args: nfs_fh3, offset3, count3
//	res:  nfsstat3 | OK: post_op_attr, count3, bool eof, opaque data<>
//	                 | fail: post_op_attr
//
// readSlack is the least a READ reserves for its data when its count is
// larger: a file may have grown since its attributes were read.
const readSlack = 64 << 10

func (r *request) nfsRead() error {
	a, err := decodeReadArgs(r.args)
	if err != nil {
		return err
	}
	t, st := r.resolve(a.fh)
	if st != StatusOK {
		return r.fail(st)
	}
	switch t.attr.Type {
	case kvfs.TypeRegular:
	case kvfs.TypeDir:
		return r.failAttr(t, StatusIsDir)
	default:
		return r.failAttr(t, StatusInval)
	}
	// Reserve no more than the file holds past the offset (as of the
	// attributes just read, and at least readSlack, in case it grew since):
	// a large count on a small file must not hold a megabyte per call.
	count := int(min(a.count, maxIOSize))
	if left := t.attr.Size - min(a.offset, t.attr.Size); left < uint64(count) {
		count = int(max(left, min(uint64(count), readSlack)))
	}

	r.status3(StatusOK)
	attrOff := r.e.Len()
	r.e.Reserve(postOpAttrSize)
	countOff := r.e.Len()
	r.e.Uint32(0) // count
	r.e.Bool(false)
	r.e.Uint32(0) // data length
	dataOff := r.e.Len()
	buf := r.e.Reserve(count)
	n, eof, err := t.fs.Read(r.ctx, t.cred, t.ino, a.offset, buf)
	if err != nil {
		return r.failAttr(t, r.status(err))
	}
	n = max(0, min(n, count))
	r.e.Truncate(dataOff)
	r.e.Reserve(n) // keeps the bytes read, zeroes the padding
	r.e.PutUint32At(countOff, uint32(n))
	if eof {
		r.e.PutUint32At(countOff+4, 1)
	}
	r.e.PutUint32At(countOff+8, uint32(n))

	post := t.getAttr(r.ctx, t.ino)
	if post == nil {
		post = &t.attr
	}
	attrs := xdr.Encoder{Buf: r.e.Buf[attrOff:attrOff]}
	putPostOpAttr(&attrs, post, t.fsid) // exactly postOpAttrSize bytes, in place
	return nil
}
