package nfs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
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

// unreadReplyServer serves a 1 MiB file over pipe connections (see
// pipeListener), whose clients send READs and never read the replies.
type unreadReplyServer struct {
	*testServer
	ln *pipeListener
	fh []byte
	// bound is the server's bound on the bytes of replies waiting to be
	// written.
	bound int64
}

func startUnreadReplyServer(t *testing.T, opts nfs.ServerOptions) *unreadReplyServer {
	t.Helper()
	fs, _ := newFS(t)
	cx := ctx(t)
	f, err := fs.Create(cx, kvfs.Cred{}, kvfs.RootIno, "big", kvfs.CreateRequest{})
	check(t, err)
	_, err = fs.Write(cx, kvfs.Cred{}, f.Attr.Ino, 0, make([]byte, 1<<20))
	check(t, err)
	opts.WriteTimeout = time.Hour
	ts := startServer(t, opts, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	ln := newPipeListener()
	ts.serveOn(t, ln)
	return &unreadReplyServer{
		testServer: ts,
		ln:         ln,
		fh:         nfs.Handle{FSID: fs.FSID(), Ino: f.Attr.Ino, Gen: f.Attr.Gen}.Bytes(),
		bound:      ts.srv.Stats().MaxQueuedReplyBytes,
	}
}

// sendReads opens a connection that sends calls READs of size bytes and
// never reads a reply; it returns the client's end.
func (u *unreadReplyServer) sendReads(t *testing.T, calls, size int) net.Conn {
	t.Helper()
	nc := u.ln.dial(t)
	var wire []byte
	for j := range calls {
		e := xdr.NewEncoder(rpc.BeginRecord(nil))
		rpc.AppendCall(e, uint32(j+1), nfs.ProgramNFS, nfs.VersionNFS, nfs.ProcRead, rpc.OpaqueAuth{})
		e.Opaque(u.fh)
		e.Uint64(0)
		e.Uint32(uint32(size))
		rpc.EndRecord(e.Buf)
		wire = append(wire, e.Buf...)
	}
	go nc.Write(wire) // blocks while the server does not read; fails when closed
	return nc
}

// waitQueued waits until the server holds n replies waiting to be written.
func (u *unreadReplyServer) waitQueued(t *testing.T, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d replies waiting to be written", n), func() bool {
		return u.srv.Stats().QueuedReplies == n
	})
}

// withinBound fails the test if the bytes of the replies waiting to be
// written pass the bound.
func (u *unreadReplyServer) withinBound(t *testing.T) {
	t.Helper()
	if st := u.srv.Stats(); st.QueuedReplyBytes > u.bound {
		t.Fatalf("%d bytes of replies held, bound %d (%+v)", st.QueuedReplyBytes, u.bound, st)
	}
}

// waitWriting waits until the server is writing a reply on nc, the
// client's end of a pipe: a read of nothing returns once a write has begun
// on the other end, and takes none of it.
func waitWriting(t *testing.T, nc net.Conn) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := nc.Read(nil); err != nil {
		t.Fatalf("waiting for a reply to be written: %v", err)
	}
	nc.SetReadDeadline(time.Time{})
}

// served fails the test unless an unrelated client gets answers to NULL
// and GETATTR (within 30 seconds: the server must not wait for the
// replies that others do not read).
func (u *unreadReplyServer) served(t *testing.T) {
	t.Helper()
	c := dial(t, u.addr)
	root := mount(t, c, "/a")
	cx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Null(cx); err != nil {
		t.Fatalf("NULL of an unrelated client: %v (stats %+v)", err, u.srv.Stats())
	}
	if _, err := c.Getattr(cx, root); err != nil {
		t.Fatalf("GETATTR of an unrelated client: %v (stats %+v)", err, u.srv.Stats())
	}
}

// Replies that clients do not read do not hold the server's call slots:
// with every one of MaxInFlight calls answered and unread, another
// client is served.
func TestUnreadRepliesLeaveOthersServed(t *testing.T) {
	u := startUnreadReplyServer(t, nfs.ServerOptions{MaxInFlight: 8})
	for range 2 {
		u.sendReads(t, 4, 512<<10)
	}
	u.waitQueued(t, 8)
	u.served(t)
	// The client's replies are counted out once written, after it has
	// read them: wait for that.
	u.waitQueued(t, 8)
	if st := u.srv.Stats(); st.Connections != 3 {
		t.Fatalf("stats %+v, want 8 replies waiting on 2 connections and the client's", st)
	}
}

// The bytes of replies waiting to be written stay within their bound in
// the whole server: past it, the connection holding the most among those
// whose writes are stalled is closed, and the others, and other clients,
// are served on.
func TestUnreadRepliesPastTheBoundCloseTheStalledLargest(t *testing.T) {
	var logs testenv.SyncBuffer
	u := startUnreadReplyServer(t, nfs.ServerOptions{MaxInFlight: 4, MaxInFlightPerConn: 4,
		WriteStallTimeout: 10 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	const size = 1 << 20 // 4 replies fit in the bound, 5 do not
	// large's write begins first: whenever another connection's writes are
	// stalled, so are large's.
	large := u.sendReads(t, 3, size)
	u.waitQueued(t, 3)
	waitWriting(t, large)
	small := u.sendReads(t, 1, size)
	u.waitQueued(t, 4)
	u.withinBound(t)
	u.served(t)

	other := u.sendReads(t, 1, size)
	u.waitQueued(t, 2) // large's 3 dropped
	waitClosedByServer(t, large)
	u.served(t)
	u.withinBound(t)
	if st := u.srv.Stats(); st.QueuedReplyBytes < 2*size {
		t.Fatalf("stats %+v, want the 2 replies of the connections left", st)
	}
	// The connections left are open: their replies are written once read.
	for _, nc := range []net.Conn{small, other} {
		if _, err := nc.Read(make([]byte, 1)); err != nil {
			t.Fatalf("reading a reply on a connection left open: %v", err)
		}
		go io.Copy(io.Discard, nc)
	}
	// Once more: the connection is closed, without a log line.
	u.waitQueued(t, 0)
	large2 := u.sendReads(t, 4, size)
	u.waitQueued(t, 4)
	waitWriting(t, large2)
	u.sendReads(t, 1, size)
	u.waitQueued(t, 1)
	waitClosedByServer(t, large2)
	if n := strings.Count(logs.String(), "closing the stalled connection holding the most"); n != 1 {
		t.Fatalf("%d lines for two connections closed, want 1:\n%s", n, logs.String())
	}
}

// Past the bound, a connection whose writes progress is not closed: its
// replies, and those of the others, are written as they are read.
func TestRepliesPastTheBoundNotStalledWritten(t *testing.T) {
	u := startUnreadReplyServer(t, nfs.ServerOptions{MaxInFlight: 4, MaxInFlightPerConn: 4, WriteStallTimeout: time.Hour})
	const size = 1 << 20
	conns := []net.Conn{u.sendReads(t, 4, size), u.sendReads(t, 1, size)}
	u.waitQueued(t, 5)
	if st := u.srv.Stats(); st.QueuedReplyBytes <= u.bound {
		t.Fatalf("stats %+v, want replies past the bound %d", st, u.bound)
	}
	for i, nc := range conns {
		nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		for range []int{4, 1}[i] {
			if _, err := rpc.ReadRecord(nc, nil, 2*size); err != nil {
				t.Fatalf("reading a reply on connection %d past the bound: %v", i, err)
			}
		}
	}
	u.waitQueued(t, 0)
}

// slowReader reads at most chunk bytes at a time, one chunk every
// interval: a client on a slow link that keeps reading.
type slowReader struct {
	r        io.Reader
	chunk    int
	interval time.Duration
}

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.interval)
	return s.r.Read(p[:min(len(p), s.chunk)])
}

// Past the bound, a connection read slowly, whose writes progress a
// little at a time, is kept and gets all its replies; the connection
// that does not read at all is the one closed, though it holds less.
func TestRepliesPastTheBoundSlowReaderKept(t *testing.T) {
	u := startUnreadReplyServer(t, nfs.ServerOptions{MaxInFlight: 4, MaxInFlightPerConn: 4, WriteStallTimeout: 200 * time.Millisecond})
	const size = 1 << 20
	slow := u.sendReads(t, 4, size)
	u.waitQueued(t, 4)
	read := make(chan error, 1)
	go func() {
		r := slowReader{r: slow, chunk: 16 << 10, interval: 20 * time.Millisecond}
		for range 4 {
			if _, err := rpc.ReadRecord(r, nil, 2*size); err != nil {
				read <- err
				return
			}
		}
		read <- nil
	}()
	stalled := u.sendReads(t, 1, size)
	if err := <-read; err != nil {
		t.Fatalf("reading the replies of a connection read slowly, past the bound: %v (stats %+v)", err, u.srv.Stats())
	}
	// The reply of the connection that never reads is dropped only with
	// its connection.
	u.waitQueued(t, 0)
	waitClosedByServer(t, stalled)
}

// A 1 MiB READ reply fits the bound of a server running one call at a
// time: while it waits to be written it is within the bound, and it is
// written to a client that reads it.
func TestLargestReplyFitsTheSmallestBound(t *testing.T) {
	u := startUnreadReplyServer(t, nfs.ServerOptions{MaxInFlight: 1, MaxInFlightPerConn: 1})
	nc := u.sendReads(t, 1, 1<<20)
	u.waitQueued(t, 1)
	u.withinBound(t)
	nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	rec, err := rpc.ReadRecord(nc, nil, 2<<20)
	if err != nil {
		t.Fatalf("reading the reply of a READ of 1 MiB: %v", err)
	}
	if int64(len(rec)) > u.bound {
		t.Fatalf("reply of a READ of 1 MiB is %d bytes, bound %d", len(rec), u.bound)
	}
	u.waitQueued(t, 0)

	c := dial(t, u.addr)
	cx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := c.Read(cx, u.fh, 0, 1<<20)
	if err != nil {
		t.Fatalf("READ of 1 MiB with MaxInFlight 1: %v (stats %+v)", err, u.srv.Stats())
	}
	if len(r.Data) != 1<<20 {
		t.Fatalf("READ of 1 MiB returned %d bytes", len(r.Data))
	}
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
	waitFor(t, "no call in flight nor reply unwritten", func() bool {
		st := ts.srv.Stats()
		return st.InFlight == 0 && st.QueuedReplies == 0
	})
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

// A connection that has sent part of a record and nothing more has no call
// begun: at MaxConnections a new connection takes its place (its client
// sends the whole call again once connected again).
func TestConnectionWithPartialRecordEvicted(t *testing.T) {
	fs, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{MaxConnections: 1}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	ln := newPipeListener()
	ts.serveOn(t, ln)

	partial := ln.dial(t)
	// A pipe's Write returns once the server has read it: after the second
	// byte, the server is reading the rest of the record.
	for _, b := range []byte{0x80, 0x00} {
		if _, err := partial.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
	}

	other := ln.dial(t)
	e := xdr.NewEncoder(rpc.BeginRecord(nil))
	rpc.AppendCall(e, 7, nfs.ProgramNFS, nfs.VersionNFS, nfs.ProcNull, rpc.OpaqueAuth{})
	rpc.EndRecord(e.Buf)
	go other.Write(e.Buf) // fails when the server closes the connection
	other.SetReadDeadline(time.Now().Add(30 * time.Second))
	reply, err := rpc.ReadRecord(other, nil, 1<<10)
	if err != nil {
		t.Fatalf("NULL of a new connection at the limit, the other one with part of a record: %v", err)
	}
	if xid, _, err := rpc.ParseReply(reply); err != nil || xid != 7 {
		t.Fatalf("reply to xid %d (%v), want 7", xid, err)
	}
	waitClosedByServer(t, partial)
}
