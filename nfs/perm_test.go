package nfs_test

import (
	"fmt"
	"testing"

	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// TestReadExecuteOnly: a program of mode 0711 runs over NFS, so READ is
// granted to a caller who may execute the file even if it may not read it
// (as Linux nfsd does); a caller who may do neither is refused.
func TestReadExecuteOnly(t *testing.T) {
	fs, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	rootc := dial(t, ts.addr)
	user := dial(t, ts.addr)
	user.SetAuthSys(1000, 1000)
	cx := ctx(t)
	root := mount(t, rootc, "/a")
	for _, tt := range []struct {
		mode uint32
		want nfs.Status
	}{
		{0o711, nfs.StatusOK},
		{0o701, nfs.StatusOK},
		{0o744, nfs.StatusOK},
		{0o700, nfs.StatusAcces},
		{0o770, nfs.StatusAcces},
	} {
		name := fmt.Sprintf("prog%o", tt.mode)
		f := must[nfsclient.CreateResult](t)(rootc.Create(cx, root, name, nfsclient.Guarded, nfsclient.Sattr{Mode: nfsclient.U32(tt.mode)}, [8]byte{}))
		must[nfsclient.WriteResult](t)(rootc.Write(cx, f.FH, 0, []byte("#!/bin/true\n"), nfsclient.FileSync))
		r, err := user.Read(cx, f.FH, 0, 100)
		if tt.want != nfs.StatusOK {
			wantStatus(t, err, tt.want)
			continue
		}
		if err != nil || string(r.Data) != "#!/bin/true\n" {
			t.Fatalf("mode %o: read by another user: %q, %v", tt.mode, r.Data, err)
		}
	}
}
