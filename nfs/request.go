package nfs

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// request is one call being handled.
type request struct {
	ctx  context.Context
	s    *Server
	conn *conn
	xid  uint32
	proc procedure
	args *xdr.Decoder
	// e receives the results; resultStart is where they begin.
	e           *xdr.Encoder
	resultStart int

	// anonymous is true for AUTH_NONE callers.
	anonymous bool
	cred      kvfs.Cred
	// authErr, when set by the procedure, replaces its reply with AUTH_ERROR.
	authErr rpc.AuthStat
	// exp is the export the call acts on, once resolved (for logs).
	exp *Export
}

// authenticate reads the call's credential.
func (r *request) authenticate(cred rpc.OpaqueAuth) rpc.AuthStat {
	switch cred.Flavor {
	case rpc.AuthNone:
		r.anonymous = true
		return rpc.AuthOK
	case rpc.AuthSys:
		c, err := rpc.ParseAuthSys(cred.Body)
		if err != nil {
			return rpc.AuthBadCred
		}
		r.cred = kvfs.Cred{UID: c.UID, GID: c.GID, Groups: c.GIDs}
		return rpc.AuthOK
	default:
		return rpc.AuthTooWeak
	}
}

// credFor returns the identity the call acts as on exp, after squashing.
func (r *request) credFor(exp *Export) kvfs.Cred {
	anonUID, anonGID := exp.AnonUID, exp.AnonGID
	if r.anonymous || exp.Squash == SquashAll {
		return kvfs.Cred{UID: anonUID, GID: anonGID}
	}
	c := r.cred
	if exp.Squash == SquashRoot {
		if c.UID == 0 {
			c.UID = anonUID
		}
		if c.GID == 0 {
			c.GID = anonGID
		}
		if slices.Contains(c.Groups, 0) {
			groups := make([]uint32, len(c.Groups))
			for i, g := range c.Groups {
				if g == 0 {
					g = anonGID
				}
				groups[i] = g
			}
			c.Groups = groups
		}
	}
	return c
}

// clientAllowed reports whether the calling client may use exp.
func (r *request) clientAllowed(exp *Export) bool {
	return exp.allows(r.conn.remote)
}

// allows reports whether exp's AllowedClients let client use it.
func (exp *Export) allows(client netip.Addr) bool {
	if len(exp.AllowedClients) == 0 {
		return true
	}
	for _, p := range exp.AllowedClients {
		if p.Contains(client) {
			return true
		}
	}
	return false
}

// anyExportAllows reports whether an export of the current set (a reload
// may change it at any time) lets client use it. Snapshots have the access
// rules of their export, so the exports of All speak for them.
func (s *Server) anyExportAllows(client netip.Addr) bool {
	for _, exp := range s.opts.Exports.All() {
		if exp.allows(client) {
			return true
		}
	}
	return false
}

// target is a resolved file handle.
type target struct {
	exp  *Export
	fs   Filesystem
	fsid uint64
	ino  uint64
	// attr is the inode's attributes when the handle was checked (pre-op).
	attr kvfs.Attr
	cred kvfs.Cred
}

// resolve checks a file handle: its format, its export, the client's right
// to use the export, the inode's generation, and (for mutating procedures)
// that the export is writable. It returns the status to answer on failure.
func (r *request) resolve(fh []byte) (target, Status) {
	h, err := ParseHandle(fh)
	if err != nil {
		return target{}, StatusBadHandle
	}
	exp, ok := r.s.opts.Exports.ByFSID(h.FSID)
	if !ok || exp.FS == nil {
		return target{}, StatusStale
	}
	r.exp = exp
	if !r.clientAllowed(exp) {
		r.s.logClient(r.ctx, r.logger(), slog.LevelWarn, r.conn.remote, "nfs: client not allowed", "op", r.proc.name, "remote", r.conn.remote)
		return target{}, StatusAcces
	}
	if !r.portAllowed(exp, slog.LevelDebug) { // a mounted client sends many
		return target{}, StatusPerm
	}
	t := target{exp: exp, fs: exp.FS, fsid: h.FSID, ino: h.Ino, cred: r.credFor(exp)}
	attr, err := exp.FS.GetAttr(r.ctx, h.Ino)
	if err != nil {
		st := r.status(err)
		if st == StatusNoEnt {
			st = StatusStale
		}
		return target{}, st
	}
	if attr.Gen != h.Gen {
		return target{}, StatusStale
	}
	t.attr = attr
	if r.proc.mutating && exp.ReadOnly {
		return t, StatusROFS
	}
	return t, StatusOK
}

// resolveSecond resolves a second handle of a call (RENAME, LINK), which
// must belong to the same export as the first.
func (r *request) resolveSecond(first target, fh []byte) (target, Status) {
	// Another export is XDEV whatever its inode's state; the export's own
	// errors (a failed GetAttr is IO, not XDEV) come from resolve.
	if h, err := ParseHandle(fh); err == nil && h.FSID != first.fsid {
		if exp, ok := r.s.opts.Exports.ByFSID(h.FSID); ok && exp.FS != nil {
			return target{}, StatusXDev
		}
	}
	return r.resolve(fh)
}

// status maps a Filesystem error to a status, logging unexpected errors.
func (r *request) status(err error) Status {
	st, known := statusOf(err)
	if !known {
		if errors.Is(err, context.Canceled) && r.ctx.Err() != nil {
			return st
		}
		r.logger().Error("nfs: filesystem error", "op", r.proc.name, "xid", r.xid, "status", st.String(), "err", err)
	}
	return st
}

// logger returns the logger of the export the call acts on.
func (r *request) logger() *slog.Logger {
	if r.exp == nil {
		return r.s.log
	}
	if r.exp.Logger != nil {
		return r.exp.Logger
	}
	return r.s.log.With("export", r.exp.Name)
}

// getAttr returns the current attributes of ino, or nil (for post-op
// attributes, which are optional).
func (t target) getAttr(ctx context.Context, ino uint64) *kvfs.Attr {
	a, err := t.fs.GetAttr(ctx, ino)
	if err != nil {
		return nil
	}
	return &a
}

// strictSync flushes after a successful metadata procedure on an export
// with StrictSync; it returns the status to answer.
func (r *request) strictSync(t target) Status {
	if !t.exp.StrictSync {
		return StatusOK
	}
	if err := t.fs.Flush(r.ctx); err != nil {
		return r.status(err)
	}
	return StatusOK
}

// checkName answers a name a client sent to look up, create or remove an
// entry, before the filesystem is asked. Which names are valid is kvfs's
// rule (kvfs.CheckName, whose errno maps to NAMETOOLONG or INVAL); NFS
// differs in what it answers for some: an empty name is NOENT (kvfs's
// Lookup takes it for the directory itself), and "." and ".." are answered
// by checkNewName and checkOldName, and by LOOKUP itself, before this.
func checkName(name string) Status {
	if name == "" {
		return StatusNoEnt
	}
	if err := kvfs.CheckName(name); err != nil {
		st, _ := statusOf(err)
		return st
	}
	return StatusOK
}

// checkNewName validates a name for a new entry: "." and ".." exist.
func checkNewName(name string) Status {
	if name == "." || name == ".." {
		return StatusExist
	}
	return checkName(name)
}

// checkOldName validates a name of an entry to remove or rename.
func checkOldName(name string) Status {
	if name == "." || name == ".." {
		return StatusInval
	}
	return checkName(name)
}

// status3 appends an nfsstat3.
func (r *request) status3(st Status) { r.e.Uint32(uint32(st)) }

// fail appends a failure result with only the status and empty
// attributes (for failures before anything is known).
func (r *request) fail(st Status) error {
	r.e.Truncate(r.resultStart)
	r.status3(st)
	for range r.proc.failBody {
		r.e.Bool(false)
	}
	return nil
}
