package portmap

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

const (
	progNFS   = 100003
	progMount = 100005
	progLock  = 100021
)

var testServices = []Service{{progNFS, 3}, {progMount, 3}}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startServer serves a portmapper on addr for NFS and MOUNT v3 at nfsAddr.
func startServer(t *testing.T, addr string, nfsAddr netip.AddrPort, opts Options) *Server {
	t.Helper()
	opts.Services, opts.Port, opts.Addr, opts.Logger = testServices, nfsAddr.Port(), nfsAddr.Addr(), quietLogger()
	s, err := Listen(context.Background(), addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dialTCP(t *testing.T, s *Server) *Client {
	t.Helper()
	c, err := Dial(context.Background(), "tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestGetPort(t *testing.T) {
	s := startServer(t, "127.0.0.1:0", netip.MustParseAddrPort("0.0.0.0:2049"), Options{})
	c := dialTCP(t, s)
	self := s.Addr().Port()
	tests := []struct {
		name             string
		prog, vers, prot uint32
		want             uint16
	}{
		{"nfs v3 tcp", progNFS, 3, ProtoTCP, 2049},
		{"mount v3 tcp", progMount, 3, ProtoTCP, 2049},
		{"mount v1 tcp: any version finds the program", progMount, 1, ProtoTCP, 2049},
		{"nfs v3 udp: not served", progNFS, 3, ProtoUDP, 0},
		{"nlm: not served", progLock, 4, ProtoTCP, 0},
		{"portmapper udp", Program, 2, ProtoUDP, self},
		{"portmapper tcp v4", Program, 4, ProtoTCP, self},
		{"unknown protocol", progNFS, 3, 99, 0},
	}
	ctx := testContext(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.GetPort(ctx, tt.prog, tt.vers, tt.prot)
			if err != nil || got != tt.want {
				t.Fatalf("GETPORT(%d, %d, %d) = %d, %v; want %d", tt.prog, tt.vers, tt.prot, got, err, tt.want)
			}
		})
	}
}

func TestGetAddr(t *testing.T) {
	wild := startServer(t, "127.0.0.1:0", netip.MustParseAddrPort("0.0.0.0:2049"), Options{})
	fixed := startServer(t, "127.0.0.1:0", netip.MustParseAddrPort("192.0.2.7:2049"), Options{})
	pmUAddr := FormatUAddr(wild.Addr())
	tests := []struct {
		name  string
		s     *Server
		vers  uint32
		proc  uint32
		query RPCB
		want  string
	}{
		{"v4 tcp: the address the query reached", wild, 4, RPCBProcGetAddr, RPCB{Prog: progNFS, Vers: 3, NetID: "tcp"}, "127.0.0.1.8.1"},
		{"v3 tcp", wild, 3, RPCBProcGetAddr, RPCB{Prog: progMount, Vers: 3, NetID: "tcp"}, "127.0.0.1.8.1"},
		{"empty netid: the query's transport", wild, 4, RPCBProcGetAddr, RPCB{Prog: progMount, Vers: 3}, "127.0.0.1.8.1"},
		{"any version", wild, 4, RPCBProcGetAddr, RPCB{Prog: progMount, Vers: 1, NetID: "tcp"}, "127.0.0.1.8.1"},
		{"udp: not served", wild, 4, RPCBProcGetAddr, RPCB{Prog: progNFS, Vers: 3, NetID: "udp"}, ""},
		{"tcp6 asked over IPv4: unknown address", wild, 4, RPCBProcGetAddr, RPCB{Prog: progNFS, Vers: 3, NetID: "tcp6"}, ""},
		{"unknown netid", wild, 4, RPCBProcGetAddr, RPCB{Prog: progNFS, Vers: 3, NetID: "rdma"}, ""},
		{"unknown program", wild, 4, RPCBProcGetAddr, RPCB{Prog: progLock, Vers: 4, NetID: "tcp"}, ""},
		{"the portmapper itself over udp", wild, 4, RPCBProcGetAddr, RPCB{Prog: Program, Vers: 2, NetID: "udp"}, pmUAddr},
		{"a fixed service address", fixed, 4, RPCBProcGetAddr, RPCB{Prog: progNFS, Vers: 3, NetID: "tcp"}, "192.0.2.7.8.1"},
		{"a fixed IPv4 address has no tcp6", fixed, 4, RPCBProcGetAddr, RPCB{Prog: progNFS, Vers: 3, NetID: "tcp6"}, ""},
		{"GETVERSADDR exact", wild, 4, RPCBProcGetVersAddr, RPCB{Prog: progNFS, Vers: 3, NetID: "tcp"}, "127.0.0.1.8.1"},
		{"GETVERSADDR other version", wild, 4, RPCBProcGetVersAddr, RPCB{Prog: progMount, Vers: 1, NetID: "tcp"}, ""},
	}
	ctx := testContext(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dialTCP(t, tt.s)
			var e xdr.Encoder
			tt.query.Append(&e)
			d, err := c.call(ctx, tt.vers, tt.proc, e.Buf)
			if err != nil {
				t.Fatal(err)
			}
			got := d.String(maxUAddr)
			if d.Err() != nil || d.Remaining() != 0 || got != tt.want {
				t.Fatalf("got %q (%v, %d bytes left), want %q", got, d.Err(), d.Remaining(), tt.want)
			}
		})
	}
}

func TestGetAddrList(t *testing.T) {
	s := startServer(t, "127.0.0.1:0", netip.MustParseAddrPort("0.0.0.0:2049"), Options{})
	c := dialTCP(t, s)
	ctx := testContext(t)
	list := func(r RPCB) []Entry {
		var e xdr.Encoder
		r.Append(&e)
		d, err := c.call(ctx, VersionRPCB4, RPCBProcGetAddrList, e.Buf)
		if err != nil {
			t.Fatal(err)
		}
		es, err := DecodeEntries(d, 10)
		if err != nil {
			t.Fatal(err)
		}
		return es
	}
	want := []Entry{{UAddr: "127.0.0.1.8.1", NetID: "tcp", Semantics: SemanticsCOTSOrd, ProtoFamily: "inet", Proto: "tcp"}}
	if got := list(RPCB{Prog: progNFS, Vers: 3}); !reflect.DeepEqual(got, want) {
		t.Errorf("nfs v3: %+v, want %+v", got, want)
	}
	if got := list(RPCB{Prog: progNFS, Vers: 2}); got != nil {
		t.Errorf("nfs v2: %+v, want nothing", got)
	}
	pm := FormatUAddr(s.Addr())
	want = []Entry{
		{UAddr: pm, NetID: "tcp", Semantics: SemanticsCOTSOrd, ProtoFamily: "inet", Proto: "tcp"},
		{UAddr: pm, NetID: "udp", Semantics: SemanticsCLTS, ProtoFamily: "inet", Proto: "udp"},
	}
	if got := list(RPCB{Prog: Program, Vers: 3}); !reflect.DeepEqual(got, want) {
		t.Errorf("portmapper v3: %+v, want %+v", got, want)
	}
}

func TestDump(t *testing.T) {
	s := startServer(t, "127.0.0.1:0", netip.MustParseAddrPort("0.0.0.0:2049"), Options{})
	c := dialTCP(t, s)
	ctx := testContext(t)
	p := uint32(s.Addr().Port())
	ms, err := c.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantMs := []Mapping{
		{Program, 4, ProtoTCP, p}, {Program, 3, ProtoTCP, p}, {Program, 2, ProtoTCP, p},
		{Program, 4, ProtoUDP, p}, {Program, 3, ProtoUDP, p}, {Program, 2, ProtoUDP, p},
		{progNFS, 3, ProtoTCP, 2049}, {progMount, 3, ProtoTCP, 2049},
	}
	if !reflect.DeepEqual(ms, wantMs) {
		t.Errorf("PMAP DUMP = %v, want %v", ms, wantMs)
	}
	for _, vers := range []uint32{VersionRPCB3, VersionRPCB4} {
		rs, err := c.DumpRPCB(ctx, vers)
		if err != nil {
			t.Fatal(err)
		}
		var services []RPCB
		for _, r := range rs {
			if r.Prog != Program {
				services = append(services, r)
			}
		}
		wantRs := []RPCB{
			{progNFS, 3, "tcp", "0.0.0.0.8.1", owner}, {progMount, 3, "tcp", "0.0.0.0.8.1", owner},
			{progNFS, 3, "tcp6", "::.8.1", owner}, {progMount, 3, "tcp6", "::.8.1", owner},
		}
		if len(rs) != 6+len(wantRs) || !reflect.DeepEqual(services, wantRs) {
			t.Errorf("rpcbind v%d DUMP = %v, want 6 portmapper entries and %v", vers, rs, wantRs)
		}
	}
}

// TestRefusesChanges: nothing can register with our portmapper.
func TestRefusesChanges(t *testing.T) {
	s := startServer(t, "127.0.0.1:0", netip.MustParseAddrPort("0.0.0.0:2049"), Options{})
	c := dialTCP(t, s)
	ctx := testContext(t)
	if err := c.Set(ctx, RPCB{Prog: progLock, Vers: 4, NetID: "tcp", UAddr: "127.0.0.1.3.0"}); !errors.Is(err, ErrRefused) {
		t.Errorf("rpcbind SET: %v, want ErrRefused", err)
	}
	if ok, err := c.Unset(ctx, RPCB{Prog: progNFS, Vers: 3}); ok || err != nil {
		t.Errorf("rpcbind UNSET = %v, %v; want false", ok, err)
	}
	for _, proc := range []uint32{PMAPProcSet, PMAPProcUnset} {
		var e xdr.Encoder
		Mapping{Prog: progNFS, Vers: 3, Prot: ProtoTCP, Port: 999}.Append(&e)
		d, err := c.call(ctx, VersionPMAP, proc, e.Buf)
		if err != nil {
			t.Fatal(err)
		}
		if d.Bool() || d.Err() != nil {
			t.Errorf("PMAP procedure %d answered TRUE (%v)", proc, d.Err())
		}
	}
	if p, err := c.GetPort(ctx, progNFS, 3, ProtoTCP); p != 2049 || err != nil {
		t.Errorf("after the refused changes GETPORT = %d, %v", p, err)
	}
}

func TestCallErrors(t *testing.T) {
	s := startServer(t, "127.0.0.1:0", netip.MustParseAddrPort("0.0.0.0:2049"), Options{})
	c := dialTCP(t, s)
	ctx := testContext(t)
	none := rpc.OpaqueAuth{Flavor: rpc.AuthNone}
	tests := []struct {
		name             string
		prog, vers, proc uint32
		args             []byte
		want             rpc.AcceptStat
		low, high        uint32
	}{
		{"another program", progNFS, 3, 0, nil, rpc.ProgUnavail, 0, 0},
		{"version 5", Program, 5, 0, nil, rpc.ProgMismatch, 2, 4},
		{"version 1", Program, 1, 0, nil, rpc.ProgMismatch, 2, 4},
		{"CALLIT", Program, 2, PMAPProcCallIt, nil, rpc.ProcUnavail, 0, 0},
		{"INDIRECT", Program, 4, RPCBProcIndirect, nil, rpc.ProcUnavail, 0, 0},
		{"GETVERSADDR in v3", Program, 3, RPCBProcGetVersAddr, nil, rpc.ProcUnavail, 0, 0},
		{"GETPORT without arguments", Program, 2, PMAPProcGetPort, nil, rpc.GarbageArgs, 0, 0},
		{"GETADDR with a short string", Program, 4, RPCBProcGetAddr, []byte{0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9, 't'}, rpc.GarbageArgs, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.c.Call(ctx, tt.prog, tt.vers, tt.proc, none, tt.args)
			var re *rpc.ReplyError
			if !errors.As(err, &re) || re.Denied || re.Accept != tt.want || re.Low != tt.low || re.High != tt.high {
				t.Fatalf("err = %v, want %v %d-%d", err, tt.want, tt.low, tt.high)
			}
		})
	}
	// NULL still works on the same connection, with AUTH_NONE.
	if _, err := c.c.Call(ctx, Program, 3, RPCBProcNull, none, nil); err != nil {
		t.Fatal(err)
	}
}

// callUDP sends one call from a UDP socket connected to addr (which only
// accepts replies from addr) and returns the results.
func callUDP(t *testing.T, addr netip.AddrPort, vers, proc uint32, args []byte) ([]byte, error) {
	t.Helper()
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var e xdr.Encoder
	rpc.AppendCall(&e, 0x5eed, Program, vers, proc, rpc.OpaqueAuth{Flavor: rpc.AuthNone})
	e.Buf = append(e.Buf, args...)
	if _, err := conn.Write(e.Buf); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64<<10)
	n, err := conn.Read(buf)
	if err != nil {
		return nil, err
	}
	xid, res, err := rpc.ParseReply(buf[:n])
	if xid != 0x5eed {
		t.Fatalf("reply xid %#x", xid)
	}
	return res, err
}

func TestUDP(t *testing.T) {
	// The portmapper listens on every address; the query goes to 127.0.0.2,
	// so the answer must name 127.0.0.2 and come from it.
	s := startServer(t, "0.0.0.0:0", netip.MustParseAddrPort("0.0.0.0:2049"), Options{})
	to := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), s.Addr().Port())

	var e xdr.Encoder
	Mapping{Prog: progMount, Vers: 3, Prot: ProtoTCP}.Append(&e)
	res, err := callUDP(t, to, VersionPMAP, PMAPProcGetPort, e.Buf)
	if err != nil {
		t.Fatalf("GETPORT over UDP: %v", err)
	}
	if d := xdr.NewDecoder(res); d.Uint32() != 2049 {
		t.Fatalf("GETPORT over UDP: %x", res)
	}

	e = xdr.Encoder{}
	RPCB{Prog: progNFS, Vers: 3, NetID: "tcp"}.Append(&e)
	res, err = callUDP(t, to, VersionRPCB4, RPCBProcGetAddr, e.Buf)
	if err != nil {
		t.Fatalf("GETADDR over UDP: %v", err)
	}
	if got := xdr.NewDecoder(res).String(maxUAddr); got != "127.0.0.2.8.1" {
		t.Fatalf("GETADDR over UDP to 127.0.0.2 = %q", got)
	}

	for _, vers := range []uint32{VersionPMAP, VersionRPCB4} {
		_, err = callUDP(t, to, vers, PMAPProcDump, nil)
		var re *rpc.ReplyError
		if !errors.As(err, &re) || re.Accept != rpc.ProcUnavail {
			t.Errorf("DUMP v%d over UDP: %v, want PROC_UNAVAIL", vers, err)
		}
	}
}

func TestConnectionLimits(t *testing.T) {
	s := startServer(t, "127.0.0.1:0", netip.MustParseAddrPort("0.0.0.0:2049"), Options{MaxConnections: 1, IdleTimeout: 300 * time.Millisecond})
	ctx := testContext(t)
	first := dialTCP(t, s)
	if err := first.Null(ctx); err != nil {
		t.Fatal(err)
	}
	second := dialTCP(t, s)
	if err := second.Null(ctx); err == nil {
		t.Fatal("a second connection was served with MaxConnections 1")
	}
	// The first connection is closed once idle; its slot is free again.
	select {
	case <-first.c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("an idle connection stayed open")
	}
	// (The slot is given back just after the close the client saw.)
	deadline := time.Now().Add(5 * time.Second)
	for {
		third := dialTCP(t, s)
		err := third.Null(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the idle connection closed: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A host holding every connection slot and connecting again and again
// makes one log line, not one per connection.
func TestConnectionsRefusedAtTheLimitLoggedOnce(t *testing.T) {
	tcp, udp, err := listenBoth("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.SyncBuffer
	opts := Options{Services: testServices, Port: 2049, MaxConnections: 1, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	s, err := start(context.Background(), tcp, udp, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	holder := dialTCP(t, s)
	if err := holder.Null(testContext(t)); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		nc, err := net.Dial("tcp", s.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		if n, err := nc.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("a connection past the limit: read %d, %v; want it closed", n, err)
		}
		nc.Close()
	}
	if n := strings.Count(logs.String(), "connection limit reached"); n != 1 {
		t.Fatalf("%d lines for 10 connections refused, want 1:\n%s", n, logs.String())
	}
}

func TestTooLargeCall(t *testing.T) {
	s := startServer(t, "127.0.0.1:0", netip.MustParseAddrPort("0.0.0.0:2049"), Options{})
	c := dialTCP(t, s)
	ctx := testContext(t)
	_, err := c.c.Call(ctx, Program, 2, PMAPProcNull, rpc.OpaqueAuth{}, make([]byte, maxCall))
	var re *rpc.ReplyError
	if err == nil || errors.As(err, &re) {
		t.Fatalf("a call above %d bytes: %v, want the connection closed", maxCall, err)
	}
	select {
	case <-c.c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the connection stayed open")
	}
}

func TestClose(t *testing.T) {
	s := startServer(t, "127.0.0.1:0", netip.MustParseAddrPort("0.0.0.0:2049"), Options{})
	c := dialTCP(t, s)
	if err := c.Null(testContext(t)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	select {
	case <-c.c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Close left a connection open")
	}
	if _, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		t.Fatal("still accepting after Close")
	}
}

// TestContextEnds: the portmapper stops with the context it was started with.
func TestContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s, err := Listen(ctx, "127.0.0.1:0", Options{Services: testServices, Port: 2049, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	c := dialTCP(t, s)
	if err := c.Null(testContext(t)); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-c.c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a connection stayed open after the context ended")
	}
	s.Close() // returns once everything has stopped
	if _, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		t.Fatal("still accepting after the context ended")
	}
}

func TestListenErrors(t *testing.T) {
	if _, err := Listen(context.Background(), "127.0.0.1:0", Options{Port: 2049}); err == nil {
		t.Error("no services accepted")
	}
	s := startServer(t, "127.0.0.1:0", netip.MustParseAddrPort("0.0.0.0:2049"), Options{})
	_, err := Listen(context.Background(), s.Addr().String(), Options{Services: testServices, Port: 2049, Logger: quietLogger()})
	if err == nil {
		t.Error("a second portmapper on the same port")
	}
}

// An Accept that fails, as it does when file descriptors run out, is
// logged once and retried: the TCP portmapper goes on serving.
func TestTCPAcceptFailuresAreRetried(t *testing.T) {
	tcp, udp, err := listenBoth("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var logs testenv.SyncBuffer
	opts := Options{Services: testServices, Port: 2049, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	s, err := start(context.Background(), testenv.FailingAccepts(tcp, syscall.EMFILE, 3), udp, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := dialTCP(t, s)
	if err := c.Null(testContext(t)); err != nil {
		t.Fatalf("NULL after failed accepts: %v", err)
	}
	if n := strings.Count(logs.String(), "accept failed"); n != 1 {
		t.Fatalf("%d lines for three failed accepts, want 1:\n%s", n, logs.String())
	}
}
