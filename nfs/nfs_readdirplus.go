package nfs

import (
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

func decodeReaddirplusArgs(d *xdr.Decoder) (readdirArgs, error) {
	a := readdirArgs{dir: getFH(d), cookie: d.Uint64(), verf: d.FixedOpaque(8), dircount: d.Uint32(), count: d.Uint32()}
	return a, garbage(d.Err())
}

// nfsReaddirplus is NFSPROC3_READDIRPLUS (section 3.3.17). The reply
// stays within maxcount bytes, and the entries' fileid, name and cookie
// within dircount bytes. An entry the filesystem gives no attributes (the
// caller may not search the directory) goes without attributes or handle.
//
//	args: nfs_fh3 dir, cookie3, cookieverf3, count3 dircount, count3 maxcount
//	res:  nfsstat3 | OK: post_op_attr, cookieverf3, entryplus3 list, bool eof
//	                 | fail: post_op_attr
//	entryplus3 = { fileid3, filename3, cookie3, post_op_attr, post_op_fh3 }
func (r *request) nfsReaddirplus() error {
	a, err := decodeReaddirplusArgs(r.args)
	if err != nil {
		return err
	}
	t, st := r.resolve(a.dir)
	if st != StatusOK {
		return r.fail(st)
	}
	if t.attr.Type != kvfs.TypeDir {
		return r.failAttr(t, StatusNotDir)
	}
	r.status3(StatusOK)
	putPostOpAttr(r.e, &t.attr, t.fsid)
	r.e.Uint64(0) // cookie verifier
	used := 4 + postOpAttrSize + 8 + 4 + 4
	limit := int(min(a.count, maxIOSize))
	dirUsed, dirLimit := 0, int(a.dircount)
	if dirLimit == 0 {
		dirLimit = limit
	}
	n := 0
	const fhSize = 4 + 4 + HandleSize + 3 // post_op_fh3 with a padded handle
	eof, st := r.listDir(t, a.cookie, true, readdirBatch(a.count, 24+postOpAttrSize+fhSize), func(it dirItem) bool {
		dirSize := 8 + xdr.OpaqueSize(len(it.name)) + 8
		size := 4 + dirSize + 4 + 4
		if it.attr != nil {
			size += fattr3Size + 4 + HandleSize + 3
		}
		if used+size > limit || (n > 0 && dirUsed+dirSize > dirLimit) {
			return false
		}
		used += size
		dirUsed += dirSize
		n++
		r.e.Bool(true)
		r.e.Uint64(it.ino)
		r.e.String(it.name)
		r.e.Uint64(it.cookie)
		putPostOpAttr(r.e, it.attr, t.fsid)
		putPostOpFH(r.e, it.attr, t.fsid)
		return true
	})
	if st != StatusOK {
		return r.failAttr(t, st)
	}
	if n == 0 && !eof {
		return r.failAttr(t, StatusTooSmall)
	}
	r.e.Bool(false)
	r.e.Bool(eof)
	return nil
}
