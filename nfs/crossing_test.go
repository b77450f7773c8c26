package nfs_test

import (
	"context"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// mountPointFS is a filesystem whose root holds a name "inner" that is the
// root of another filesystem (a mount point, like a snapshot).
type mountPointFS struct {
	*kvfs.FS
	inner *kvfs.FS
}

func (m mountPointFS) Lookup(ctx context.Context, cred kvfs.Cred, dir uint64, name string) (kvfs.Attr, error) {
	if dir == kvfs.RootIno && name == "inner" {
		a, err := m.inner.GetAttr(ctx, kvfs.RootIno)
		a.FSID = m.inner.FSID()
		return a, err
	}
	return m.FS.Lookup(ctx, cred, dir, name)
}

// TestMountPointCrossing: an attribute whose FSID names another filesystem
// is answered with that FSID, in the fattr3 and in the handle, so the
// client's next calls on it reach the other export.
func TestMountPointCrossing(t *testing.T) {
	outer, _ := newFS(t)
	inner, _ := newFS(t)
	if _, err := inner.Create(context.Background(), kvfs.Cred{}, kvfs.RootIno, "only-inner", kvfs.CreateRequest{}); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, nfs.ServerOptions{},
		&nfs.Export{Name: "outer", Path: "/outer", FS: mountPointFS{FS: outer, inner: inner}},
		&nfs.Export{Name: "inner", Path: "/inner", FS: inner, ReadOnly: true})
	c := dial(t, s.addr)
	root := mount(t, c, "/outer")

	fh, attr, err := c.Lookup(ctx(t), root, "inner")
	check(t, err)
	if attr == nil || attr.FSID != inner.FSID() {
		t.Fatalf("LOOKUP attributes = %+v, want fsid %016x", attr, inner.FSID())
	}
	h, err := nfs.ParseHandle(fh)
	check(t, err)
	if h.FSID != inner.FSID() || h.Ino != kvfs.RootIno {
		t.Fatalf("handle = %+v, want fsid %016x ino 1", h, inner.FSID())
	}
	got, err := c.Getattr(ctx(t), fh)
	check(t, err)
	if got.FSID != inner.FSID() {
		t.Fatalf("GETATTR fsid = %016x, want %016x", got.FSID, inner.FSID())
	}
	if _, _, err := c.Lookup(ctx(t), fh, "only-inner"); err != nil {
		t.Fatalf("LOOKUP in the inner filesystem: %v", err)
	}
	// The inner export's rules hold on its handles: it is read-only.
	_, err = c.Create(ctx(t), fh, "new", 0, nfsclient.Sattr{}, [8]byte{})
	wantStatus(t, err, nfs.StatusROFS)
	// The outer directory's own attributes keep the outer FSID.
	rootAttr, err := c.Getattr(ctx(t), root)
	check(t, err)
	if rootAttr.FSID != outer.FSID() {
		t.Fatalf("outer root fsid = %016x, want %016x", rootAttr.FSID, outer.FSID())
	}
}
