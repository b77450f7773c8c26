package nfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

func TestHandleRoundTrip(t *testing.T) {
	h := Handle{FSID: 0x0102030405060708, Ino: 42, Gen: 7}
	b := h.Bytes()
	if len(b) != HandleSize || len(b) > MaxHandleSize || b[0] != HandleVersion {
		t.Fatalf("encoded handle %x", b)
	}
	got, err := ParseHandle(b)
	if err != nil || got != h {
		t.Fatalf("ParseHandle = %+v, %v", got, err)
	}
	for _, bad := range [][]byte{nil, b[:20], append(bytes.Clone(b), 0), append([]byte{2}, b[1:]...)} {
		if _, err := ParseHandle(bad); !errors.Is(err, ErrBadHandle) {
			t.Errorf("ParseHandle(%x) err = %v", bad, err)
		}
	}
}

func FuzzParseHandle(f *testing.F) {
	f.Add(Handle{FSID: 1, Ino: 1, Gen: 1}.Bytes())
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHandle(b)
		if err != nil {
			return
		}
		if !bytes.Equal(h.Bytes(), b) {
			t.Fatalf("handle %x decodes to %+v which encodes to %x", b, h, h.Bytes())
		}
	})
}

func TestStatusOf(t *testing.T) {
	tests := []struct {
		err   error
		want  Status
		known bool
	}{
		{nil, StatusOK, true},
		{syscall.ENOENT, StatusNoEnt, true},
		{fmt.Errorf("kvfs: lookup 1/x: %w", syscall.ENOENT), StatusNoEnt, true},
		{syscall.EACCES, StatusAcces, true},
		{syscall.EPERM, StatusPerm, true},
		{syscall.EEXIST, StatusExist, true},
		{syscall.ENOTDIR, StatusNotDir, true},
		{syscall.EISDIR, StatusIsDir, true},
		{syscall.EINVAL, StatusInval, true},
		{syscall.EFBIG, StatusFBig, true},
		{syscall.ENOSPC, StatusNoSpc, true},
		{syscall.EROFS, StatusROFS, true},
		{syscall.ENAMETOOLONG, StatusNameTooLong, true},
		{syscall.ENOTEMPTY, StatusNotEmpty, true},
		{syscall.EDQUOT, StatusDQuot, true},
		{kvfs.ErrStale, StatusStale, true},
		{syscall.EMLINK, StatusMLink, true},
		{syscall.EXDEV, StatusXDev, true},
		{fmt.Errorf("setattr: %w", kvfs.ErrNotSync), StatusNotSync, true},
		{syscall.EIO, StatusIO, true},
		{syscall.ECHILD, StatusIO, false},
		{errors.New("object store down"), StatusIO, false},
		// The storage's errno is not the filesystem's answer.
		{fmt.Errorf("kvfs: read inode: %w", &kvfs.StorageError{Err: syscall.EACCES}), StatusIO, false},
		{fmt.Errorf("objstore: get: %w", &fs.PathError{Op: "open", Path: "/store/x", Err: syscall.ENOENT}), StatusIO, false},
		{&os.LinkError{Op: "rename", Old: "a", New: "b", Err: syscall.EPERM}, StatusIO, false},
		{os.NewSyscallError("fsync", syscall.ESTALE), StatusIO, false},
		{fmt.Errorf("write: %w", &kvfs.StorageError{Err: fmt.Errorf("%w: fenced", kvfs.ErrKVReadOnly)}), StatusROFS, true},
		{fmt.Errorf("write: %w", kvfs.ErrKVReadOnly), StatusROFS, true},
	}
	for _, tt := range tests {
		st, known := statusOf(tt.err)
		if st != tt.want || known != tt.known {
			t.Errorf("statusOf(%v) = %d, %v; want %d, %v", tt.err, st, known, tt.want, tt.known)
		}
	}
}

// argDecoders lists every procedure's argument decoder.
func argDecoders() map[string]func(d *xdr.Decoder) error {
	wrap := func(f func(d *xdr.Decoder) error) func(d *xdr.Decoder) error { return f }
	return map[string]func(d *xdr.Decoder) error{
		"GETATTR":     wrap(func(d *xdr.Decoder) error { _, err := decodeGetattrArgs(d); return err }),
		"SETATTR":     wrap(func(d *xdr.Decoder) error { _, err := decodeSetattrArgs(d); return err }),
		"LOOKUP":      wrap(func(d *xdr.Decoder) error { _, err := decodeLookupArgs(d); return err }),
		"ACCESS":      wrap(func(d *xdr.Decoder) error { _, err := decodeAccessArgs(d); return err }),
		"READLINK":    wrap(func(d *xdr.Decoder) error { _, err := decodeReadlinkArgs(d); return err }),
		"READ":        wrap(func(d *xdr.Decoder) error { _, err := decodeReadArgs(d); return err }),
		"WRITE":       wrap(func(d *xdr.Decoder) error { _, err := decodeWriteArgs(d); return err }),
		"CREATE":      wrap(func(d *xdr.Decoder) error { _, err := decodeCreateArgs(d); return err }),
		"MKDIR":       wrap(func(d *xdr.Decoder) error { _, err := decodeMkdirArgs(d); return err }),
		"SYMLINK":     wrap(func(d *xdr.Decoder) error { _, err := decodeSymlinkArgs(d); return err }),
		"MKNOD":       wrap(func(d *xdr.Decoder) error { _, err := decodeMknodArgs(d); return err }),
		"REMOVE":      wrap(func(d *xdr.Decoder) error { _, err := decodeRemoveArgs(d); return err }),
		"RENAME":      wrap(func(d *xdr.Decoder) error { _, err := decodeRenameArgs(d); return err }),
		"LINK":        wrap(func(d *xdr.Decoder) error { _, err := decodeLinkArgs(d); return err }),
		"READDIR":     wrap(func(d *xdr.Decoder) error { _, err := decodeReaddirArgs(d); return err }),
		"READDIRPLUS": wrap(func(d *xdr.Decoder) error { _, err := decodeReaddirplusArgs(d); return err }),
		"FSSTAT":      wrap(func(d *xdr.Decoder) error { _, err := decodeFsstatArgs(d); return err }),
		"FSINFO":      wrap(func(d *xdr.Decoder) error { _, err := decodeFsinfoArgs(d); return err }),
		"PATHCONF":    wrap(func(d *xdr.Decoder) error { _, err := decodePathconfArgs(d); return err }),
		"COMMIT":      wrap(func(d *xdr.Decoder) error { _, err := decodeCommitArgs(d); return err }),
		"MNT":         wrap(func(d *xdr.Decoder) error { _, err := decodeMountPath(d); return err }),
	}
}

// FuzzProcedureArgs feeds the same bytes to every argument decoder: none
// may panic, and a failure is always errGarbage.
func FuzzProcedureArgs(f *testing.F) {
	var e xdr.Encoder
	e.Opaque(Handle{FSID: 1, Ino: 1, Gen: 1}.Bytes())
	e.String("name")
	e.Uint32(createGuarded)
	for range 6 {
		e.Bool(true)
		e.Uint32(2)
		e.Uint32(3)
	}
	f.Add(e.Buf)
	f.Add([]byte{0, 0, 0, 21})
	f.Add(bytes.Repeat([]byte{0, 0, 0, 1}, 40))
	f.Fuzz(func(t *testing.T, in []byte) {
		for name, dec := range argDecoders() {
			if err := dec(xdr.NewDecoder(in)); err != nil && !errors.Is(err, errGarbage) {
				t.Fatalf("%s: error %v is not errGarbage", name, err)
			}
		}
	})
}

// panicDetector fails the test on any logged procedure panic.
type panicDetector struct{ panics atomic.Int32 }

func (p *panicDetector) Enabled(context.Context, slog.Level) bool { return true }
func (p *panicDetector) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, "panicked") {
		p.panics.Add(1)
	}
	return nil
}
func (p *panicDetector) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p *panicDetector) WithGroup(string) slog.Handler      { return p }

type oneExport struct{ exp *Export }

func (o oneExport) ByPath(p string) (*Export, bool) { return o.exp, p == o.exp.Path }
func (o oneExport) ByFSID(id uint64) (*Export, bool) {
	return o.exp, id == o.exp.FS.FSID()
}
func (o oneExport) All() []*Export { return []*Export{o.exp} }

// FuzzDispatch runs whole call records through the server against a real
// filesystem: no procedure may panic, and every answer is a well-formed
// reply to the call's xid.
func FuzzDispatch(f *testing.F) {
	ctx := context.Background()
	fs, err := kvfs.Open(ctx, kvfs.NewMemKV(), kvfs.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		f.Fatal(err)
	}
	det := &panicDetector{}
	srv, err := NewServer(ServerOptions{Exports: oneExport{&Export{Name: "f", Path: "/f", FS: fs}}, Logger: slog.New(det)})
	if err != nil {
		f.Fatal(err)
	}
	root := Handle{FSID: fs.FSID(), Ino: kvfs.RootIno}
	if a, err := fs.GetAttr(ctx, kvfs.RootIno); err == nil {
		root.Gen = a.Gen
	}
	cred := rpc.AuthSysCred{MachineName: "fuzz"}.Encode()
	for proc := uint32(0); proc <= ProcCommit; proc++ {
		var e xdr.Encoder
		rpc.AppendCall(&e, proc+1, ProgramNFS, VersionNFS, proc, cred)
		e.Opaque(root.Bytes())
		e.String("entry")
		e.Uint32(1)
		e.Uint64(0)
		e.Uint32(4096)
		e.Uint32(4096)
		f.Add(e.Buf)
	}
	for proc := uint32(0); proc <= MountProcExport; proc++ {
		var e xdr.Encoder
		rpc.AppendCall(&e, 100+proc, ProgramMount, VersionMount, proc, cred)
		e.String("/f")
		f.Add(e.Buf)
	}
	c := &conn{s: srv, remote: netip.MustParseAddr("127.0.0.1")}
	f.Fuzz(func(t *testing.T, rec []byte) {
		e := xdr.NewEncoder(rpc.BeginRecord(nil))
		replied := srv.dispatch(ctx, c, rec, e)
		if det.panics.Load() != 0 {
			t.Fatalf("a procedure panicked on %x", rec)
		}
		if !replied {
			return
		}
		xid, _, err := rpc.ParseReply(e.Buf[rpc.RecordMarkSize:])
		var re *rpc.ReplyError
		if err != nil && !errors.As(err, &re) {
			t.Fatalf("malformed reply to %x: %v", rec, err)
		}
		if len(rec) >= 4 && xid != uint32(rec[0])<<24|uint32(rec[1])<<16|uint32(rec[2])<<8|uint32(rec[3]) {
			t.Fatalf("reply xid %#x does not match the call", xid)
		}
	})
}
