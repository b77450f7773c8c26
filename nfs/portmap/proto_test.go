package portmap

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

func TestUAddr(t *testing.T) {
	tests := []struct {
		ap   string
		want string
	}{
		{"127.0.0.1:2049", "127.0.0.1.8.1"},
		{"0.0.0.0:111", "0.0.0.0.0.111"},
		{"10.1.2.3:65535", "10.1.2.3.255.255"},
		{"[::]:2049", "::.8.1"},
		{"[fd00::1]:1", "fd00::1.0.1"},
		{"[::ffff:192.0.2.1]:2049", "192.0.2.1.8.1"}, // mapped: written as IPv4
	}
	for _, tt := range tests {
		ap := netip.MustParseAddrPort(tt.ap)
		got := FormatUAddr(ap)
		if got != tt.want {
			t.Errorf("FormatUAddr(%s) = %q, want %q", tt.ap, got, tt.want)
		}
		back, err := ParseUAddr(got)
		if err != nil || back != netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()) {
			t.Errorf("ParseUAddr(%q) = %v, %v", got, back, err)
		}
	}
	for _, bad := range []string{"", "1.2.3.4", "1.2.3.4.8", "1.2.3.4.256.1", "1.2.3.4.1.-1", "x.8.1", "1.2.3.8.1", "fe80::1%eth0.8.1", "1.2.3.4. 8.1"} {
		if ap, err := ParseUAddr(bad); !errors.Is(err, ErrBadUAddr) {
			t.Errorf("ParseUAddr(%q) = %v, %v; want ErrBadUAddr", bad, ap, err)
		}
	}
}

func TestNetID(t *testing.T) {
	tests := []struct {
		proto uint32
		addr  string
		want  string
	}{
		{ProtoTCP, "127.0.0.1", "tcp"},
		{ProtoUDP, "127.0.0.1", "udp"},
		{ProtoTCP, "::1", "tcp6"},
		{ProtoUDP, "::", "udp6"},
		{ProtoTCP, "::ffff:127.0.0.1", "tcp"},
	}
	for _, tt := range tests {
		if got := NetID(tt.proto, netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("NetID(%d, %s) = %q, want %q", tt.proto, tt.addr, got, tt.want)
		}
	}
}

func TestListsRoundTrip(t *testing.T) {
	ms := []Mapping{{100000, 2, ProtoTCP, 111}, {100003, 3, ProtoTCP, 2049}}
	rs := []RPCB{{100003, 3, "tcp", "0.0.0.0.8.1", "zerofsd"}, {100005, 3, "tcp6", "::.8.1", ""}}
	es := []Entry{{"127.0.0.1.8.1", "tcp", SemanticsCOTSOrd, "inet", "tcp"}}

	var e xdr.Encoder
	AppendMappings(&e, ms)
	AppendRPCBs(&e, rs)
	AppendEntries(&e, es)
	AppendMappings(&e, nil)
	d := xdr.NewDecoder(e.Buf)
	gotMs, err1 := DecodeMappings(d, 10)
	gotRs, err2 := DecodeRPCBs(d, 10)
	gotEs, err3 := DecodeEntries(d, 10)
	empty, err4 := DecodeMappings(d, 10)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(gotMs, ms) || !reflect.DeepEqual(gotRs, rs) || !reflect.DeepEqual(gotEs, es) || empty != nil || d.Remaining() != 0 {
		t.Fatalf("round trip: %v %v %v %v, %d bytes left", gotMs, gotRs, gotEs, empty, d.Remaining())
	}

	// A list longer than the maximum, and a truncated one, are refused.
	if _, err := DecodeMappings(xdr.NewDecoder(e.Buf), 1); !errors.Is(err, ErrBadArgs) {
		t.Errorf("2 mappings with a maximum of 1: %v", err)
	}
	if _, err := DecodeRPCBs(xdr.NewDecoder(e.Buf[:len(e.Buf)-6]), 10); !errors.Is(err, ErrBadArgs) {
		t.Errorf("truncated list: %v", err)
	}
}

func TestDecodeRPCBLimits(t *testing.T) {
	var e xdr.Encoder
	e.Uint32(100003)
	e.Uint32(3)
	e.String(string(make([]byte, maxNetID+1)))
	e.String("")
	e.String("")
	if _, err := DecodeRPCB(xdr.NewDecoder(e.Buf)); !errors.Is(err, ErrBadArgs) || !errors.Is(err, xdr.ErrTooLong) {
		t.Fatalf("an over-long netid: %v", err)
	}
}
