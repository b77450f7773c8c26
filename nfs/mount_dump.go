package nfs

// mountDump is MOUNTPROC3_DUMP: the mounts the server remembers.
//
//	res: mountlist = optional { hostname<255>, dirpath<1024>, next }
func (r *request) mountDump() error {
	for _, m := range r.s.mounts.list() {
		r.e.Bool(true)
		r.e.String(m.host.String())
		r.e.String(m.path)
	}
	r.e.Bool(false)
	return nil
}
