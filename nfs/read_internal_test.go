package nfs

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// TestReadReservesWhatTheFileHolds: a READ asking for a megabyte of a
// 10-byte file builds its reply in a buffer sized for what the file holds
// (and a little slack), not for the count asked: a client with many such
// calls in flight must not make the server hold a megabyte for each. The
// reply still carries the whole file and eof.
func TestReadReservesWhatTheFileHolds(t *testing.T) {
	ctx := context.Background()
	fs, err := kvfs.Open(ctx, kvfs.NewMemKV(), kvfs.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f, err := fs.Create(ctx, kvfs.Cred{}, kvfs.RootIno, "small", kvfs.CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Write(ctx, kvfs.Cred{}, f.Attr.Ino, 0, []byte("ten bytes!")); err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(ServerOptions{Exports: oneExport{&Export{Name: "f", Path: "/f", FS: fs}}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	fh := Handle{FSID: fs.FSID(), Ino: f.Attr.Ino, Gen: f.Attr.Gen}
	var call xdr.Encoder
	rpc.AppendCall(&call, 7, ProgramNFS, VersionNFS, ProcRead, rpc.AuthSysCred{MachineName: "t"}.Encode())
	call.Opaque(fh.Bytes())
	call.Uint64(0)       // offset
	call.Uint32(1 << 20) // count
	e := xdr.NewEncoder(rpc.BeginRecord(nil))
	if !srv.dispatch(ctx, &conn{s: srv, remote: netip.MustParseAddr("127.0.0.1")}, call.Buf, e) {
		t.Fatal("no reply")
	}
	if c := cap(e.Buf); c > 2*readSlack {
		t.Errorf("the reply to a 1 MiB READ of a 10-byte file was built in %d bytes; want at most %d", c, 2*readSlack)
	}
	_, body, err := rpc.ParseReply(e.Buf[rpc.RecordMarkSize:])
	if err != nil {
		t.Fatal(err)
	}
	d := xdr.NewDecoder(body)
	if st := Status(d.Uint32()); st != StatusOK {
		t.Fatalf("READ status %v", st)
	}
	if d.Bool() {
		d.FixedOpaque(fattr3Size)
	}
	count, eof, data := d.Uint32(), d.Bool(), d.Opaque(maxIOSize)
	if err := d.Err(); err != nil || count != 10 || !eof || string(data) != "ten bytes!" {
		t.Fatalf("READ returned %d bytes %q, eof %v, err %v; want the 10 bytes and eof", count, data, eof, err)
	}
}
