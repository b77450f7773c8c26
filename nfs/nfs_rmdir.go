package nfs

import "github.com/zerofs-go/zerofsd/kvfs"

// nfsRmdir is NFSPROC3_RMDIR (section 3.3.13).
//
//	args: diropargs3
//	res:  nfsstat3, wcc_data dir
func (r *request) nfsRmdir() error {
	return r.removeEntry(func(t target, name string) (kvfs.Change, error) {
		return t.fs.Rmdir(r.ctx, t.cred, t.ino, name)
	})
}
