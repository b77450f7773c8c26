package testenv

import (
	"net"
	"os"
	"sync/atomic"
	"syscall"
)

// FailingAccepts returns a listener whose first n Accepts fail with errno
// as the kernel's accept does (a *net.OpError around an *os.SyscallError),
// without taking a connection, and whose later ones are ln's. With
// syscall.EMFILE it plays a process out of file descriptors.
func FailingAccepts(ln net.Listener, errno syscall.Errno, n int) net.Listener {
	f := &failingListener{Listener: ln, errno: errno}
	f.left.Store(int64(n))
	return f
}

type failingListener struct {
	net.Listener
	errno syscall.Errno
	left  atomic.Int64
}

func (f *failingListener) Accept() (net.Conn, error) {
	if f.left.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: f.Addr().Network(), Addr: f.Addr(), Err: os.NewSyscallError("accept4", f.errno)}
	}
	return f.Listener.Accept()
}
