package nfs

import (
	"slices"
	"strings"
)

// mountExport is MOUNTPROC3_EXPORT: the export list.
//
//	res: exports = optional { dirpath<1024>, groups, next }
//	     groups  = optional { name<255>, next }  (who may mount it)
//
// Anyone may call it, so it answers only for the caller: it lists the
// exports the caller's address may mount (as MNT would decide) and never
// another export's access list. The groups of an export open to every
// client are empty, which showmount prints as "(everyone)" and which is
// what a Linux server answers for an export to "*". The groups of a
// restricted export are just the caller's own address: true (this address
// may mount it), enough for a client that matches the list against its own
// addresses before mounting, and nothing the caller does not know already.
// Listing the configured networks, as mountd does, would show anyone which
// hosts and networks hold which rights. The source port (Export.Secure) is
// not considered: it belongs to one connection, not to the host.
func (r *request) mountExport() error {
	exps := slices.Clone(r.s.opts.Exports.All())
	slices.SortFunc(exps, func(a, b *Export) int { return strings.Compare(a.Path, b.Path) })
	for _, exp := range exps {
		if exp.FS == nil || !r.clientAllowed(exp) {
			continue
		}
		r.e.Bool(true)
		r.e.String(exp.Path)
		if len(exp.AllowedClients) > 0 {
			r.e.Bool(true)
			r.e.String(r.conn.remote.String())
		}
		r.e.Bool(false)
	}
	r.e.Bool(false)
	return nil
}
