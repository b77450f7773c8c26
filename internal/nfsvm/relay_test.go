package nfsvm

import (
	"bufio"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// echoServer answers every line with "<tag> <line>" and, when the client
// half-closes, writes "<tag> bye" and closes.
func echoServer(t *testing.T, addr, tag string) net.Listener {
	t.Helper()
	return lineServer(t, addr, func(line string) string { return tag + " " + line }, tag+" bye")
}

// lineServer listens on addr and answers every line a client sends with
// answer(line); when the client half-closes it writes bye (unless empty)
// and closes.
func lineServer(t *testing.T, addr string, answer func(line string) string, bye string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					io.WriteString(c, answer(sc.Text())+"\n")
				}
				if bye != "" {
					io.WriteString(c, bye+"\n")
				}
			}()
		}
	}()
	return ln
}

func TestRelay(t *testing.T) {
	target := echoServer(t, "127.0.0.1:0", "one")
	addr := target.Addr().String()
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := startRelay(front, addr)
	defer r.close()

	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", front.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	expect := func(br *bufio.Reader, want string) {
		t.Helper()
		line, err := br.ReadString('\n')
		if err != nil || strings.TrimSpace(line) != want {
			t.Fatalf("read %q, %v; want %q", line, err, want)
		}
	}

	// Many connections at once, each its own.
	var conns []net.Conn
	var readers []*bufio.Reader
	for range 5 {
		c, br := dial()
		conns, readers = append(conns, c), append(readers, br)
	}
	for i, c := range conns {
		io.WriteString(c, strings.Repeat("x", i+1)+"\n")
	}
	for i, br := range readers {
		expect(br, "one "+strings.Repeat("x", i+1))
	}

	// A half-close reaches the server, and its answer still comes back.
	conns[0].(*net.TCPConn).CloseWrite()
	expect(readers[0], "one bye")
	if _, err := readers[0].ReadString('\n'); err != io.EOF {
		t.Fatalf("after the server closed: %v, want EOF", err)
	}

	// The server goes away: relayed connections end, new ones are closed.
	target.Close()
	for _, c := range conns[1:] {
		c.Close()
	}
	c, br := dial()
	if _, err := br.ReadString('\n'); err == nil {
		t.Fatal("a connection relayed to nothing stayed open")
	}
	c.Close()

	// The server comes back on the same port: reached again.
	echoServer(t, addr, "two")
	c, br = dial()
	io.WriteString(c, "again\n")
	expect(br, "two again")

	// close ends the connections it relays.
	r.close()
	if _, err := br.ReadString('\n'); err == nil {
		t.Fatal("relay closed but its connection still open")
	}
}

func TestVisibleInGuest(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"/var/cache/zerofs-e2e/run-1/src.tar", true},
		{"/usr/local/go", true},
		{"/tmp", false},
		{"/tmp/x/y", false},
		{"/tmpfoo/x", true},
		{"/run/user/0", false},
		{"/root/go/bin", false},
		{"/var/tmp/x", false},
		{"/var/tmpx", true},
		{"/proc/self", false},
		{"/dev/null", false},
	}
	for _, tc := range tests {
		if got := VisibleInGuest(tc.path); got != tc.want {
			t.Errorf("VisibleInGuest(%q) = %v, want %v", tc.path, got, tc.want)
		}
	}
	// A symbolic link in a visible directory (this one) that points into
	// /tmp is as hidden as /tmp.
	link, err := filepath.Abs("testlink-visible-in-guest")
	if err != nil {
		t.Fatal(err)
	}
	if !VisibleInGuest(filepath.Dir(link)) {
		t.Skipf("this checkout (%s) is not visible in the guest itself", filepath.Dir(link))
	}
	if err := os.Symlink(t.TempDir(), link); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(link)
	if VisibleInGuest(filepath.Join(link, "file")) {
		t.Errorf("VisibleInGuest(%s/file) = true for a link into a private directory", link)
	}
}
