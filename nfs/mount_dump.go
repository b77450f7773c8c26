package nfs

import "github.com/zerofs-go/zerofsd/nfs/xdr"

// maxDumpReply bounds the entries of a DUMP reply, in encoded bytes.
const maxDumpReply = 64 << 10

// mountDump is MOUNTPROC3_DUMP: the mounts the server remembers.
//
//	res: mountlist = optional { hostname<255>, dirpath<1024>, next }
//
// Anyone may call it, so, as EXPORT does, it answers only about the
// exports the caller's address may mount: the mounts of the others, and
// their clients' addresses, are not the caller's to see. The list is cut
// at maxDumpReply bytes (the table holds up to maxMounts entries of up to
// 1 KiB each).
func (r *request) mountDump() error {
	size := 0
	for _, m := range r.s.mounts.list() {
		exp, ok := r.s.opts.Exports.ByPath(m.path)
		if !ok || exp.FS == nil || !r.clientAllowed(exp) {
			continue
		}
		host := m.host.String()
		size += 4 + xdr.OpaqueSize(len(host)) + xdr.OpaqueSize(len(m.path))
		if size > maxDumpReply {
			break
		}
		r.e.Bool(true)
		r.e.String(host)
		r.e.String(m.path)
	}
	r.e.Bool(false)
	return nil
}
