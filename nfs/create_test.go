package nfs_test

import (
	"bytes"
	"testing"

	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// TestCreateExistingInReadOnlyDir: a user who may search the export's
// root (root's, mode 0755) but not write it sends CREATE of root's file
// "f": as with Linux's server, UNCHECKED answers NFS3_OK with the file,
// GUARDED and EXCLUSIVE NFS3ERR_EXIST, and a new name NFS3ERR_ACCES.
func TestCreateExistingInReadOnlyDir(t *testing.T) {
	fs, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	rootc := dial(t, ts.addr)
	user := dial(t, ts.addr)
	user.SetAuthSys(1000, 1000)
	cx := ctx(t)
	root := mount(t, rootc, "/a")
	f := must[nfsclient.CreateResult](t)(rootc.Create(cx, root, "f", nfsclient.Guarded, nfsclient.Sattr{Mode: nfsclient.U32(0o644)}, [8]byte{}))
	tests := []struct {
		name string
		file string
		mode uint32
		want nfs.Status
	}{
		{"unchecked", "f", nfsclient.Unchecked, nfs.StatusOK},
		{"guarded", "f", nfsclient.Guarded, nfs.StatusExist},
		{"exclusive", "f", nfsclient.Exclusive, nfs.StatusExist},
		{"unchecked, a new name", "g", nfsclient.Unchecked, nfs.StatusAcces},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := user.Create(cx, root, tt.file, tt.mode, nfsclient.Sattr{}, [8]byte{7})
			if tt.want != nfs.StatusOK {
				wantStatus(t, err, tt.want)
				return
			}
			check(t, err)
			if !bytes.Equal(res.FH, f.FH) || res.Attr == nil || res.Attr.UID != 0 || res.Attr.Mode != 0o644 {
				t.Fatalf("CREATE answered handle %x, attributes %+v; want root's file %x", res.FH, res.Attr, f.FH)
			}
		})
	}
}
