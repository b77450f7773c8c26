package nfs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// failingSetAttrFS is a filesystem whose SetAttr fails with a storage error.
type failingSetAttrFS struct{ *kvfs.FS }

func (failingSetAttrFS) SetAttr(context.Context, kvfs.Cred, uint64, kvfs.SetAttrRequest) (kvfs.Change, error) {
	return kvfs.Change{}, &kvfs.StorageError{Err: errors.New("the object store is unreachable")}
}

// TestCreatedAttrsFailure: MKDIR, SYMLINK and MKNOD apply the owner and
// times the client asked for after making the object; when that fails
// the procedure answers the failure, not NFS3_OK with other attributes
// than asked (as Linux's server does: the object stays).
func TestCreatedAttrsFailure(t *testing.T) {
	fs, _ := newFS(t)
	srv := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: failingSetAttrFS{fs}})
	c := dial(t, srv.addr)
	cx := ctx(t)
	root := mount(t, c, "/a")
	sa := nfsclient.Sattr{MtimeHow: nfsclient.ClientTime, Mtime: time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)}
	for _, tt := range []struct {
		proc string
		call func() error
	}{
		{"MKDIR", func() error { _, err := c.Mkdir(cx, root, "d", sa); return err }},
		{"SYMLINK", func() error { _, err := c.Symlink(cx, root, "s", "target", sa); return err }},
		{"MKNOD", func() error { _, err := c.Mknod(cx, root, "p", nfsclient.TypeFifo, sa, 0, 0); return err }},
	} {
		t.Run(tt.proc, func(t *testing.T) {
			wantStatus(t, tt.call(), nfs.StatusIO)
		})
	}
}

// TestCreatedOwnerOfNonRoot: an owner or group a caller other than root
// may not give is dropped from MKDIR's attributes, as CREATE drops it and
// as Linux's server does, and the rest applies: the answer is NFS3_OK.
func TestCreatedOwnerOfNonRoot(t *testing.T) {
	fs, _ := newFS(t)
	cx := ctx(t)
	must[kvfs.Change](t)(fs.SetAttr(cx, kvfs.Cred{}, kvfs.RootIno, kvfs.SetAttrRequest{Mode: nfsclient.U32(0o777)}))
	srv := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	c := dial(t, srv.addr)
	root := mount(t, c, "/a")
	c.SetAuthSys(1000, 1000, 50)
	mtime := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	tests := []struct {
		name     string
		uid, gid *uint32
		wantGID  uint32
	}{
		{"another owner", nfsclient.U32(0), nil, 1000},
		{"a group of others", nil, nfsclient.U32(7), 1000},
		{"its supplementary group", nil, nfsclient.U32(50), 50},
		{"itself", nfsclient.U32(1000), nfsclient.U32(1000), 1000},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.Mkdir(cx, root, string(rune('a'+i)), nfsclient.Sattr{UID: tt.uid, GID: tt.gid, MtimeHow: nfsclient.ClientTime, Mtime: mtime})
			check(t, err)
			if a := res.Attr; a == nil || a.UID != 1000 || a.GID != tt.wantGID || !a.Mtime.Equal(mtime) {
				t.Fatalf("attributes %+v, want uid 1000, gid %d, mtime %v", a, tt.wantGID, mtime)
			}
		})
	}
}
