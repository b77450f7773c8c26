package portmap

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// Program is the portmapper's (and rpcbind's) RPC program number.
const Program = 100000

// Versions of Program: PMAP v2 (RFC 1833 section 3) and rpcbind v3 and v4
// (section 2).
const (
	VersionPMAP  = 2
	VersionRPCB3 = 3
	VersionRPCB4 = 4
)

// Port is the portmapper's well-known port, on TCP and UDP.
const Port = 111

// Procedures of PMAP v2.
const (
	PMAPProcNull    = 0
	PMAPProcSet     = 1
	PMAPProcUnset   = 2
	PMAPProcGetPort = 3
	PMAPProcDump    = 4
	PMAPProcCallIt  = 5
)

// Procedures of rpcbind v3 and v4 (GetVersAddr and beyond are v4 only).
const (
	RPCBProcNull        = 0
	RPCBProcSet         = 1
	RPCBProcUnset       = 2
	RPCBProcGetAddr     = 3
	RPCBProcDump        = 4
	RPCBProcCallIt      = 5 // BCAST in v4
	RPCBProcGetTime     = 6
	RPCBProcUAddr2TAddr = 7
	RPCBProcTAddr2UAddr = 8
	RPCBProcGetVersAddr = 9
	RPCBProcIndirect    = 10
	RPCBProcGetAddrList = 11
	RPCBProcGetStat     = 12
)

// IP protocol numbers of a PMAP v2 mapping.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// Limits on the strings of an rpcb argument. RFC 1833 gives none; these are
// far above any real netid, universal address or owner.
const (
	maxNetID = 64
	maxUAddr = 128
	maxOwner = 256
)

// ErrBadArgs is wrapped by every decoding error of this package.
var ErrBadArgs = errors.New("portmap: malformed arguments")

// Mapping is a PMAP v2 mapping: a program version on a protocol's port.
type Mapping struct {
	Prog, Vers, Prot, Port uint32
}

// DecodeMapping reads a mapping (the argument of SET, UNSET and GETPORT).
func DecodeMapping(d *xdr.Decoder) (Mapping, error) {
	m := Mapping{Prog: d.Uint32(), Vers: d.Uint32(), Prot: d.Uint32(), Port: d.Uint32()}
	if err := d.Err(); err != nil {
		return Mapping{}, fmt.Errorf("%w: mapping: %w", ErrBadArgs, err)
	}
	return m, nil
}

// Append encodes m.
func (m Mapping) Append(e *xdr.Encoder) {
	e.Uint32(m.Prog)
	e.Uint32(m.Vers)
	e.Uint32(m.Prot)
	e.Uint32(m.Port)
}

// AppendMappings encodes a pmaplist (DUMP's result): an optional-data list.
func AppendMappings(e *xdr.Encoder, ms []Mapping) {
	for _, m := range ms {
		e.Bool(true)
		m.Append(e)
	}
	e.Bool(false)
}

// DecodeMappings reads a pmaplist, at most max entries.
func DecodeMappings(d *xdr.Decoder, max int) ([]Mapping, error) {
	var out []Mapping
	for d.Bool() {
		if len(out) == max {
			return nil, fmt.Errorf("%w: more than %d mappings", ErrBadArgs, max)
		}
		m, err := DecodeMapping(d)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("%w: mapping list: %w", ErrBadArgs, err)
	}
	return out, nil
}

// RPCB is an rpcbind v3/v4 registration (struct rpcb): a program version
// on a transport (NetID: "tcp", "udp", "tcp6", "udp6", "local"), at a
// universal address (UAddr), registered by Owner.
type RPCB struct {
	Prog, Vers uint32
	NetID      string
	UAddr      string
	Owner      string
}

// DecodeRPCB reads an rpcb (the argument of SET, UNSET, GETADDR, GETVERSADDR).
func DecodeRPCB(d *xdr.Decoder) (RPCB, error) {
	r := RPCB{
		Prog:  d.Uint32(),
		Vers:  d.Uint32(),
		NetID: d.String(maxNetID),
		UAddr: d.String(maxUAddr),
		Owner: d.String(maxOwner),
	}
	if err := d.Err(); err != nil {
		return RPCB{}, fmt.Errorf("%w: rpcb: %w", ErrBadArgs, err)
	}
	return r, nil
}

// Append encodes r.
func (r RPCB) Append(e *xdr.Encoder) {
	e.Uint32(r.Prog)
	e.Uint32(r.Vers)
	e.String(r.NetID)
	e.String(r.UAddr)
	e.String(r.Owner)
}

// AppendRPCBs encodes an rpcblist (rpcbind DUMP's result).
func AppendRPCBs(e *xdr.Encoder, rs []RPCB) {
	for _, r := range rs {
		e.Bool(true)
		r.Append(e)
	}
	e.Bool(false)
}

// DecodeRPCBs reads an rpcblist, at most max entries.
func DecodeRPCBs(d *xdr.Decoder, max int) ([]RPCB, error) {
	var out []RPCB
	for d.Bool() {
		if len(out) == max {
			return nil, fmt.Errorf("%w: more than %d registrations", ErrBadArgs, max)
		}
		r, err := DecodeRPCB(d)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("%w: registration list: %w", ErrBadArgs, err)
	}
	return out, nil
}

// Transport semantics of an rpcb_entry (netconfig's nc_semantics).
const (
	SemanticsCLTS    = 1 // datagrams (UDP)
	SemanticsCOTSOrd = 3 // a stream with orderly release (TCP)
)

// Entry is an rpcb_entry, one element of GETADDRLIST's result.
type Entry struct {
	UAddr       string
	NetID       string
	Semantics   uint32
	ProtoFamily string // "inet", "inet6"
	Proto       string // "tcp", "udp"
}

// AppendEntries encodes an rpcb_entry_list.
func AppendEntries(e *xdr.Encoder, es []Entry) {
	for _, en := range es {
		e.Bool(true)
		e.String(en.UAddr)
		e.String(en.NetID)
		e.Uint32(en.Semantics)
		e.String(en.ProtoFamily)
		e.String(en.Proto)
	}
	e.Bool(false)
}

// DecodeEntries reads an rpcb_entry_list, at most max entries.
func DecodeEntries(d *xdr.Decoder, max int) ([]Entry, error) {
	var out []Entry
	for d.Bool() {
		if len(out) == max {
			return nil, fmt.Errorf("%w: more than %d entries", ErrBadArgs, max)
		}
		out = append(out, Entry{
			UAddr:       d.String(maxUAddr),
			NetID:       d.String(maxNetID),
			Semantics:   d.Uint32(),
			ProtoFamily: d.String(maxNetID),
			Proto:       d.String(maxNetID),
		})
	}
	if err := d.Err(); err != nil {
		return nil, fmt.Errorf("%w: entry list: %w", ErrBadArgs, err)
	}
	return out, nil
}

// ErrBadUAddr is returned by ParseUAddr.
var ErrBadUAddr = errors.New("portmap: malformed universal address")

// FormatUAddr writes an IP address and port as an RFC 1833 universal
// address: the address in its usual text form, then ".p1.p2", the port's
// high and low bytes in decimal (127.0.0.1.8.1 is 127.0.0.1 port 2049).
func FormatUAddr(ap netip.AddrPort) string {
	a := ap.Addr().Unmap()
	p := ap.Port()
	return a.WithZone("").String() + "." + strconv.Itoa(int(p>>8)) + "." + strconv.Itoa(int(p&0xff))
}

// ParseUAddr reads a universal address of an IPv4 or IPv6 transport.
func ParseUAddr(s string) (netip.AddrPort, error) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: %q", ErrBadUAddr, s)
	}
	j := strings.LastIndexByte(s[:i], '.')
	if j < 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: %q", ErrBadUAddr, s)
	}
	hi, err1 := strconv.ParseUint(s[j+1:i], 10, 8)
	lo, err2 := strconv.ParseUint(s[i+1:], 10, 8)
	a, err3 := netip.ParseAddr(s[:j])
	if err1 != nil || err2 != nil || err3 != nil || a.Zone() != "" {
		return netip.AddrPort{}, fmt.Errorf("%w: %q", ErrBadUAddr, s)
	}
	return netip.AddrPortFrom(a, uint16(hi<<8|lo)), nil
}

// NetID returns the netid of TCP or UDP (proto) over the family of a:
// "tcp", "tcp6", "udp" or "udp6". IPv4-mapped IPv6 addresses count as IPv4.
func NetID(proto uint32, a netip.Addr) string {
	n := "tcp"
	if proto == ProtoUDP {
		n = "udp"
	}
	if a.Is6() && !a.Is4In6() {
		n += "6"
	}
	return n
}
