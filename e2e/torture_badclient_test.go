package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// bcStats counts what the bad clients sent and got.
type bcStats struct {
	conns, records, bytes   atomic.Int64
	replies, closedByServer atomic.Int64
	byKind                  [bcNumKinds]atomic.Int64
	goodOps, goodBytes      atomic.Int64
}

// bcKind is one way of misbehaving.
type bcKind int

const (
	bcRandomBytes bcKind = iota
	bcHugeRecordMark
	bcTruncatedFragment
	bcEmptyFragments
	bcGarbageArgs
	bcWrongProgram
	bcBadAuth
	bcMutatedCalls
	bcAbruptClose
	bcSlowDrip
	bcNeverReads
	bcNumKinds
)

func (k bcKind) String() string {
	return [...]string{"random-bytes", "huge-record-mark", "truncated-fragment", "empty-fragments",
		"garbage-args", "wrong-program/version", "bad-auth", "mutated-calls", "abrupt-close", "slow-drip", "never-reads"}[k]
}

// bcTemplates are well-formed calls on the bad export, encoded without
// their xid's record, used as-is or mutated.
type bcTemplates struct {
	calls [][]byte // call bodies (no record mark), xid at offset 0
}

// TestTortureBadClients sends random and malformed RPC records from many
// connections at once while a well-behaved client keeps writing, reading
// and checking files on another export: every one of its calls must
// succeed with the right answer throughout, the daemon must stay up and
// fsck must be clean at the end.
func TestTortureBadClients(t *testing.T) {
	seed := suiteSeed(t)
	dir := t.TempDir()
	d := newDaemon(t, dir, nil)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	cfg := fmt.Sprintf(`[server]
listen = %q
log_level = "info"
metrics_listen = %q
portmapper = "off"

[cache]
dir = %q
size_gb = 0.5

[[exports]]
name = "good"
path = "/good"
store = "file://%s"
squash = "none"

[[exports]]
name = "bad"
path = "/bad"
store = "file://%s"
squash = "none"
`, d.addr, metricsAddr, filepath.Join(dir, "cache"), filepath.Join(dir, "good"), filepath.Join(dir, "bad"))
	if err := os.WriteFile(d.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d.Start()
	defer func() {
		if t.Failed() {
			t.Logf("zerofsd log (tail):\n%s", tail(d.Logs(), 60))
		}
	}()
	ctx := stepContext(t)

	// The bad clients' playground: a world-writable directory and a file.
	setup, err := nfsclient.Dial(ctx, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	badRoot, _, err := setup.Mount(ctx, "/bad")
	if err != nil {
		t.Fatalf("MNT /bad: %v", err)
	}
	play, err := setup.Mkdir(ctx, badRoot, "play", nfsclient.Sattr{Mode: nfsclient.U32(0o777)})
	if err != nil {
		t.Fatal(err)
	}
	junk, err := setup.Create(ctx, play.FH, "junk", nfsclient.Unchecked, nfsclient.Sattr{Mode: nfsclient.U32(0o666)}, [8]byte{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := setup.Write(ctx, junk.FH, 0, bytes.Repeat([]byte("junk"), 20000), nfsclient.FileSync); err != nil {
		t.Fatal(err)
	}
	setup.Close()
	tmpl := bcMakeTemplates(badRoot, play.FH, junk.FH)

	duration := fpDuration(15*time.Second, 2*time.Minute)
	stats := &bcStats{}
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	var failures []error
	var failMu sync.Mutex
	fail := func(err error) {
		failMu.Lock()
		failures = append(failures, err)
		failMu.Unlock()
	}

	// Connections that start a record and never finish it, held open
	// for the whole run.
	var held []net.Conn
	for i := range 64 {
		c, err := net.Dial("tcp", d.addr)
		if err != nil {
			t.Fatalf("holding connection %d: %v", i, err)
		}
		c.Write([]byte{0x80, 0, 0x10, 0, 1, 2, 3})
		held = append(held, c)
	}

	const badClients = 32
	for i := range badClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(1000+i)))
			for time.Now().Before(deadline) {
				if err := bcOneConnection(d.addr, rng, tmpl, stats); err != nil {
					fail(err)
					return
				}
			}
		}()
	}
	for i := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			if err := bcGoodClient(d.addr, i, rng, deadline, stats); err != nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	for _, c := range held {
		c.Close()
	}
	for _, err := range failures {
		t.Error(err)
	}
	if t.Failed() {
		return
	}

	if err := fpNullPing(d.addr, 30*time.Second); err != nil {
		t.Fatalf("the daemon does not answer NULL after the bad clients: %v", err)
	}
	// Every connection is released once its client is gone.
	var conns, inflight float64
	for end := time.Now().Add(60 * time.Second); ; {
		m, err := bcMetrics(metricsAddr)
		if err != nil {
			t.Fatalf("reading metrics: %v", err)
		}
		conns, inflight = m["zerofs_nfs_connections"], m["zerofs_nfs_calls_in_flight"]
		if conns == 0 && inflight == 0 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("a minute after every client left the daemon still counts %v open connections and %v calls in flight", conns, inflight)
		}
		time.Sleep(100 * time.Millisecond)
	}
	mem := bcProcMemory(d)
	if strings.Contains(d.Logs(), "panic") {
		t.Fatalf("the daemon logged a panic:\n%s", tail(d.Logs(), 60))
	}
	d.Stop() // a clean exit (status 0) after all that
	for _, name := range []string{"good", "bad"} {
		if out, err := runBinary(t, "fsck", "-c", d.config, "--export", name); err != nil {
			t.Fatalf("fsck of %s after the bad clients: %v\n%s", name, err, out)
		}
	}
	var kinds []string
	for k := range bcNumKinds {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, stats.byKind[k].Load()))
	}
	t.Logf("daemon memory after the run: %s", mem)
	t.Logf("PROVED: for %v, %d bad clients opened %d connections (plus 64 held half-sent records) and sent %d records (%d bytes; connections by kind: %s), "+
		"got %d well-formed replies and %d connections closed by the server, and every connection was released after; meanwhile the good client's %d calls "+
		"(%d bytes written and read back) all succeeded with correct answers; the daemon stayed up, exited cleanly on SIGTERM, fsck clean on both exports; seed %d",
		duration, badClients, stats.conns.Load(), stats.records.Load(), stats.bytes.Load(), strings.Join(kinds, ", "),
		stats.replies.Load(), stats.closedByServer.Load(), stats.goodOps.Load(), stats.goodBytes.Load(), seed)
}

// bcCall encodes one call body (no record mark).
func bcCall(xid, prog, vers, proc uint32, cred rpc.OpaqueAuth, args func(e *xdr.Encoder)) []byte {
	e := xdr.NewEncoder(nil)
	rpc.AppendCall(e, xid, prog, vers, proc, cred)
	if args != nil {
		args(e)
	}
	return e.Buf
}

// bcRecord frames body as one last fragment.
func bcRecord(body []byte) []byte {
	out := binary.BigEndian.AppendUint32(nil, 0x80000000|uint32(len(body)))
	return append(out, body...)
}

func bcCred() rpc.OpaqueAuth {
	return rpc.AuthSysCred{MachineName: "badclient", UID: 4242, GID: 4242}.Encode()
}

// bcMakeTemplates builds a valid call of every NFS and MOUNT procedure on
// the bad export.
func bcMakeTemplates(root, play, junk []byte) *bcTemplates {
	cred := bcCred()
	sattr := func(e *xdr.Encoder) {
		e.Bool(true)
		e.Uint32(0o644)
		e.Bool(false)
		e.Bool(false)
		e.Bool(false)
		e.Uint32(0)
		e.Uint32(0)
	}
	dirop := func(e *xdr.Encoder, name string) { e.Opaque(play); e.String(name) }
	nfsArgs := map[uint32]func(e *xdr.Encoder){
		nfs.ProcNull:     nil,
		nfs.ProcGetattr:  func(e *xdr.Encoder) { e.Opaque(junk) },
		nfs.ProcSetattr:  func(e *xdr.Encoder) { e.Opaque(junk); sattr(e); e.Bool(false) },
		nfs.ProcLookup:   func(e *xdr.Encoder) { dirop(e, "junk") },
		nfs.ProcAccess:   func(e *xdr.Encoder) { e.Opaque(junk); e.Uint32(0x3f) },
		nfs.ProcReadlink: func(e *xdr.Encoder) { e.Opaque(junk) },
		nfs.ProcRead:     func(e *xdr.Encoder) { e.Opaque(junk); e.Uint64(0); e.Uint32(8192) },
		nfs.ProcWrite: func(e *xdr.Encoder) {
			e.Opaque(junk)
			e.Uint64(100)
			e.Uint32(64)
			e.Uint32(nfsclient.Unstable)
			e.Opaque(bytes.Repeat([]byte("w"), 64))
		},
		nfs.ProcCreate: func(e *xdr.Encoder) { dirop(e, "c"); e.Uint32(nfsclient.Unchecked); sattr(e) },
		nfs.ProcMkdir:  func(e *xdr.Encoder) { dirop(e, "d"); sattr(e) },
		nfs.ProcSymlink: func(e *xdr.Encoder) {
			dirop(e, "s")
			sattr(e)
			e.String("../junk")
		},
		nfs.ProcMknod:  func(e *xdr.Encoder) { dirop(e, "n"); e.Uint32(7); sattr(e) }, // NF3FIFO
		nfs.ProcRemove: func(e *xdr.Encoder) { dirop(e, "c") },
		nfs.ProcRmdir:  func(e *xdr.Encoder) { dirop(e, "d") },
		nfs.ProcRename: func(e *xdr.Encoder) { dirop(e, "s"); dirop(e, "s2") },
		nfs.ProcLink:   func(e *xdr.Encoder) { e.Opaque(junk); dirop(e, "l") },
		nfs.ProcReaddir: func(e *xdr.Encoder) {
			e.Opaque(play)
			e.Uint64(0)
			e.Uint64(0)
			e.Uint32(4096)
		},
		nfs.ProcReaddirplus: func(e *xdr.Encoder) {
			e.Opaque(play)
			e.Uint64(0)
			e.Uint64(0)
			e.Uint32(4096)
			e.Uint32(32768)
		},
		nfs.ProcFsstat:   func(e *xdr.Encoder) { e.Opaque(root) },
		nfs.ProcFsinfo:   func(e *xdr.Encoder) { e.Opaque(root) },
		nfs.ProcPathconf: func(e *xdr.Encoder) { e.Opaque(root) },
		nfs.ProcCommit:   func(e *xdr.Encoder) { e.Opaque(junk); e.Uint64(0); e.Uint32(0) },
	}
	t := &bcTemplates{}
	for proc := uint32(0); proc <= nfs.ProcCommit; proc++ {
		t.calls = append(t.calls, bcCall(0, nfs.ProgramNFS, nfs.VersionNFS, proc, cred, nfsArgs[proc]))
	}
	mountArgs := map[uint32]func(e *xdr.Encoder){
		nfs.MountProcMnt:  func(e *xdr.Encoder) { e.String("/bad") },
		nfs.MountProcUmnt: func(e *xdr.Encoder) { e.String("/bad") },
	}
	for proc := uint32(0); proc <= nfs.MountProcExport; proc++ {
		t.calls = append(t.calls, bcCall(0, nfs.ProgramMount, nfs.VersionMount, proc, cred, mountArgs[proc]))
	}
	return t
}

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

// bcOneConnection opens a connection, misbehaves one way, and closes it. It
// returns an error only when the server answered wrongly.
func bcOneConnection(addr string, rng *rand.Rand, tmpl *bcTemplates, stats *bcStats) error {
	kind := bcKind(rng.IntN(int(bcNumKinds)))
	stats.byKind[kind].Add(1)
	bc, err := bcDial(addr, stats)
	if err != nil {
		return err
	}
	defer bc.close()
	xid := func() uint32 { return 0x40000000 | rng.Uint32()>>2 }
	cred := bcCred()
	var werr error
	send := func(b []byte, records int) {
		if werr == nil {
			werr = bc.write(b, records)
		}
	}
	fail := func(err error) error {
		if err == nil {
			return nil
		}
		return fmt.Errorf("bad client (%s): %w", kind, err)
	}

	switch kind {
	case bcRandomBytes:
		bc.lenient.Store(true)
		send(suiteRandomBytes(rng, 1+rng.IntN(8192)), 1)
		return fail(bc.drain(200*time.Millisecond, -1))

	case bcHugeRecordMark:
		bc.lenient.Store(true)
		mark := uint32(16<<20 + rng.IntN(1<<31-16<<20))
		if rng.IntN(2) == 0 {
			mark |= 0x80000000
		}
		send(append(binary.BigEndian.AppendUint32(nil, mark), suiteRandomBytes(rng, rng.IntN(4096))...), 1)
		return fail(bc.drain(200*time.Millisecond, -1))

	case bcTruncatedFragment:
		body := tmpl.calls[rng.IntN(len(tmpl.calls))]
		rec := bcRecord(body)
		send(rec[:rng.IntN(len(rec))], 1)
		return nil

	case bcEmptyFragments:
		// Thousands of empty non-last fragments, then maybe a real call.
		n := 1000 + rng.IntN(20000)
		send(make([]byte, 4*n), 1)
		if rng.IntN(2) == 0 {
			x := xid()
			body := append([]byte(nil), tmpl.calls[0]...)
			binary.BigEndian.PutUint32(body, x)
			bc.expect(x, acceptStat(rpc.Success))
			send(bcRecord(body), 1)
			if werr == nil {
				return fail(bc.drain(5*time.Second, 1))
			}
		}
		return nil

	case bcGarbageArgs:
		n := 1 + rng.IntN(20)
		var buf []byte
		for range n {
			x := xid()
			prog, vers, maxProc := uint32(nfs.ProgramNFS), uint32(nfs.VersionNFS), nfs.ProcCommit+3
			if rng.IntN(4) == 0 {
				prog, vers, maxProc = nfs.ProgramMount, nfs.VersionMount, nfs.MountProcExport+3
			}
			proc := uint32(rng.IntN(maxProc + 1))
			if rng.IntN(20) == 0 {
				proc = rng.Uint32()
			}
			tooHigh := (prog == nfs.ProgramNFS && proc > nfs.ProcCommit) || (prog == nfs.ProgramMount && proc > nfs.MountProcExport)
			args := suiteRandomBytes(rng, rng.IntN(600))
			if rng.IntN(2) == 0 && !tooHigh {
				// A real call's arguments, cut short or with junk after them.
				i := int(proc)
				if prog == nfs.ProgramMount {
					i += nfs.ProcCommit + 1
				}
				real := tmpl.calls[i][len(bcCall(0, prog, vers, proc, cred, nil)):]
				args = append(append([]byte(nil), real[:rng.IntN(len(real)+1)]...), suiteRandomBytes(rng, rng.IntN(64))...)
			}
			body := bcCall(x, prog, vers, proc, cred, func(e *xdr.Encoder) { e.Buf = append(e.Buf, args...) })
			if tooHigh {
				bc.expect(x, acceptStat(rpc.ProcUnavail))
			} else {
				bc.expect(x, wellFormed)
			}
			buf = append(buf, bcRecord(body)...)
		}
		send(buf, n)
		if werr == nil {
			return fail(bc.drain(10*time.Second, n))
		}
		return nil

	case bcWrongProgram:
		n := 1 + rng.IntN(10)
		var buf []byte
		for range n {
			x := xid()
			var body []byte
			switch rng.IntN(4) {
			case 0: // unknown program
				progs := []uint32{100000, 100021, 100024, 1, 0, 0xffffffff, rng.Uint32()}
				prog := progs[rng.IntN(len(progs))]
				if prog == nfs.ProgramNFS || prog == nfs.ProgramMount {
					prog = 7
				}
				body = bcCall(x, prog, 1, 0, cred, nil)
				bc.expect(x, acceptStat(rpc.ProgUnavail))
			case 1: // NFS, wrong version
				vers := []uint32{2, 4, 0, rng.Uint32() | 8}[rng.IntN(4)]
				body = bcCall(x, nfs.ProgramNFS, vers, uint32(rng.IntN(22)), cred, nil)
				bc.expect(x, progMismatch(nfs.VersionNFS))
			case 2: // MOUNT, wrong version
				vers := []uint32{1, 2, 4}[rng.IntN(3)]
				body = bcCall(x, nfs.ProgramMount, vers, 0, cred, nil)
				bc.expect(x, progMismatch(nfs.VersionMount))
			case 3: // RPC version other than 2
				body = bcCall(x, nfs.ProgramNFS, nfs.VersionNFS, 0, cred, nil)
				binary.BigEndian.PutUint32(body[8:], []uint32{0, 1, 3, 0xffffffff}[rng.IntN(4)])
				bc.expect(x, rpcMismatch)
			}
			buf = append(buf, bcRecord(body)...)
		}
		send(buf, n)
		if werr == nil {
			return fail(bc.drain(10*time.Second, n))
		}
		return nil

	case bcBadAuth:
		n := 1 + rng.IntN(10)
		var buf []byte
		for range n {
			x := xid()
			proc := uint32(1 + rng.IntN(nfs.ProcCommit))
			args := tmpl.calls[proc][len(bcCall(0, nfs.ProgramNFS, nfs.VersionNFS, proc, cred, nil)):]
			var bad rpc.OpaqueAuth
			check := authError
			switch rng.IntN(4) {
			case 0: // a flavor we do not speak: AUTH_SHORT, AUTH_DH, RPCSEC_GSS, junk
				bad = rpc.OpaqueAuth{Flavor: []uint32{2, 3, 6, 390003, rng.Uint32() | 16}[rng.IntN(5)], Body: suiteRandomBytes(rng, rng.IntN(100))}
			case 1: // AUTH_SYS with a random body
				bad = rpc.OpaqueAuth{Flavor: rpc.AuthSys, Body: suiteRandomBytes(rng, rng.IntN(400))}
				check = authErrorOrAccepted
			case 2: // AUTH_SYS with 17..100 groups
				e := xdr.NewEncoder(nil)
				e.Uint32(1)
				e.String("m")
				e.Uint32(4242)
				e.Uint32(4242)
				ng := 17 + rng.IntN(84)
				e.Uint32(uint32(ng))
				for range ng {
					e.Uint32(1)
				}
				bad = rpc.OpaqueAuth{Flavor: rpc.AuthSys, Body: e.Buf}
				if len(e.Buf) > 400 {
					check = garbageOrAuthError
				}
			case 3: // AUTH_SYS whose machine name claims more than the body holds
				e := xdr.NewEncoder(nil)
				e.Uint32(1)
				e.Uint32(uint32(200 + rng.IntN(1<<20)))
				e.Buf = append(e.Buf, "abc"...)
				bad = rpc.OpaqueAuth{Flavor: rpc.AuthSys, Body: e.Buf}
			}
			body := bcCall(x, nfs.ProgramNFS, nfs.VersionNFS, proc, bad, func(e *xdr.Encoder) { e.Buf = append(e.Buf, args...) })
			bc.expect(x, check)
			buf = append(buf, bcRecord(body)...)
		}
		send(buf, n)
		if werr == nil {
			return fail(bc.drain(10*time.Second, n))
		}
		return nil

	case bcMutatedCalls:
		n := 1 + rng.IntN(10)
		var buf []byte
		for range n {
			x := xid()
			body := append([]byte(nil), tmpl.calls[rng.IntN(len(tmpl.calls))]...)
			binary.BigEndian.PutUint32(body, x)
			switch rng.IntN(4) {
			case 0, 1: // bit flips after the xid
				for range 1 + rng.IntN(4) {
					i := 4 + rng.IntN(len(body)-4)
					body[i] ^= 1 << rng.IntN(8)
				}
			case 2: // a random byte overwritten
				body[4+rng.IntN(len(body)-4)] = byte(rng.Uint32())
			case 3: // cut or extended
				if rng.IntN(2) == 0 {
					body = body[:4+rng.IntN(len(body)-4)]
				} else {
					body = append(body, suiteRandomBytes(rng, rng.IntN(64))...)
				}
			}
			bc.expect(x, wellFormed)
			rec := bcRecord(body)
			if rng.IntN(10) == 0 { // the record mark too
				bc.lenient.Store(true)
				rec[rng.IntN(4)] ^= 1 << rng.IntN(8)
			}
			buf = append(buf, rec...)
		}
		send(buf, n)
		if werr == nil {
			return fail(bc.drain(2*time.Second, n))
		}
		return nil

	case bcAbruptClose:
		// Many pipelined READs, then close without reading the replies.
		n := 1 + rng.IntN(50)
		var buf []byte
		for range n {
			body := append([]byte(nil), tmpl.calls[nfs.ProcRead]...)
			binary.BigEndian.PutUint32(body, xid())
			buf = append(buf, bcRecord(body)...)
		}
		if rng.IntN(2) == 0 {
			buf = buf[:rng.IntN(len(buf))]
		}
		send(buf, n)
		if tc, ok := bc.c.(*net.TCPConn); ok && rng.IntN(2) == 0 {
			tc.SetLinger(0) // a reset rather than a FIN
		}
		return nil

	case bcNeverReads:
		// Pipelined large READs whose replies are never read: the server's
		// writes block on a full socket until the client goes away.
		bc.c.Close() // stop the reader first; reopen without one
		c, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			return fmt.Errorf("bad client: dial: %w", err)
		}
		defer c.Close()
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(4096)
		}
		n := 64
		var buf []byte
		for range n {
			body := append([]byte(nil), tmpl.calls[nfs.ProcRead]...)
			binary.BigEndian.PutUint32(body, xid())
			// count = 128 KiB (the file is smaller: the whole file comes
			// back). Kept modest: see TestBadClientNeverReadsMemory.
			binary.BigEndian.PutUint32(body[len(body)-4:], 128<<10)
			buf = append(buf, bcRecord(body)...)
		}
		c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		stats.records.Add(int64(n))
		stats.bytes.Add(int64(len(buf)))
		c.Write(buf)
		time.Sleep(time.Duration(500+rng.IntN(1500)) * time.Millisecond)
		return nil

	case bcSlowDrip:
		// A valid GETATTR a few bytes at a time.
		x := xid()
		body := append([]byte(nil), tmpl.calls[nfs.ProcGetattr]...)
		binary.BigEndian.PutUint32(body, x)
		bc.expect(x, acceptStat(rpc.Success))
		rec := bcRecord(body)
		stats.records.Add(1)
		stats.bytes.Add(int64(len(rec)))
		for i := 0; i < len(rec) && werr == nil; {
			j := min(len(rec), i+1+rng.IntN(8))
			_, werr = bc.c.Write(rec[i:j])
			i = j
			time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
		}
		if werr == nil {
			return fail(bc.drain(10*time.Second, 1))
		}
		return nil
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

// bcGoodClient writes, reads back and checks files on the good export until
// deadline; every call must succeed with the right answer.
func bcGoodClient(addr string, id int, rng *rand.Rand, deadline time.Time, stats *bcStats) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Until(deadline)+2*time.Minute)
	defer cancel()
	c, err := nfsclient.Dial(ctx, addr)
	if err != nil {
		return fmt.Errorf("good client %d: %w", id, err)
	}
	defer c.Close()
	call := func(what string, err error) error {
		if err != nil {
			return fmt.Errorf("good client %d: %s failed while bad clients ran: %w", id, what, err)
		}
		stats.goodOps.Add(1)
		return nil
	}
	root, _, err := c.Mount(ctx, "/good")
	if err := call("MNT /good", err); err != nil {
		return err
	}
	dres, err := c.Mkdir(ctx, root, fmt.Sprintf("g%d", id), nfsclient.Sattr{Mode: nfsclient.U32(0o700)})
	if err := call("MKDIR", err); err != nil {
		return err
	}
	dir := dres.FH
	type file struct {
		name string
		fh   []byte
		data []byte
	}
	var files []file
	for i := 0; time.Now().Before(deadline); i++ {
		// A new file, written UNSTABLE + COMMIT or FILE_SYNC.
		name := fmt.Sprintf("f%05d", i)
		data := suiteRandomBytes(rng, rng.IntN(200<<10))
		cres, err := c.Create(ctx, dir, name, nfsclient.Guarded, nfsclient.Sattr{Mode: nfsclient.U32(0o600)}, [8]byte{})
		if err := call("CREATE "+name, err); err != nil {
			return err
		}
		stable := uint32(nfsclient.FileSync)
		if rng.IntN(2) == 0 {
			stable = nfsclient.Unstable
		}
		for off := 0; off < len(data); off += 64 << 10 {
			end := min(off+64<<10, len(data))
			res, err := c.Write(ctx, cres.FH, uint64(off), data[off:end], stable)
			if err := call("WRITE "+name, err); err != nil {
				return err
			}
			if int(res.Count) != end-off {
				return fmt.Errorf("good client %d: WRITE %s wrote %d of %d bytes", id, name, res.Count, end-off)
			}
		}
		if stable == nfsclient.Unstable {
			_, err := c.Commit(ctx, cres.FH, 0, 0)
			if err := call("COMMIT "+name, err); err != nil {
				return err
			}
		}
		files = append(files, file{name, cres.FH, data})
		stats.goodBytes.Add(int64(len(data)))

		// Check a file: GETATTR size, LOOKUP handle, READ content.
		f := files[rng.IntN(len(files))]
		attr, err := c.Getattr(ctx, f.fh)
		if err := call("GETATTR "+f.name, err); err != nil {
			return err
		}
		if attr.Size != uint64(len(f.data)) {
			return fmt.Errorf("good client %d: GETATTR %s: size %d, want %d", id, f.name, attr.Size, len(f.data))
		}
		fh, _, err := c.Lookup(ctx, dir, f.name)
		if err := call("LOOKUP "+f.name, err); err != nil {
			return err
		}
		if !bytes.Equal(fh, f.fh) {
			return fmt.Errorf("good client %d: LOOKUP %s returned another handle", id, f.name)
		}
		got, err := suiteReadAll(ctx, c, f.fh)
		if err := call("READ "+f.name, err); err != nil {
			return err
		}
		if !bytes.Equal(got, f.data) {
			return fmt.Errorf("good client %d: READ %s: %d bytes, want %d (content differs)", id, f.name, len(got), len(f.data))
		}
		stats.goodBytes.Add(int64(len(got)))

		// Now and then: the directory lists exactly our files; remove one.
		if i%8 == 7 {
			ents, err := c.ReaddirAll(ctx, dir, rng.IntN(2) == 0)
			if err := call("READDIR", err); err != nil {
				return err
			}
			names := map[string]bool{}
			for _, e := range ents {
				if e.Name != "." && e.Name != ".." {
					names[e.Name] = true
				}
			}
			if len(names) != len(files) {
				return fmt.Errorf("good client %d: READDIR lists %d names, want %d", id, len(names), len(files))
			}
			for _, f := range files {
				if !names[f.name] {
					return fmt.Errorf("good client %d: READDIR does not list %s", id, f.name)
				}
			}
			j := rng.IntN(len(files))
			_, err = c.Remove(ctx, dir, files[j].name)
			if err := call("REMOVE "+files[j].name, err); err != nil {
				return err
			}
			_, _, err = c.Lookup(ctx, dir, files[j].name)
			var se *nfsclient.StatusError
			if !errors.As(err, &se) || se.Status != 2 {
				return fmt.Errorf("good client %d: LOOKUP of removed %s = %v, want NFS3ERR_NOENT", id, files[j].name, err)
			}
			files = append(files[:j], files[j+1:]...)
		}
		_, err = c.Getattr(ctx, root)
		if err := call("GETATTR root", err); err != nil {
			return err
		}
	}
	return nil
}

// bcMetrics reads the daemon's unlabelled metric samples.
func bcMetrics(addr string) (map[string]float64, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, line := range strings.Split(string(body), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			out[name] = v
		}
	}
	return out, nil
}

// bcProcMemory returns the daemon's resident and peak resident memory.
func bcProcMemory(d *daemon) string {
	d.mu.Lock()
	cmd := d.cmd
	d.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return "unknown"
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		return "unknown"
	}
	var parts []string
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS:") || strings.HasPrefix(line, "VmHWM:") {
			parts = append(parts, strings.Join(strings.Fields(line), " "))
		}
	}
	return strings.Join(parts, ", ")
}

// TestBadClientNeverReadsMemory is a focused check: one connection sends
// many large READs and never reads the replies. The server must stop
// reading calls from it (max_requests_per_conn) rather than queue replies
// without bound. It measures the daemon's resident memory growth.
func TestBadClientNeverReadsMemory(t *testing.T) {

	dir := t.TempDir()
	d := newDaemon(t, dir, []exportSpec{{Name: "bad", Store: "file://" + filepath.Join(dir, "bad"), Extra: `squash = "none"`}})
	d.Start()
	ctx := stepContext(t)
	c, err := nfsclient.Dial(ctx, d.addr)
	if err != nil {
		t.Fatal(err)
	}
	root, _, err := c.Mount(ctx, "/bad")
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Create(ctx, root, "one-mib", nfsclient.Unchecked, nfsclient.Sattr{Mode: nfsclient.U32(0o644)}, [8]byte{})
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	for off := 0; off < 1<<20; off += len(chunk) {
		if _, err := c.Write(ctx, f.FH, uint64(off), chunk, nfsclient.FileSync); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	rss := func() int64 {
		d.mu.Lock()
		pid := d.cmd.Process.Pid
		d.mu.Unlock()
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, line := range strings.Split(string(status), "\n") {
			if strings.HasPrefix(line, "VmRSS:") {
				v, _ := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
				return v << 10
			}
		}
		return 0
	}
	before := rss()
	conn, err := net.Dial("tcp", d.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	const calls = 600
	var buf []byte
	for i := range calls {
		body := bcCall(uint32(i+1), nfs.ProgramNFS, nfs.VersionNFS, nfs.ProcRead, bcCred(), func(e *xdr.Encoder) {
			e.Opaque(f.FH)
			e.Uint64(0)
			e.Uint32(1 << 20)
		})
		buf = append(buf, bcRecord(body)...)
	}
	conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	n, _ := conn.Write(buf)
	time.Sleep(3 * time.Second) // let the server take in what it will
	after := rss()
	grown := after - before
	t.Logf("%d READ calls (%d bytes sent, %d accepted by the socket) of a 1 MiB file, replies never read: daemon RSS %d MiB -> %d MiB (+%d MiB)",
		calls, len(buf), n, before>>20, after>>20, grown>>20)
	if grown > 256<<20 {
		t.Errorf("one connection that never reads its replies grew the daemon by %d MiB with %d KiB of calls: replies queue without bound", grown>>20, len(buf)>>10)
	}
}
