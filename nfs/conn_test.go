package nfs_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// unreadReplies serves a 1 MiB file with MaxInFlight slots and has conns
// connections send calls READs of all of it each, never reading a reply.
// It returns once the server holds as many replies as it will (every slot
// held by a reply that cannot be written), failing the test if it ever
// holds more than MaxInFlight.
func unreadReplies(t *testing.T, maxInFlight, conns, calls int) (*testServer, []net.Conn) {
	t.Helper()
	fs, _ := newFS(t)
	cx := ctx(t)
	f, err := fs.Create(cx, kvfs.Cred{}, kvfs.RootIno, "big", kvfs.CreateRequest{})
	check(t, err)
	_, err = fs.Write(cx, kvfs.Cred{}, f.Attr.Ino, 0, make([]byte, 1<<20))
	check(t, err)
	fh := nfs.Handle{FSID: fs.FSID(), Ino: f.Attr.Ino, Gen: f.Attr.Gen}.Bytes()
	ts := startServer(t, nfs.ServerOptions{MaxInFlight: maxInFlight, WriteTimeout: time.Hour},
		&nfs.Export{Name: "a", Path: "/a", FS: fs})
	ln := newPipeListener()
	ts.serveOn(t, ln)

	var clients []net.Conn
	for i := range conns {
		nc := ln.dial(t)
		clients = append(clients, nc)
		var wire []byte
		for j := range calls {
			e := xdr.NewEncoder(rpc.BeginRecord(nil))
			rpc.AppendCall(e, uint32(i<<16|j), nfs.ProgramNFS, nfs.VersionNFS, nfs.ProcRead, rpc.OpaqueAuth{})
			e.Opaque(fh)
			e.Uint64(0)
			e.Uint32(1 << 20)
			rpc.EndRecord(e.Buf)
			wire = append(wire, e.Buf...)
		}
		go nc.Write(wire) // blocks while the server does not read; fails when closed
	}
	waitFor(t, "every slot held by an unread reply", func() bool {
		st := ts.srv.Stats()
		if st.QueuedReplies > maxInFlight {
			t.Fatalf("%d replies held with MaxInFlight %d (%+v)", st.QueuedReplies, maxInFlight, st)
		}
		return st.QueuedReplies == maxInFlight && st.InFlight == maxInFlight
	})
	return ts, clients
}

// Replies a client does not read count against MaxInFlight until they are
// written: clients that pipeline large READs and never read the replies
// make the server hold at most MaxInFlight replies, not one connection's
// limit per connection.
func TestUnreadRepliesStayWithinMaxInFlight(t *testing.T) {
	// Nine calls for eight slots: the ninth waits for a slot. (Were a
	// reply's slot given back before it is written, the ninth would run
	// and its reply be held too.)
	const maxInFlight = 8
	ts, _ := unreadReplies(t, maxInFlight, 3, 3)
	if st := ts.srv.Stats(); st.QueuedReplies != maxInFlight {
		t.Fatalf("stats %+v, want %d replies held", st, maxInFlight)
	}
}

// Closing the connections whose replies hold the server's slots gives the
// slots back: the calls still waiting run (their replies are dropped), and
// other clients are served.
func TestClosedConnectionsGiveBackReplySlots(t *testing.T) {
	ts, clients := unreadReplies(t, 4, 3, 3)
	for _, nc := range clients {
		nc.Close()
	}
	waitFor(t, "the closed connections' slots given back", func() bool {
		st := ts.srv.Stats()
		return st == nfs.ServerStats{}
	})
	c := dial(t, ts.addr)
	check(t, c.Null(ctx(t)))
}

// An Accept that fails, as it does when file descriptors run out, is
// logged once and retried: Serve goes on and serves the next connection.
func TestServeRetriesFailedAccepts(t *testing.T) {
	fs, _ := newFS(t)
	var logs testenv.SyncBuffer
	set := &exportSet{list: []*nfs.Export{{Name: "a", Path: "/a", FS: fs}}}
	srv, err := nfs.NewServer(nfs.ServerOptions{Exports: set, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	check(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(t, err)
	var serveErr error
	served := make(chan struct{})
	go func() {
		defer close(served)
		serveErr = srv.Serve(context.Background(), testenv.FailingAccepts(ln, syscall.EMFILE, 3))
	}()
	t.Cleanup(func() {
		check(t, srv.Shutdown(context.Background()))
		<-served
	})

	c := dial(t, ln.Addr().String())
	answered := make(chan error, 1)
	go func() { answered <- c.Null(ctx(t)) }()
	select {
	case <-served:
		t.Fatalf("Serve returned after failed accepts: %v", serveErr)
	case err := <-answered:
		check(t, err)
	}
	if n := strings.Count(logs.String(), "accept failed"); n != 1 {
		t.Fatalf("%d lines for three failed accepts, want 1:\n%s", n, logs.String())
	}
}

// waitClosedByServer fails the test unless the server closes nc.
func waitClosedByServer(t *testing.T, nc net.Conn) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	var b [1]byte
	if n, err := nc.Read(b[:]); err == nil || n != 0 || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection from %s still open (read %d, %v)", nc.LocalAddr(), n, err)
	}
}

// A host that no export allows is closed at once: its connections cannot
// take the slots an allowed client needs.
func TestConnectionFromHostNoExportAllowsClosed(t *testing.T) {
	fs, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{MaxConnections: 4}, &nfs.Export{Name: "a", Path: "/a", FS: fs,
		AllowedClients: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	for range 4 {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.9")}}
		nc, err := d.Dial("tcp", ts.addr)
		check(t, err)
		t.Cleanup(func() { nc.Close() })
		waitClosedByServer(t, nc)
	}
	c, err := dialFrom(t, ts.addr, "127.0.0.1:0")
	check(t, err)
	mount(t, c, "/a")

	// Once an export allows the host (a reload), its connections are served.
	fsB, _ := newFS(t)
	ts.exports.mu.Lock()
	ts.exports.list = append(ts.exports.list, &nfs.Export{Name: "b", Path: "/b", FS: fsB,
		AllowedClients: []netip.Prefix{netip.MustParsePrefix("127.0.0.8/29")}})
	ts.exports.mu.Unlock()
	other, err := dialFrom(t, ts.addr, "127.0.0.9:0")
	check(t, err)
	mount(t, other, "/b")
}

// waitDone fails the test unless the server closes c's connection.
func waitDone(t *testing.T, c *nfsclient.Client, what string) {
	t.Helper()
	select {
	case <-c.RPC.Done():
	case <-time.After(30 * time.Second):
		t.Fatalf("%s was not closed", what)
	}
}

// At MaxConnections, a new connection takes the place of the one idle the
// longest; when every connection has calls in flight, it is refused.
func TestConnectionLimitClosesTheIdlest(t *testing.T) {
	fs, _ := newFS(t)
	gate := newGate(fs, kvfs.RootIno, false)
	ts := startServer(t, nfs.ServerOptions{MaxConnections: 2}, &nfs.Export{Name: "a", Path: "/a", FS: gate})
	cx := ctx(t)
	a, b := dial(t, ts.addr), dial(t, ts.addr)
	root := mount(t, a, "/a")
	check(t, b.Null(cx))
	check(t, a.Null(cx)) // b is now the idlest
	waitFor(t, "no call in flight", func() bool { return ts.srv.Stats().InFlight == 0 })
	c := dial(t, ts.addr)
	check(t, c.Null(cx))
	waitDone(t, b, "the idlest connection")
	check(t, a.Null(cx))

	// a and c each have a call in flight: a new connection is refused.
	gate.armed.Store(true)
	done := make(chan error, 2)
	for _, cl := range []*nfsclient.Client{a, c} {
		go func() {
			_, err := cl.Getattr(cx, root)
			done <- err
		}()
	}
	waitEntered(t, gate)
	waitEntered(t, gate)
	d := dial(t, ts.addr)
	waitDone(t, d, "a connection above the limit of busy connections")
	close(gate.release)
	for range 2 {
		check(t, <-done)
	}
	if st := ts.srv.Stats(); st.Connections != 2 {
		t.Fatalf("stats %+v, want 2 connections", st)
	}
}
