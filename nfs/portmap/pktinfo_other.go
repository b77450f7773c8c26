//go:build !linux

package portmap

import (
	"errors"
	"net"
	"net/netip"
)

// Elsewhere than Linux the destination of a datagram is not known: GETADDR
// over UDP names the portmapper's own listening address.

func enableDestination(*net.UDPConn) (int, error) {
	return 0, errors.New("portmap: packet info is only read on Linux")
}

func destination([]byte) (netip.Addr, bool) { return netip.Addr{}, false }

func sourceControl(int, netip.Addr) []byte { return nil }
