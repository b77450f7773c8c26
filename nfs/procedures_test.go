package nfs_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

func oneExport(t *testing.T) (*testServer, *nfsclient.Client, []byte, *kvfs.MemKV) {
	fs, kv := newFS(t)
	ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	c := dial(t, ts.addr)
	return ts, c, mount(t, c, "/a"), kv
}

func TestFileLifecycle(t *testing.T) {
	ts, c, root, kv := oneExport(t)
	exp := ts.exports.list[0]
	cx := ctx(t)

	check(t, c.Null(cx))
	rootAttr := must[nfsclient.Fattr](t)(c.Getattr(cx, root))
	if rootAttr.Type != nfsclient.TypeDir || rootAttr.FileID != kvfs.RootIno {
		t.Fatalf("root attributes %+v", rootAttr)
	}

	cr := must[nfsclient.CreateResult](t)(c.Create(cx, root, "f", nfsclient.Guarded, nfsclient.Sattr{Mode: nfsclient.U32(0o640)}, [8]byte{}))
	if cr.FH == nil || cr.Attr == nil || cr.Attr.Mode != 0o640 || cr.Attr.Type != nfsclient.TypeReg {
		t.Fatalf("create result %+v", cr)
	}
	if cr.Dir.Before == nil || cr.Dir.After == nil {
		t.Fatalf("create: no directory wcc data: %+v", cr.Dir)
	}
	if cr.Attr.FSID != rootAttr.FSID {
		t.Fatalf("fsid %d, root %d", cr.Attr.FSID, rootAttr.FSID)
	}
	_, err := c.Create(cx, root, "f", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{})
	wantStatus(t, err, nfs.StatusExist)

	// WRITE UNSTABLE: applied, not durable, answered UNSTABLE with the verifier.
	data := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	w := must[nfsclient.WriteResult](t)(c.Write(cx, cr.FH, 0, data, nfsclient.Unstable))
	if w.Count != uint32(len(data)) || w.Committed != nfsclient.Unstable || w.Verf != ts.srv.WriteVerifier(exp) {
		t.Fatalf("write result %+v", w)
	}
	if w.Wcc.Before == nil || w.Wcc.Before.Size != 0 || w.Wcc.After == nil || w.Wcc.After.Size != uint64(len(data)) {
		t.Fatalf("write wcc %+v", w.Wcc)
	}
	if kv.Pending() == 0 {
		t.Fatalf("unstable write is already durable: nothing to commit")
	}
	verf := must[[8]byte](t)(c.Commit(cx, cr.FH, 0, 0))
	if verf != ts.srv.WriteVerifier(exp) || kv.Pending() != 0 {
		t.Fatalf("commit: verifier %x, pending %d", verf, kv.Pending())
	}
	// WRITE FILE_SYNC: durable before the reply.
	w = must[nfsclient.WriteResult](t)(c.Write(cx, cr.FH, uint64(len(data)), []byte("tail"), nfsclient.DataSync))
	if w.Committed != nfsclient.FileSync || kv.Pending() != 0 {
		t.Fatalf("data sync write: committed %d, pending %d", w.Committed, kv.Pending())
	}
	data = append(data, "tail"...)

	r := must[nfsclient.ReadResult](t)(c.Read(cx, cr.FH, 0, 1<<20))
	if !bytes.Equal(r.Data, data) || !r.EOF || r.Attr == nil || r.Attr.Size != uint64(len(data)) {
		t.Fatalf("read: %d bytes, eof %v, attr %+v", len(r.Data), r.EOF, r.Attr)
	}
	r = must[nfsclient.ReadResult](t)(c.Read(cx, cr.FH, 5, 7))
	if string(r.Data) != "56789ab" || r.EOF {
		t.Fatalf("partial read %q eof %v", r.Data, r.EOF)
	}
	r = must[nfsclient.ReadResult](t)(c.Read(cx, cr.FH, uint64(len(data)+10), 100))
	if len(r.Data) != 0 || !r.EOF {
		t.Fatalf("read past end: %d bytes, eof %v", len(r.Data), r.EOF)
	}

	fh, attr, err := c.Lookup(cx, root, "f")
	check(t, err)
	if !bytes.Equal(fh, cr.FH) || attr.FileID != cr.Attr.FileID {
		t.Fatalf("lookup gave %x %+v", fh, attr)
	}
	_, _, err = c.Lookup(cx, root, "missing")
	wantStatus(t, err, nfs.StatusNoEnt)
	_, _, err = c.Lookup(cx, cr.FH, "x")
	wantStatus(t, err, nfs.StatusNotDir)
	dotFH, _, err := c.Lookup(cx, root, "..")
	check(t, err)
	if !bytes.Equal(dotFH, root) {
		t.Fatalf("root/.. is not the root")
	}

	// SETATTR: size, mode, times; the ctime guard.
	before := must[nfsclient.Fattr](t)(c.Getattr(cx, cr.FH))
	mtime := time.Unix(1_600_000_000, 123)
	wcc := must[nfsclient.WccData](t)(c.Setattr(cx, cr.FH, nfsclient.Sattr{Size: nfsclient.U64(10), Mode: nfsclient.U32(0o600), MtimeHow: nfsclient.ClientTime, Mtime: mtime}, &before.Ctime))
	if wcc.After == nil || wcc.After.Size != 10 || wcc.After.Mode != 0o600 || !wcc.After.Mtime.Equal(mtime) {
		t.Fatalf("setattr result %+v", wcc.After)
	}
	_, err = c.Setattr(cx, cr.FH, nfsclient.Sattr{Size: nfsclient.U64(1)}, &before.Ctime)
	wantStatus(t, err, nfs.StatusNotSync)

	// ACCESS as root and as an unprivileged user.
	all := kvfs.AccessRead | kvfs.AccessModify | kvfs.AccessExtend | kvfs.AccessExecute
	if got := must[uint32](t)(c.Access(cx, cr.FH, all)); got&(kvfs.AccessRead|kvfs.AccessModify) != kvfs.AccessRead|kvfs.AccessModify {
		t.Fatalf("root access %#x", got)
	}
	other := dial(t, ts.addr)
	other.SetAuthSys(1000, 1000)
	if got := must[uint32](t)(other.Access(cx, cr.FH, all)); got != 0 {
		t.Fatalf("access of uid 1000 to a 0600 root file: %#x", got)
	}
	_, err = other.Read(cx, cr.FH, 0, 10)
	wantStatus(t, err, nfs.StatusAcces)

	_, err = c.Read(cx, root, 0, 10)
	wantStatus(t, err, nfs.StatusIsDir)
	_, err = c.Write(cx, root, 0, []byte("x"), nfsclient.Unstable)
	wantStatus(t, err, nfs.StatusIsDir)
	_, err = c.Readlink(cx, cr.FH)
	wantStatus(t, err, nfs.StatusInval)

	// EXCLUSIVE create: the same verifier succeeds again, another fails.
	v1 := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	ex := must[nfsclient.CreateResult](t)(c.Create(cx, root, "ex", nfsclient.Exclusive, nfsclient.Sattr{}, v1))
	ex2 := must[nfsclient.CreateResult](t)(c.Create(cx, root, "ex", nfsclient.Exclusive, nfsclient.Sattr{}, v1))
	if !bytes.Equal(ex.FH, ex2.FH) {
		t.Fatalf("retried exclusive create gave another handle")
	}
	_, err = c.Create(cx, root, "ex", nfsclient.Exclusive, nfsclient.Sattr{}, [8]byte{9})
	wantStatus(t, err, nfs.StatusExist)
	// UNCHECKED on an existing name succeeds, on a directory too, and
	// answers the object that is there, as with Linux nfsd (its client
	// then reports EISDIR); GUARDED is NFS3ERR_EXIST.
	must[nfsclient.CreateResult](t)(c.Create(cx, root, "ex", nfsclient.Unchecked, nfsclient.Sattr{}, [8]byte{}))
	exdir := must[nfsclient.CreateResult](t)(c.Mkdir(cx, root, "exdir", nfsclient.Sattr{}))
	overDir := must[nfsclient.CreateResult](t)(c.Create(cx, root, "exdir", nfsclient.Unchecked, nfsclient.Sattr{Size: nfsclient.U64(0)}, [8]byte{}))
	if !bytes.Equal(overDir.FH, exdir.FH) || overDir.Attr == nil || overDir.Attr.Type != nfsclient.TypeDir {
		t.Fatalf("UNCHECKED CREATE over a directory answered handle %x, attributes %+v; want the directory %x", overDir.FH, overDir.Attr, exdir.FH)
	}
	_, err = c.Create(cx, root, "exdir", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{})
	wantStatus(t, err, nfs.StatusExist)

	_, err = c.Create(cx, root, string(bytes.Repeat([]byte("n"), 256)), nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{})
	wantStatus(t, err, nfs.StatusNameTooLong)
	_, err = c.Create(cx, root, "a/b", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{})
	wantStatus(t, err, nfs.StatusInval)
	_, err = c.Create(cx, cr.FH, "x", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{})
	wantStatus(t, err, nfs.StatusNotDir)
}

func TestDirectoryProcedures(t *testing.T) {
	_, c, root, _ := oneExport(t)
	cx := ctx(t)

	d := must[nfsclient.CreateResult](t)(c.Mkdir(cx, root, "d", nfsclient.Sattr{Mode: nfsclient.U32(0o750)}))
	if d.Attr.Type != nfsclient.TypeDir || d.Attr.Mode != 0o750 {
		t.Fatalf("mkdir attr %+v", d.Attr)
	}
	_, err := c.Mkdir(cx, root, "d", nfsclient.Sattr{})
	wantStatus(t, err, nfs.StatusExist)

	f := must[nfsclient.CreateResult](t)(c.Create(cx, d.FH, "f", nfsclient.Unchecked, nfsclient.Sattr{}, [8]byte{}))
	sl := must[nfsclient.CreateResult](t)(c.Symlink(cx, d.FH, "s", "../target", nfsclient.Sattr{}))
	if sl.Attr.Type != nfsclient.TypeLnk {
		t.Fatalf("symlink type %d", sl.Attr.Type)
	}
	if got := must[string](t)(c.Readlink(cx, sl.FH)); got != "../target" {
		t.Fatalf("readlink %q", got)
	}
	fifo := must[nfsclient.CreateResult](t)(c.Mknod(cx, d.FH, "p", nfsclient.TypeFifo, nfsclient.Sattr{Mode: nfsclient.U32(0o600)}, 0, 0))
	if fifo.Attr.Type != nfsclient.TypeFifo {
		t.Fatalf("fifo type %d", fifo.Attr.Type)
	}
	chr := must[nfsclient.CreateResult](t)(c.Mknod(cx, d.FH, "c", nfsclient.TypeChr, nfsclient.Sattr{}, 4, 64))
	if chr.Attr.Type != nfsclient.TypeChr || chr.Attr.Major != 4 || chr.Attr.Minor != 64 {
		t.Fatalf("char device attr %+v", chr.Attr)
	}
	_, err = c.Mknod(cx, d.FH, "r", nfsclient.TypeReg, nfsclient.Sattr{}, 0, 0)
	wantStatus(t, err, nfs.StatusBadType)

	// LINK: nlink goes to 2, in another directory.
	la := must[nfsclient.LinkResult](t)(c.Link(cx, f.FH, root, "hard")).Attr
	if la == nil || la.Nlink != 2 {
		t.Fatalf("link attr %+v", la)
	}
	_, err = c.Link(cx, d.FH, root, "dirlink")
	wantStatus(t, err, nfs.StatusIsDir)

	names := func(ents []nfsclient.DirEntry) []string {
		var out []string
		for _, e := range ents {
			out = append(out, e.Name)
		}
		slices.Sort(out)
		return out
	}
	want := []string{".", "..", "c", "f", "p", "s"}
	ents := must[[]nfsclient.DirEntry](t)(c.ReaddirAll(cx, d.FH, false))
	if got := names(ents); !slices.Equal(got, want) {
		t.Fatalf("readdir %v, want %v", got, want)
	}
	plus := must[[]nfsclient.DirEntry](t)(c.ReaddirAll(cx, d.FH, true))
	if got := names(plus); !slices.Equal(got, want) {
		t.Fatalf("readdirplus %v, want %v", got, want)
	}
	for _, e := range plus {
		if e.Attr == nil || e.FH == nil || e.Attr.FileID != e.FileID {
			t.Fatalf("readdirplus entry %q without attributes or handle", e.Name)
		}
		if e.Name == ".." && e.FileID != kvfs.RootIno {
			t.Fatalf(".. of /d is %d", e.FileID)
		}
	}

	// RENAME within and across directories.
	must[nfsclient.RenameResult](t)(c.Rename(cx, d.FH, "f", d.FH, "g"))
	must[nfsclient.RenameResult](t)(c.Rename(cx, d.FH, "g", root, "moved"))
	_, _, err = c.Lookup(cx, d.FH, "g")
	wantStatus(t, err, nfs.StatusNoEnt)
	mfh, _, err := c.Lookup(cx, root, "moved")
	check(t, err)
	if !bytes.Equal(mfh, f.FH) {
		t.Fatalf("renamed file has a new handle")
	}
	_, err = c.Rename(cx, d.FH, "missing", root, "x")
	wantStatus(t, err, nfs.StatusNoEnt)

	// REMOVE and RMDIR.
	_, err = c.Rmdir(cx, root, "d")
	wantStatus(t, err, nfs.StatusNotEmpty)
	_, err = c.Remove(cx, root, "missing")
	wantStatus(t, err, nfs.StatusNoEnt)
	for _, n := range []string{"s", "p", "c"} {
		w := must[nfsclient.WccData](t)(c.Remove(cx, d.FH, n))
		if w.Before == nil || w.After == nil {
			t.Fatalf("remove %s: no wcc data", n)
		}
	}
	must[nfsclient.WccData](t)(c.Rmdir(cx, root, "d"))
	_, err = c.Getattr(cx, d.FH)
	wantStatus(t, err, nfs.StatusStale)
	_, err = c.Rmdir(cx, root, ".")
	wantStatus(t, err, nfs.StatusInval)

	// The hard-linked file survives the removal of one name.
	must[nfsclient.WccData](t)(c.Remove(cx, root, "moved"))
	a := must[nfsclient.Fattr](t)(c.Getattr(cx, f.FH))
	if a.Nlink != 1 {
		t.Fatalf("nlink after unlinking one name: %d", a.Nlink)
	}
	must[nfsclient.WccData](t)(c.Remove(cx, root, "hard"))
	_, err = c.Getattr(cx, f.FH)
	wantStatus(t, err, nfs.StatusStale)
}

func TestReaddirPaging(t *testing.T) {
	_, c, root, _ := oneExport(t)
	cx := ctx(t)
	const n = 300
	want := []string{".", ".."}
	for i := range n {
		name := "file-with-a-longish-name-" + string(rune('a'+i%26)) + "-" + itoa(i)
		must[nfsclient.CreateResult](t)(c.Create(cx, root, name, nfsclient.Unchecked, nfsclient.Sattr{}, [8]byte{}))
		want = append(want, name)
	}
	slices.Sort(want)
	for _, plus := range []bool{false, true} {
		var got []string
		var cookie uint64
		calls := 0
		for {
			var ents []nfsclient.DirEntry
			var eof bool
			var err error
			if plus {
				ents, eof, err = c.Readdirplus(cx, root, cookie, 512, 4096)
			} else {
				ents, eof, err = c.Readdir(cx, root, cookie, 1024)
			}
			check(t, err)
			calls++
			for _, e := range ents {
				got = append(got, e.Name)
			}
			if eof {
				break
			}
			cookie = ents[len(ents)-1].Cookie
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("plus=%v: %d names, want %d", plus, len(got), len(want))
		}
		if calls < 3 {
			t.Fatalf("plus=%v: %d calls: count limit not respected", plus, calls)
		}
	}
	_, _, err := c.Readdir(cx, root, 0, 10)
	wantStatus(t, err, nfs.StatusTooSmall)
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestFilesystemInfo(t *testing.T) {
	_, c, root, _ := oneExport(t)
	cx := ctx(t)
	info := must[nfsclient.Fsinfo](t)(c.Fsinfo(cx, root))
	if info.RtMax != 1<<20 || info.WtMax != 1<<20 || info.RtPref != 1<<20 || info.WtPref != 1<<20 || info.TimeDelta != time.Nanosecond {
		t.Fatalf("fsinfo %+v", info)
	}
	if info.Properties != 0x1b || info.DtPref == 0 || info.MaxFileSize == 0 {
		t.Fatalf("fsinfo %+v", info)
	}
	// maxfilesize is what the filesystem takes: a write ending there
	// succeeds, one byte further fails. A client sizes its own limit on it,
	// so a larger value lets it accept writes it can only fail at writeback.
	if info.MaxFileSize != kvfs.MaxFileSize {
		t.Fatalf("fsinfo maxfilesize %d, want kvfs.MaxFileSize %d", info.MaxFileSize, uint64(kvfs.MaxFileSize))
	}
	big := must[nfsclient.CreateResult](t)(c.Create(cx, root, "big", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{}))
	must[nfsclient.WriteResult](t)(c.Write(cx, big.FH, info.MaxFileSize-1, []byte{1}, nfsclient.FileSync))
	_, err := c.Write(cx, big.FH, info.MaxFileSize, []byte{1}, nfsclient.FileSync)
	wantStatus(t, err, nfs.StatusFBig)
	st := must[nfsclient.Fsstat](t)(c.Fsstat(cx, root))
	if st.TBytes == 0 || st.ABytes > st.TBytes || st.Attr == nil {
		t.Fatalf("fsstat %+v", st)
	}
	pc := must[nfsclient.Pathconf](t)(c.Pathconf(cx, root))
	if pc.NameMax != 255 || pc.LinkMax != kvfs.MaxLinks || !pc.NoTrunc || !pc.CasePreserving || pc.CaseInsensitive {
		t.Fatalf("pathconf %+v", pc)
	}
}
