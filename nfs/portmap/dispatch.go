package portmap

import (
	"errors"
	"net/netip"
	"time"

	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// owner is the owner shown for every registration in an rpcbind DUMP.
const owner = "zerofsd"

// transport says how a call reached the portmapper.
type transport struct {
	proto uint32 // ProtoTCP or ProtoUDP
	// local is the address the call was sent to (invalid if unknown).
	local netip.Addr
}

// handle answers one call message, appending the reply message to e. It
// returns false when nothing must be sent (the message is not a call, or
// too short to carry an xid).
func (s *Server) handle(msg []byte, tr transport, e *xdr.Encoder) bool {
	d := xdr.NewDecoder(msg)
	h, err := rpc.ParseCall(d)
	switch {
	case err == nil:
	case errors.Is(err, rpc.ErrRPCVersion):
		rpc.AppendRPCMismatch(e, h.XID)
		return true
	case errors.Is(err, rpc.ErrNotCall) || len(msg) < 4:
		return false
	default:
		rpc.AppendAcceptedReply(e, h.XID, rpc.GarbageArgs)
		return true
	}
	if h.Prog != Program {
		rpc.AppendAcceptedReply(e, h.XID, rpc.ProgUnavail)
		return true
	}
	if h.Vers < VersionPMAP || h.Vers > VersionRPCB4 {
		rpc.AppendProgMismatch(e, h.XID, VersionPMAP, VersionRPCB4)
		return true
	}
	start := e.Len()
	rpc.AppendAcceptedReply(e, h.XID, rpc.Success)
	var stat rpc.AcceptStat
	if h.Vers == VersionPMAP {
		stat = s.pmap(h.Proc, d, tr, e)
	} else {
		stat = s.rpcb(h.Vers, h.Proc, d, tr, e)
	}
	if stat != rpc.Success {
		e.Truncate(start)
		rpc.AppendAcceptedReply(e, h.XID, stat)
	}
	return true
}

// pmap runs a PMAP v2 procedure, appending its results.
func (s *Server) pmap(proc uint32, d *xdr.Decoder, tr transport, e *xdr.Encoder) rpc.AcceptStat {
	switch proc {
	case PMAPProcNull:
		return rpc.Success
	case PMAPProcSet, PMAPProcUnset:
		m, err := DecodeMapping(d)
		if err != nil {
			return rpc.GarbageArgs
		}
		s.log.Debug("portmap: refused a registration change", "proc", proc, "prog", m.Prog, "vers", m.Vers)
		e.Bool(false)
		return rpc.Success
	case PMAPProcGetPort:
		m, err := DecodeMapping(d)
		if err != nil {
			return rpc.GarbageArgs
		}
		e.Uint32(uint32(s.port(m.Prog, m.Vers, m.Prot, false)))
		return rpc.Success
	case PMAPProcDump:
		if tr.proto == ProtoUDP {
			return rpc.ProcUnavail // see the package comment: no amplification over UDP
		}
		AppendMappings(e, s.mappings())
		return rpc.Success
	}
	return rpc.ProcUnavail
}

// rpcb runs an rpcbind v3 or v4 procedure, appending its results.
func (s *Server) rpcb(vers, proc uint32, d *xdr.Decoder, tr transport, e *xdr.Encoder) rpc.AcceptStat {
	switch proc {
	case RPCBProcNull:
		return rpc.Success
	case RPCBProcSet, RPCBProcUnset:
		r, err := DecodeRPCB(d)
		if err != nil {
			return rpc.GarbageArgs
		}
		s.log.Debug("portmap: refused a registration change", "proc", proc, "prog", r.Prog, "vers", r.Vers, "netid", r.NetID)
		e.Bool(false)
		return rpc.Success
	case RPCBProcGetAddr:
		r, err := DecodeRPCB(d)
		if err != nil {
			return rpc.GarbageArgs
		}
		e.String(s.uaddr(r, tr, false))
		return rpc.Success
	case RPCBProcGetVersAddr, RPCBProcGetAddrList:
		if vers < VersionRPCB4 {
			return rpc.ProcUnavail
		}
		r, err := DecodeRPCB(d)
		if err != nil {
			return rpc.GarbageArgs
		}
		if proc == RPCBProcGetVersAddr {
			e.String(s.uaddr(r, tr, true))
		} else {
			AppendEntries(e, s.entries(r, tr))
		}
		return rpc.Success
	case RPCBProcDump:
		if tr.proto == ProtoUDP {
			return rpc.ProcUnavail
		}
		AppendRPCBs(e, s.registrations())
		return rpc.Success
	case RPCBProcGetTime:
		e.Uint32(uint32(time.Now().Unix()))
		return rpc.Success
	}
	return rpc.ProcUnavail
}

// port returns the port of a program on a protocol, or 0. Unless exact, a
// version not served still finds the program's port, as every portmapper
// answers GETPORT (the client learns the versions from the program itself,
// with PROG_MISMATCH).
func (s *Server) port(prog, vers, proto uint32, exact bool) uint16 {
	if prog == Program {
		if (!exact || vers >= VersionPMAP && vers <= VersionRPCB4) && (proto == ProtoTCP || proto == ProtoUDP) {
			return s.self.Port()
		}
		return 0
	}
	if proto != ProtoTCP {
		return 0
	}
	for _, sv := range s.opts.Services {
		if sv.Prog == prog && (sv.Vers == vers || !exact) {
			return s.opts.Port
		}
	}
	return 0
}

// uaddr answers GETADDR (any version of the program) and GETVERSADDR
// (exact): the universal address of the program on the netid asked for
// (the call's own transport when empty), or "" when it is not served
// there. A wildcard address is replaced by the one the call was sent to,
// the address by which this client reaches the host.
func (s *Server) uaddr(r RPCB, tr transport, exact bool) string {
	netid := r.NetID
	if netid == "" {
		netid = NetID(tr.proto, tr.local)
	}
	proto, v6, ok := parseNetID(netid)
	if !ok {
		return ""
	}
	port := s.port(r.Prog, r.Vers, proto, exact)
	if port == 0 {
		return ""
	}
	addr := s.opts.Addr
	if r.Prog == Program {
		addr = s.self.Addr()
	}
	if !addr.IsValid() || addr.IsUnspecified() {
		addr = tr.local
	}
	addr = addr.Unmap()
	if !addr.IsValid() || addr.Is6() != v6 {
		return ""
	}
	return FormatUAddr(netip.AddrPortFrom(addr, port))
}

// mappings is the PMAP v2 DUMP: the portmapper itself, then the services.
func (s *Server) mappings() []Mapping {
	var ms []Mapping
	for _, proto := range []uint32{ProtoTCP, ProtoUDP} {
		for v := uint32(VersionRPCB4); v >= VersionPMAP; v-- {
			ms = append(ms, Mapping{Prog: Program, Vers: v, Prot: proto, Port: uint32(s.self.Port())})
		}
	}
	for _, sv := range s.opts.Services {
		ms = append(ms, Mapping{Prog: sv.Prog, Vers: sv.Vers, Prot: ProtoTCP, Port: uint32(s.opts.Port)})
	}
	return ms
}

// registrations is the rpcbind DUMP: the portmapper itself, then the
// services, on each family their addresses serve.
func (s *Server) registrations() []RPCB {
	var rs []RPCB
	for _, ap := range familyAddrs(s.self) {
		for _, proto := range []uint32{ProtoTCP, ProtoUDP} {
			for v := uint32(VersionRPCB4); v >= VersionPMAP; v-- {
				rs = append(rs, RPCB{Prog: Program, Vers: v, NetID: NetID(proto, ap.Addr()), UAddr: FormatUAddr(ap), Owner: owner})
			}
		}
	}
	for _, ap := range familyAddrs(netip.AddrPortFrom(s.opts.Addr, s.opts.Port)) {
		for _, sv := range s.opts.Services {
			rs = append(rs, RPCB{Prog: sv.Prog, Vers: sv.Vers, NetID: NetID(ProtoTCP, ap.Addr()), UAddr: FormatUAddr(ap), Owner: owner})
		}
	}
	return rs
}

// familyAddrs turns a listening address into one address per family it
// serves: a wildcard (or missing) address serves IPv4 and IPv6.
func familyAddrs(ap netip.AddrPort) []netip.AddrPort {
	a := ap.Addr().Unmap()
	if !a.IsValid() || a.IsUnspecified() {
		return []netip.AddrPort{
			netip.AddrPortFrom(netip.IPv4Unspecified(), ap.Port()),
			netip.AddrPortFrom(netip.IPv6Unspecified(), ap.Port()),
		}
	}
	return []netip.AddrPort{netip.AddrPortFrom(a, ap.Port())}
}

// parseNetID reads the netids of TCP and UDP over IPv4 and IPv6.
func parseNetID(netid string) (proto uint32, v6, ok bool) {
	switch netid {
	case "tcp":
		return ProtoTCP, false, true
	case "tcp6":
		return ProtoTCP, true, true
	case "udp":
		return ProtoUDP, false, true
	case "udp6":
		return ProtoUDP, true, true
	}
	return 0, false, false
}

// entries answers GETADDRLIST: the address of the exact program version on
// every transport it is served on and this client can reach.
func (s *Server) entries(r RPCB, tr transport) []Entry {
	var out []Entry
	for _, netid := range []string{"tcp", "udp", "tcp6", "udp6"} {
		q := r
		q.NetID = netid
		ua := s.uaddr(q, tr, true)
		if ua == "" {
			continue
		}
		proto, v6, _ := parseNetID(netid)
		en := Entry{UAddr: ua, NetID: netid, Semantics: SemanticsCOTSOrd, ProtoFamily: "inet", Proto: "tcp"}
		if proto == ProtoUDP {
			en.Semantics, en.Proto = SemanticsCLTS, "udp"
		}
		if v6 {
			en.ProtoFamily = "inet6"
		}
		out = append(out, en)
	}
	return out
}
