package e2e

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// bcProcMemory returns the daemon's resident and peak resident memory.
func bcProcMemory(d *daemon) string {
	d.mu.Lock()
	cmd := d.cmd
	d.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return "unknown"
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		return "unknown"
	}
	var parts []string
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") || strings.HasPrefix(line, "VmHWM:") {
			parts = append(parts, strings.Join(strings.Fields(line), " "))
		}
	}
	return strings.Join(parts, ", ")
}

// TestBadClientNeverReadsMemory is a focused check: one connection sends
// many large READs and never reads the replies. The server must stop
// reading calls from it (max_requests_per_conn) rather than queue replies
// without bound. It measures the daemon's resident memory growth.
func TestBadClientNeverReadsMemory(t *testing.T) {

	dir := t.TempDir()
	d := newDaemon(t, dir, []exportSpec{{Name: "bad", Store: "file://" + filepath.Join(dir, "bad"), Extra: `squash = "none"`}})
	d.Start()
	ctx := stepContext(t)
	c, err := nfsclient.Dial(ctx, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	root, _, err := c.Mount(ctx, "/bad")
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Create(ctx, root, "one-mib", nfsclient.Unchecked, nfsclient.Sattr{Mode: nfsclient.U32(0o644)}, [8]byte{})
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	for off := 0; off < 1<<20; off += len(chunk) {
		if _, err := c.Write(ctx, f.FH, uint64(off), chunk, nfsclient.FileSync); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	rss := func() int64 {
		d.mu.Lock()
		pid := d.cmd.Process.Pid
		d.mu.Unlock()
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "VmRSS:") {
				v, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
				return v << 10
			}
		}
		return 0
	}
	before := rss()
	conn, err := net.Dial("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	const calls = 600
	var buf []byte
	for i := range calls {
		body := bcCall(uint32(i+1), nfs.ProgramNFS, nfs.VersionNFS, nfs.ProcRead, bcCred(), func(e *xdr.Encoder) {
			e.Opaque(f.FH)
			e.Uint64(0)
			e.Uint32(1 << 20)
		})
		buf = append(buf, bcRecord(body)...)
	}
	conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	n, _ := conn.Write(buf)
	time.Sleep(3 * time.Second) // let the server take in what it will
	after := rss()
	grown := after - before
	t.Logf("%d READ calls (%d bytes sent, %d accepted by the socket) of a 1 MiB file, replies never read: daemon RSS %d MiB -> %d MiB (+%d MiB)",
		calls, len(buf), n, before>>20, after>>20, grown>>20)
	if grown > 256<<20 {
		t.Errorf("one connection that never reads its replies grew the daemon by %d MiB with %d KiB of calls: replies queue without bound", grown>>20, len(buf)>>10)
	}
}
