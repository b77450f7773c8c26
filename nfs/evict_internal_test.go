package nfs

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

func newInternalTestServer(t *testing.T, opts ServerOptions) (*Server, *kvfs.FS) {
	t.Helper()
	ctx := context.Background()
	fs, err := kvfs.Open(ctx, kvfs.NewMemKV(), kvfs.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close(ctx) })
	opts.Exports = oneExport{&Export{Name: "a", Path: "/a", FS: fs}}
	opts.Logger = slog.New(slog.DiscardHandler)
	srv, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	return srv, fs
}

// A call whose context is canceled while it runs (its connection closed
// at MaxConnections, or at Shutdown's deadline) may fail for that alone:
// its failure is neither answered nor kept in the reply cache, so the
// client's retransmission runs the call again.
func TestCanceledCallNotAnsweredNorCached(t *testing.T) {
	ctx := context.Background()
	srv, fs := newInternalTestServer(t, ServerOptions{})
	root, err := fs.GetAttr(ctx, kvfs.RootIno)
	if err != nil {
		t.Fatal(err)
	}
	var args xdr.Encoder
	putFH(&args, &root, fs.FSID())
	args.String("f")
	args.Uint32(0) // UNCHECKED
	for range 6 {
		args.Bool(false) // no attributes set
	}
	c := &conn{s: srv, remote: netip.MustParseAddr("10.0.0.1")}
	create := func(ctx context.Context) (replied bool, st Status) {
		var e xdr.Encoder
		rpc.AppendCall(&e, 9, ProgramNFS, VersionNFS, ProcCreate, rpc.AuthSysCred{MachineName: "m"}.Encode())
		e.Buf = append(e.Buf, args.Buf...)
		out := xdr.NewEncoder(rpc.BeginRecord(nil))
		if !srv.dispatch(ctx, c, e.Buf, out) {
			return false, 0
		}
		_, body, err := rpc.ParseReply(out.Buf[rpc.RecordMarkSize:])
		if err != nil {
			t.Fatal(err)
		}
		return true, Status(xdr.NewDecoder(body).Uint32())
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if replied, st := create(canceled); replied && st != StatusOK {
		t.Fatalf("a canceled CREATE answered %v", st)
	}
	if replied, st := create(ctx); !replied || st != StatusOK {
		t.Fatalf("its retransmission: replied %v, %v; want NFS3_OK", replied, st)
	}
}

// A connection that has read a call waiting for one of the server's slots
// is busy: a new connection at MaxConnections does not take its place,
// and its call is answered.
func TestConnectionWithCallWaitingNotEvicted(t *testing.T) {
	srv, _ := newInternalTestServer(t, ServerOptions{MaxConnections: 1, MaxInFlight: 1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Error(err)
		}
	})
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	onlyConn := func() *conn {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		for c := range srv.conns {
			return c
		}
		return nil
	}

	srv.inflight <- struct{}{} // the server's only slot, held by a call running
	busy, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var sc *conn
	waitUntil("the connection accepted", func() bool { sc = onlyConn(); return sc != nil })
	sc.lastCallNano.Store(0)
	e := xdr.NewEncoder(rpc.BeginRecord(nil))
	rpc.AppendCall(e, 7, ProgramNFS, VersionNFS, ProcNull, rpc.OpaqueAuth{})
	rpc.EndRecord(e.Buf)
	if _, err := busy.Write(e.Buf); err != nil {
		t.Fatal(err)
	}
	waitUntil("the call read", func() bool { return sc.lastCallNano.Load() != 0 })

	other, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := other.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a connection past the limit, the other one busy: read %d, %v; want it closed", n, err)
	}

	<-srv.inflight
	busy.SetReadDeadline(time.Now().Add(30 * time.Second))
	reply, err := rpc.ReadRecord(busy, nil, 1<<10)
	if err != nil {
		t.Fatalf("the waiting call unanswered: %v", err)
	}
	if xid, _, err := rpc.ParseReply(reply); err != nil || xid != 7 {
		t.Fatalf("reply to xid %d (%v), want 7", xid, err)
	}
}
