package nfs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// conn is one client connection: a reader loop and a goroutine per call.
type conn struct {
	s      *Server
	nc     net.Conn
	remote netip.Addr
	// port is the client's source port (Export.Secure).
	port uint16
	log  *slog.Logger
	// cancel ends the context of the connection and of its calls.
	cancel context.CancelFunc

	// sem bounds the calls of this connection in flight: each holds a
	// slot until its reply is written or dropped, so a client that does
	// not read has at most MaxInFlightPerConn replies waiting.
	sem chan struct{}
	// inflight counts the calls begun and not yet answered: read and
	// waiting for a server slot, handled, or with a reply not yet
	// written. It is -1 (evictedMark) once the connection is chosen to
	// make room at MaxConnections, after which no call begins (claimCall).
	inflight atomic.Int32
	// lastCallNano is when the last call was read (or the connection
	// accepted), in Unix nanoseconds: the connection idle the longest
	// makes room at MaxConnections.
	lastCallNano atomic.Int64
	calls        sync.WaitGroup
	closing      atomic.Bool

	// Reply writing: wmu guards queue, spare and writing; one goroutine
	// at a time writes (see send).
	wmu     sync.Mutex
	queue   []*[]byte
	spare   []*[]byte
	writing bool
	broken  atomic.Bool
	// writeProgressNano is when the reply write in progress began or last
	// made progress, in Unix nanoseconds, 0 when none is in progress: the
	// connection's writes are stalled when it is WriteStallTimeout old.
	writeProgressNano atomic.Int64

	// queuedBytes counts the bytes of this connection's replies waiting to
	// be written; shed is set once the connection is closed for holding
	// the most of them with its writes stalled (see Server.queueReply).
	// Both are guarded by the server's qmu.
	queuedBytes int64
	shed        bool
}

// remoteAddr returns the client's address (invalid for a connection that
// is not IP).
func remoteAddr(nc net.Conn) netip.Addr {
	a, _ := rpc.PeerAddr(nc)
	return a
}

func newConn(s *Server, nc net.Conn, cancel context.CancelFunc) *conn {
	remote, port := rpc.PeerAddr(nc)
	c := &conn{
		s:      s,
		nc:     nc,
		remote: remote,
		port:   port,
		cancel: cancel,
		log:    s.log.With("remote", nc.RemoteAddr().String()),
		sem:    make(chan struct{}, s.opts.MaxInFlightPerConn),
	}
	c.lastCallNano.Store(time.Now().UnixNano())
	return c
}

// evictedMark is conn.inflight of a connection closed to make room at
// MaxConnections.
const evictedMark = -1

// errEvicted ends the reader of a connection closed to make room at
// MaxConnections.
var errEvicted = errors.New("nfs: connection closed to make room at the connection limit")

// claimCall counts a call beginning (its record has been read), unless the
// connection was chosen to make room (claimEviction): the two exclude each
// other, so a call never begins on a connection being closed for being
// idle.
func (c *conn) claimCall() bool {
	for {
		n := c.inflight.Load()
		if n == evictedMark {
			return false
		}
		if c.inflight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// claimEviction marks the connection as being closed to make room, if it
// has no call begun.
func (c *conn) claimEviction() bool {
	return c.inflight.CompareAndSwap(0, evictedMark)
}

// lastCall returns when the last call was read (or the connection accepted).
func (c *conn) lastCall() time.Time { return time.Unix(0, c.lastCallNano.Load()) }

// stopReading makes the reader loop end at the next record boundary
// (Shutdown); calls in flight are still answered.
func (c *conn) stopReading() {
	c.closing.Store(true)
	c.nc.SetReadDeadline(time.Now())
}

// serve runs the reader loop, then waits for the calls in flight and closes
// the connection. ctx is the one c.cancel ends.
func (c *conn) serve(ctx context.Context) {
	defer func() {
		c.calls.Wait()
		c.cancel()
		c.nc.Close()
	}()
	// Closing the socket when ctx ends unblocks the reader.
	stop := context.AfterFunc(ctx, func() { c.nc.Close() })
	defer stop()

	br := bufio.NewReaderSize(newQuickAckReader(c.nc), 64<<10)
	for {
		// Backpressure: no more reading while this connection has as many
		// calls in flight (or replies unwritten) as it allows, and no new
		// call starts while the server as a whole runs as many as it allows.
		select {
		case c.sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		rec, err := c.readCall(br)
		if err != nil {
			<-c.sem
			if !errors.Is(err, io.EOF) && !errors.Is(err, errEvicted) && !c.closing.Load() && ctx.Err() == nil {
				c.log.Debug("nfs: closing connection", "err", err)
			}
			return
		}
		c.lastCallNano.Store(time.Now().UnixNano())
		select {
		case c.s.inflight <- struct{}{}:
		case <-ctx.Done():
			c.release()
			return
		}
		c.calls.Add(1)
		go func() {
			defer c.calls.Done()
			// The server's slot is given back when the call has run, its
			// slot in c.sem once its reply is written or dropped (see
			// release): a client that stops reading its replies holds
			// MaxInFlightPerConn of them at most, and none of the server's
			// slots, so other clients are served on.
			c.handle(ctx, rec)
		}()
	}
}

// readCall waits for the next record. A connection with no call in flight
// that stays silent for IdleTimeout is closed. Once a whole record has been
// read, the call is counted in c.inflight (claimCall): on success the
// caller ends it with release.
func (c *conn) readCall(br *bufio.Reader) ([]byte, error) {
	for {
		c.nc.SetReadDeadline(time.Now().Add(c.s.opts.IdleTimeout))
		if c.closing.Load() {
			return nil, io.EOF
		}
		_, err := br.Peek(1)
		if err == nil {
			break
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && !c.closing.Load() && c.inflight.Load() > 0 {
			continue // not idle: calls are still running
		}
		if errors.As(err, &ne) && ne.Timeout() && !c.closing.Load() {
			c.log.Debug("nfs: closing idle connection")
		}
		return nil, err
	}
	// A record has started: the rest must follow within the idle timeout.
	// The call begins only once the whole record is read: a connection
	// that sent part of one and nothing more can still make room at
	// MaxConnections, losing nothing (its client sends the call again).
	c.nc.SetReadDeadline(time.Now().Add(c.s.opts.IdleTimeout))
	rec, err := rpc.ReadRecord(br, nil, c.s.opts.MaxRecordSize)
	if errors.Is(err, rpc.ErrRecordTooLarge) {
		c.s.logClient(context.Background(), c.log, slog.LevelWarn, c.remote, "nfs: record too large, closing connection", "max", c.s.opts.MaxRecordSize)
	}
	if err != nil {
		return nil, err
	}
	if !c.claimCall() {
		return nil, errEvicted // chosen to make room meanwhile: the record is dropped
	}
	return rec, nil
}

// handle answers one call and queues its reply.
func (c *conn) handle(ctx context.Context, rec []byte) {
	out := c.s.replies.Get()
	e := xdr.NewEncoder(rpc.BeginRecord(*out))
	replied := c.s.dispatch(ctx, c, rec, e)
	<-c.s.inflight // the call has run
	*out = e.Buf
	if !replied || !c.s.queueReply(c, len(e.Buf)) {
		c.s.replies.Put(out)
		c.release()
		return
	}
	rpc.EndRecord(e.Buf)
	c.send(out)
}

// release ends a call once its reply is written or dropped: it is no
// longer counted in c.inflight, and gives back its slot in c.sem.
func (c *conn) release() {
	c.inflight.Add(-1)
	<-c.sem
}

// send writes a reply record counted by queueReply, which it then gives
// back to the pool, and ends the call (release). A reply that cannot be written (the
// connection broke) is dropped the same way, so a closed connection
// holds no slot.
// Replies that complete while another goroutine is writing are queued and
// written by that goroutine in one writev, so concurrent calls share
// system calls and no handler waits for another's write.
func (c *conn) send(reply *[]byte) {
	c.wmu.Lock()
	c.queue = append(c.queue, reply)
	if c.writing {
		c.wmu.Unlock()
		return
	}
	c.writing = true
	for len(c.queue) > 0 {
		batch := c.queue
		c.queue = c.spare[:0]
		c.wmu.Unlock()

		bufs := make(net.Buffers, len(batch))
		for i, b := range batch {
			bufs[i] = *b
		}
		if !c.broken.Load() {
			if err := c.write(&bufs); err != nil {
				c.broken.Store(true)
				c.log.Debug("nfs: reply write failed, closing connection", "err", err)
				c.nc.Close()
			}
		}
		for i, b := range batch {
			n := len(*b)
			c.s.replies.Put(b)
			batch[i] = nil
			c.release() // this call is done: the reader may take another
			// Counted until its call is released, so that no reply
			// waiting means no call begun.
			c.s.unqueueReply(c, n)
		}

		c.wmu.Lock()
		c.spare = batch
	}
	c.writing = false
	c.wmu.Unlock()
}

// write writes bufs within WriteTimeout, noting in writeProgressNano when
// it makes progress: it waits on the socket stallPollInterval at a time, so
// a write that progresses is seen doing so (writeStalled).
func (c *conn) write(bufs *net.Buffers) error {
	now := time.Now()
	deadline := now.Add(c.s.opts.WriteTimeout)
	wait := c.s.stallPollInterval()
	c.writeProgressNano.Store(now.UnixNano())
	defer c.writeProgressNano.Store(0)
	for {
		until := now.Add(wait)
		if until.After(deadline) {
			until = deadline
		}
		c.nc.SetWriteDeadline(until)
		n, err := bufs.WriteTo(c.nc)
		if err == nil {
			return nil
		}
		now = time.Now()
		if !errors.Is(err, os.ErrDeadlineExceeded) || !now.Before(deadline) || c.broken.Load() {
			return fmt.Errorf("nfs: writing replies: %w", err)
		}
		if n > 0 {
			c.writeProgressNano.Store(now.UnixNano())
		}
	}
}

// writeStalled reports whether the reply write in progress has made no
// progress for the stall time.
func (c *conn) writeStalled(now time.Time, stall time.Duration) bool {
	at := c.writeProgressNano.Load()
	return at != 0 && now.Sub(time.Unix(0, at)) >= stall
}
