package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/s3proxy"
)

// startFaultProxy starts an s3proxy in front of upstream
// ("http://127.0.0.1:PORT") with these fault rates, no latency, and faults
// disabled, and closes it when the test ends.
func startFaultProxy(t testing.TB, upstream string, seed uint64, rates s3proxy.Rates) *s3proxy.Proxy {
	t.Helper()
	p, err := s3proxy.Start(s3proxy.Options{Upstream: upstream, Seed: seed, Rates: rates})
	if err != nil {
		t.Fatalf("fault proxy: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// fpDuration is short by default and long with ZEROFS_TORTURE=1.
func fpDuration(short, long time.Duration) time.Duration {
	if os.Getenv("ZEROFS_TORTURE") == "1" {
		return long
	}
	return short
}

// fpNullPing checks the daemon answers NFS NULL on a fresh connection within a bound.
func fpNullPing(addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	// xid 1, CALL, rpcvers 2, prog NFS, vers 3, proc 0, AUTH_NONE cred and verf.
	call := []byte{0x80, 0, 0, 40, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0x86, 0xa3, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	if _, err := conn.Write(call); err != nil {
		return err
	}
	br := bufio.NewReader(conn)
	var hdr [4]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return fmt.Errorf("NULL reply: %w", err)
	}
	n := int(hdr[0]&0x7f)<<24 | int(hdr[1])<<16 | int(hdr[2])<<8 | int(hdr[3])
	if n < 24 || n > 1024 {
		return fmt.Errorf("NULL reply of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return fmt.Errorf("NULL reply: %w", err)
	}
	want := []byte{0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0}
	if string(body[:12]) != string(want) {
		return fmt.Errorf("NULL reply header % x, want xid 1 REPLY MSG_ACCEPTED", body[:12])
	}
	return nil
}
