package nfs

import (
	"log/slog"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// decodeMountPath reads a dirpath (MNT, UMNT).
func decodeMountPath(d *xdr.Decoder) (string, error) {
	p := d.String(mountPathMax)
	return p, garbage(d.Err())
}

// mountMnt is MOUNTPROC3_MNT: the root handle of the export at a path.
//
//	args: dirpath<1024>
//	res:  mountstat3 | OK: fhandle3<64>, auth_flavors<int>
func (r *request) mountMnt() error {
	path, err := decodeMountPath(r.args)
	if err != nil {
		return err
	}
	path = cleanMountPath(path)
	exp, ok := r.s.opts.Exports.ByPath(path)
	if !ok || exp.FS == nil {
		r.e.Uint32(uint32(MountNoEnt))
		r.s.logClient(r.ctx, r.s.log, slog.LevelInfo, r.conn.remote, "nfs: mount of unknown path", "path", path, "remote", r.conn.remote)
		return nil
	}
	r.exp = exp
	if !r.clientAllowed(exp) {
		r.e.Uint32(uint32(MountAcces))
		r.s.logClient(r.ctx, r.logger(), slog.LevelWarn, r.conn.remote, "nfs: mount refused: client not allowed", "path", path, "remote", r.conn.remote)
		return nil
	}
	if !r.portAllowed(exp, slog.LevelWarn) {
		return nil
	}
	root, err := exp.FS.GetAttr(r.ctx, kvfs.RootIno)
	if err != nil {
		r.logger().Error("nfs: mount: root attributes", "err", err)
		r.e.Uint32(uint32(MountServerFault))
		return nil
	}
	r.e.Uint32(uint32(MountOK))
	putFH(r.e, &root, exp.FS.FSID())
	r.e.Uint32(1)
	r.e.Uint32(rpc.AuthSys)
	r.s.mounts.add(r.conn.remote, path)
	r.logger().Info("nfs: mounted", "path", path, "remote", r.conn.remote)
	return nil
}
