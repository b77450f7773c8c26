package kvfs_test

import (
	"context"
	"syscall"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
)

// TestRootAttrs: a new filesystem's root gets Options.Root (or 0:0 0755);
// reopening an existing one with other Root options changes nothing.
func TestRootAttrs(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		root *kvfs.RootAttrs
		want kvfs.RootAttrs
	}{
		{"default", nil, kvfs.RootAttrs{UID: 0, GID: 0, Mode: 0o755}},
		{"team directory", &kvfs.RootAttrs{UID: 0, GID: 1000, Mode: 0o2775}, kvfs.RootAttrs{UID: 0, GID: 1000, Mode: 0o2775}},
		{"sticky, world-writable", &kvfs.RootAttrs{UID: 65534, GID: 65534, Mode: 0o1777}, kvfs.RootAttrs{UID: 65534, GID: 65534, Mode: 0o1777}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kv := kvfs.NewMemKV()
			fs := must[*kvfs.FS](t)(kvfs.Open(ctx, kv, kvfs.Options{Root: tt.root}))
			got := must[kvfs.Attr](t)(fs.GetAttr(ctx, kvfs.RootIno))
			if got.UID != tt.want.UID || got.GID != tt.want.GID || got.Mode != tt.want.Mode || got.Type != kvfs.TypeDir {
				t.Fatalf("new root %d:%d %#o, want %d:%d %#o", got.UID, got.GID, got.Mode, tt.want.UID, tt.want.GID, tt.want.Mode)
			}
			if err := fs.Close(ctx); err != nil {
				t.Fatal(err)
			}
			// Reopened with other settings: the root stays as it was created.
			again := must[*kvfs.FS](t)(kvfs.Open(ctx, kv, kvfs.Options{Root: &kvfs.RootAttrs{UID: 42, GID: 43, Mode: 0o700}}))
			defer again.Close(ctx)
			if got2 := must[kvfs.Attr](t)(again.GetAttr(ctx, kvfs.RootIno)); got2 != got {
				t.Fatalf("reopened root %+v, was %+v", got2, got)
			}
		})
	}
}

// TestTeamRoot: with root 0:1000 02775, a member of group 1000 creates in
// the root; what it creates gets group 1000, and directories keep setgid.
func TestTeamRoot(t *testing.T) {
	ctx := context.Background()
	fs, _ := newFS(t, kvfs.Options{Root: &kvfs.RootAttrs{UID: 0, GID: 1000, Mode: 0o2775}})
	member := kvfs.Cred{UID: 2001, GID: 2001, Groups: []uint32{1000}}
	f := must[kvfs.NewEntry](t)(fs.Create(ctx, member, kvfs.RootIno, "notes.txt", kvfs.CreateRequest{})).Attr
	if f.UID != 2001 || f.GID != 1000 {
		t.Errorf("file owner %d:%d, want 2001:1000", f.UID, f.GID)
	}
	d := must[kvfs.NewEntry](t)(fs.Mkdir(ctx, member, kvfs.RootIno, "project", 0o775)).Attr
	if d.GID != 1000 || d.Mode&0o2000 == 0 {
		t.Errorf("directory group %d mode %#o, want group 1000 and setgid", d.GID, d.Mode)
	}
	outsider := kvfs.Cred{UID: 3000, GID: 3000}
	_, err := fs.Create(ctx, outsider, kvfs.RootIno, "x", kvfs.CreateRequest{})
	wantErrno(t, err, syscall.EACCES)
}

func TestRootModeRefused(t *testing.T) {
	for _, mode := range []uint32{0o4755, 0o10755, 0o40755} {
		_, err := kvfs.Open(context.Background(), kvfs.NewMemKV(), kvfs.Options{Root: &kvfs.RootAttrs{Mode: mode}})
		wantErrno(t, err, syscall.EINVAL)
	}
}
