package nfs

import (
	"log/slog"

	"github.com/zerofs-go/zerofsd/nfs/rpc"
)

// reservedPorts bounds the privileged source ports (IPPORT_RESERVED): only
// root may bind a port below it.
const reservedPorts = 1024

// portAllowed applies exp's Secure option: a call from a source port of
// reservedPorts or above is refused, and its reply becomes AUTH_ERROR
// AUTH_TOOWEAK; the refusal is logged at level.
//
// Why AUTH_TOOWEAK: the privileged port is the only sign that an AUTH_SYS
// credential was chosen by the client's kernel and not by an ordinary user,
// so what is refused is the credential as sent, and RFC 5531 (which
// replaced RFC 1831) defines AUTH_TOOWEAK for a call "rejected for security
// reasons". Linux servers answer NFS3ERR_PERM to NFS calls and
// MNT3ERR_ACCES to MNT instead; but NFS3ERR_PERM means "not owner" in RFC
// 1813, and MNT3ERR_ACCES is also what a client outside AllowedClients
// gets, so neither points at the port, where on AUTH_TOOWEAK the Linux
// client logs that the server requires stronger authentication. The call
// (or the mount) fails with EACCES on a Linux client either way.
//
// NULL calls never get here: RFC 2623 asks servers to answer NULL from any
// port, and clients do ping from unprivileged ones.
func (r *request) portAllowed(exp *Export, level slog.Level) bool {
	if !exp.Secure || r.conn.port < reservedPorts {
		return true
	}
	r.authErr = rpc.AuthTooWeak
	r.s.logClient(r.ctx, r.logger(), level, r.conn.remote, "nfs: call refused: source port not privileged on a secure export",
		"op", r.proc.name, "remote", r.conn.remote, "port", r.conn.port)
	return false
}
