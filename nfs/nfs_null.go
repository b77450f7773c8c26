package nfs

// nfsNull is NFSPROC3_NULL (RFC 1813 section 3.3.0): no arguments, no results.
func (r *request) nfsNull() error { return nil }
