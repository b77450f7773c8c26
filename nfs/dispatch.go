package nfs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// procedure describes one NFS or MOUNT procedure.
type procedure struct {
	name string
	run  func(*request) error
	// mutating procedures fail with NFS3ERR_ROFS on read-only exports.
	mutating bool
	// metadata procedures flush before replying on StrictSync exports.
	metadata bool
	// failBody is the number of empty optional attribute fields (post_op_attr,
	// pre_op_attr) that follow the status in this procedure's failure
	// result, so a generic failure reply can be encoded for any procedure.
	failBody int
}

// nfsProcedure returns the NFSv3 procedure numbered proc.
func nfsProcedure(proc uint32) (procedure, bool) {
	switch proc {
	case procNull:
		return procedure{name: "NULL", run: (*request).nfsNull}, true
	case procGetattr:
		return procedure{name: "GETATTR", run: (*request).nfsGetattr}, true
	case procSetattr:
		return procedure{name: "SETATTR", run: (*request).nfsSetattr, mutating: true, metadata: true, failBody: 2}, true
	case procLookup:
		return procedure{name: "LOOKUP", run: (*request).nfsLookup, failBody: 1}, true
	case procAccess:
		return procedure{name: "ACCESS", run: (*request).nfsAccess, failBody: 1}, true
	case procReadlink:
		return procedure{name: "READLINK", run: (*request).nfsReadlink, failBody: 1}, true
	case procRead:
		return procedure{name: "READ", run: (*request).nfsRead, failBody: 1}, true
	case procWrite:
		return procedure{name: "WRITE", run: (*request).nfsWrite, mutating: true, failBody: 2}, true
	case procCreate:
		return procedure{name: "CREATE", run: (*request).nfsCreate, mutating: true, metadata: true, failBody: 2}, true
	case procMkdir:
		return procedure{name: "MKDIR", run: (*request).nfsMkdir, mutating: true, metadata: true, failBody: 2}, true
	case procSymlink:
		return procedure{name: "SYMLINK", run: (*request).nfsSymlink, mutating: true, metadata: true, failBody: 2}, true
	case procMknod:
		return procedure{name: "MKNOD", run: (*request).nfsMknod, mutating: true, metadata: true, failBody: 2}, true
	case procRemove:
		return procedure{name: "REMOVE", run: (*request).nfsRemove, mutating: true, metadata: true, failBody: 2}, true
	case procRmdir:
		return procedure{name: "RMDIR", run: (*request).nfsRmdir, mutating: true, metadata: true, failBody: 2}, true
	case procRename:
		return procedure{name: "RENAME", run: (*request).nfsRename, mutating: true, metadata: true, failBody: 4}, true
	case procLink:
		return procedure{name: "LINK", run: (*request).nfsLink, mutating: true, metadata: true, failBody: 3}, true
	case procReaddir:
		return procedure{name: "READDIR", run: (*request).nfsReaddir, failBody: 1}, true
	case procReaddirplus:
		return procedure{name: "READDIRPLUS", run: (*request).nfsReaddirplus, failBody: 1}, true
	case procFsstat:
		return procedure{name: "FSSTAT", run: (*request).nfsFsstat, failBody: 1}, true
	case procFsinfo:
		return procedure{name: "FSINFO", run: (*request).nfsFsinfo, failBody: 1}, true
	case procPathconf:
		return procedure{name: "PATHCONF", run: (*request).nfsPathconf, failBody: 1}, true
	case procCommit:
		return procedure{name: "COMMIT", run: (*request).nfsCommit, failBody: 2}, true
	}
	return procedure{}, false
}

// mountProcedure returns the MOUNT v3 procedure numbered proc.
func mountProcedure(proc uint32) (procedure, bool) {
	switch proc {
	case mountProcNull:
		return procedure{name: "MOUNT.NULL", run: (*request).mountNull, failBody: -1}, true
	case mountProcMnt:
		return procedure{name: "MNT", run: (*request).mountMnt, failBody: -1}, true
	case mountProcDump:
		return procedure{name: "DUMP", run: (*request).mountDump, failBody: -1}, true
	case mountProcUmnt:
		return procedure{name: "UMNT", run: (*request).mountUmnt, failBody: -1}, true
	case mountProcUmntall:
		return procedure{name: "UMNTALL", run: (*request).mountUmntall, failBody: -1}, true
	case mountProcExport:
		return procedure{name: "EXPORT", run: (*request).mountExport, failBody: -1}, true
	}
	return procedure{}, false
}

// dispatch decodes one call record and appends its reply to e. It returns
// false when no reply must be sent (the record is not a call).
func (s *Server) dispatch(ctx context.Context, c *conn, rec []byte, e *xdr.Encoder) bool {
	d := xdr.NewDecoder(rec)
	h, err := rpc.ParseCall(d)
	switch {
	case err == nil:
	case errors.Is(err, rpc.ErrNotCall):
		return false
	case errors.Is(err, rpc.ErrRPCVersion):
		rpc.AppendRPCMismatch(e, h.XID)
		return true
	default:
		if len(rec) < 4 {
			return false
		}
		rpc.AppendAcceptedReply(e, h.XID, rpc.GarbageArgs)
		return true
	}

	var proc procedure
	var ok bool
	switch h.Prog {
	case ProgramNFS:
		if h.Vers != VersionNFS {
			rpc.AppendProgMismatch(e, h.XID, VersionNFS, VersionNFS)
			return true
		}
		proc, ok = nfsProcedure(h.Proc)
	case ProgramMount:
		if h.Vers != VersionMount {
			rpc.AppendProgMismatch(e, h.XID, VersionMount, VersionMount)
			return true
		}
		proc, ok = mountProcedure(h.Proc)
	default:
		rpc.AppendAcceptedReply(e, h.XID, rpc.ProgUnavail)
		return true
	}
	if !ok {
		rpc.AppendAcceptedReply(e, h.XID, rpc.ProcUnavail)
		return true
	}

	r := &request{
		ctx:  ctx,
		s:    s,
		conn: c,
		xid:  h.XID,
		proc: proc,
		args: d,
	}
	if stat := r.authenticate(h.Cred); stat != rpc.AuthOK {
		rpc.AppendAuthError(e, h.XID, stat)
		return true
	}

	start := e.Len()
	rpc.AppendAcceptedReply(e, h.XID, rpc.Success)
	r.e = e
	r.resultStart = e.Len()
	if err := r.runSafely(); err != nil {
		e.Truncate(start)
		switch {
		case errors.Is(err, errGarbage):
			s.log.Debug("nfs: garbage arguments", "op", proc.name, "remote", c.remote, "err", err)
			rpc.AppendAcceptedReply(e, h.XID, rpc.GarbageArgs)
		case proc.failBody >= 0:
			// A panic in an NFS procedure: answer SERVERFAULT.
			rpc.AppendAcceptedReply(e, h.XID, rpc.Success)
			e.Uint32(uint32(StatusServerFault))
			for range proc.failBody {
				e.Bool(false)
			}
		default:
			rpc.AppendAcceptedReply(e, h.XID, rpc.SystemErr)
		}
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("nfs: call", "op", proc.name, "xid", h.XID, "remote", c.remote)
	}
	return true
}

// errPanic reports a recovered panic of a procedure.
var errPanic = errors.New("nfs: procedure panicked")

// runSafely runs the procedure, turning a panic into errPanic.
func (r *request) runSafely() (err error) {
	defer func() {
		if p := recover(); p != nil {
			attrs := []any{"op", r.proc.name, "xid", r.xid, "panic", fmt.Sprint(p), "stack", string(debug.Stack())}
			if r.exp != nil {
				attrs = append(attrs, "export", r.exp.Name)
			}
			r.s.log.Error("nfs: procedure panicked", attrs...)
			err = errPanic
		}
	}()
	return r.proc.run(r)
}
