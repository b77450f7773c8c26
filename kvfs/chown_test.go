package kvfs_test

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/kvfs"
)

// Identities of the ownership tests: objects belong to 65534:65534.
var (
	chownOwner           = kvfs.Cred{UID: 65534, GID: 65534, Groups: []uint32{100, 200}}
	chownOwnerG          = kvfs.Cred{UID: 65534, GID: 100} // primary group 100, no supplementary groups
	chownStranger        = kvfs.Cred{UID: 65533, GID: 65533}
	chownStrangerInGroup = kvfs.Cred{UID: 65533, GID: 65534, Groups: []uint32{100}}
)

// newOwnedObject makes an object of type typ owned by 65534:65534 with
// mode 0755 (as root) and returns its inode id.
func newOwnedObject(t *testing.T, fs *kvfs.FS, typ kvfs.FileType, name string) uint64 {
	t.Helper()
	ctx := context.Background()
	var (
		e   kvfs.NewEntry
		err error
	)
	switch typ {
	case kvfs.TypeRegular:
		mode := uint32(0o755)
		e, err = fs.Create(ctx, root, kvfs.RootIno, name, kvfs.CreateRequest{Mode: kvfs.CreateGuarded, Attrs: kvfs.SetAttrRequest{Mode: &mode}})
	case kvfs.TypeDir:
		e, err = fs.Mkdir(ctx, root, kvfs.RootIno, name, 0o755)
	case kvfs.TypeSymlink:
		e, err = fs.Symlink(ctx, root, kvfs.RootIno, name, "target", 0o777)
	default:
		e, err = fs.Mknod(ctx, root, kvfs.RootIno, name, typ, 0o755, 1, 2)
	}
	if err != nil {
		t.Fatal(err)
	}
	id := uint32(65534)
	ch := must[kvfs.Change](t)(fs.SetAttr(ctx, root, e.Attr.Ino, kvfs.SetAttrRequest{UID: &id, GID: &id}))
	if ch.After.UID != 65534 || ch.After.GID != 65534 {
		t.Fatalf("setup: owner %d:%d", ch.After.UID, ch.After.GID)
	}
	return e.Attr.Ino
}

var allTypes = []kvfs.FileType{kvfs.TypeRegular, kvfs.TypeDir, kvfs.TypeSymlink,
	kvfs.TypeFIFO, kvfs.TypeSocket, kvfs.TypeChar, kvfs.TypeBlock}

func typeName(typ kvfs.FileType) string {
	return map[kvfs.FileType]string{kvfs.TypeRegular: "file", kvfs.TypeDir: "dir", kvfs.TypeSymlink: "symlink",
		kvfs.TypeFIFO: "fifo", kvfs.TypeSocket: "socket", kvfs.TypeChar: "chardev", kvfs.TypeBlock: "blockdev"}[typ]
}

// TestOwnershipRules checks every chown and chgrp rule, for every file
// type: root may set any owner and group; the owner may set the owner only
// to itself (no give-away) and the group only to its current group or one
// it belongs to (primary or supplementary); anyone else may set neither,
// even to the values the object already has; an owner or group not set
// stays and needs no permission. A refused request changes nothing.
func TestOwnershipRules(t *testing.T) {
	ctx := context.Background()
	u32 := func(v uint32) *uint32 { return &v }
	cases := []struct {
		name     string
		cred     kvfs.Cred
		uid, gid *uint32
		want     syscall.Errno
		wantUID  uint32
		wantGID  uint32
	}{
		{"stranger sets owner and group to their values", chownStranger, u32(65534), u32(65534), syscall.EPERM, 65534, 65534},
		{"stranger sets owner to its value", chownStranger, u32(65534), nil, syscall.EPERM, 65534, 65534},
		{"stranger sets group to its value", chownStranger, nil, u32(65534), syscall.EPERM, 65534, 65534},
		{"stranger takes the object", chownStranger, u32(65533), nil, syscall.EPERM, 65534, 65534},
		{"stranger sets its own group", chownStranger, nil, u32(65533), syscall.EPERM, 65534, 65534},
		{"group member sets the group to its value", chownStrangerInGroup, nil, u32(65534), syscall.EPERM, 65534, 65534},
		{"group member sets another of its groups", chownStrangerInGroup, nil, u32(100), syscall.EPERM, 65534, 65534},
		{"stranger sets neither", chownStranger, nil, nil, 0, 65534, 65534},
		{"owner sets owner to itself", chownOwner, u32(65534), nil, 0, 65534, 65534},
		{"owner gives the object away", chownOwner, u32(65533), nil, syscall.EPERM, 65534, 65534},
		{"owner gives away with an allowed group", chownOwner, u32(65533), u32(100), syscall.EPERM, 65534, 65534},
		{"owner sets a supplementary group", chownOwner, nil, u32(200), 0, 65534, 200},
		{"owner sets itself and a supplementary group", chownOwner, u32(65534), u32(100), 0, 65534, 100},
		{"owner sets its primary group", chownOwnerG, nil, u32(100), 0, 65534, 100},
		{"owner keeps a group it is not in", chownOwnerG, u32(65534), u32(65534), 0, 65534, 65534},
		{"owner sets a group it is not in", chownOwner, nil, u32(300), syscall.EPERM, 65534, 65534},
		{"owner sets a group it is not in, owner unchanged", chownOwner, u32(65534), u32(300), syscall.EPERM, 65534, 65534},
		{"root gives the object away", root, u32(1), u32(2), 0, 1, 2},
		{"root sets the owner only", root, u32(7), nil, 0, 7, 65534},
		{"root sets the group only", root, nil, u32(7), 0, 65534, 7},
	}
	for _, typ := range allTypes {
		t.Run(typeName(typ), func(t *testing.T) {
			fs, _ := newFS(t, kvfs.Options{})
			for i, c := range cases {
				ino := newOwnedObject(t, fs, typ, fmt.Sprintf("o%d", i))
				before := must[kvfs.Attr](t)(fs.GetAttr(ctx, ino))
				_, err := fs.SetAttr(ctx, c.cred, ino, kvfs.SetAttrRequest{UID: c.uid, GID: c.gid})
				if got := errnoOf(err); got != c.want {
					t.Errorf("%s: got %v, want errno %d", c.name, err, c.want)
					continue
				}
				a := must[kvfs.Attr](t)(fs.GetAttr(ctx, ino))
				if a.UID != c.wantUID || a.GID != c.wantGID {
					t.Errorf("%s: owner %d:%d, want %d:%d", c.name, a.UID, a.GID, c.wantUID, c.wantGID)
				}
				if c.want != 0 && !sameAttr(a, before) {
					t.Errorf("%s: refused, yet attributes changed from %+v to %+v", c.name, before, a)
				}
			}
		})
	}
}

// TestModeRules: only the owner or root may change the mode, of any type;
// setting a mode with setgid drops setgid when the caller (not root) is not
// in the object's group.
func TestModeRules(t *testing.T) {
	ctx := context.Background()
	u32 := func(v uint32) *uint32 { return &v }
	cases := []struct {
		name     string
		cred     kvfs.Cred
		mode     uint32
		want     syscall.Errno
		wantMode uint32
	}{
		{"stranger", chownStranger, 0o700, syscall.EPERM, 0o755},
		{"stranger sets the current mode", chownStranger, 0o755, syscall.EPERM, 0o755},
		{"group member", chownStrangerInGroup, 0o775, syscall.EPERM, 0o755},
		{"owner", chownOwner, 0o700, 0, 0o700},
		{"owner in the group sets setgid", chownOwner, 0o2755, 0, 0o2755},
		{"owner outside the group sets setgid", chownOwnerG, 0o2755, 0, 0o755},
		{"owner outside the group sets setuid", chownOwnerG, 0o4755, 0, 0o4755},
		{"root outside the group sets setgid", root, 0o2755, 0, 0o2755},
	}
	for _, typ := range allTypes {
		if typ == kvfs.TypeSymlink {
			continue // a symlink's mode is not set (TestSymlinkModeIgnored)
		}
		t.Run(typeName(typ), func(t *testing.T) {
			fs, _ := newFS(t, kvfs.Options{})
			for i, c := range cases {
				ino := newOwnedObject(t, fs, typ, fmt.Sprintf("o%d", i))
				_, err := fs.SetAttr(ctx, c.cred, ino, kvfs.SetAttrRequest{Mode: u32(c.mode)})
				if got := errnoOf(err); got != c.want {
					t.Errorf("%s: got %v, want errno %d", c.name, err, c.want)
					continue
				}
				if a := must[kvfs.Attr](t)(fs.GetAttr(ctx, ino)); a.Mode != c.wantMode {
					t.Errorf("%s: mode %o, want %o", c.name, a.Mode, c.wantMode)
				}
			}
		})
	}
}

// TestSymlinkModeIgnored: SETATTR of a symlink's mode changes nothing
// and succeeds, for whoever asks, as with Linux's server (which drops a
// mode change on a symlink before anything else): the mode stays 0777.
// The rest of the request applies.
func TestSymlinkModeIgnored(t *testing.T) {
	ctx := context.Background()
	u32 := func(v uint32) *uint32 { return &v }
	mtime := time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)
	cases := []struct {
		name      string
		cred      kvfs.Cred
		req       kvfs.SetAttrRequest
		want      syscall.Errno
		wantMtime bool // the mtime is set to mtime, not left alone
	}{
		{"owner", chownOwner, kvfs.SetAttrRequest{Mode: u32(0o600)}, 0, false},
		{"root", root, kvfs.SetAttrRequest{Mode: u32(0o4700)}, 0, false},
		{"stranger", chownStranger, kvfs.SetAttrRequest{Mode: u32(0o600)}, 0, false},
		{"owner with a time", chownOwner, kvfs.SetAttrRequest{Mode: u32(0o600), Mtime: kvfs.TimeClient, MtimeTo: mtime}, 0, true},
		{"stranger with a time", chownStranger, kvfs.SetAttrRequest{Mode: u32(0o600), Mtime: kvfs.TimeClient, MtimeTo: mtime}, syscall.EPERM, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs, _ := newFS(t, kvfs.Options{})
			ino := newOwnedObject(t, fs, kvfs.TypeSymlink, "s")
			before := must[kvfs.Attr](t)(fs.GetAttr(ctx, ino))
			_, err := fs.SetAttr(ctx, c.cred, ino, c.req)
			if got := errnoOf(err); got != c.want {
				t.Fatalf("got %v, want errno %d", err, c.want)
			}
			a := must[kvfs.Attr](t)(fs.GetAttr(ctx, ino))
			if a.Mode != 0o777 {
				t.Fatalf("mode %o, want 0777", a.Mode)
			}
			if c.wantMtime {
				if !a.Mtime.Equal(mtime) {
					t.Fatalf("mtime %v, want %v", a.Mtime, mtime)
				}
			} else if !sameAttr(a, before) {
				t.Fatalf("attributes changed from %+v to %+v", before, a)
			}
		})
	}
}

// TestOwnershipChangeDropsSetID: setting the owner or group of anything but
// a directory drops setuid, and setgid when group execute is set (as Linux
// does), whoever asks and even when the values do not change; a mode set
// in the same request loses the same bits. Directories keep theirs.
func TestOwnershipChangeDropsSetID(t *testing.T) {
	ctx := context.Background()
	u32 := func(v uint32) *uint32 { return &v }
	cases := []struct {
		name    string
		cred    kvfs.Cred
		start   uint32
		req     kvfs.SetAttrRequest
		want    uint32 // for non-directories
		wantDir uint32
	}{
		{"owner sets a supplementary group", chownOwner, 0o6755, kvfs.SetAttrRequest{GID: u32(100)}, 0o755, 0o6755},
		{"owner sets the owner it has", chownOwner, 0o6755, kvfs.SetAttrRequest{UID: u32(65534)}, 0o755, 0o6755},
		{"setgid without group execute stays", chownOwner, 0o6745, kvfs.SetAttrRequest{GID: u32(100)}, 0o2745, 0o6745},
		{"root gives away", root, 0o6755, kvfs.SetAttrRequest{UID: u32(1), GID: u32(1)}, 0o755, 0o6755},
		{"mode in the same request", root, 0o755, kvfs.SetAttrRequest{UID: u32(1), Mode: u32(0o6755)}, 0o755, 0o6755},
		{"neither set keeps the bits", chownOwner, 0o6755, kvfs.SetAttrRequest{Mtime: kvfs.TimeServer}, 0o6755, 0o6755},
	}
	for _, typ := range allTypes {
		if typ == kvfs.TypeSymlink {
			continue
		}
		t.Run(typeName(typ), func(t *testing.T) {
			fs, _ := newFS(t, kvfs.Options{})
			for i, c := range cases {
				ino := newOwnedObject(t, fs, typ, fmt.Sprintf("o%d", i))
				must[kvfs.Change](t)(fs.SetAttr(ctx, root, ino, kvfs.SetAttrRequest{Mode: u32(c.start)}))
				a := must[kvfs.Change](t)(fs.SetAttr(ctx, c.cred, ino, c.req)).After
				want := c.want
				if typ == kvfs.TypeDir {
					want = c.wantDir
				}
				if a.Mode != want {
					t.Errorf("%s: mode %o, want %o", c.name, a.Mode, want)
				}
			}
		})
	}
}
