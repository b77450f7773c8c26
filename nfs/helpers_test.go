package nfs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv/require"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// exportSet is a fixed ExportSet for tests.
type exportSet struct {
	mu   sync.RWMutex
	list []*nfs.Export
}

func (s *exportSet) ByPath(p string) (*nfs.Export, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, e := range s.list {
		if e.Path == p {
			return e, true
		}
	}
	return nil, false
}

func (s *exportSet) ByFSID(id uint64) (*nfs.Export, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, e := range s.list {
		if e.FS.FSID() == id {
			return e, true
		}
	}
	return nil, false
}

func (s *exportSet) All() []*nfs.Export {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]*nfs.Export(nil), s.list...)
}

func (s *exportSet) remove(path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, e := range s.list {
		if e.Path == path {
			s.list = append(s.list[:i], s.list[i+1:]...)
			return
		}
	}
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newFS opens a kvfs on a fresh MemKV.
func newFS(t testing.TB) (*kvfs.FS, *kvfs.MemKV) {
	t.Helper()
	kv := kvfs.NewMemKV()
	fs, err := kvfs.Open(context.Background(), kv, kvfs.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close(context.Background()) })
	return fs, kv
}

type testServer struct {
	srv     *nfs.Server
	addr    string
	exports *exportSet
}

// startServer serves exps on 127.0.0.1 until the test ends.
func startServer(t testing.TB, opts nfs.ServerOptions, exps ...*nfs.Export) *testServer {
	t.Helper()
	set := &exportSet{list: exps}
	opts.Exports = set
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	srv, err := nfs.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil && !errors.Is(err, nfs.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return &testServer{srv: srv, addr: ln.Addr().String(), exports: set}
}

// dial connects a client of our own, acting as root.
func dial(t testing.TB, addr string) *nfsclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := nfsclient.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialFrom connects a client of our own from a chosen local address
// ("127.0.0.2:0", "127.0.0.1:800"...): every 127.0.0.0/8 address is local
// on Linux, so tests can play several client hosts over loopback.
func dialFrom(t testing.TB, addr, local string) (*nfsclient.Client, error) {
	t.Helper()
	la, err := net.ResolveTCPAddr("tcp", local)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := net.Dialer{LocalAddr: la}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c := nfsclient.NewClient(conn)
	t.Cleanup(func() { c.Close() })
	return c, nil
}

// dialFromPort connects a client of our own from 127.0.0.1, from the first
// source port of ports that is free (a port just closed stays in
// TIME_WAIT). It skips the test when the process may not bind the port
// (ports below 1024 need root or CAP_NET_BIND_SERVICE), or fails it under
// ZEROFS_REQUIRE_HOST=1.
func dialFromPort(t testing.TB, addr string, ports ...int) (*nfsclient.Client, int) {
	t.Helper()
	for _, port := range ports {
		c, err := dialFrom(t, addr, fmt.Sprintf("127.0.0.1:%d", port))
		switch {
		case err == nil:
			return c, port
		case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
			require.Missing(t, require.Host, "cannot bind source port %d: %v", port, err)
		case errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.EADDRNOTAVAIL):
		default:
			t.Fatal(err)
		}
	}
	t.Fatalf("no free source port among %d tried", len(ports))
	return nil, 0
}

// portRange returns the ports from first to last, in that order (last may
// be below first).
func portRange(first, last int) []int {
	var out []int
	for p := first; ; {
		out = append(out, p)
		if p == last {
			return out
		}
		if last > first {
			p++
		} else {
			p--
		}
	}
}

func mount(t testing.TB, c *nfsclient.Client, path string) []byte {
	t.Helper()
	fh, _, err := c.Mount(ctx(t), path)
	if err != nil {
		t.Fatalf("mount %s: %v", path, err)
	}
	return fh
}

// ctx returns a context that ends with the test (or after a minute).
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// wantStatus checks that err is a StatusError with status want.
func wantStatus(t testing.TB, err error, want nfs.Status) {
	t.Helper()
	var se *nfsclient.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v, want status %d", err, want)
	}
	if se.Status != uint32(want) {
		t.Fatalf("%s: status %d, want %d", se.Proc, se.Status, want)
	}
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func check(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// rootAndUser serves a fresh filesystem as export "/a" and returns a
// client as root, a client as uid and gid 1000, and the export's root
// handle (mounted by root).
func rootAndUser(t testing.TB) (rootc, user *nfsclient.Client, root []byte) {
	t.Helper()
	fs, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	rootc = dial(t, ts.addr)
	user = dial(t, ts.addr)
	user.SetAuthSys(1000, 1000)
	return rootc, user, mount(t, rootc, "/a")
}

// pipeListener is a net.Listener whose connections are net.Pipe pairs:
// nothing is buffered between the two ends, so a reply the client does not
// read is never written, whatever the size of socket buffers.
type pipeListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// dial hands the server a new connection and returns the client's end,
// closed when the test ends.
func (l *pipeListener) dial(t testing.TB) net.Conn {
	t.Helper()
	client, server := net.Pipe()
	select {
	case l.conns <- server:
	case <-l.closed:
		t.Fatal("pipe listener closed")
	}
	t.Cleanup(func() { client.Close() })
	return client
}

// serveOn serves ln with ts's server until the test ends.
func (ts *testServer) serveOn(t testing.TB, ln net.Listener) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- ts.srv.Serve(context.Background(), ln) }()
	t.Cleanup(func() {
		ln.Close()
		if err := <-done; err != nil && !errors.Is(err, nfs.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
