package e2e

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zerofs-go/zerofsd/nfs/rpc"
)

// bcConn is one bad connection: it sends, and reads replies in the
// background, checking each is a well-formed reply to an xid it sent.
type bcConn struct {
	c       net.Conn
	stats   *bcStats
	mu      sync.Mutex
	sent    map[uint32]func(reply []byte) error // xid -> check of the reply
	replies chan error                          // one per reply; closed at EOF
	readErr error
	// lenient: the framing was broken on purpose, so replies to xids this
	// connection never sent whole may come; they are not errors.
	lenient atomic.Bool
}

func bcDial(addr string, stats *bcStats) (*bcConn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("bad client: dial: %w", err)
	}
	stats.conns.Add(1)
	bc := &bcConn{c: c, stats: stats, sent: map[uint32]func([]byte) error{}, replies: make(chan error, 1024)}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	go bc.readLoop()
	return bc, nil
}

func (bc *bcConn) readLoop() {
	defer close(bc.replies)
	br := bufio.NewReader(bc.c)
	for {
		rec, err := rpc.ReadRecord(br, nil, 4<<20)
		if err != nil {
			bc.readErr = err
			if errors.Is(err, io.EOF) {
				bc.stats.closedByServer.Add(1)
			}
			return
		}
		bc.stats.replies.Add(1)
		bc.replies <- bc.check(rec)
	}
}

func (bc *bcConn) check(rec []byte) error {
	if len(rec) < 12 {
		return fmt.Errorf("a reply of %d bytes", len(rec))
	}
	xid := binary.BigEndian.Uint32(rec)
	bc.mu.Lock()
	check, ok := bc.sent[xid]
	bc.mu.Unlock()
	if !ok {
		if bc.lenient.Load() {
			return nil
		}
		return fmt.Errorf("a reply with xid %#x, which this connection never sent whole", xid)
	}
	if mt := binary.BigEndian.Uint32(rec[4:]); mt != rpc.MsgReply {
		return fmt.Errorf("xid %#x: message type %d in a reply", xid, mt)
	}
	if check != nil {
		if err := check(rec); err != nil {
			return fmt.Errorf("xid %#x: %w", xid, err)
		}
	}
	return nil
}

// expect registers xid as sent whole, with an optional check of its reply.
func (bc *bcConn) expect(xid uint32, check func([]byte) error) {
	bc.mu.Lock()
	bc.sent[xid] = check
	bc.mu.Unlock()
}

func (bc *bcConn) write(b []byte, records int) error {
	bc.stats.records.Add(int64(records))
	bc.stats.bytes.Add(int64(len(b)))
	_, err := bc.c.Write(b)
	return err
}

// drain waits up to wait for the replies to come, returning the first bad one.
func (bc *bcConn) drain(wait time.Duration, want int) error {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for got := 0; want < 0 || got < want; got++ {
		select {
		case err, ok := <-bc.replies:
			if !ok {
				return nil
			}
			if err != nil {
				return err
			}
		case <-timer.C:
			return nil
		}
	}
	return nil
}

func (bc *bcConn) close() {
	bc.c.Close()
	for err := range bc.replies {
		_ = err
	}
}

// acceptStat returns a check that the reply was accepted with stat.
func acceptStat(stats ...rpc.AcceptStat) func([]byte) error {
	return func(rec []byte) error {
		_, _, err := rpc.ParseReply(rec)
		var re *rpc.ReplyError
		got := rpc.Success
		if errors.As(err, &re) {
			if re.Denied {
				return fmt.Errorf("denied (reject %d auth %d), want accepted %v", re.Reject, re.Auth, stats)
			}
			got = re.Accept
		} else if err != nil {
			return err
		}
		for _, s := range stats {
			if got == s {
				return nil
			}
		}
		return fmt.Errorf("accepted %v, want %v", got, stats)
	}
}

// wellFormed checks the reply parses as a reply, and is not
// NFS3ERR_SERVERFAULT (or MNT3ERR_SERVERFAULT): bad input on a healthy local
// store deserves a precise status, not "the server broke".
func wellFormed(rec []byte) error {
	_, res, err := rpc.ParseReply(rec)
	var re *rpc.ReplyError
	if err != nil && !errors.As(err, &re) {
		return err
	}
	if err == nil && len(res) >= 4 && binary.BigEndian.Uint32(res) == 10006 {
		return fmt.Errorf("SERVERFAULT answering a malformed call")
	}
	return nil
}

func progMismatch(vers uint32) func([]byte) error {
	return func(rec []byte) error {
		_, _, err := rpc.ParseReply(rec)
		var re *rpc.ReplyError
		if !errors.As(err, &re) || re.Denied || re.Accept != rpc.ProgMismatch || re.Low != vers || re.High != vers {
			return fmt.Errorf("got %v, want PROG_MISMATCH %d-%d", err, vers, vers)
		}
		return nil
	}
}

func rpcMismatch(rec []byte) error {
	_, _, err := rpc.ParseReply(rec)
	var re *rpc.ReplyError
	if !errors.As(err, &re) || !re.Denied || re.Reject != rpc.RPCMismatch || re.Low != 2 || re.High != 2 {
		return fmt.Errorf("got %v, want MSG_DENIED RPC_MISMATCH 2-2", err)
	}
	return nil
}

func authError(rec []byte) error {
	_, _, err := rpc.ParseReply(rec)
	var re *rpc.ReplyError
	if !errors.As(err, &re) || !re.Denied || re.Reject != rpc.AuthError {
		return fmt.Errorf("got %v, want MSG_DENIED AUTH_ERROR", err)
	}
	return nil
}

// authErrorOrAccepted: a random AUTH_SYS body may happen to parse.
func authErrorOrAccepted(rec []byte) error {
	if authError(rec) == nil {
		return nil
	}
	return wellFormed(rec)
}

// garbageOrAuthError: a credential above 400 bytes breaks the call header.
func garbageOrAuthError(rec []byte) error {
	if authError(rec) == nil {
		return nil
	}
	return acceptStat(rpc.GarbageArgs)(rec)
}
