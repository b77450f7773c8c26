package nfs

import (
	"io"
	"net"
	"syscall"
)

// quickAckReader reads from a TCP connection and asks the kernel to
// acknowledge what arrived at once (TCP_QUICKACK, which Linux resets after
// a while, hence after every read). Without it, a client whose stack holds
// back the second half of a record until the first is acknowledged (Nagle)
// waits for our delayed-ACK timer (up to 40 ms) on every such record,
// because we send nothing until the record is complete.
type quickAckReader struct {
	conn net.Conn
	raw  syscall.RawConn
}

func newQuickAckReader(c net.Conn) io.Reader {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	return &quickAckReader{conn: c, raw: raw}
}

func (q *quickAckReader) Read(p []byte) (int, error) {
	n, err := q.conn.Read(p)
	if n > 0 {
		q.raw.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 1)
		})
	}
	return n, err
}
