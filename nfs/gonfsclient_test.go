package nfs_test

import (
	"bytes"
	"io"
	"slices"
	"testing"
	"time"

	gonfs "github.com/willscott/go-nfs-client/nfs"
	gorpc "github.com/willscott/go-nfs-client/nfs/rpc"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/nfs"
)

// TestGoNFSClient drives the server with an independent NFSv3 client.
func TestGoNFSClient(t *testing.T) {
	gorpc.DefaultReadTimeout = time.Minute
	fsA, _ := newFS(t)
	fsB, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/team-a", FS: fsA}, &nfs.Export{Name: "b", Path: "/team-b", FS: fsB})

	rc, err := testenv.DialGoNFS(ts.addr)
	check(t, err)
	defer rc.Close()
	m := &gonfs.Mount{Client: rc}
	auth := gorpc.NewAuthUnix("test", 0, 0).Auth()
	vA, err := m.Mount("/team-a", auth)
	check(t, err)
	if _, err := m.Mount("/missing", auth); err == nil {
		t.Fatal("mount of an unknown path succeeded")
	}

	_, err = vA.Mkdir("dir", 0o755)
	check(t, err)
	data := bytes.Repeat([]byte("go-nfs-client "), 300_000) // ~4 MiB: several 1 MiB WRITEs
	f, err := vA.OpenFile("dir/file", 0o644)
	check(t, err)
	if n, err := f.Write(data); err != nil || n != len(data) {
		t.Fatalf("write: %d, %v", n, err)
	}
	check(t, f.Close())

	rf, err := vA.Open("dir/file")
	check(t, err)
	got, err := io.ReadAll(rf)
	check(t, err)
	rf.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes, wrote %d", len(got), len(data))
	}

	check(t, vA.Symlink("file", "dir/link"))
	check(t, vA.Rename("dir/file", "dir/renamed"))
	ents, err := vA.ReadDirPlus("dir")
	check(t, err)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
		if e.Name() == "renamed" && e.Size() != int64(len(data)) {
			t.Fatalf("readdirplus size %d", e.Size())
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{".", "..", "link", "renamed"}) && !slices.Equal(names, []string{"link", "renamed"}) {
		t.Fatalf("readdirplus names %v", names)
	}
	fi, err := vA.Getattr("dir/renamed")
	check(t, err)
	if fi.Size() != int64(len(data)) {
		t.Fatalf("getattr size %d", fi.Size())
	}
	check(t, vA.Remove("dir/renamed"))
	check(t, vA.Remove("dir/link"))
	check(t, vA.RmDir("dir"))

	// The other export on the same connection is independent.
	vB, err := m.Mount("/team-b", auth)
	check(t, err)
	ents, err = vB.ReadDirPlus(".")
	check(t, err)
	for _, e := range ents {
		if e.Name() != "." && e.Name() != ".." {
			t.Fatalf("export b shows %q", e.Name())
		}
	}
}
