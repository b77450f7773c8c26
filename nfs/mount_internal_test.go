package nfs

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs/rpc"
	"github.com/zerofs-go/zerofsd/nfs/xdr"
)

// The mount table keeps the most recently mounted entries up to its
// bound: a MNT from a new address must not make it grow without end.
func TestMountTableForgetsTheLeastRecentlyMounted(t *testing.T) {
	host := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}) }
	m := newMountTable(3)
	for i := range 3 {
		m.add(host(i), "/a")
	}
	m.add(host(0), "/a") // mounted again: now the most recent
	m.add(host(3), "/a")
	var got []int
	for _, e := range m.list() {
		got = append(got, int(e.host.As4()[3]))
	}
	if want := []int{0, 2, 3}; !slices.Equal(got, want) {
		t.Fatalf("hosts %v remembered, want %v", got, want)
	}
	for i := range 100 {
		m.add(host(i), fmt.Sprintf("/p%d", i))
	}
	if n := len(m.list()); n != 3 || m.order.Len() != 3 {
		t.Fatalf("%d entries (%d in order) with a bound of 3", n, m.order.Len())
	}
	m.remove(host(99), "/p99")
	m.removeHost(host(98))
	if got := m.list(); len(got) != 1 || got[0].path != "/p97" || m.order.Len() != 1 {
		t.Fatalf("after UMNT and UMNTALL: %v", got)
	}
}

// A full table of entries with long paths makes a DUMP reply of at most
// maxDumpReply bytes of entries.
func TestDumpReplyBounded(t *testing.T) {
	ctx := context.Background()
	fs, err := kvfs.Open(ctx, kvfs.NewMemKV(), kvfs.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	path := "/" + strings.Repeat("p", mountPathMax-1)
	srv, err := NewServer(ServerOptions{Exports: oneExport{&Export{Name: "p", Path: path, FS: fs}}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxMounts {
		srv.mounts.add(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), path)
	}
	var call xdr.Encoder
	rpc.AppendCall(&call, 7, ProgramMount, VersionMount, MountProcDump, rpc.OpaqueAuth{})
	e := xdr.NewEncoder(rpc.BeginRecord(nil))
	if !srv.dispatch(ctx, &conn{s: srv, remote: netip.MustParseAddr("10.0.0.1")}, call.Buf, e) {
		t.Fatal("no reply")
	}
	_, body, err := rpc.ParseReply(e.Buf[rpc.RecordMarkSize:])
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > maxDumpReply+4 {
		t.Fatalf("DUMP reply of %d bytes, bound %d", len(body), maxDumpReply)
	}
	d := xdr.NewDecoder(body)
	n := 0
	for d.Bool() {
		d.String(255)
		if p := d.String(mountPathMax); p != path {
			t.Fatalf("entry %d has path %.20q...", n, p)
		}
		n++
	}
	if d.Err() != nil || d.Remaining() != 0 || n == 0 {
		t.Fatalf("DUMP reply: %d entries, err %v, %d bytes left", n, d.Err(), d.Remaining())
	}
}
