package nfs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// procedure describes one NFS or MOUNT procedure.
type procedure struct {
	name string
	run  func(*request) error
	// mutating procedures fail with NFS3ERR_ROFS on read-only exports.
	mutating bool
	// metadata procedures flush before replying on StrictSync exports;
	// they are also the non-idempotent ones, answered from the reply cache
	// when retransmitted.
	metadata bool
	// hasStatus is set for procedures whose results start with a status.
	hasStatus bool
	// failBody is the number of empty optional attribute fields (post_op_attr,
	// pre_op_attr) that follow the status in this procedure's failure
	// result, so a generic failure reply can be encoded for any procedure.
	failBody int
}

// nfsProcedure returns the NFSv3 procedure numbered proc.
func nfsProcedure(proc uint32) (procedure, bool) {
	switch proc {
	case ProcNull:
		return procedure{name: "NULL", run: (*request).nfsNull}, true
	case ProcGetattr:
		return procedure{name: "GETATTR", hasStatus: true, run: (*request).nfsGetattr}, true
	case ProcSetattr:
		return procedure{name: "SETATTR", hasStatus: true, run: (*request).nfsSetattr, mutating: true, metadata: true, failBody: 2}, true
	case ProcLookup:
		return procedure{name: "LOOKUP", hasStatus: true, run: (*request).nfsLookup, failBody: 1}, true
	case ProcAccess:
		return procedure{name: "ACCESS", hasStatus: true, run: (*request).nfsAccess, failBody: 1}, true
	case ProcReadlink:
		return procedure{name: "READLINK", hasStatus: true, run: (*request).nfsReadlink, failBody: 1}, true
	case ProcRead:
		return procedure{name: "READ", hasStatus: true, run: (*request).nfsRead, failBody: 1}, true
	case ProcWrite:
		return procedure{name: "WRITE", hasStatus: true, run: (*request).nfsWrite, mutating: true, failBody: 2}, true
	case ProcCreate:
		return procedure{name: "CREATE", hasStatus: true, run: (*request).nfsCreate, mutating: true, metadata: true, failBody: 2}, true
	case ProcMkdir:
		return procedure{name: "MKDIR", hasStatus: true, run: (*request).nfsMkdir, mutating: true, metadata: true, failBody: 2}, true
	case ProcSymlink:
		return procedure{name: "SYMLINK", hasStatus: true, run: (*request).nfsSymlink, mutating: true, metadata: true, failBody: 2}, true
	case ProcMknod:
		return procedure{name: "MKNOD", hasStatus: true, run: (*request).nfsMknod, mutating: true, metadata: true, failBody: 2}, true
	case ProcRemove:
		return procedure{name: "REMOVE", hasStatus: true, run: (*request).nfsRemove, mutating: true, metadata: true, failBody: 2}, true
	case ProcRmdir:
		return procedure{name: "RMDIR", hasStatus: true, run: (*request).nfsRmdir, mutating: true, metadata: true, failBody: 2}, true
	case ProcRename:
		return procedure{name: "RENAME", hasStatus: true, run: (*request).nfsRename, mutating: true, metadata: true, failBody: 4}, true
	case ProcLink:
		return procedure{name: "LINK", hasStatus: true, run: (*request).nfsLink, mutating: true, metadata: true, failBody: 3}, true
	case ProcReaddir:
		return procedure{name: "READDIR", hasStatus: true, run: (*request).nfsReaddir, failBody: 1}, true
	case ProcReaddirplus:
		return procedure{name: "READDIRPLUS", hasStatus: true, run: (*request).nfsReaddirplus, failBody: 1}, true
	case ProcFsstat:
		return procedure{name: "FSSTAT", hasStatus: true, run: (*request).nfsFsstat, failBody: 1}, true
	case ProcFsinfo:
		return procedure{name: "FSINFO", hasStatus: true, run: (*request).nfsFsinfo, failBody: 1}, true
	case ProcPathconf:
		return procedure{name: "PATHCONF", hasStatus: true, run: (*request).nfsPathconf, failBody: 1}, true
	case ProcCommit:
		return procedure{name: "COMMIT", hasStatus: true, run: (*request).nfsCommit, failBody: 2}, true
	}
	return procedure{}, false
}

// mountProcedure returns the MOUNT v3 procedure numbered proc.
func mountProcedure(proc uint32) (procedure, bool) {
	switch proc {
	case MountProcNull:
		return procedure{name: "MOUNT.NULL", run: (*request).mountNull, failBody: -1}, true
	case MountProcMnt:
		return procedure{name: "MNT", hasStatus: true, run: (*request).mountMnt, failBody: -1}, true
	case MountProcDump:
		return procedure{name: "DUMP", run: (*request).mountDump, failBody: -1}, true
	case MountProcUmnt:
		return procedure{name: "UMNT", run: (*request).mountUmnt, failBody: -1}, true
	case MountProcUmntall:
		return procedure{name: "UMNTALL", run: (*request).mountUmntall, failBody: -1}, true
	case MountProcExport:
		return procedure{name: "EXPORT", run: (*request).mountExport, failBody: -1}, true
	}
	return procedure{}, false
}

// dispatch decodes one call record and appends its reply to e. It returns
// false when no reply must be sent (the record is not a call, it is a
// retransmission of a call still running, or the call failed with its
// context canceled); the Observer hears only of calls answered.
func (s *Server) dispatch(ctx context.Context, c *conn, rec []byte, e *xdr.Encoder) bool {
	obs := s.opts.Observer
	if obs == nil {
		return s.dispatchCall(ctx, c, rec, e, &CallInfo{})
	}
	info := CallInfo{Accept: rpc.SystemErr}
	began := time.Now()
	if !s.dispatchCall(ctx, c, rec, e, &info) {
		return false
	}
	info.Duration = time.Since(began)
	info.RequestBytes = len(rec)
	info.ReplyBytes = e.Len() - rpc.RecordMarkSize
	obs.CallDone(info)
	return true
}

// dispatchCall is dispatch, filling info for the Observer.
func (s *Server) dispatchCall(ctx context.Context, c *conn, rec []byte, e *xdr.Encoder, info *CallInfo) bool {
	d := xdr.NewDecoder(rec)
	h, err := rpc.ParseCall(d)
	switch {
	case err == nil:
	case errors.Is(err, rpc.ErrNotCall):
		return false
	case errors.Is(err, rpc.ErrRPCVersion):
		info.RPCMismatch = true
		rpc.AppendRPCMismatch(e, h.XID)
		return true
	default:
		if len(rec) < 4 {
			return false
		}
		info.Accept = rpc.GarbageArgs
		rpc.AppendAcceptedReply(e, h.XID, rpc.GarbageArgs)
		return true
	}

	info.Program = h.Prog
	var proc procedure
	var ok bool
	switch h.Prog {
	case ProgramNFS:
		if h.Vers != VersionNFS {
			info.Accept = rpc.ProgMismatch
			rpc.AppendProgMismatch(e, h.XID, VersionNFS, VersionNFS)
			return true
		}
		proc, ok = nfsProcedure(h.Proc)
	case ProgramMount:
		if h.Vers != VersionMount {
			info.Accept = rpc.ProgMismatch
			rpc.AppendProgMismatch(e, h.XID, VersionMount, VersionMount)
			return true
		}
		proc, ok = mountProcedure(h.Proc)
	default:
		info.Accept = rpc.ProgUnavail
		rpc.AppendAcceptedReply(e, h.XID, rpc.ProgUnavail)
		return true
	}
	if !ok {
		info.Accept = rpc.ProcUnavail
		rpc.AppendAcceptedReply(e, h.XID, rpc.ProcUnavail)
		return true
	}

	info.Proc = proc.name
	r := &request{
		ctx:  ctx,
		s:    s,
		conn: c,
		xid:  h.XID,
		proc: proc,
		args: d,
	}
	if stat := r.authenticate(h.Cred); stat != rpc.AuthOK {
		info.AuthFailed = true
		rpc.AppendAuthError(e, h.XID, stat)
		return true
	}

	start := e.Len()
	// canceled is set when the call failed with ctx canceled: the failure
	// may be the cancellation's alone, so it is neither answered nor
	// cached, and a retransmission runs the call again.
	canceled := false
	if proc.metadata && h.Prog == ProgramNFS {
		key := makeReplyKey(c.remote, h.XID, h.Proc, rec[d.Offset():])
		cached, fresh := s.replyCache.begin(key)
		if !fresh {
			if cached == nil {
				return false // the first transmission is still running
			}
			e.Buf = append(e.Buf, cached.reply...)
			info.Accept, info.Export, info.Status = rpc.Success, cached.export, cached.status
			return true
		}
		defer func() {
			if info.Accept == rpc.Success && !info.AuthFailed && !canceled {
				s.replyCache.finish(key, &cachedReply{reply: e.Buf[start:], export: info.Export, status: info.Status})
			} else {
				s.replyCache.finish(key, nil)
			}
		}()
	}
	rpc.AppendAcceptedReply(e, h.XID, rpc.Success)
	r.e = e
	r.resultStart = e.Len()
	err = r.runSafely()
	if r.exp != nil {
		info.Export = r.exp.Name
	}
	if r.authErr != rpc.AuthOK {
		// Refused once the export was known (Export.Secure).
		e.Truncate(start)
		info.AuthFailed = true
		rpc.AppendAuthError(e, h.XID, r.authErr)
		return true
	}
	info.Accept = rpc.Success
	if err != nil {
		e.Truncate(start)
		switch {
		case errors.Is(err, errGarbage):
			s.log.Debug("nfs: garbage arguments", "op", proc.name, "remote", c.remote, "err", err)
			rpc.AppendAcceptedReply(e, h.XID, rpc.GarbageArgs)
			info.Accept = rpc.GarbageArgs
		case proc.failBody >= 0:
			// A panic in an NFS procedure: answer SERVERFAULT.
			rpc.AppendAcceptedReply(e, h.XID, rpc.Success)
			e.Uint32(uint32(StatusServerFault))
			for range proc.failBody {
				e.Bool(false)
			}
		default:
			rpc.AppendAcceptedReply(e, h.XID, rpc.SystemErr)
			info.Accept = rpc.SystemErr
		}
	}
	if info.Accept == rpc.Success && proc.hasStatus {
		info.Status = resultStatus(e.Buf, r.resultStart)
	}
	if ctx.Err() != nil && (info.Accept != rpc.Success || info.Status != 0) {
		// The connection is closing (evicted at MaxConnections, or
		// Shutdown's deadline passed): a call that succeeded is answered
		// and cached as ever, one that failed is left to a retransmission.
		canceled = true
		e.Truncate(start)
		return false
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		attrs := []any{"op", proc.name, "xid", h.XID, "remote", c.remote}
		if info.Accept == rpc.Success && proc.hasStatus {
			attrs = append(attrs, "status", statusName(h.Prog, info.Status))
		}
		s.log.Debug("nfs: call", attrs...)
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
