package nfs_test

import (
	"context"
	"errors"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs"
)

// failingAttrFS is a filesystem whose GetAttr of one inode fails with a
// storage error.
type failingAttrFS struct {
	*kvfs.FS
	ino uint64
}

var errStorage = errors.New("the object store is unreachable")

func (f failingAttrFS) GetAttr(ctx context.Context, ino uint64) (kvfs.Attr, error) {
	if ino == f.ino {
		return kvfs.Attr{}, errStorage
	}
	return f.FS.GetAttr(ctx, ino)
}

// TestSecondHandleErrorIsNotXDev: when RENAME's or LINK's second handle is
// in the same export but cannot be read (a storage error), the answer is
// that error (NFS3ERR_IO), not NFS3ERR_XDEV, which makes mv copy and delete
// instead of renaming. A handle of another export is still XDEV.
func TestSecondHandleErrorIsNotXDev(t *testing.T) {
	ctx := context.Background()
	fs, _ := newFS(t)
	cred := kvfs.Cred{}
	dir := must[kvfs.NewEntry](t)(fs.Mkdir(ctx, cred, kvfs.RootIno, "broken", 0o777)).Attr
	must[kvfs.NewEntry](t)(fs.Create(ctx, cred, kvfs.RootIno, "f", kvfs.CreateRequest{}))
	other, _ := newFS(t)
	srv := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: failingAttrFS{FS: fs, ino: dir.Ino}}, &nfs.Export{Name: "b", Path: "/b", FS: other})
	c := dial(t, srv.addr)
	cx := ctx
	root := mount(t, c, "/a")
	otherRoot := mount(t, c, "/b")
	brokenFH := nfs.Handle{FSID: fs.FSID(), Ino: dir.Ino, Gen: dir.Gen}.Bytes()
	fFH, _, err := c.Lookup(cx, root, "f")
	if err != nil {
		t.Fatal(err)
	}

	_, err = c.Rename(cx, root, "f", brokenFH, "g")
	wantStatus(t, err, nfs.StatusIO)
	_, err = c.Link(cx, fFH, brokenFH, "g")
	wantStatus(t, err, nfs.StatusIO)
	_, err = c.Rename(cx, root, "f", otherRoot, "g")
	wantStatus(t, err, nfs.StatusXDev)
	_, err = c.Link(cx, fFH, otherRoot, "g")
	wantStatus(t, err, nfs.StatusXDev)
}
