package nfs

import (
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

type readdirArgs struct {
	dir      []byte
	cookie   uint64
	verf     []byte
	dircount uint32 // READDIRPLUS only
	count    uint32 // count (READDIR) or maxcount (READDIRPLUS)
}

func decodeReaddirArgs(d *xdr.Decoder) (readdirArgs, error) {
	a := readdirArgs{dir: getFH(d), cookie: d.Uint64(), verf: d.FixedOpaque(8), count: d.Uint32()}
	return a, garbage(d.Err())
}

// Wire cookies 1 and 2 stand for "." and ".."; a filesystem cookie c is
// sent as c+cookieShift (see the package comment).
const (
	cookieDot    = 1
	cookieDotDot = 2
	cookieShift  = 2
)

// dirItem is one entry of a listing, "." and ".." included.
type dirItem struct {
	name   string
	ino    uint64
	cookie uint64 // wire cookie
	attr   *kvfs.Attr
}

// listDir calls emit for each entry of directory t after the wire cookie,
// until emit returns false or the directory ends. It returns whether the
// listing reached the end. batch is the number of entries asked of the
// filesystem at a time.
func (r *request) listDir(t target, cookie uint64, withAttr bool, batch int, emit func(dirItem) bool) (eof bool, st Status) {
	if cookie < cookieDot {
		if !emit(dirItem{name: ".", ino: t.ino, cookie: cookieDot, attr: &t.attr}) {
			return false, StatusOK
		}
	}
	if cookie < cookieDotDot {
		parent, err := t.fs.Parent(r.ctx, t.ino)
		if err != nil {
			return false, r.status(err)
		}
		var pattr *kvfs.Attr
		if withAttr {
			pattr = t.getAttr(r.ctx, parent)
		}
		if !emit(dirItem{name: "..", ino: parent, cookie: cookieDotDot, attr: pattr}) {
			return false, StatusOK
		}
	}
	var fsCookie uint64
	if cookie > cookieShift {
		fsCookie = cookie - cookieShift
	}
	for {
		ents, eof, err := t.fs.ReadDir(r.ctx, t.cred, t.ino, fsCookie, batch, withAttr)
		if err != nil {
			return false, r.status(err)
		}
		for _, e := range ents {
			if !emit(dirItem{name: e.Name, ino: e.Ino, cookie: e.Cookie + cookieShift, attr: e.Attr}) {
				return false, StatusOK
			}
		}
		if eof || len(ents) == 0 {
			return true, StatusOK
		}
		fsCookie = ents[len(ents)-1].Cookie
	}
}

// readdirBatch picks how many entries to ask the filesystem for, for a
// reply of count bytes with entries of at least minEntry bytes.
func readdirBatch(count uint32, minEntry int) int {
	return max(16, min(1024, int(count)/minEntry))
}

// nfsReaddir is NFSPROC3_READDIR (section 3.3.16).
//
//	args: nfs_fh3 dir, cookie3, cookieverf3, count3
//	res:  nfsstat3 | OK: post_op_attr, cookieverf3, entry3 list, bool eof
//	                 | fail: post_op_attr
//	entry3 = { fileid3, filename3, cookie3 } linked by "value follows" bools
func (r *request) nfsReaddir() error {
	a, err := decodeReaddirArgs(r.args)
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
	// Bytes used: what is encoded so far plus the list end and eof.
	used := 4 + postOpAttrSize + 8 + 4 + 4
	limit := int(min(a.count, maxIOSize))
	n := 0
	eof, st := r.listDir(t, a.cookie, false, readdirBatch(a.count, 24), func(it dirItem) bool {
		size := 4 + 8 + xdr.OpaqueSize(len(it.name)) + 8
		if used+size > limit {
			return false
		}
		used += size
		n++
		r.e.Bool(true)
		r.e.Uint64(it.ino)
		r.e.String(it.name)
		r.e.Uint64(it.cookie)
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
