package nfs

// mountUmnt is MOUNTPROC3_UMNT: forget one mount of the calling client.
//
//	args: dirpath<1024>   res: void
func (r *request) mountUmnt() error {
	path, err := decodeMountPath(r.args)
	if err != nil {
		return err
	}
	r.s.mounts.remove(r.conn.remote, cleanMountPath(path))
	return nil
}
