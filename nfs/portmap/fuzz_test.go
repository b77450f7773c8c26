package portmap

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// call encodes a call message to the portmapper.
func call(vers, proc uint32, args func(e *xdr.Encoder)) []byte {
	var e xdr.Encoder
	rpc.AppendCall(&e, 7, Program, vers, proc, rpc.AuthSysCred{MachineName: "client", UID: 1000, GID: 1000}.Encode())
	if args != nil {
		args(&e)
	}
	return e.Buf
}

// FuzzHandle feeds any message to the dispatcher: it must not panic, and
// whatever it answers is a well-formed reply to the message's xid, small.
func FuzzHandle(f *testing.F) {
	m := func(e *xdr.Encoder) { Mapping{Prog: progNFS, Vers: 3, Prot: ProtoTCP}.Append(e) }
	r := func(e *xdr.Encoder) { RPCB{Prog: progMount, Vers: 3, NetID: "tcp"}.Append(e) }
	for _, seed := range [][]byte{
		call(2, PMAPProcNull, nil),
		call(2, PMAPProcGetPort, m),
		call(2, PMAPProcSet, m),
		call(2, PMAPProcDump, nil),
		call(3, RPCBProcGetAddr, r),
		call(4, RPCBProcGetVersAddr, r),
		call(4, RPCBProcGetAddrList, r),
		call(4, RPCBProcDump, nil),
		call(4, RPCBProcGetTime, nil),
		call(4, RPCBProcUnset, r),
		call(9, 0, nil),
		{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 3},
		{1, 2, 3},
	} {
		f.Add(seed, false)
	}
	s := &Server{
		opts: Options{Services: testServices, Port: 2049},
		log:  quietLogger(),
		self: netip.MustParseAddrPort("0.0.0.0:111"),
	}
	f.Fuzz(func(t *testing.T, msg []byte, udp bool) {
		tr := transport{proto: ProtoTCP, local: netip.MustParseAddr("192.0.2.1")}
		if udp {
			tr.proto = ProtoUDP
		}
		var e xdr.Encoder
		if !s.handle(msg, tr, &e) {
			return
		}
		if len(e.Buf) > 4<<10 {
			t.Fatalf("a %d-byte reply", len(e.Buf))
		}
		xid, _, err := rpc.ParseReply(e.Buf)
		var re *rpc.ReplyError
		if err != nil && !errors.As(err, &re) {
			t.Fatalf("malformed reply %x: %v", e.Buf, err)
		}
		if len(msg) < 4 || xid != binary.BigEndian.Uint32(msg) {
			t.Fatalf("reply xid %#x to message %x", xid, msg)
		}
	})
}

// FuzzDecodeRPCB: what decodes re-encodes to the same bytes.
func FuzzDecodeRPCB(f *testing.F) {
	var e xdr.Encoder
	RPCB{Prog: 100003, Vers: 3, NetID: "tcp6", UAddr: "::.8.1", Owner: "superuser"}.Append(&e)
	f.Add(e.Buf)
	f.Add([]byte{0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		d := xdr.NewDecoder(b)
		r, err := DecodeRPCB(d)
		if err != nil {
			return
		}
		var e xdr.Encoder
		r.Append(&e)
		r2, err := DecodeRPCB(xdr.NewDecoder(e.Buf))
		if err != nil || !reflect.DeepEqual(r, r2) || len(e.Buf) != d.Offset() {
			t.Fatalf("%+v re-encodes to %x (%d bytes read), which decodes to %+v, %v", r, e.Buf, d.Offset(), r2, err)
		}
	})
}

// FuzzDecodeLists: the list decoders stop at their maximum and never
// panic; a decoded list re-encodes to the bytes read.
func FuzzDecodeLists(f *testing.F) {
	var e xdr.Encoder
	AppendMappings(&e, []Mapping{{1, 2, 3, 4}})
	f.Add(e.Buf)
	e = xdr.Encoder{}
	AppendRPCBs(&e, []RPCB{{1, 2, "tcp", "1.2.3.4.0.1", "x"}})
	f.Add(e.Buf)
	e = xdr.Encoder{}
	AppendEntries(&e, []Entry{{"1.2.3.4.0.1", "tcp", 3, "inet", "tcp"}})
	f.Add(e.Buf)
	f.Fuzz(func(t *testing.T, b []byte) {
		const max = 8
		d := xdr.NewDecoder(b)
		if ms, err := DecodeMappings(d, max); err == nil {
			var e xdr.Encoder
			AppendMappings(&e, ms)
			if len(ms) > max || string(e.Buf) != string(b[:d.Offset()]) {
				t.Fatalf("mappings %v from %x", ms, b[:d.Offset()])
			}
		}
		d = xdr.NewDecoder(b)
		if rs, err := DecodeRPCBs(d, max); err == nil {
			var e xdr.Encoder
			AppendRPCBs(&e, rs)
			if len(rs) > max || len(e.Buf) != d.Offset() {
				t.Fatalf("registrations %v from %x", rs, b[:d.Offset()])
			}
		}
		d = xdr.NewDecoder(b)
		if es, err := DecodeEntries(d, max); err == nil {
			var e xdr.Encoder
			AppendEntries(&e, es)
			if len(es) > max || len(e.Buf) != d.Offset() {
				t.Fatalf("entries %v from %x", es, b[:d.Offset()])
			}
		}
	})
}

// FuzzParseUAddr: what parses formats back to an address that parses the same.
func FuzzParseUAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1.8.1", "::.0.111", "fd00::1.255.255", "1.2.3.4.5", "::ffff:1.2.3.4.0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ap, err := ParseUAddr(s)
		if err != nil {
			return
		}
		back, err := ParseUAddr(FormatUAddr(ap))
		if err != nil || back != netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) {
			t.Fatalf("%q parses to %v, formats to %q, parses to %v, %v", s, ap, FormatUAddr(ap), back, err)
		}
	})
}
