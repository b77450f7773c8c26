package nfs

// mountUmntall is MOUNTPROC3_UMNTALL: forget every mount of the calling client.
func (r *request) mountUmntall() error {
	r.s.mounts.removeHost(r.conn.remote)
	return nil
}
