package nfs

import (
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

type linkArgs struct {
	file []byte
	link diropArgs
}

func decodeLinkArgs(d *xdr.Decoder) (linkArgs, error) {
	a := linkArgs{file: getFH(d), link: getDiropArgs(d)}
	return a, garbage(d.Err())
}

// nfsLink is NFSPROC3_LINK (section 3.3.15): a hard link in the same export.
//
//	args: nfs_fh3 file, diropargs3 link
//	res:  nfsstat3, post_op_attr file, wcc_data linkdir
func (r *request) nfsLink() error {
	a, err := decodeLinkArgs(r.args)
	if err != nil {
		return err
	}
	file, st := r.resolve(a.file)
	var dir target
	if st == StatusOK || st == StatusROFS {
		var st2 Status
		dir, st2 = r.resolveSecond(file, a.link.dir)
		if st == StatusOK {
			st = st2
		}
	}
	var res *kvfs.NewEntry
	if st == StatusOK {
		switch {
		case dir.attr.Type != kvfs.TypeDir:
			st = StatusNotDir
		case file.attr.Type == kvfs.TypeDir:
			st = StatusIsDir
		default:
			st = checkNewName(a.link.name)
		}
	}
	if st == StatusOK {
		linked, err := file.fs.Link(r.ctx, file.cred, file.ino, dir.ino, a.link.name)
		if err != nil {
			st = r.status(err)
		} else {
			res = &linked
			st = r.strictSync(file)
		}
	}
	r.e.Truncate(r.resultStart)
	r.status3(st)
	if st == StatusOK {
		putPostOpAttr(r.e, &res.Attr, file.fsid)
		putChange(r.e, &res.Dir, dir.fsid)
		return nil
	}
	var obj *kvfs.Attr
	if file.fs != nil {
		obj = file.getAttr(r.ctx, file.ino)
	}
	putPostOpAttr(r.e, obj, file.fsid)
	r.postOnlyWcc(dir)
	return nil
}
