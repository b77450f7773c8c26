package nfs

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zerofs-go/zerofsd/internal/ratelog"
	"github.com/zerofs-go/zerofsd/internal/retry"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// ServerOptions configures a Server. Zero fields take the documented defaults.
type ServerOptions struct {
	// Exports is where the server finds exports (required).
	Exports ExportSet
	// Logger receives the server's logs (default slog.Default()).
	Logger *slog.Logger
	// MaxConnections limits open client connections (default 512). At the
	// limit a new connection takes the place of the one idle the longest
	// (with no call in flight, the oldest last call), which is closed; it
	// is closed at once itself when every connection has calls in flight.
	MaxConnections int
	// MaxInFlightPerConn limits the calls of one connection handled at
	// once (default 64).
	MaxInFlightPerConn int
	// MaxInFlight limits the calls handled at once in the whole server
	// (default 1024). It also sets the bound on the replies waiting to be
	// written in the whole server, the larger of MaxInFlight and
	// MaxInFlightPerConn times maxReplySize (a READ reply of 1 MiB):
	// past it, the connection holding the most among those whose writes
	// are stalled (see WriteStallTimeout) is closed, and none while every
	// connection's writes progress. It is therefore not a ceiling: the
	// replies held are bounded by MaxConnections × MaxInFlightPerConn ×
	// maxReplySize (32 GiB at the defaults), which stalled connections can
	// hold for up to WriteStallTimeout and half of it more (the next
	// check), and connections read a little at a time can hold for up to
	// WriteTimeout.
	MaxInFlight int
	// IdleTimeout closes a connection with no call in flight that sent
	// nothing for this long (default 15 minutes).
	IdleTimeout time.Duration
	// WriteTimeout bounds the time to write one reply to a client that
	// does not read; the connection is closed when it passes (default 2 minutes).
	WriteTimeout time.Duration
	// WriteStallTimeout is how long a connection's reply write must have
	// made no progress for the connection to count as stalled: when the
	// replies waiting to be written in the whole server pass their bound,
	// the stalled connection holding the most is closed, and none while
	// every connection's writes progress (default 30 seconds).
	WriteStallTimeout time.Duration
	// MaxRecordSize is the largest call record accepted; a larger one
	// closes the connection (default 1 MiB + 64 KiB: a 1 MiB WRITE and its header).
	MaxRecordSize int
	// ReplyCacheSize is how many replies of non-idempotent calls are kept
	// to answer retransmissions (default 4096).
	ReplyCacheSize int
	// Observer, when set, is told about every answered call (metrics).
	Observer Observer
	// CancelWait bounds how long Shutdown, past its deadline, waits for
	// the calls it canceled to return (default 5 seconds).
	CancelWait time.Duration
}

// Defaults of ServerOptions.
const (
	DefaultMaxConnections     = 512
	DefaultMaxInFlightPerConn = 64
	DefaultMaxInFlight        = 1024
	DefaultIdleTimeout        = 15 * time.Minute
	DefaultWriteTimeout       = 2 * time.Minute
	DefaultWriteStallTimeout  = 30 * time.Second
	DefaultMaxRecordSize      = maxIOSize + 64<<10
	DefaultReplyCacheSize     = 4096
	DefaultCancelWait         = 5 * time.Second
)

// maxReplySize is the size of the largest reply: maxIOSize of data and
// room for its RPC and NFS headers. The replies waiting to be written in
// the whole server have a bound of this many bytes per call slot, of the
// server (MaxInFlight) or of one connection (MaxInFlightPerConn),
// whichever has more (about 1 GiB at the defaults), past which stalled
// connections are closed (see ServerOptions.MaxInFlight).
const maxReplySize = maxIOSize + 4<<10

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("nfs: server closed")

// Server serves NFSv3 and MOUNT v3 for an ExportSet.
type Server struct {
	opts    ServerOptions
	log     *slog.Logger
	verf    [8]byte
	replies *xdr.Pool
	// inflight is the server-wide call semaphore: a slot is taken before
	// a call is handled and given back when it has run.
	inflight chan struct{}
	// queuedReplies counts the replies built and not yet written or
	// dropped.
	queuedReplies atomic.Int64

	// qmu guards queuedBytes, queuedConns, stallCheck and the connections'
	// queuedBytes and shed.
	qmu sync.Mutex
	// queuedBytes counts the bytes of the replies waiting to be written on
	// connections not shed; above maxQueuedBytes only while no connection
	// holding them has its writes stalled.
	queuedBytes    int64
	maxQueuedBytes int64
	// queuedConns holds the connections with replies waiting.
	queuedConns map[*conn]struct{}
	// stallCheck, while queuedBytes is past maxQueuedBytes with no
	// connection stalled, looks again later (shedStalled).
	stallCheck *time.Timer
	// shedLog limits the lines of connections closed for their replies.
	shedLog *ratelog.Limiter[struct{}]

	mounts *mountTable
	// replyCache answers retransmitted non-idempotent calls.
	replyCache *replyCache
	// clientLog limits the log lines any client can provoke (logClient).
	clientLog *ratelog.Limiter[clientLogKey]
	// acceptLog limits the lines of failed accepts.
	acceptLog *ratelog.Limiter[struct{}]

	mu        sync.Mutex
	shutdown  bool
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	connWG    sync.WaitGroup
}

// NewServer returns a Server; it does not listen until Serve.
func NewServer(opts ServerOptions) (*Server, error) {
	if opts.Exports == nil {
		return nil, errors.New("nfs: ServerOptions.Exports is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = DefaultMaxConnections
	}
	if opts.MaxInFlightPerConn <= 0 {
		opts.MaxInFlightPerConn = DefaultMaxInFlightPerConn
	}
	if opts.MaxInFlight <= 0 {
		opts.MaxInFlight = DefaultMaxInFlight
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.WriteStallTimeout <= 0 {
		opts.WriteStallTimeout = DefaultWriteStallTimeout
	}
	if opts.ReplyCacheSize <= 0 {
		opts.ReplyCacheSize = DefaultReplyCacheSize
	}
	if opts.MaxRecordSize <= 0 {
		opts.MaxRecordSize = DefaultMaxRecordSize
	}
	if opts.CancelWait <= 0 {
		opts.CancelWait = DefaultCancelWait
	}
	s := &Server{
		opts:       opts,
		log:        opts.Logger,
		replies:    xdr.NewPool(4<<10, 2*maxIOSize), // keeps the buffers of 1 MiB READ replies
		inflight:   make(chan struct{}, opts.MaxInFlight),
		listeners:  make(map[net.Listener]struct{}),
		conns:      make(map[*conn]struct{}),
		replyCache: newReplyCache(opts.ReplyCacheSize),
		mounts:     newMountTable(maxMounts),
		clientLog:  newClientLog(),
		acceptLog:  ratelog.New[struct{}](logInterval, 1, nil),

		maxQueuedBytes: int64(max(opts.MaxInFlight, opts.MaxInFlightPerConn)) * maxReplySize,
		queuedConns:    make(map[*conn]struct{}),
		shedLog:        ratelog.New[struct{}](logInterval, 1, nil),
	}
	if _, err := rand.Read(s.verf[:]); err != nil {
		return nil, fmt.Errorf("nfs: write verifier: %w", err)
	}
	return s, nil
}

// WriteVerifier returns the verifier of WRITE and COMMIT replies on export
// e: the server's own (random at each start) combined with e.WriteVerifier,
// so it changes when the server restarts and when the export's storage is
// reopened.
func (s *Server) WriteVerifier(e *Export) [8]byte {
	var v [8]byte
	for i := range v {
		v[i] = s.verf[i] ^ e.WriteVerifier[i]
	}
	return v
}

// Serve accepts connections on ln and serves them until ln is closed, ctx
// ends or Shutdown is called. Any other failure of Accept is logged and
// retried after a growing delay. When ctx ends, the connections it accepted
// are closed and their calls canceled; Shutdown is the graceful way.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()

	// Connections live on ctx (not on this call): after Shutdown closes
	// the listener they finish their calls in flight.
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	// An Accept that fails for any reason but a closed listener is retried
	// after a growing delay: a shortage (EMFILE, ENFILE, ENOBUFS) passes
	// when connections close, and must not end the service.
	bo := retry.Backoff{Base: 5 * time.Millisecond, Max: time.Second}
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			down := s.shutdown
			s.mu.Unlock()
			if down {
				return ErrServerClosed
			}
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			s.acceptLog.Log(ctx, s.log, slog.LevelError, struct{}{}, "nfs: accept failed, retrying", "err", err)
			_ = retry.Sleep(ctx, bo.Next()) // ctx done: the next Accept fails
			continue
		}
		bo.Reset()
		// A host that no export allows gets nothing from a connection but
		// NULL and empty EXPORT and DUMP lists: it must not hold a
		// connection slot, which an allowed client may need.
		if remote := remoteAddr(nc); !s.anyExportAllows(remote) {
			s.logClient(ctx, s.log, slog.LevelWarn, remote, "nfs: connection refused: no export allows the client",
				"remote", nc.RemoteAddr().String())
			nc.Close()
			continue
		}
		cctx, cancel := context.WithCancel(ctx)
		c := newConn(s, nc, cancel)
		s.mu.Lock()
		if s.shutdown {
			s.mu.Unlock()
			cancel()
			nc.Close()
			continue
		}
		// At the limit, the connection idle the longest makes room (as in
		// Linux's server): its client reconnects when it next calls,
		// where refusing the new connection would leave its client with
		// none. When every connection has calls in flight, the new one is
		// refused.
		var evicted *conn
		if len(s.conns) >= s.opts.MaxConnections {
			if evicted = s.idlestConn(); evicted == nil {
				s.mu.Unlock()
				cancel()
				s.logClient(ctx, s.log, slog.LevelWarn, c.remote, "nfs: connection limit reached, every connection busy: closing new connection",
					"remote", nc.RemoteAddr().String(), "limit", s.opts.MaxConnections)
				nc.Close()
				continue
			}
			// Not counted any more; its goroutine ends it (connWG).
			delete(s.conns, evicted)
		}
		s.conns[c] = struct{}{}
		s.connWG.Add(1)
		s.mu.Unlock()
		if evicted != nil {
			evicted.cancel()
			s.logClient(ctx, s.log, slog.LevelWarn, c.remote, "nfs: connection limit reached: closed the connection idle the longest",
				"remote", nc.RemoteAddr().String(), "closed", evicted.nc.RemoteAddr().String(),
				"idle", time.Since(evicted.lastCall()).Round(time.Second), "limit", s.opts.MaxConnections)
		}
		go func() {
			defer s.connWG.Done()
			c.serve(cctx)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// idlestConn returns the connection with no call begun whose last call is
// the oldest, claimed for eviction (claimEviction: no call begins on it
// any more), or nil if every connection has calls begun. s.mu must be held.
func (s *Server) idlestConn() *conn {
	busy := make(map[*conn]bool)
	for {
		var idlest *conn
		var since int64
		for c := range s.conns {
			if busy[c] || c.inflight.Load() != 0 {
				continue
			}
			if at := c.lastCallNano.Load(); idlest == nil || at < since {
				idlest, since = c, at
			}
		}
		if idlest == nil || idlest.claimEviction() {
			return idlest
		}
		busy[idlest] = true // a call began meanwhile
	}
}

// queueReply counts a reply of n bytes about to be queued on c. When the
// replies waiting in the whole server pass maxQueuedBytes, the connections
// holding the most among those whose writes are stalled are closed (their
// clients connect again and retransmit; the reply cache answers the
// non-idempotent calls) until they do not (shedStalled): a handler never
// waits for room, so clients that stop reading their replies cannot stall
// the others, and clients that read theirs, however slowly, are not closed.
// It returns false when the reply must be dropped, c being closed so.
func (s *Server) queueReply(c *conn, n int) bool {
	var shed []shedConn
	s.qmu.Lock()
	if !c.shed {
		s.queuedBytes += int64(n)
		c.queuedBytes += int64(n)
		s.queuedConns[c] = struct{}{}
		shed = s.shedStalledLocked(time.Now())
	}
	ok := !c.shed
	s.qmu.Unlock()
	if ok {
		s.queuedReplies.Add(1)
	}
	s.closeShed(shed)
	return ok
}

// shedConn is a connection closed for the replies it holds, and how many
// bytes of them.
type shedConn struct {
	c     *conn
	bytes int64
}

// shedStalledLocked marks as shed, while the replies waiting pass
// maxQueuedBytes, the connection holding the most of them among those
// whose writes are stalled, and returns them for closeShed. While past
// the bound with none stalled, it has shedStalled look again later. s.qmu
// must be held.
func (s *Server) shedStalledLocked(now time.Time) []shedConn {
	var shed []shedConn
	for s.queuedBytes > s.maxQueuedBytes {
		var largest *conn
		for qc := range s.queuedConns {
			if qc.writeStalled(now, s.opts.WriteStallTimeout) && (largest == nil || qc.queuedBytes > largest.queuedBytes) {
				largest = qc
			}
		}
		if largest == nil {
			if s.stallCheck == nil {
				s.stallCheck = time.AfterFunc(s.stallPollInterval(), s.shedStalled)
			}
			break
		}
		// Its replies are dropped once the close ends the write in
		// progress; they no longer count.
		largest.shed = true
		s.queuedBytes -= largest.queuedBytes
		delete(s.queuedConns, largest)
		shed = append(shed, shedConn{largest, largest.queuedBytes})
	}
	return shed
}

// shedStalled looks again for stalled connections to close while the
// replies waiting pass their bound (shedStalledLocked).
func (s *Server) shedStalled() {
	s.qmu.Lock()
	s.stallCheck = nil
	shed := s.shedStalledLocked(time.Now())
	s.qmu.Unlock()
	s.closeShed(shed)
}

// stallPollInterval is how often stalled writes are looked for: a write
// waits on its socket this long at a time before noting its progress
// (conn.write), and replies past the bound are looked at again this often
// while no connection is stalled.
func (s *Server) stallPollInterval() time.Duration {
	return max(s.opts.WriteStallTimeout/2, time.Millisecond)
}

// closeShed closes the connections marked as shed, their replies dropped.
func (s *Server) closeShed(shed []shedConn) {
	for _, sc := range shed {
		sc.c.broken.Store(true)
		sc.c.nc.Close()
		s.shedLog.Log(context.Background(), s.log, slog.LevelWarn, struct{}{},
			"nfs: replies waiting to be written pass the bound: closing the stalled connection holding the most",
			"remote", sc.c.nc.RemoteAddr().String(), "queued_bytes", sc.bytes, "limit_bytes", s.maxQueuedBytes,
			"stalled_for_at_least", s.opts.WriteStallTimeout)
	}
}

// unqueueReply counts out a reply of n bytes counted by queueReply, once
// written or dropped.
func (s *Server) unqueueReply(c *conn, n int) {
	s.queuedReplies.Add(-1)
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if c.shed {
		return // its bytes were counted out when it was shed
	}
	s.queuedBytes -= int64(n)
	c.queuedBytes -= int64(n)
	if c.queuedBytes == 0 {
		delete(s.queuedConns, c)
	}
}

// Shutdown stops accepting connections, stops reading new calls, waits for
// the calls in flight to be answered, then closes every connection. If ctx
// ends first, it cancels the contexts of the calls still in flight (so that
// one waiting on a stalled store gives up, unanswered), closes every
// connection, waits up to CancelWait for those calls to return and reports
// how many there were; the error wraps ctx's.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	for ln := range s.listeners {
		ln.Close()
	}
	for c := range s.conns {
		c.stopReading()
	}
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		calls := 0
		s.mu.Lock()
		for c := range s.conns {
			calls += int(c.inflight.Load())
			c.cancel()
			c.nc.Close()
		}
		s.mu.Unlock()
		select {
		case <-done:
			return fmt.Errorf("nfs: shutdown: %d calls in flight were canceled unanswered: %w", calls, ctx.Err())
		case <-time.After(s.opts.CancelWait):
			s.mu.Lock()
			left := 0
			for c := range s.conns {
				left += int(c.inflight.Load())
			}
			s.mu.Unlock()
			return fmt.Errorf("nfs: shutdown: %d calls in flight were canceled unanswered, %d of them still running %v later: %w",
				calls, left, s.opts.CancelWait, ctx.Err())
		}
	}
}
