package nfs

import (
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

type renameArgs struct{ from, to diropArgs }

func decodeRenameArgs(d *xdr.Decoder) (renameArgs, error) {
	a := renameArgs{from: getDiropArgs(d), to: getDiropArgs(d)}
	return a, garbage(d.Err())
}

// nfsRename is NFSPROC3_RENAME (section 3.3.14). Both directories must be
// in the same export (else NFS3ERR_XDEV).
//
//	args: diropargs3 from, diropargs3 to
//	res:  nfsstat3, wcc_data fromdir, wcc_data todir
func (r *request) nfsRename() error {
	a, err := decodeRenameArgs(r.args)
	if err != nil {
		return err
	}
	from, st := r.resolve(a.from.dir)
	var to target
	if st == StatusOK || st == StatusROFS {
		var st2 Status
		to, st2 = r.resolveSecond(from, a.to.dir)
		if st == StatusOK {
			st = st2
		}
	}
	if st == StatusOK {
		switch {
		case from.attr.Type != kvfs.TypeDir || to.attr.Type != kvfs.TypeDir:
			st = StatusNotDir
		case checkOldName(a.from.name) != StatusOK:
			st = checkOldName(a.from.name)
		case checkOldName(a.to.name) != StatusOK:
			st = checkOldName(a.to.name)
		}
	}
	var res kvfs.Renamed
	if st == StatusOK {
		if res, err = from.fs.Rename(r.ctx, from.cred, from.ino, a.from.name, to.ino, a.to.name); err != nil {
			st = r.status(err)
		} else {
			st = r.strictSync(from)
		}
	}
	r.e.Truncate(r.resultStart)
	r.status3(st)
	if st == StatusOK {
		putChange(r.e, &res.From, from.fsid)
		putChange(r.e, &res.To, to.fsid)
		return nil
	}
	r.postOnlyWcc(from)
	r.postOnlyWcc(to)
	return nil
}
