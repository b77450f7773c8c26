package e2e

import (
	"bytes"
	"encoding/binary"

	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// bcTemplates are well-formed calls on the bad export, encoded without
// their xid's record, used as-is or mutated.
type bcTemplates struct {
	calls [][]byte // call bodies (no record mark), xid at offset 0
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
