package nfs_test

import (
	"math"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// TestTimesOutsideNFSv3Range: kvfs keeps times NFSv3 cannot carry (before
// 1970, at or after 2^32 seconds); GETATTR and READDIRPLUS answer them
// clamped to the nearest time nfstime3 holds, and kvfs keeps the stored
// value.
func TestTimesOutsideNFSv3Range(t *testing.T) {
	fs, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	c := dial(t, ts.addr)
	cx := ctx(t)
	root := mount(t, c, "/a")
	f := must[nfsclient.CreateResult](t)(c.Create(cx, root, "f", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{}))
	early := time.Date(1960, 5, 1, 0, 0, 0, 42, time.UTC)
	late := time.Date(2200, 1, 1, 0, 0, 0, 42, time.UTC)
	ch, err := fs.SetAttr(cx, kvfs.Cred{}, f.Attr.FileID, kvfs.SetAttrRequest{
		Atime: kvfs.TimeClient, AtimeTo: early, Mtime: kvfs.TimeClient, MtimeTo: late})
	check(t, err)
	if !ch.After.Atime.Equal(early) || !ch.After.Mtime.Equal(late) {
		t.Fatalf("kvfs stored atime %v mtime %v", ch.After.Atime, ch.After.Mtime)
	}
	wantEarly, wantLate := time.Unix(0, 0), time.Unix(math.MaxUint32, 999_999_999)
	a := must[nfsclient.Fattr](t)(c.Getattr(cx, f.FH))
	if !a.Atime.Equal(wantEarly) || !a.Mtime.Equal(wantLate) {
		t.Fatalf("GETATTR atime %v mtime %v, want %v and %v", a.Atime.UTC(), a.Mtime.UTC(), wantEarly.UTC(), wantLate.UTC())
	}
	ents := must[[]nfsclient.DirEntry](t)(c.ReaddirAll(cx, root, true))
	for _, e := range ents {
		if e.Name == "f" && (e.Attr == nil || !e.Attr.Atime.Equal(wantEarly) || !e.Attr.Mtime.Equal(wantLate)) {
			t.Fatalf("READDIRPLUS attributes %+v", e.Attr)
		}
	}
}
