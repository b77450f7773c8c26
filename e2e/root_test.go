package e2e

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// TestExportRoot: root_owner and root_mode make a new export's root usable
// under the default squash = "root". The team recipe (0:1000, 2775, with
// anon_gid = 1000) lets a squashed root client and a member of group 1000
// create in the root, with the group inherited; an export whose root
// belongs to the anonymous identity takes a squashed root's files too.
func TestExportRoot(t *testing.T) {
	dir := t.TempDir()
	d := newDaemon(t, dir, []exportSpec{
		{Name: "team", Store: "file://" + filepath.Join(dir, "team"), Extra: "root_owner = \"0:1000\"\nroot_mode = \"2775\"\nsquash = \"root\"\nanon_gid = 1000"},
		{Name: "drop", Store: "file://" + filepath.Join(dir, "drop"), Extra: "root_owner = \"65534:65534\"\nsquash = \"root\""},
		{Name: "plain", Store: "file://" + filepath.Join(dir, "plain")},
	})
	d.Start()
	ctx := stepContext(t)

	// create makes name in the export's root as uid:gid (+groups) and
	// returns the new file's attributes, or the NFS status.
	create := func(path, name string, uid, gid uint32, groups ...uint32) (*nfsclient.Fattr, error) {
		t.Helper()
		c, err := nfsclient.Dial(ctx, d.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetAuthSys(uid, gid, groups...)
		root, _, err := c.Mount(ctx, path)
		if err != nil {
			t.Fatalf("mounting %s: %v", path, err)
		}
		r, err := c.Create(ctx, root, name, nfsclient.Unchecked, nfsclient.Sattr{Mode: nfsclient.U32(0o664)}, [8]byte{})
		return r.Attr, err
	}
	status := func(err error) nfs.Status {
		var se *nfsclient.StatusError
		if errors.As(err, &se) {
			return nfs.Status(se.Status)
		}
		return nfs.StatusOK
	}

	tests := []struct {
		name             string
		path             string
		uid, gid         uint32
		groups           []uint32
		want             nfs.Status
		wantUID, wantGID uint32
	}{
		{"team: a squashed root client", "/team", 0, 0, nil, nfs.StatusOK, 65534, 1000},
		{"team: a member of group 1000", "/team", 2001, 2001, []uint32{1000}, nfs.StatusOK, 2001, 1000},
		{"team: an outsider", "/team", 3000, 3000, nil, nfs.StatusAcces, 0, 0},
		{"drop: a squashed root client", "/drop", 0, 0, nil, nfs.StatusOK, 65534, 65534},
		{"plain: a squashed root client (root 0:0 0755, as before)", "/plain", 0, 0, nil, nfs.StatusAcces, 0, 0},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := create(tt.path, "file"+string(rune('a'+i)), tt.uid, tt.gid, tt.groups...)
			if got := status(err); got != tt.want || (err != nil && got == nfs.StatusOK) {
				t.Fatalf("CREATE in the root: %v (%v), want %v", got, err, tt.want)
			}
			if tt.want == nfs.StatusOK && (a == nil || a.UID != tt.wantUID || a.GID != tt.wantGID) {
				t.Fatalf("new file attributes %+v, want owner %d:%d", a, tt.wantUID, tt.wantGID)
			}
		})
	}
	d.Stop()
}
