package nfs

// mountNull is MOUNTPROC3_NULL: no arguments, no results.
func (r *request) mountNull() error { return nil }
