package portmap

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"unsafe"
)

// On Linux a UDP socket bound to a wildcard address learns the address each
// datagram was sent to (IP_PKTINFO, IPV6_RECVPKTINFO), so that GETADDR can
// name it and the reply can leave from it (a client that connected its UDP
// socket, like the Linux kernel's, drops replies from any other address).

// enableDestination asks the kernel to report each datagram's destination
// address and returns the socket's address family.
func enableDestination(c *net.UDPConn) (int, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var family int
	var serr error
	err = raw.Control(func(fd uintptr) {
		family, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_DOMAIN)
		if serr != nil {
			return
		}
		if family == syscall.AF_INET6 {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_RECVPKTINFO, 1)
		} else {
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_PKTINFO, 1)
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return 0, fmt.Errorf("portmap: enable packet info: %w", err)
	}
	return family, nil
}

// destination returns the destination address of a datagram from its
// control messages.
func destination(oob []byte) (netip.Addr, bool) {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return netip.Addr{}, false
	}
	for _, m := range msgs {
		switch {
		case m.Header.Level == syscall.IPPROTO_IP && m.Header.Type == syscall.IP_PKTINFO && len(m.Data) >= syscall.SizeofInet4Pktinfo:
			pi := (*syscall.Inet4Pktinfo)(unsafe.Pointer(&m.Data[0]))
			return netip.AddrFrom4(pi.Addr), true
		case m.Header.Level == syscall.IPPROTO_IPV6 && m.Header.Type == syscall.IPV6_PKTINFO && len(m.Data) >= syscall.SizeofInet6Pktinfo:
			pi := (*syscall.Inet6Pktinfo)(unsafe.Pointer(&m.Data[0]))
			return netip.AddrFrom16(pi.Addr).Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// sourceControl returns the control message that makes a reply leave from
// src, for a socket of the given family.
func sourceControl(family int, src netip.Addr) []byte {
	switch {
	case family == syscall.AF_INET && src.Is4():
		b := make([]byte, syscall.CmsgSpace(syscall.SizeofInet4Pktinfo))
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = syscall.IPPROTO_IP, syscall.IP_PKTINFO
		h.SetLen(syscall.CmsgLen(syscall.SizeofInet4Pktinfo))
		pi := (*syscall.Inet4Pktinfo)(unsafe.Pointer(&b[syscall.CmsgLen(0)]))
		pi.Spec_dst = src.As4()
		return b
	case family == syscall.AF_INET6:
		b := make([]byte, syscall.CmsgSpace(syscall.SizeofInet6Pktinfo))
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = syscall.IPPROTO_IPV6, syscall.IPV6_PKTINFO
		h.SetLen(syscall.CmsgLen(syscall.SizeofInet6Pktinfo))
		pi := (*syscall.Inet6Pktinfo)(unsafe.Pointer(&b[syscall.CmsgLen(0)]))
		pi.Addr = src.As16()
		return b
	}
	return nil
}
