package rpc

import (
	"errors"
	"fmt"

	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// Message types.
const (
	MsgCall  uint32 = 0
	MsgReply uint32 = 1
)

// Reply status.
const (
	MsgAccepted uint32 = 0
	MsgDenied   uint32 = 1
)

// AcceptStat is the status of an accepted call.
type AcceptStat uint32

const (
	Success      AcceptStat = 0
	ProgUnavail  AcceptStat = 1
	ProgMismatch AcceptStat = 2
	ProcUnavail  AcceptStat = 3
	GarbageArgs  AcceptStat = 4
	SystemErr    AcceptStat = 5
)

func (s AcceptStat) String() string {
	switch s {
	case Success:
		return "SUCCESS"
	case ProgUnavail:
		return "PROG_UNAVAIL"
	case ProgMismatch:
		return "PROG_MISMATCH"
	case ProcUnavail:
		return "PROC_UNAVAIL"
	case GarbageArgs:
		return "GARBAGE_ARGS"
	case SystemErr:
		return "SYSTEM_ERR"
	}
	return fmt.Sprintf("accept_stat(%d)", uint32(s))
}

// Reject status.
const (
	RPCMismatch uint32 = 0
	AuthError   uint32 = 1
)

// AuthStat says why authentication failed.
type AuthStat uint32

const (
	AuthOK           AuthStat = 0
	AuthBadCred      AuthStat = 1
	AuthRejectedCred AuthStat = 2
	AuthBadVerf      AuthStat = 3
	AuthRejectedVerf AuthStat = 4
	AuthTooWeak      AuthStat = 5
)

// Authentication flavors.
const (
	AuthNone  uint32 = 0
	AuthSys   uint32 = 1
	AuthShort uint32 = 2
)

// Version is the RPC protocol version this package speaks.
const Version = 2

// MaxAuthBody is the largest opaque_auth body (RFC 5531).
const MaxAuthBody = 400

// Errors of ParseCall. ErrNotCall and ErrRPCVersion carry a valid xid the
// server can answer (RPC_MISMATCH) or drop; ErrBadHeader means the header is
// unreadable.
var (
	ErrBadHeader  = errors.New("rpc: malformed call header")
	ErrNotCall    = errors.New("rpc: message is not a call")
	ErrRPCVersion = errors.New("rpc: unsupported RPC version")
	ErrBadCred    = errors.New("rpc: malformed credential")
)

// OpaqueAuth is a credential or verifier. Body aliases the record.
type OpaqueAuth struct {
	Flavor uint32
	Body   []byte
}

// CallHeader is the parsed header of a call message.
type CallHeader struct {
	XID     uint32
	RPCVers uint32
	Prog    uint32
	Vers    uint32
	Proc    uint32
	Cred    OpaqueAuth
	Verf    OpaqueAuth
}

// ParseCall reads a call header from d, leaving d at the procedure's
// arguments. On ErrNotCall and ErrRPCVersion the XID is valid.
func ParseCall(d *xdr.Decoder) (CallHeader, error) {
	var h CallHeader
	h.XID = d.Uint32()
	mtype := d.Uint32()
	if d.Err() != nil {
		return h, fmt.Errorf("%w: %v", ErrBadHeader, d.Err())
	}
	if mtype != MsgCall {
		return h, fmt.Errorf("%w: type %d", ErrNotCall, mtype)
	}
	h.RPCVers = d.Uint32()
	if d.Err() == nil && h.RPCVers != Version {
		return h, fmt.Errorf("%w: %d", ErrRPCVersion, h.RPCVers)
	}
	h.Prog = d.Uint32()
	h.Vers = d.Uint32()
	h.Proc = d.Uint32()
	h.Cred.Flavor = d.Uint32()
	h.Cred.Body = d.Opaque(MaxAuthBody)
	h.Verf.Flavor = d.Uint32()
	h.Verf.Body = d.Opaque(MaxAuthBody)
	if d.Err() != nil {
		return h, fmt.Errorf("%w: xid %#x: %v", ErrBadHeader, h.XID, d.Err())
	}
	return h, nil
}

// AppendCall appends a call header with the given credential and an
// AUTH_NONE verifier.
func AppendCall(e *xdr.Encoder, xid, prog, vers, proc uint32, cred OpaqueAuth) {
	e.Uint32(xid)
	e.Uint32(MsgCall)
	e.Uint32(Version)
	e.Uint32(prog)
	e.Uint32(vers)
	e.Uint32(proc)
	e.Uint32(cred.Flavor)
	e.Opaque(cred.Body)
	e.Uint32(AuthNone)
	e.Opaque(nil)
}

// MaxGroups is the most supplementary groups an AUTH_SYS credential carries.
const MaxGroups = 16

// MaxMachineName is the longest AUTH_SYS machine name.
const MaxMachineName = 255

// AuthSysCred is an AUTH_SYS (AUTH_UNIX) credential.
type AuthSysCred struct {
	Stamp       uint32
	MachineName string
	UID         uint32
	GID         uint32
	GIDs        []uint32
}

// ParseAuthSys decodes the body of an AUTH_SYS credential.
func ParseAuthSys(body []byte) (AuthSysCred, error) {
	var c AuthSysCred
	d := xdr.NewDecoder(body)
	c.Stamp = d.Uint32()
	c.MachineName = d.String(MaxMachineName)
	c.UID = d.Uint32()
	c.GID = d.Uint32()
	n := d.Uint32()
	if d.Err() == nil && n > MaxGroups {
		return c, fmt.Errorf("%w: %d groups, at most %d", ErrBadCred, n, MaxGroups)
	}
	if n > 0 && d.Err() == nil {
		c.GIDs = make([]uint32, n)
		for i := range c.GIDs {
			c.GIDs[i] = d.Uint32()
		}
	}
	if d.Err() != nil {
		return c, fmt.Errorf("%w: %v", ErrBadCred, d.Err())
	}
	if d.Remaining() != 0 {
		return c, fmt.Errorf("%w: %d trailing bytes", ErrBadCred, d.Remaining())
	}
	return c, nil
}

// Encode returns the credential as an AUTH_SYS opaque_auth.
func (c AuthSysCred) Encode() OpaqueAuth {
	var e xdr.Encoder
	e.Uint32(c.Stamp)
	e.String(c.MachineName)
	e.Uint32(c.UID)
	e.Uint32(c.GID)
	e.Uint32(uint32(len(c.GIDs)))
	for _, g := range c.GIDs {
		e.Uint32(g)
	}
	return OpaqueAuth{Flavor: AuthSys, Body: e.Buf}
}

// AppendAcceptedReply appends the header of an accepted reply with an
// AUTH_NONE verifier. For Success the procedure's results follow; for
// ProgMismatch use AppendProgMismatch instead.
func AppendAcceptedReply(e *xdr.Encoder, xid uint32, stat AcceptStat) {
	e.Uint32(xid)
	e.Uint32(MsgReply)
	e.Uint32(MsgAccepted)
	e.Uint32(AuthNone)
	e.Uint32(0)
	e.Uint32(uint32(stat))
}

// AppendProgMismatch appends a PROG_MISMATCH reply giving the supported versions.
func AppendProgMismatch(e *xdr.Encoder, xid, low, high uint32) {
	AppendAcceptedReply(e, xid, ProgMismatch)
	e.Uint32(low)
	e.Uint32(high)
}

// AppendRPCMismatch appends a denied reply for an unsupported RPC version.
func AppendRPCMismatch(e *xdr.Encoder, xid uint32) {
	e.Uint32(xid)
	e.Uint32(MsgReply)
	e.Uint32(MsgDenied)
	e.Uint32(RPCMismatch)
	e.Uint32(Version)
	e.Uint32(Version)
}

// AppendAuthError appends a denied reply for a refused credential.
func AppendAuthError(e *xdr.Encoder, xid uint32, stat AuthStat) {
	e.Uint32(xid)
	e.Uint32(MsgReply)
	e.Uint32(MsgDenied)
	e.Uint32(AuthError)
	e.Uint32(uint32(stat))
}
