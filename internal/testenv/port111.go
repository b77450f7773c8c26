package testenv

import (
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Port111LockFile is the file whose exclusive flock a test holds while it
// uses port 111 (a portmapper of ours, or rpcbind), so that such tests of
// different packages never run at once.
var Port111LockFile = filepath.Join(os.TempDir(), "zerofs-test-port111.lock")

// Port111 takes the port-111 lock for the rest of t (waiting for any other
// test holding it), then checks that port 111 of 127.0.0.1 is free on TCP
// and UDP. It skips t when the process may not bind it (not root) or when
// something else holds it (a portmapper of the host), saying which.
func Port111(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(Port111LockFile, os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatalf("port 111 lock: %v", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatalf("port 111 lock %s: %v", Port111LockFile, err)
	}
	t.Cleanup(func() { f.Close() }) // releases the flock
	ln, err := net.Listen("tcp", "127.0.0.1:111")
	if err != nil {
		t.Skipf("port 111 of 127.0.0.1 cannot be used for this test: %v", err)
	}
	ln.Close()
	pc, err := net.ListenPacket("udp", "127.0.0.1:111")
	if err != nil {
		t.Skipf("UDP port 111 of 127.0.0.1 cannot be used for this test: %v", err)
	}
	pc.Close()
}
