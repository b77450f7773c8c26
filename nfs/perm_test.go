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
	rootc, user, root := rootAndUser(t)
	cx := ctx(t)
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

// TestChownOverNFS: SETATTR carries chown(2) and chgrp(2) from a kernel
// client; a caller who does not own the file may not set its owner or
// group, even to the values it has (NFS3ERR_PERM), while an owner or group
// not set (set_it false, chown's -1) needs no permission.
func TestChownOverNFS(t *testing.T) {
	fs, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	rootc := dial(t, ts.addr)
	stranger := dial(t, ts.addr)
	stranger.SetAuthSys(65533, 65533)
	owner := dial(t, ts.addr)
	owner.SetAuthSys(65534, 65534, 100)
	cx := ctx(t)
	root := mount(t, rootc, "/a")
	id := nfsclient.U32(65534)
	f := must[nfsclient.CreateResult](t)(rootc.Create(cx, root, "f", nfsclient.Guarded, nfsclient.Sattr{Mode: nfsclient.U32(0o644)}, [8]byte{}))
	must[nfsclient.WccData](t)(rootc.Setattr(cx, f.FH, nfsclient.Sattr{UID: id, GID: id}, nil))

	for _, tt := range []struct {
		name string
		c    *nfsclient.Client
		s    nfsclient.Sattr
		want nfs.Status
	}{
		{"stranger sets owner and group to their values", stranger, nfsclient.Sattr{UID: id, GID: id}, nfs.StatusPerm},
		{"stranger sets the group to its value", stranger, nfsclient.Sattr{GID: id}, nfs.StatusPerm},
		{"stranger sets neither", stranger, nfsclient.Sattr{}, nfs.StatusOK},
		{"stranger sets the mode", stranger, nfsclient.Sattr{Mode: nfsclient.U32(0o644)}, nfs.StatusPerm},
		{"owner gives the file away", owner, nfsclient.Sattr{UID: nfsclient.U32(65533)}, nfs.StatusPerm},
		{"owner sets its supplementary group", owner, nfsclient.Sattr{GID: nfsclient.U32(100)}, nfs.StatusOK},
	} {
		_, err := tt.c.Setattr(cx, f.FH, tt.s, nil)
		if tt.want == nfs.StatusOK {
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			continue
		}
		wantStatus(t, err, tt.want)
	}
	if a := must[nfsclient.Fattr](t)(rootc.Getattr(cx, f.FH)); a.UID != 65534 || a.GID != 100 {
		t.Fatalf("owner %d:%d, want 65534:100", a.UID, a.GID)
	}
}

// TestReaddirplusWithoutSearch: READDIRPLUS of a directory the caller
// may read but not search sends its entries' names only, without
// attributes (name_attributes false) or handle (name_handle false), as
// Linux's server does: a lookup of each name would be refused. "." and
// ".." keep theirs, as there.
func TestReaddirplusWithoutSearch(t *testing.T) {
	rootc, user, root := rootAndUser(t)
	cx := ctx(t)
	for _, tt := range []struct {
		mode      uint32
		wantAttrs bool
	}{
		{0o755, true},
		{0o744, false},
	} {
		t.Run(fmt.Sprintf("%o", tt.mode), func(t *testing.T) {
			d := must[nfsclient.CreateResult](t)(rootc.Mkdir(cx, root, fmt.Sprintf("d%o", tt.mode), nfsclient.Sattr{Mode: nfsclient.U32(tt.mode)}))
			must[nfsclient.CreateResult](t)(rootc.Create(cx, d.FH, "f", nfsclient.Guarded, nfsclient.Sattr{Mode: nfsclient.U32(0o644)}, [8]byte{}))
			must[nfsclient.CreateResult](t)(rootc.Mkdir(cx, d.FH, "sub", nfsclient.Sattr{Mode: nfsclient.U32(0o755)}))
			ents := must[[]nfsclient.DirEntry](t)(user.ReaddirAll(cx, d.FH, true))
			if len(ents) != 4 {
				t.Fatalf("%d entries, want 4", len(ents))
			}
			for _, e := range ents {
				want := tt.wantAttrs || e.Name == "." || e.Name == ".."
				if (e.Attr != nil) != want || (e.FH != nil) != want {
					t.Fatalf("entry %q: attributes %+v, handle %x; want them: %v", e.Name, e.Attr, e.FH, want)
				}
			}
		})
	}
}
