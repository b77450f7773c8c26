package portmap

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/zerofs-go/zerofsd/internal/ratelog"
	"github.com/zerofs-go/zerofsd/internal/retry"
	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// Service is one RPC program version answered on Options.Port over TCP.
type Service struct {
	Prog, Vers uint32
}

// Options configure a Server. Zero fields take the documented defaults.
type Options struct {
	// Services are the program versions to announce (required).
	Services []Service
	// Port is their TCP port (required).
	Port uint16
	// Addr is the address they listen on. The zero Addr, or an
	// unspecified one (0.0.0.0, ::), means every address of the host: the
	// universal addresses then answered name the address the query was
	// sent to.
	Addr netip.Addr
	// Logger receives the server's logs (default slog.Default()).
	Logger *slog.Logger
	// MaxConnections bounds the TCP connections open at once; more are
	// closed at once (default 64).
	MaxConnections int
	// IdleTimeout closes a TCP connection that sent no call for this long,
	// and bounds the writing of one reply (default 30 seconds).
	IdleTimeout time.Duration
}

// Defaults of Options.
const (
	DefaultMaxConnections = 64
	DefaultIdleTimeout    = 30 * time.Second
)

// Bounds of the log lines of failing accepts and of connections refused at
// MaxConnections.
const (
	// logInterval is how often a failing accept is logged at most, and a
	// connection refused per client address.
	logInterval = time.Minute
	// limitLogKeys is how many client addresses refusedLog remembers;
	// beyond it, the others share one allowance.
	limitLogKeys = 1024
)

// maxCall is the largest call accepted, over TCP and UDP: every call the
// portmapper answers is well under 1 KiB.
const maxCall = 8 << 10

// Server is a read-only portmapper: it answers queries about the services
// of Options and refuses every registration change. Start it with Listen.
type Server struct {
	opts Options
	log  *slog.Logger
	// self is the portmapper's own address (TCP and UDP share it).
	self netip.AddrPort

	tcp    net.Listener
	udp    *net.UDPConn
	family int           // the UDP socket's address family, where known
	conns  chan struct{} // TCP connection slots

	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	open   map[net.Conn]struct{}
	// acceptLog limits the lines of failed accepts.
	acceptLog *ratelog.Limiter[struct{}]
	// refusedLog limits the lines of connections refused at
	// MaxConnections, per client address: any host can hold every slot
	// and go on connecting.
	refusedLog *ratelog.Limiter[netip.Addr]
}

// Listen binds TCP and UDP at addr (host:port; port 0 picks a port free on
// both) and serves the portmapper on them until ctx ends or Close.
func Listen(ctx context.Context, addr string, opts Options) (*Server, error) {
	if len(opts.Services) == 0 || opts.Port == 0 {
		return nil, errors.New("portmap: Options.Services and Options.Port are required")
	}
	tcp, udp, err := listenBoth(addr)
	if err != nil {
		return nil, err
	}
	return start(ctx, tcp, udp, opts)
}

// start serves the portmapper on tcp and udp (bound to the same address)
// with opts, filling in their defaults.
func start(ctx context.Context, tcp net.Listener, udp *net.UDPConn, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = DefaultMaxConnections
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	self, err := netip.ParseAddrPort(tcp.Addr().String())
	if err != nil {
		tcp.Close()
		udp.Close()
		return nil, fmt.Errorf("portmap: own address %s: %w", tcp.Addr(), err)
	}
	family, err := enableDestination(udp)
	if err != nil {
		opts.Logger.Debug("portmap: UDP destination addresses unavailable", "err", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		self:      netip.AddrPortFrom(self.Addr().Unmap(), self.Port()),
		tcp:       tcp,
		udp:       udp,
		family:    family,
		conns:     make(chan struct{}, opts.MaxConnections),
		cancel:    cancel,
		open:      make(map[net.Conn]struct{}),
		acceptLog: ratelog.New[struct{}](logInterval, 1, nil),

		refusedLog: ratelog.New[netip.Addr](logInterval, limitLogKeys, nil),
	}
	context.AfterFunc(ctx, s.closeAll)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		s.serveTCP(ctx)
	}()
	go func() {
		defer s.wg.Done()
		s.serveUDP()
	}()
	return s, nil
}

// listenBoth binds TCP, then UDP on the same port. With port 0 it retries
// when the port TCP got is taken for UDP.
func listenBoth(addr string) (net.Listener, *net.UDPConn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("portmap: listen address %q: %w", addr, err)
	}
	var lastErr error
	for range 10 {
		tcp, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("portmap: listen on TCP %s: %w", addr, err)
		}
		_, got, _ := net.SplitHostPort(tcp.Addr().String())
		pc, err := net.ListenPacket("udp", net.JoinHostPort(host, got))
		if err == nil {
			return tcp, pc.(*net.UDPConn), nil
		}
		tcp.Close()
		lastErr = err
		if port != "0" || !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
	}
	return nil, nil, fmt.Errorf("portmap: listen on UDP %s: %w", addr, lastErr)
}

// Addr returns the address the portmapper listens on (TCP and UDP).
func (s *Server) Addr() netip.AddrPort { return s.self }

// Close stops the portmapper: its sockets and connections are closed.
func (s *Server) Close() error {
	s.cancel()
	s.wg.Wait()
	return nil
}

// closeAll closes the sockets and every connection (when ctx ends).
func (s *Server) closeAll() {
	s.tcp.Close()
	s.udp.Close()
	s.mu.Lock()
	for c := range s.open {
		c.Close()
	}
	s.mu.Unlock()
}

func (s *Server) serveTCP(ctx context.Context) {
	// An Accept that fails for any reason but a closed listener is retried
	// after a growing delay: a shortage (EMFILE, ENFILE, ENOBUFS) passes
	// when connections close, and must not end the service.
	bo := retry.Backoff{Base: 5 * time.Millisecond, Max: time.Second}
	for {
		nc, err := s.tcp.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.acceptLog.Log(ctx, s.log, slog.LevelError, struct{}{}, "portmap: accept failed, retrying", "err", err)
			_ = retry.Sleep(ctx, bo.Next()) // ctx done: the next Accept fails
			continue
		}
		bo.Reset()
		select {
		case s.conns <- struct{}{}:
		default:
			client, _ := rpc.PeerAddr(nc)
			s.refusedLog.Log(ctx, s.log, slog.LevelWarn, client, "portmap: connection limit reached, closing new connection",
				"remote", nc.RemoteAddr().String(), "limit", s.opts.MaxConnections)
			nc.Close()
			continue
		}
		s.mu.Lock()
		if ctx.Err() != nil {
			s.mu.Unlock()
			nc.Close()
			<-s.conns
			return
		}
		s.open[nc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serveConn(nc)
			s.mu.Lock()
			delete(s.open, nc)
			s.mu.Unlock()
			<-s.conns
		}()
	}
}

// serveConn answers the calls of one TCP connection, one at a time.
func (s *Server) serveConn(nc net.Conn) {
	defer nc.Close()
	tr := transport{proto: ProtoTCP}
	if ap, err := netip.ParseAddrPort(nc.LocalAddr().String()); err == nil {
		tr.local = ap.Addr().Unmap()
	}
	br := bufio.NewReaderSize(nc, 4<<10)
	var rec []byte
	e := xdr.NewEncoder(make([]byte, 0, 1<<10))
	for {
		nc.SetReadDeadline(time.Now().Add(s.opts.IdleTimeout))
		var err error
		rec, err = rpc.ReadRecord(br, rec, maxCall)
		if err != nil {
			return
		}
		e.Buf = rpc.BeginRecord(e.Buf[:0])
		if !s.handle(rec, tr, e) {
			continue
		}
		rpc.EndRecord(e.Buf)
		nc.SetWriteDeadline(time.Now().Add(s.opts.IdleTimeout))
		if _, err := nc.Write(e.Buf); err != nil {
			return
		}
	}
}

// serveUDP answers datagrams, one call each, until the socket is closed.
func (s *Server) serveUDP() {
	buf := make([]byte, maxCall+1)
	oob := make([]byte, 256)
	e := xdr.NewEncoder(make([]byte, 0, 1<<10))
	for {
		n, oobn, _, from, err := s.udp.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Debug("portmap: UDP read", "err", err)
			continue
		}
		if n > maxCall {
			continue
		}
		tr := transport{proto: ProtoUDP, local: s.self.Addr()}
		dst, ok := destination(oob[:oobn])
		if ok {
			tr.local = dst
		}
		e.Buf = e.Buf[:0]
		if !s.handle(buf[:n], tr, e) {
			continue
		}
		var src []byte
		if ok && s.self.Addr().IsUnspecified() {
			src = sourceControl(s.family, dst)
		}
		if _, _, err := s.udp.WriteMsgUDPAddrPort(e.Buf, src, from); err != nil {
			s.log.Debug("portmap: UDP write", "to", from.String(), "err", err)
		}
	}
}
