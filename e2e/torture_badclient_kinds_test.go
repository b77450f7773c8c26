package e2e

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

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
