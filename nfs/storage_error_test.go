package nfs_test

import (
	"context"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"syscall"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/kvfs/lsmkv"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

// attrErrFS is a filesystem whose GetAttr of one inode fails with err.
type attrErrFS struct {
	*kvfs.FS
	ino uint64
	err error
}

func (f attrErrFS) GetAttr(ctx context.Context, ino uint64) (kvfs.Attr, error) {
	if ino == f.ino {
		return kvfs.Attr{}, f.err
	}
	return f.FS.GetAttr(ctx, ino)
}

// TestOSErrorOfStorageIsIO: an errno that comes out of an OS call (a
// *fs.PathError of the object store's directory) is a failure of the
// storage, NFS3ERR_IO, not the filesystem's own answer: an unreadable store
// is not "permission denied", and a missing object is not a stale handle.
func TestOSErrorOfStorageIsIO(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.EACCES, syscall.EPERM, syscall.ESTALE, syscall.ENOENT} {
		t.Run(errno.Error(), func(t *testing.T) {
			cx := ctx(t)
			fs, _ := newFS(t)
			f := must[kvfs.NewEntry](t)(fs.Create(cx, kvfs.Cred{}, kvfs.RootIno, "f", kvfs.CreateRequest{})).Attr
			storeErr := fmt.Errorf("objstore: get: %w", &iofs.PathError{Op: "open", Path: "/store/wal/1", Err: errno})
			srv := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: attrErrFS{FS: fs, ino: f.Ino, err: storeErr}})
			c := dial(t, srv.addr)
			mount(t, c, "/a")
			_, err := c.Getattr(cx, nfs.Handle{FSID: fs.FSID(), Ino: f.Ino, Gen: f.Gen}.Bytes())
			wantStatus(t, err, nfs.StatusIO)
		})
	}
}

// TestStoreErrnoIsIO runs kvfs on lsm on an object store whose reads fail
// with an errno, from an OS call on a path or bare: whatever errno the
// store met, the client gets NFS3ERR_IO, never an answer it would act on
// (ACCES, PERM, or STALE, which makes it drop a valid handle).
func TestStoreErrnoIsIO(t *testing.T) {
	type wrapping struct {
		name string
		wrap func(syscall.Errno) error
	}
	for _, errno := range []syscall.Errno{syscall.EACCES, syscall.EPERM, syscall.ESTALE, syscall.ENOENT} {
		for _, w := range []wrapping{
			{"path", func(e syscall.Errno) error { return &iofs.PathError{Op: "open", Path: "/store/object", Err: e} }},
			{"bare", func(e syscall.Errno) error { return e }},
		} {
			t.Run(errno.Error()+"/"+w.name, func(t *testing.T) {
				storeErrnoIsIO(t, w.wrap(errno))
			})
		}
	}
}

func storeErrnoIsIO(t *testing.T, storeErr error) {
	cx := ctx(t)
	store := faultstore.New(objstore.NewMemory(), faultstore.Options{})
	// No block cache: every lookup of a key in an SST reads the store.
	db, err := lsm.Open(cx, store, lsm.Options{GCInterval: -1, BlockCacheBytes: -1, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close(context.Background()) })
	opts := kvfs.Options{Logger: quietLogger()}
	fs, err := kvfs.Open(cx, lsmkv.New(db), opts)
	if err != nil {
		t.Fatal(err)
	}
	f := must[kvfs.NewEntry](t)(fs.Create(cx, kvfs.Cred{}, kvfs.RootIno, "f", kvfs.CreateRequest{})).Attr
	check(t, fs.Close(cx))
	check(t, db.FlushMemtable(cx))
	// A new filesystem on the database has empty caches.
	fs, err = kvfs.Open(cx, lsmkv.New(db), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close(context.Background()) })
	srv := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	c := dial(t, srv.addr)
	mount(t, c, "/a")

	store.Inject(faultstore.Fault{
		Ops: []objstore.Op{objstore.OpGet, objstore.OpGetRange},
		Err: storeErr,
	})
	_, err = c.Getattr(cx, nfs.Handle{FSID: fs.FSID(), Ino: f.Ino, Gen: f.Gen}.Bytes())
	wantStatus(t, err, nfs.StatusIO)
	if store.Injected(objstore.OpGet)+store.Injected(objstore.OpGetRange) == 0 {
		t.Fatal("GETATTR did not read the store")
	}
}

// TestFencedStoreIsROFS: a store another writer took over is the one
// failure of the storage that is answered as such, NFS3ERR_ROFS.
func TestFencedStoreIsROFS(t *testing.T) {
	cx := ctx(t)
	store := objstore.NewMemory()
	open := func() *lsm.DB {
		db, err := lsm.Open(cx, store, lsm.Options{GCInterval: -1, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close(context.Background()) })
		return db
	}
	fs, err := kvfs.Open(cx, lsmkv.New(open()), kvfs.Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close(context.Background()) })
	srv := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	c := dial(t, srv.addr)
	root := mount(t, c, "/a")
	f, err := c.Create(cx, root, "f", nfsclient.Unchecked, nfsclient.Sattr{}, [8]byte{})
	check(t, err)
	open() // a newer writer fences the export's database
	_, err = c.Write(cx, f.FH, 0, []byte("data"), nfsclient.FileSync)
	wantStatus(t, err, nfs.StatusROFS)
}

// TestFullStorageIsNoSpace: a storage failure that is a full disk (a
// local store's directory) answers NFS3ERR_NOSPC (NFS3ERR_DQUOT for a
// quota), as Linux's server does for its own disk, not NFS3ERR_IO: the
// client reports "No space left on device" and may retry once space is
// freed.
func TestFullStorageIsNoSpace(t *testing.T) {
	for _, tc := range []struct {
		errno syscall.Errno
		want  nfs.Status
	}{
		{syscall.ENOSPC, nfs.StatusNoSpc},
		{syscall.EDQUOT, nfs.StatusDQuot},
	} {
		t.Run(tc.errno.Error(), func(t *testing.T) {
			cx := ctx(t)
			store := faultstore.New(objstore.NewMemory(), faultstore.Options{})
			db, err := lsm.Open(cx, store, lsm.Options{GCInterval: -1, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close(context.Background()) })
			fs, err := kvfs.Open(cx, lsmkv.New(db), kvfs.Options{Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { fs.Close(context.Background()) })
			f := must[kvfs.NewEntry](t)(fs.Create(cx, kvfs.Cred{}, kvfs.RootIno, "f", kvfs.CreateRequest{})).Attr
			check(t, fs.Flush(cx))
			srv := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
			c := dial(t, srv.addr)
			mount(t, c, "/a")
			store.Inject(faultstore.Fault{
				Ops: []objstore.Op{objstore.OpPut, objstore.OpPutIfAbsent},
				Err: &iofs.PathError{Op: "write", Path: "/store/wal/.tmp", Err: tc.errno},
			})
			_, err = c.Write(cx, nfs.Handle{FSID: fs.FSID(), Ino: f.Ino, Gen: f.Gen}.Bytes(), 0, []byte("data"), nfsclient.FileSync)
			wantStatus(t, err, tc.want)
		})
	}
}
