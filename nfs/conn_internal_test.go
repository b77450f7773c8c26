package nfs

import (
	"net"
	"net/netip"
	"testing"

	"github.com/zerofs-go/zerofsd/nfs/rpc"
)

// addrConn is a net.Conn with a given remote address.
type addrConn struct {
	net.Conn
	remote net.Addr
}

func (c addrConn) RemoteAddr() net.Addr { return c.remote }

// The client's address is taken without IPv4 mapping nor IPv6 zone, so
// that the prefixes of allowed_clients match it: a link-local client's
// address arrives with its zone (fe80::1%eth0), which no prefix contains.
func TestRemoteAddrMatchesAllowedClients(t *testing.T) {
	exp := &Export{AllowedClients: []netip.Prefix{
		netip.MustParsePrefix("fe80::/10"),
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("2001:db8::/32"),
	}}
	for _, tc := range []struct {
		remote  net.Addr
		want    string
		port    uint16
		allowed bool
	}{
		{&net.TCPAddr{IP: net.ParseIP("10.1.2.3"), Port: 700}, "10.1.2.3", 700, true},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:10.1.2.3"), Port: 700}, "10.1.2.3", 700, true},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 800, Zone: "eth0"}, "fe80::1", 800, true},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 800, Zone: "3"}, "fe80::1", 800, true},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::7"), Port: 900}, "2001:db8::7", 900, true},
		{&net.TCPAddr{IP: net.ParseIP("192.168.0.1"), Port: 700}, "192.168.0.1", 700, false},
		{&net.UnixAddr{Name: "/run/x", Net: "unix"}, "invalid IP", 0, false},
	} {
		addr, port := rpc.PeerAddr(addrConn{remote: tc.remote})
		if addr.String() != tc.want || port != tc.port {
			t.Errorf("%v: address %v port %d, want %s port %d", tc.remote, addr, port, tc.want, tc.port)
		}
		if got := exp.allows(addr); got != tc.allowed {
			t.Errorf("%v: allowed %v, want %v", tc.remote, got, tc.allowed)
		}
	}
}
