package kvfs_test

import (
	"context"
	"syscall"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
)

// TestReadDirAttrsNeedSearch: listing a directory needs read permission;
// the attributes of its entries (READDIRPLUS) need search permission too,
// as looking each name up would: Linux's server looks every entry up as
// the caller and, when it may not search the directory, sends names only.
func TestReadDirAttrsNeedSearch(t *testing.T) {
	ctx := context.Background()
	u32 := func(v uint32) *uint32 { return &v }
	tests := []struct {
		name      string
		mode      uint32 // of the directory, owned by root, group 50
		cred      kvfs.Cred
		want      syscall.Errno
		wantAttrs bool
	}{
		{"read and search", 0o755, alice, 0, true},
		{"read only", 0o744, alice, 0, false},
		{"search only", 0o711, alice, syscall.EACCES, false},
		{"read and search by the group", 0o750, bob, 0, true},
		{"read only by the group", 0o740, bob, 0, false},
		{"root", 0o000, root, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, _ := newFS(t, kvfs.Options{})
			dir := must[kvfs.NewEntry](t)(fs.Mkdir(ctx, root, kvfs.RootIno, "d", 0o755)).Attr.Ino
			for _, n := range []string{"a", "b"} {
				must[kvfs.NewEntry](t)(fs.Create(ctx, root, dir, n, kvfs.CreateRequest{}))
			}
			must[kvfs.NewEntry](t)(fs.Mkdir(ctx, root, dir, "sub", 0o755))
			must[kvfs.Change](t)(fs.SetAttr(ctx, root, dir, kvfs.SetAttrRequest{Mode: u32(tt.mode), GID: u32(50)}))

			ents, eof, err := fs.ReadDir(ctx, tt.cred, dir, 0, 10, true)
			if errnoOf(err) != tt.want {
				t.Fatalf("readdir: %v, want errno %v", err, tt.want)
			}
			if err != nil {
				return
			}
			if len(ents) != 3 || !eof {
				t.Fatalf("readdir: %d entries (eof %v), want 3", len(ents), eof)
			}
			for _, e := range ents {
				if (e.Attr != nil) != tt.wantAttrs {
					t.Fatalf("entry %q: attributes %+v, want attributes %v", e.Name, e.Attr, tt.wantAttrs)
				}
				if e.Attr != nil && e.Attr.Ino != e.Ino {
					t.Fatalf("entry %q of inode %d has the attributes of inode %d", e.Name, e.Ino, e.Attr.Ino)
				}
			}
		})
	}
}
