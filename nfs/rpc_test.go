package nfs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

func wantReplyError(t *testing.T, err error, want rpc.ReplyError) {
	t.Helper()
	var re *rpc.ReplyError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want %+v", err, want)
	}
	want.XID = re.XID
	if *re != want {
		t.Fatalf("reply %+v, want %+v", *re, want)
	}
}

// panicFS panics on GetAttr of one inode.
type panicFS struct {
	nfs.Filesystem
	ino uint64
}

func (p *panicFS) GetAttr(ctx context.Context, ino uint64) (kvfs.Attr, error) {
	if ino == p.ino {
		panic("boom")
	}
	return p.Filesystem.GetAttr(ctx, ino)
}

func TestRPCErrors(t *testing.T) {
	fs, _ := newFS(t)
	cx := ctx(t)
	f, err := fs.Create(cx, kvfs.Cred{}, kvfs.RootIno, "f", kvfs.CreateRequest{})
	check(t, err)
	ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: &panicFS{Filesystem: fs, ino: f.Attr.Ino}})
	c := dial(t, ts.addr)
	root := mount(t, c, "/a")
	sys := rpc.AuthSysCred{MachineName: "t"}.Encode()

	tests := []struct {
		name             string
		prog, vers, proc uint32
		cred             rpc.OpaqueAuth
		args             []byte
		want             rpc.ReplyError
	}{
		{"unknown program", 100004, 2, 0, sys, nil, rpc.ReplyError{Accept: rpc.ProgUnavail}},
		{"NFS v2", nfs.ProgramNFS, 2, 0, sys, nil, rpc.ReplyError{Accept: rpc.ProgMismatch, Low: 3, High: 3}},
		{"NFS v4", nfs.ProgramNFS, 4, 0, sys, nil, rpc.ReplyError{Accept: rpc.ProgMismatch, Low: 3, High: 3}},
		{"MOUNT v1", nfs.ProgramMount, 1, 0, sys, nil, rpc.ReplyError{Accept: rpc.ProgMismatch, Low: 3, High: 3}},
		{"NFS proc 22", nfs.ProgramNFS, 3, 22, sys, nil, rpc.ReplyError{Accept: rpc.ProcUnavail}},
		{"MOUNT proc 6", nfs.ProgramMount, 3, 6, sys, nil, rpc.ReplyError{Accept: rpc.ProcUnavail}},
		{"truncated GETATTR", nfs.ProgramNFS, 3, 1, sys, []byte{0, 0, 0, 21, 1, 2}, rpc.ReplyError{Accept: rpc.GarbageArgs}},
		{"missing READ args", nfs.ProgramNFS, 3, 6, sys, append(xdrOpaque(root), 0, 0, 0, 0), rpc.ReplyError{Accept: rpc.GarbageArgs}},
		{"bad stable_how", nfs.ProgramNFS, 3, 7, sys, writeArgs(root, 9), rpc.ReplyError{Accept: rpc.GarbageArgs}},
		{"bad MNT path", nfs.ProgramMount, 3, 1, sys, []byte{0, 0, 4, 1}, rpc.ReplyError{Accept: rpc.GarbageArgs}},
		{"RPCSEC_GSS", nfs.ProgramNFS, 3, 0, rpc.OpaqueAuth{Flavor: 6, Body: []byte{1, 2, 3, 4}}, nil, rpc.ReplyError{Denied: true, Reject: rpc.AuthError, Auth: rpc.AuthTooWeak}},
		{"AUTH_DH", nfs.ProgramNFS, 3, 0, rpc.OpaqueAuth{Flavor: 3}, nil, rpc.ReplyError{Denied: true, Reject: rpc.AuthError, Auth: rpc.AuthTooWeak}},
		{"malformed AUTH_SYS", nfs.ProgramNFS, 3, 0, rpc.OpaqueAuth{Flavor: 1, Body: []byte{0, 0, 0, 1}}, nil, rpc.ReplyError{Denied: true, Reject: rpc.AuthError, Auth: rpc.AuthBadCred}},
		{"AUTH_SYS with 17 groups", nfs.ProgramNFS, 3, 0, rpc.AuthSysCred{GIDs: make([]uint32, 17)}.Encode(), nil, rpc.ReplyError{Denied: true, Reject: rpc.AuthError, Auth: rpc.AuthBadCred}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.RPC.Call(cx, tt.prog, tt.vers, tt.proc, tt.cred, tt.args)
			wantReplyError(t, err, tt.want)
		})
	}

	t.Run("AUTH_NONE accepted", func(t *testing.T) {
		if _, err := c.RPC.Call(cx, nfs.ProgramNFS, 3, 0, rpc.OpaqueAuth{}, nil); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("RPC version 3", func(t *testing.T) {
		xid := c.RPC.NextXID()
		e := xdr.NewEncoder(rpc.BeginRecord(nil))
		e.Uint32(xid)
		e.Uint32(rpc.MsgCall)
		e.Uint32(3)
		rpc.EndRecord(e.Buf)
		reply, err := c.RPC.Exchange(cx, xid, e.Buf)
		check(t, err)
		_, _, err = rpc.ParseReply(reply)
		wantReplyError(t, err, rpc.ReplyError{Denied: true, Reject: rpc.RPCMismatch, Low: 2, High: 2})
	})
	t.Run("header cut short", func(t *testing.T) {
		xid := c.RPC.NextXID()
		e := xdr.NewEncoder(rpc.BeginRecord(nil))
		e.Uint32(xid)
		e.Uint32(rpc.MsgCall)
		e.Uint32(2)
		e.Uint32(nfs.ProgramNFS)
		rpc.EndRecord(e.Buf)
		reply, err := c.RPC.Exchange(cx, xid, e.Buf)
		check(t, err)
		_, _, err = rpc.ParseReply(reply)
		wantReplyError(t, err, rpc.ReplyError{Accept: rpc.GarbageArgs})
	})
	t.Run("replies and tiny records are ignored", func(t *testing.T) {
		e := xdr.NewEncoder(rpc.BeginRecord(nil))
		rpc.AppendAcceptedReply(e, 77, rpc.Success)
		rpc.EndRecord(e.Buf)
		check(t, c.RPC.Send(e.Buf))
		check(t, c.RPC.Send([]byte{0x80, 0, 0, 2, 1, 2}))
		check(t, c.Null(cx))
	})
	t.Run("panicking procedure", func(t *testing.T) {
		fh := nfs.Handle{FSID: fs.FSID(), Ino: f.Attr.Ino, Gen: f.Attr.Gen}.Bytes()
		_, err := c.Getattr(cx, fh)
		wantStatus(t, err, nfs.StatusServerFault)
		_, err = c.Write(cx, fh, 0, []byte("x"), nfsclient.Unstable)
		var se *nfsclient.StatusError
		if !errors.As(err, &se) || se.Status != uint32(nfs.StatusServerFault) || se.Wcc == nil {
			t.Fatalf("write after panic: %v", err)
		}
		check(t, c.Null(cx))
	})
}

func xdrOpaque(b []byte) []byte {
	var e xdr.Encoder
	e.Opaque(b)
	return e.Buf
}

func writeArgs(fh []byte, stable uint32) []byte {
	var e xdr.Encoder
	e.Opaque(fh)
	e.Uint64(0)
	e.Uint32(1)
	e.Uint32(stable)
	e.Opaque([]byte{1})
	return e.Buf
}

func TestBrokenRecordsCloseOnlyTheirConnection(t *testing.T) {
	fs, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{MaxRecordSize: 4096}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	cx := ctx(t)
	good := dial(t, ts.addr)
	root := mount(t, good, "/a")

	cases := map[string][]byte{
		"oversized record":   {0x80, 0x10, 0, 0, 1, 2, 3},
		"oversized fragment": {0x7f, 0xff, 0xff, 0xff},
		"truncated record":   {0x80, 0, 0, 100, 1, 2, 3},
	}
	for name, wire := range cases {
		t.Run(name, func(t *testing.T) {
			nc, err := net.Dial("tcp", ts.addr)
			check(t, err)
			defer nc.Close()
			_, err = nc.Write(wire)
			check(t, err)
			if name == "truncated record" {
				nc.(*net.TCPConn).CloseWrite()
			}
			nc.SetReadDeadline(time.Now().Add(30 * time.Second))
			var b [1]byte
			if n, err := nc.Read(b[:]); err == nil || n != 0 {
				t.Fatalf("connection still open after %s (read %d, %v)", name, n, err)
			}
			// Everyone else is still served.
			must[nfsclient.Fattr](t)(good.Getattr(cx, root))
		})
	}
}

// gateFS blocks calls touching gated inodes until released.
type gateFS struct {
	nfs.Filesystem
	armed   atomic.Bool
	all     bool   // gate every inode
	ino     uint64 // else only this one
	entered chan struct{}
	release chan struct{}
}

func newGate(fs nfs.Filesystem, ino uint64, all bool) *gateFS {
	return &gateFS{Filesystem: fs, ino: ino, all: all, entered: make(chan struct{}, 100), release: make(chan struct{})}
}

func (g *gateFS) wait(ino uint64) {
	if g.armed.Load() && (g.all || ino == g.ino) {
		g.entered <- struct{}{}
		<-g.release
	}
}

func (g *gateFS) GetAttr(ctx context.Context, ino uint64) (kvfs.Attr, error) {
	g.wait(ino)
	return g.Filesystem.GetAttr(ctx, ino)
}

func waitEntered(t *testing.T, g *gateFS) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("gated call never reached the filesystem")
	}
}

func TestPipelinedCallsAnswerOutOfOrder(t *testing.T) {
	fs, _ := newFS(t)
	cx := ctx(t)
	slow, err := fs.Create(cx, kvfs.Cred{}, kvfs.RootIno, "slow", kvfs.CreateRequest{})
	check(t, err)
	gate := newGate(fs, slow.Attr.Ino, false)
	ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: gate})
	c := dial(t, ts.addr)
	root := mount(t, c, "/a")
	slowFH := nfs.Handle{FSID: fs.FSID(), Ino: slow.Attr.Ino, Gen: slow.Attr.Gen}.Bytes()

	gate.armed.Store(true)
	slowDone := make(chan error, 1)
	go func() {
		_, err := c.Getattr(cx, slowFH)
		slowDone <- err
	}()
	waitEntered(t, gate)
	// The slow call is stuck in the filesystem; calls behind it on the
	// same connection are answered.
	for range 10 {
		must[nfsclient.Fattr](t)(c.Getattr(cx, root))
	}
	must[nfsclient.CreateResult](t)(c.Create(cx, root, "fast", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{}))
	select {
	case err := <-slowDone:
		t.Fatalf("slow call finished before release: %v", err)
	default:
	}
	close(gate.release)
	if err := <-slowDone; err != nil {
		t.Fatal(err)
	}
}

func TestSlowExportDoesNotBlockAnother(t *testing.T) {
	fsA, _ := newFS(t)
	fsB, _ := newFS(t)
	gate := newGate(fsA, 0, true)
	ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: gate}, &nfs.Export{Name: "b", Path: "/b", FS: fsB})
	c := dial(t, ts.addr)
	cx := ctx(t)
	rootA, rootB := mount(t, c, "/a"), mount(t, c, "/b")
	gate.armed.Store(true)
	const stuck = 8
	done := make(chan error, stuck)
	for range stuck {
		go func() {
			_, err := c.Getattr(cx, rootA)
			done <- err
		}()
	}
	for range stuck {
		waitEntered(t, gate)
	}
	f := must[nfsclient.CreateResult](t)(c.Create(cx, rootB, "f", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{}))
	must[nfsclient.WriteResult](t)(c.Write(cx, f.FH, 0, []byte("data"), nfsclient.FileSync))
	if r := must[nfsclient.ReadResult](t)(c.Read(cx, f.FH, 0, 10)); string(r.Data) != "data" {
		t.Fatalf("read %q", r.Data)
	}
	close(gate.release)
	for range stuck {
		check(t, <-done)
	}
}

func TestPerConnectionBackpressure(t *testing.T) {
	fs, _ := newFS(t)
	gate := newGate(fs, kvfs.RootIno, false)
	ts := startServer(t, nfs.ServerOptions{MaxInFlightPerConn: 2}, &nfs.Export{Name: "a", Path: "/a", FS: gate})
	c := dial(t, ts.addr)
	cx := ctx(t)
	root := mount(t, c, "/a")
	gate.armed.Store(true)
	done := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := c.Getattr(cx, root)
			done <- err
		}()
	}
	waitEntered(t, gate)
	waitEntered(t, gate)
	select {
	case <-gate.entered:
		t.Fatal("a third call ran while two were in flight on a connection limited to two")
	case <-time.After(200 * time.Millisecond):
	}
	// Another connection is not held back by this one's limit.
	other := dial(t, ts.addr)
	check(t, other.Null(cx))
	close(gate.release)
	for range 3 {
		check(t, <-done)
	}
}

func TestIdleTimeout(t *testing.T) {
	fs, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{MaxConnections: 1, IdleTimeout: 300 * time.Millisecond}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	first := dial(t, ts.addr)
	check(t, first.Null(ctx(t)))
	select {
	case <-first.RPC.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("idle connection was not closed")
	}
	// A new connection is served.
	check(t, dial(t, ts.addr).Null(ctx(t)))
}

func TestGracefulShutdown(t *testing.T) {
	fs, _ := newFS(t)
	gate := newGate(fs, kvfs.RootIno, false)
	set := &exportSet{list: []*nfs.Export{{Name: "a", Path: "/a", FS: gate}}}
	srv, err := nfs.NewServer(nfs.ServerOptions{Exports: set, Logger: quietLogger()})
	check(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(t, err)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()
	c := dial(t, ln.Addr().String())
	cx := ctx(t)
	root := mount(t, c, "/a")
	gate.armed.Store(true)
	inflight := make(chan error, 1)
	go func() {
		_, err := c.Getattr(cx, root)
		inflight <- err
	}()
	waitEntered(t, gate)
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(cx) }()
	if err := <-served; !errors.Is(err, nfs.ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Fatal("listener still accepts after Shutdown")
	}
	close(gate.release)
	if err := <-inflight; err != nil {
		t.Fatalf("call in flight during shutdown: %v", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	<-c.RPC.Done()
}

func TestServerWideInFlightLimit(t *testing.T) {
	fs, _ := newFS(t)
	gate := newGate(fs, kvfs.RootIno, false)
	ts := startServer(t, nfs.ServerOptions{MaxInFlight: 2}, &nfs.Export{Name: "a", Path: "/a", FS: gate})
	cx := ctx(t)
	var clients []*nfsclient.Client
	for range 3 {
		clients = append(clients, dial(t, ts.addr))
	}
	root := mount(t, clients[0], "/a")
	gate.armed.Store(true)
	done := make(chan error, 3)
	for _, c := range clients {
		go func() {
			_, err := c.Getattr(cx, root)
			done <- err
		}()
	}
	waitEntered(t, gate)
	waitEntered(t, gate)
	select {
	case <-gate.entered:
		t.Fatal("a third call ran while the server allows two in flight")
	case <-time.After(200 * time.Millisecond):
	}
	close(gate.release)
	for range 3 {
		check(t, <-done)
	}
}

type recorder struct {
	mu    sync.Mutex
	calls []nfs.CallInfo
}

func (r *recorder) CallDone(c nfs.CallInfo) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

func TestObserver(t *testing.T) {
	fs, _ := newFS(t)
	rec := &recorder{}
	ts := startServer(t, nfs.ServerOptions{Observer: rec}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	c := dial(t, ts.addr)
	cx := ctx(t)
	root := mount(t, c, "/a")
	must[nfsclient.Fattr](t)(c.Getattr(cx, root))
	_, _, err := c.Lookup(cx, root, "missing")
	wantStatus(t, err, nfs.StatusNoEnt)
	_, err = c.RPC.Call(cx, nfs.ProgramNFS, 3, 1, c.Cred, nil)
	wantReplyError(t, err, rpc.ReplyError{Accept: rpc.GarbageArgs})
	if st := ts.srv.Stats(); st.Connections != 1 {
		t.Fatalf("stats %+v", st)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	want := []nfs.CallInfo{
		{Export: "a", Program: nfs.ProgramMount, Proc: "MNT", Accept: rpc.Success},
		{Export: "a", Program: nfs.ProgramNFS, Proc: "GETATTR", Accept: rpc.Success},
		{Export: "a", Program: nfs.ProgramNFS, Proc: "LOOKUP", Accept: rpc.Success, Status: uint32(nfs.StatusNoEnt)},
		{Program: nfs.ProgramNFS, Proc: "GETATTR", Accept: rpc.GarbageArgs},
	}
	if len(rec.calls) != len(want) {
		t.Fatalf("observed %d calls, want %d", len(rec.calls), len(want))
	}
	for i, w := range want {
		got := rec.calls[i]
		if got.RequestBytes == 0 || got.ReplyBytes == 0 {
			t.Errorf("call %d: sizes %d/%d", i, got.RequestBytes, got.ReplyBytes)
		}
		got.Duration, got.RequestBytes, got.ReplyBytes = 0, 0, 0
		if got != w {
			t.Errorf("call %d: %+v, want %+v", i, got, w)
		}
	}
}

// TestObserverReportsRepliesAsSent checks what the Observer hears of
// replies that do not come from a procedure run: a retransmission answered
// from the reply cache is reported as its first transmission was, an RPC
// version refusal as such, and records that get no reply (a retransmission
// of a call still running, a reply record) not at all.
func TestObserverReportsRepliesAsSent(t *testing.T) {
	fs, _ := newFS(t)
	gate := newGate(fs, kvfs.RootIno, false)
	rec := &recorder{}
	ts := startServer(t, nfs.ServerOptions{Observer: rec}, &nfs.Export{Name: "a", Path: "/a", FS: gate})
	c := dial(t, ts.addr)
	cx := ctx(t)
	root := mount(t, c, "/a")
	must[nfsclient.CreateResult](t)(c.Create(cx, root, "f", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{}))
	removeCall := func(xid uint32) []byte {
		e := xdr.NewEncoder(rpc.BeginRecord(nil))
		rpc.AppendCall(e, xid, nfs.ProgramNFS, nfs.VersionNFS, nfs.ProcRemove, c.Cred)
		e.Opaque(root)
		e.String("f")
		rpc.EndRecord(e.Buf)
		return e.Buf
	}
	observed := func() []nfs.CallInfo {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return slices.Clone(rec.calls)
	}
	before := len(observed())

	// A REMOVE held in the filesystem, and its retransmission meanwhile:
	// dropped. The NULL behind it on the connection makes sure the server
	// took the retransmission; its slot given back, it was dropped.
	gate.armed.Store(true)
	xid := c.RPC.NextXID()
	first := make(chan error, 1)
	go func() {
		_, err := c.RPC.Exchange(cx, xid, removeCall(xid))
		first <- err
	}()
	waitEntered(t, gate)
	check(t, c.RPC.Send(removeCall(xid)))
	check(t, c.Null(cx))
	waitFor(t, "the retransmission dropped", func() bool { return ts.srv.Stats().InFlight == 1 })
	gate.armed.Store(false)
	close(gate.release)
	check(t, <-first)
	// The same retransmission once the first is answered: from the cache.
	must[[]byte](t)(c.RPC.Exchange(cx, xid, removeCall(xid)))
	// A call of RPC version 3: RPC_MISMATCH.
	xid = c.RPC.NextXID()
	e := xdr.NewEncoder(rpc.BeginRecord(nil))
	e.Uint32(xid)
	e.Uint32(rpc.MsgCall)
	e.Uint32(3)
	rpc.EndRecord(e.Buf)
	must[[]byte](t)(c.RPC.Exchange(cx, xid, e.Buf))
	// A reply record gets no reply; the NULL after it does.
	e = xdr.NewEncoder(rpc.BeginRecord(nil))
	rpc.AppendAcceptedReply(e, 77, rpc.Success)
	rpc.EndRecord(e.Buf)
	check(t, c.RPC.Send(e.Buf))
	check(t, c.Null(cx))

	want := []nfs.CallInfo{
		{Program: nfs.ProgramNFS, Proc: "NULL", Accept: rpc.Success},
		{Export: "a", Program: nfs.ProgramNFS, Proc: "REMOVE", Accept: rpc.Success},
		{Export: "a", Program: nfs.ProgramNFS, Proc: "REMOVE", Accept: rpc.Success},
		{Accept: rpc.SystemErr, RPCMismatch: true},
		{Program: nfs.ProgramNFS, Proc: "NULL", Accept: rpc.Success},
	}
	got := observed()[before:]
	for i := range got {
		got[i].Duration, got[i].RequestBytes, got[i].ReplyBytes = 0, 0, 0
	}
	if !slices.Equal(got, want) {
		t.Fatalf("observed:\n%+v\nwant:\n%+v", got, want)
	}
}

func TestMultiFragmentCallAndDisconnectMidCall(t *testing.T) {
	fs, _ := newFS(t)
	gate := newGate(fs, kvfs.RootIno, false)
	ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: gate})
	c := dial(t, ts.addr)
	cx := ctx(t)
	root := mount(t, c, "/a")

	// A GETATTR split into 1-byte fragments is one call.
	xid := c.RPC.NextXID()
	var msg xdr.Encoder
	rpc.AppendCall(&msg, xid, nfs.ProgramNFS, nfs.VersionNFS, nfs.ProcGetattr, c.Cred)
	msg.Opaque(root)
	var wire []byte
	for i, b := range msg.Buf {
		hdr := uint32(1)
		if i == len(msg.Buf)-1 {
			hdr |= 1 << 31
		}
		wire = append(wire, byte(hdr>>24), byte(hdr>>16), byte(hdr>>8), byte(hdr), b)
	}
	reply, err := c.RPC.Exchange(cx, xid, wire)
	check(t, err)
	_, res, err := rpc.ParseReply(reply)
	check(t, err)
	if d := xdr.NewDecoder(res); d.Uint32() != uint32(nfs.StatusOK) {
		t.Fatalf("fragmented GETATTR failed")
	}

	// A client that disconnects while its call is in the filesystem: the
	// call finishes, its reply goes nowhere, and others are still served.
	quitter := dial(t, ts.addr)
	gate.armed.Store(true)
	go quitter.Getattr(cx, root)
	waitEntered(t, gate)
	quitter.Close()
	gate.armed.Store(false)
	close(gate.release)
	must[nfsclient.Fattr](t)(c.Getattr(cx, root))
}

func TestShutdownDeadline(t *testing.T) {
	fs, _ := newFS(t)
	gate := newGate(fs, kvfs.RootIno, false)
	set := &exportSet{list: []*nfs.Export{{Name: "a", Path: "/a", FS: gate}}}
	srv, err := nfs.NewServer(nfs.ServerOptions{Exports: set, Logger: quietLogger()})
	check(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(t, err)
	go srv.Serve(context.Background(), ln)
	c := dial(t, ln.Addr().String())
	cx := ctx(t)
	root := mount(t, c, "/a")
	gate.armed.Store(true)
	go c.Getattr(cx, root)
	waitEntered(t, gate)
	short, cancel := context.WithTimeout(cx, 50*time.Millisecond)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(short) }()
	// The stuck call cannot finish before the deadline: Shutdown closes the
	// connections, then waits for the call, which we release now.
	<-short.Done()
	close(gate.release)
	if err := <-shut; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown past its deadline returned %v", err)
	}
	<-c.RPC.Done()
}

// stallFS makes GETATTR of the root wait, like a write waiting for room
// while the object store is down: until the call's context ends, or (when
// deaf) until release is closed, whatever its context says.
type stallFS struct {
	nfs.Filesystem
	deaf    bool
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
	ended   chan error // what each stalled call returned
}

func (s *stallFS) GetAttr(ctx context.Context, ino uint64) (kvfs.Attr, error) {
	if !s.armed.Load() || ino != kvfs.RootIno {
		return s.Filesystem.GetAttr(ctx, ino)
	}
	s.entered <- struct{}{}
	var err error
	if s.deaf {
		<-s.release
		err = errors.New("released")
	} else {
		<-ctx.Done()
		err = ctx.Err()
	}
	s.ended <- err
	return kvfs.Attr{}, err
}

// TestShutdownCancelsCallsPastDeadline: calls still in flight at the
// shutdown deadline have their context canceled, and Shutdown returns
// within CancelWait of the deadline even if a call ignores its context,
// reporting how many calls it canceled.
func TestShutdownCancelsCallsPastDeadline(t *testing.T) {
	for _, tc := range []struct {
		name    string
		deaf    bool
		wantErr string
		wantEnd error
	}{
		{"call honours its context", false, "2 calls in flight were canceled unanswered", context.Canceled},
		{"call ignores its context", true, "2 of them still running", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, _ := newFS(t)
			stall := &stallFS{Filesystem: fs, deaf: tc.deaf, entered: make(chan struct{}, 10),
				release: make(chan struct{}), ended: make(chan error, 10)}
			defer close(stall.release)
			set := &exportSet{list: []*nfs.Export{{Name: "a", Path: "/a", FS: stall}}}
			const cancelWait = 300 * time.Millisecond
			srv, err := nfs.NewServer(nfs.ServerOptions{Exports: set, Logger: quietLogger(), CancelWait: cancelWait})
			check(t, err)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			check(t, err)
			go srv.Serve(context.Background(), ln)
			c := dial(t, ln.Addr().String())
			cx := ctx(t)
			root := mount(t, c, "/a")
			stall.armed.Store(true)
			answered := make(chan error, 2)
			for range 2 {
				go func() {
					_, err := c.Getattr(cx, root)
					answered <- err
				}()
			}
			for range 2 {
				select {
				case <-stall.entered:
				case <-time.After(30 * time.Second):
					t.Fatal("stalled call never reached the filesystem")
				}
			}
			const drain = 100 * time.Millisecond
			short, cancel := context.WithTimeout(context.Background(), drain)
			defer cancel()
			start := time.Now()
			shut := make(chan error, 1)
			go func() { shut <- srv.Shutdown(short) }()
			select {
			case err = <-shut:
			case <-time.After(drain + cancelWait + 10*time.Second):
				t.Fatal("Shutdown did not return after its deadline while calls waited on their context")
			}
			took := time.Since(start)
			if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Shutdown = %v, want DeadlineExceeded and %q", err, tc.wantErr)
			}
			if took > drain+cancelWait+2*time.Second {
				t.Fatalf("Shutdown took %v with a %v deadline and a %v cancel wait", took, drain, cancelWait)
			}
			if tc.wantEnd != nil {
				for range 2 {
					if got := <-stall.ended; !errors.Is(got, tc.wantEnd) {
						t.Fatalf("stalled call ended with %v, want %v", got, tc.wantEnd)
					}
				}
			}
			for range 2 {
				select {
				case err := <-answered:
					if err == nil {
						t.Fatal("a canceled call was answered as a success")
					}
				case <-time.After(30 * time.Second):
					t.Fatal("client still waiting: the connection was not closed")
				}
			}
		})
	}
}

// TestRetransmissionAnsweredFromReplyCache sends the same REMOVE twice
// with one xid (as a client does after losing a reply): the second gets
// the first's answer, not NFS3ERR_NOENT; a new xid runs again.
func TestRetransmissionAnsweredFromReplyCache(t *testing.T) {
	fs, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	c := dial(t, ts.addr)
	cx := ctx(t)
	root := mount(t, c, "/a")
	must[nfsclient.CreateResult](t)(c.Create(cx, root, "f", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{}))

	removeCall := func(xid uint32) []byte {
		e := xdr.NewEncoder(rpc.BeginRecord(nil))
		rpc.AppendCall(e, xid, nfs.ProgramNFS, nfs.VersionNFS, nfs.ProcRemove, c.Cred)
		e.Opaque(root)
		e.String("f")
		rpc.EndRecord(e.Buf)
		return e.Buf
	}
	status := func(reply []byte) uint32 {
		_, res, err := rpc.ParseReply(reply)
		check(t, err)
		return xdr.NewDecoder(res).Uint32()
	}
	xid := c.RPC.NextXID()
	first := must[[]byte](t)(c.RPC.Exchange(cx, xid, removeCall(xid)))
	// The retransmission comes over a new connection, as after a reconnect.
	c2 := dial(t, ts.addr)
	again := must[[]byte](t)(c2.RPC.Exchange(cx, xid, removeCall(xid)))
	if status(first) != uint32(nfs.StatusOK) || !bytes.Equal(first, again) {
		t.Fatalf("retransmitted REMOVE: first status %d, replies equal %v", status(first), bytes.Equal(first, again))
	}
	xid2 := c.RPC.NextXID()
	other := must[[]byte](t)(c.RPC.Exchange(cx, xid2, removeCall(xid2)))
	if st := status(other); st != uint32(nfs.StatusNoEnt) {
		t.Fatalf("a new REMOVE of the removed name: status %d", st)
	}
}

func TestServeReturnsWhenContextEnds(t *testing.T) {
	fs, _ := newFS(t)
	set := &exportSet{list: []*nfs.Export{{Name: "a", Path: "/a", FS: fs}}}
	srv, err := nfs.NewServer(nfs.ServerOptions{Exports: set, Logger: quietLogger()})
	check(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(t, err)
	serveCtx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, ln) }()
	c := dial(t, ln.Addr().String())
	check(t, c.Null(ctx(t)))
	stop()
	if err := <-served; err != nil {
		t.Fatalf("Serve after its context ended: %v", err)
	}
	<-c.RPC.Done() // its connections are closed too
	if _, err := nfs.NewServer(nfs.ServerOptions{}); err == nil {
		t.Fatal("NewServer without exports succeeded")
	}
}

// TestWriteCountMismatch: a WRITE whose count differs from the length of
// its data is undecodable, as for Linux's server: GARBAGE_ARGS, and the
// file is left alone.
func TestWriteCountMismatch(t *testing.T) {
	fs, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	c := dial(t, ts.addr)
	cx := ctx(t)
	root := mount(t, c, "/a")
	tests := []struct {
		name  string
		count uint32
		data  string
		want  *rpc.ReplyError // nil: NFS3_OK
	}{
		{"count below the data", 2, "abcd", &rpc.ReplyError{Accept: rpc.GarbageArgs}},
		{"count above the data", 8, "abcd", &rpc.ReplyError{Accept: rpc.GarbageArgs}},
		{"count of empty data", 1, "", &rpc.ReplyError{Accept: rpc.GarbageArgs}},
		{"count of the data", 4, "abcd", nil},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := must[nfsclient.CreateResult](t)(c.Create(cx, root, fmt.Sprintf("f%d", i), nfsclient.Guarded, nfsclient.Sattr{Mode: nfsclient.U32(0o644)}, [8]byte{}))
			var e xdr.Encoder
			e.Opaque(f.FH)
			e.Uint64(0)
			e.Uint32(tt.count)
			e.Uint32(nfsclient.FileSync)
			e.Opaque([]byte(tt.data))
			res, err := c.RPC.Call(cx, nfs.ProgramNFS, nfs.VersionNFS, nfs.ProcWrite, c.Cred, e.Buf)
			a := must[nfsclient.Fattr](t)(c.Getattr(cx, f.FH))
			if tt.want != nil {
				wantReplyError(t, err, *tt.want)
				if a.Size != 0 {
					t.Fatalf("refused WRITE left a file of %d bytes", a.Size)
				}
				return
			}
			check(t, err)
			if st := xdr.NewDecoder(res).Uint32(); st != uint32(nfs.StatusOK) || a.Size != uint64(tt.count) {
				t.Fatalf("WRITE: status %d, file of %d bytes; want NFS3_OK and %d bytes", st, a.Size, tt.count)
			}
		})
	}
}
