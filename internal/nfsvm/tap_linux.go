package nfsvm

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// tapNet is the guest's network in tap mode: a network namespace of its own
// holding a tap device (whose file descriptor goes to QEMU) with hostAddr,
// and a listener per forwarded port there, relayed to 127.0.0.1. Nothing
// names the namespace: the tap descriptor and the listeners hold it, so it
// is gone once close has run (or this process has died).
type tapNet struct {
	tap    *os.File
	relays []*relay
}

const tapName = "tap0"

// newTapNet makes the namespace, the tap device and the relays of ports.
func newTapNet(hostAddr net.IP, ports []int) (*tapNet, error) {
	type result struct {
		tap *os.File
		lns []net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// This goroutine's thread enters the new namespace and is never
		// unlocked: the runtime ends the thread with the goroutine, so no
		// other goroutine ever runs in the namespace. Sockets and devices
		// made here stay in it wherever they are used later.
		runtime.LockOSThread()
		tap, lns, err := makeNamespace(hostAddr, ports)
		ch <- result{tap, lns, err}
	}()
	res := <-ch
	if res.err != nil {
		return nil, res.err
	}
	t := &tapNet{tap: res.tap}
	for i, ln := range res.lns {
		t.relays = append(t.relays, startRelay(ln, net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i]))))
	}
	return t, nil
}

// makeNamespace runs on a locked thread: it moves the thread into a new
// network namespace and sets it up.
func makeNamespace(hostAddr net.IP, ports []int) (tap *os.File, lns []net.Listener, err error) {
	defer func() {
		if err != nil {
			if tap != nil {
				tap.Close()
			}
			for _, ln := range lns {
				ln.Close()
			}
			tap, lns = nil, nil
		}
	}()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		return nil, nil, fmt.Errorf("making a network namespace: %w", err)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening /dev/net/tun: %w", err)
	}
	tap = os.NewFile(uintptr(fd), "/dev/net/tun")
	ifr, err := unix.NewIfreq(tapName)
	if err != nil {
		return tap, nil, err
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return tap, nil, fmt.Errorf("making tap device %s: %w", tapName, err)
	}
	sock, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return tap, nil, fmt.Errorf("socket for interface setup: %w", err)
	}
	defer unix.Close(sock)
	if err := setAddr(sock, tapName, unix.SIOCSIFADDR, hostAddr.To4()); err != nil {
		return tap, nil, err
	}
	if err := setAddr(sock, tapName, unix.SIOCSIFNETMASK, net.IP(net.CIDRMask(24, 32)).To4()); err != nil {
		return tap, nil, err
	}
	for _, name := range []string{"lo", tapName} {
		if err := linkUp(sock, name); err != nil {
			return tap, nil, err
		}
	}
	for _, p := range ports {
		ln, err := net.Listen("tcp4", net.JoinHostPort(hostAddr.String(), strconv.Itoa(p)))
		if err != nil {
			return tap, lns, fmt.Errorf("listening in the namespace: %w", err)
		}
		lns = append(lns, ln)
	}
	return tap, lns, nil
}

func setAddr(sock int, name string, req uint, addr net.IP) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := ifr.SetInet4Addr(addr); err != nil {
		return err
	}
	if err := unix.IoctlIfreq(sock, req, ifr); err != nil {
		return fmt.Errorf("setting %s of %s: %w", addr, name, err)
	}
	return nil
}

func linkUp(sock int, name string) error {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(sock, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("flags of %s: %w", name, err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(sock, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("bringing %s up: %w", name, err)
	}
	return nil
}

// close ends the relays and releases the tap device (after QEMU, which has
// its own descriptor, has exited, the namespace is gone).
func (t *tapNet) close() error {
	for _, r := range t.relays {
		r.close()
	}
	return t.tap.Close()
}
