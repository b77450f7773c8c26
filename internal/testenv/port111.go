package testenv

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv/require"
)

// Port111LockFile is the file whose exclusive flock a test holds while it
// uses port 111 (a portmapper of ours, or rpcbind), so that such tests of
// different packages never run at once.
var Port111LockFile = filepath.Join(os.TempDir(), "zerofs-test-port111.lock")

// Port111 takes the port-111 lock for the rest of t (waiting for any other
// test holding it), then checks that port 111 of 127.0.0.1 is free on TCP
// and UDP. When the process may not bind it (not root) or something else
// holds it (a portmapper of the host), it skips t, saying which, or fails
// it under ZEROFS_REQUIRE_HOST=1 (see package require).
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
		require.Missing(t, require.Host, "port 111 of 127.0.0.1 cannot be used for this test: %v", err)
	}
	ln.Close()
	pc, err := net.ListenPacket("udp", "127.0.0.1:111")
	if err != nil {
		require.Missing(t, require.Host, "UDP port 111 of 127.0.0.1 cannot be used for this test: %v", err)
	}
	pc.Close()
}

// RPCBindSocket is where rpcbind takes local registrations.
const RPCBindSocket = "/run/rpcbind.sock"

// RPCBind runs the host's rpcbind (Debian's package) in the foreground for
// the rest of t, holding the port-111 lock (Port111), and returns once it
// accepts TCP connections on 127.0.0.1:111 and has its Unix socket. When
// rpcbind is not installed or the process is not root it skips t, or fails
// it under ZEROFS_REQUIRE_HOST=1.
func RPCBind(t testing.TB) {
	t.Helper()
	bin, err := exec.LookPath("rpcbind")
	if err != nil {
		bin = "/usr/sbin/rpcbind"
		if _, err := os.Stat(bin); err != nil {
			require.Missing(t, require.Host, "rpcbind is not installed (Debian package rpcbind; scripts/test-deps.sh installs it)")
		}
	}
	if os.Getuid() != 0 {
		require.Missing(t, require.Host, "rpcbind needs root")
	}
	Port111(t)
	cmd := exec.Command(bin, "-f")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var out SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting rpcbind: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		os.Remove(RPCBindSocket) // rpcbind leaves it behind
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:111", time.Second)
		if err == nil {
			c.Close()
			if _, err = os.Stat(RPCBindSocket); err == nil {
				return
			}
		}
		select {
		case <-exited:
			t.Fatalf("rpcbind exited at start; its output:\n%s", out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("rpcbind did not start: %v; its output:\n%s", err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
