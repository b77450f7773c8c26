package rpc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"

	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// ErrClientClosed is returned by calls on a closed (or broken) Client.
var ErrClientClosed = errors.New("rpc: client closed")

// ReplyError is a reply other than an accepted SUCCESS.
type ReplyError struct {
	XID    uint32
	Denied bool       // MSG_DENIED (else MSG_ACCEPTED with Accept != Success)
	Accept AcceptStat // for accepted replies
	Reject uint32     // RPCMismatch or AuthError, for denied replies
	Auth   AuthStat   // for AuthError
	Low    uint32     // for PROG_MISMATCH / RPC_MISMATCH
	High   uint32
}

func (e *ReplyError) Error() string {
	if e.Denied {
		if e.Reject == AuthError {
			return fmt.Sprintf("rpc: xid %#x denied: auth error %d", e.XID, e.Auth)
		}
		return fmt.Sprintf("rpc: xid %#x denied: rpc mismatch %d-%d", e.XID, e.Low, e.High)
	}
	return fmt.Sprintf("rpc: xid %#x: %v", e.XID, e.Accept)
}

// ParseReply decodes a reply message. It returns the xid and, for an
// accepted SUCCESS, the results (aliasing msg); any other reply is a
// *ReplyError.
func ParseReply(msg []byte) (uint32, []byte, error) {
	d := xdr.NewDecoder(msg)
	xid := d.Uint32()
	if mt := d.Uint32(); d.Err() == nil && mt != MsgReply {
		return xid, nil, fmt.Errorf("rpc: xid %#x: message type %d is not a reply", xid, mt)
	}
	stat := d.Uint32()
	if d.Err() != nil {
		return xid, nil, fmt.Errorf("rpc: malformed reply: %w", d.Err())
	}
	re := &ReplyError{XID: xid}
	if stat == MsgDenied {
		re.Denied = true
		re.Reject = d.Uint32()
		if re.Reject == AuthError {
			re.Auth = AuthStat(d.Uint32())
		} else {
			re.Low, re.High = d.Uint32(), d.Uint32()
		}
		if d.Err() != nil {
			return xid, nil, fmt.Errorf("rpc: malformed denied reply: %w", d.Err())
		}
		return xid, nil, re
	}
	d.Uint32()            // verifier flavor
	d.Opaque(MaxAuthBody) // verifier body
	re.Accept = AcceptStat(d.Uint32())
	if re.Accept == ProgMismatch {
		re.Low, re.High = d.Uint32(), d.Uint32()
	}
	if d.Err() != nil {
		return xid, nil, fmt.Errorf("rpc: malformed accepted reply: %w", d.Err())
	}
	if re.Accept != Success {
		return xid, nil, re
	}
	return xid, d.Rest(), nil
}

// Client sends calls over one TCP connection and matches replies by xid, so
// many calls may be in flight at once (from many goroutines). It is meant
// for tests and tools; it does not retransmit.
type Client struct {
	conn    net.Conn
	wmu     sync.Mutex
	mu      sync.Mutex
	pending map[uint32]chan []byte
	err     error
	nextXID atomic.Uint32
	done    chan struct{}
}

// Dial connects to addr over TCP.
func Dial(ctx context.Context, addr string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("rpc: dial %s: %w", addr, err)
	}
	return NewClient(conn), nil
}

// NewClient runs a client over conn, which it owns from now on.
func NewClient(conn net.Conn) *Client {
	c := &Client{conn: conn, pending: make(map[uint32]chan []byte), done: make(chan struct{})}
	// Start at a random xid, as real clients do: the server's duplicate
	// request cache tells clients of one address apart only by xid.
	c.nextXID.Store(rand.Uint32())
	go c.readLoop()
	return c
}

// maxReplyRecord bounds the replies the client accepts.
const maxReplyRecord = 64 << 20

func (c *Client) readLoop() {
	r := bufio.NewReaderSize(c.conn, 64<<10)
	var err error
	for {
		var rec []byte
		rec, err = ReadRecord(r, nil, maxReplyRecord)
		if err != nil {
			break
		}
		if len(rec) < 4 {
			continue
		}
		xid := uint32(rec[0])<<24 | uint32(rec[1])<<16 | uint32(rec[2])<<8 | uint32(rec[3])
		c.mu.Lock()
		ch := c.pending[xid]
		delete(c.pending, xid)
		c.mu.Unlock()
		if ch != nil {
			ch <- rec
		}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
		err = ErrClientClosed
	}
	c.mu.Lock()
	c.err = err
	c.pending = nil
	c.mu.Unlock()
	close(c.done)
}

// NextXID returns a fresh xid.
func (c *Client) NextXID() uint32 { return c.nextXID.Add(1) }

// Call sends a call and waits for its reply; it returns the results of an
// accepted SUCCESS, or a *ReplyError.
func (c *Client) Call(ctx context.Context, prog, vers, proc uint32, cred OpaqueAuth, args []byte) ([]byte, error) {
	xid := c.NextXID()
	e := xdr.NewEncoder(make([]byte, 0, 64+len(args)))
	e.Buf = BeginRecord(e.Buf)
	AppendCall(e, xid, prog, vers, proc, cred)
	e.Buf = append(e.Buf, args...)
	EndRecord(e.Buf)
	reply, err := c.Exchange(ctx, xid, e.Buf)
	if err != nil {
		return nil, err
	}
	_, res, err := ParseReply(reply)
	return res, err
}

// Exchange writes a complete record-marked message whose xid is xid, as
// is, and returns the reply message with that xid (for raw and malformed
// calls in tests).
func (c *Client) Exchange(ctx context.Context, xid uint32, wire []byte) ([]byte, error) {
	ch := make(chan []byte, 1)
	c.mu.Lock()
	if c.pending == nil {
		err := c.err
		c.mu.Unlock()
		return nil, err
	}
	c.pending[xid] = ch
	c.mu.Unlock()
	if err := c.Send(wire); err != nil {
		c.forget(xid)
		return nil, err
	}
	select {
	case rec := <-ch:
		return rec, nil
	case <-c.done:
		select {
		case rec := <-ch:
			return rec, nil
		default:
		}
		return nil, c.closedErr()
	case <-ctx.Done():
		c.forget(xid)
		return nil, ctx.Err()
	}
}

// Send writes raw bytes on the connection.
func (c *Client) Send(wire []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.conn.Write(wire); err != nil {
		return fmt.Errorf("rpc: write: %w", err)
	}
	return nil
}

// Done is closed when the connection has ended (closed by either side).
func (c *Client) Done() <-chan struct{} { return c.done }

func (c *Client) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *Client) forget(xid uint32) {
	c.mu.Lock()
	if c.pending != nil {
		delete(c.pending, xid)
	}
	c.mu.Unlock()
}

// Close closes the connection; pending calls fail with ErrClientClosed.
func (c *Client) Close() error {
	err := c.conn.Close()
	<-c.done
	return err
}
