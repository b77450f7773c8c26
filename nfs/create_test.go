package nfs_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// TestCreateExistingInReadOnlyDir: a user who may search the export's
// root (root's, mode 0755) but not write it sends CREATE of root's file
// "f": as with Linux's server, UNCHECKED answers NFS3_OK with the file,
// GUARDED and EXCLUSIVE NFS3ERR_EXIST, and a new name NFS3ERR_ACCES.
func TestCreateExistingInReadOnlyDir(t *testing.T) {
	rootc, user, root := rootAndUser(t)
	cx := ctx(t)
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

// TestCreateNewFileAttrs: CREATE (UNCHECKED or GUARDED) makes the file
// with the mode and size of its attributes, as Linux's server does: no
// mode is mode 0 (the client sends the mode it wants), and a size makes
// a file of that many zero bytes.
func TestCreateNewFileAttrs(t *testing.T) {
	fs, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	c := dial(t, ts.addr)
	cx := ctx(t)
	root := mount(t, c, "/a")
	tests := []struct {
		name     string
		s        nfsclient.Sattr
		wantMode uint32
		wantSize uint64
	}{
		{"nothing", nfsclient.Sattr{}, 0, 0},
		{"a mode", nfsclient.Sattr{Mode: nfsclient.U32(0o640)}, 0o640, 0},
		{"a size", nfsclient.Sattr{Size: nfsclient.U64(10)}, 0, 10},
		{"a mode and a size", nfsclient.Sattr{Mode: nfsclient.U32(0o600), Size: nfsclient.U64(5000)}, 0o600, 5000},
	}
	for i, tt := range tests {
		for _, how := range []struct {
			name string
			mode uint32
		}{{"unchecked", nfsclient.Unchecked}, {"guarded", nfsclient.Guarded}} {
			t.Run(how.name+", "+tt.name, func(t *testing.T) {
				res, err := c.Create(cx, root, fmt.Sprintf("f%d-%s", i, how.name), how.mode, tt.s, [8]byte{})
				check(t, err)
				if a := res.Attr; a == nil || a.Mode != tt.wantMode || a.Size != tt.wantSize {
					t.Fatalf("created %+v, want mode %o and size %d", a, tt.wantMode, tt.wantSize)
				}
			})
		}
	}
}
