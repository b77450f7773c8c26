package nfs_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
	"github.com/zerofs-go/zerofsd/nfs/rpc"
)

func TestMountProtocol(t *testing.T) {
	fsA, _ := newFS(t)
	fsB, _ := newFS(t)
	fsC, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{},
		&nfs.Export{Name: "a", Path: "/team-a", FS: fsA},
		&nfs.Export{Name: "b", Path: "/team-b", FS: fsB, AllowedClients: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		&nfs.Export{Name: "c", Path: "/team-c", FS: fsC, AllowedClients: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}},
	)
	c := dial(t, ts.addr)
	cx := ctx(t)

	if _, err := c.MountCall(cx, nfs.MountProcNull, nil); err != nil {
		t.Fatal(err)
	}
	fh, flavors, err := c.Mount(cx, "/team-a")
	check(t, err)
	h, err := nfs.ParseHandle(fh)
	check(t, err)
	if h.FSID != fsA.FSID() || h.Ino != kvfs.RootIno || !slices.Equal(flavors, []uint32{1}) {
		t.Fatalf("mount: handle %+v, flavors %v", h, flavors)
	}
	fh2, _, err := c.Mount(cx, "/team-a/")
	check(t, err)
	if !bytes.Equal(fh, fh2) {
		t.Fatalf("trailing slash gives another handle")
	}
	_, _, err = c.Mount(cx, "/nope")
	wantStatus(t, err, nfs.Status(nfs.MountNoEnt))
	mount(t, c, "/team-b")
	_, _, err = c.Mount(cx, "/team-c")
	wantStatus(t, err, nfs.Status(nfs.MountAcces))

	// EXPORT lists what this client may mount (see TestMountExport).
	exps := must[[]nfsclient.ExportEntry](t)(c.Exports(cx))
	want := []nfsclient.ExportEntry{{Path: "/team-a"}, {Path: "/team-b", Groups: []string{"127.0.0.1"}}}
	if !reflect.DeepEqual(exps, want) {
		t.Fatalf("exports %+v, want %+v", exps, want)
	}

	dump := must[[]nfsclient.MountEntry](t)(c.Dump(cx))
	if len(dump) != 2 || dump[0].Path != "/team-a" || dump[1].Path != "/team-b" || dump[0].Host != "127.0.0.1" {
		t.Fatalf("dump %+v", dump)
	}
	check(t, c.Umnt(cx, "/team-a"))
	dump = must[[]nfsclient.MountEntry](t)(c.Dump(cx))
	if len(dump) != 1 || dump[0].Path != "/team-b" {
		t.Fatalf("dump after umnt %+v", dump)
	}
	check(t, c.Umntall(cx))
	if dump = must[[]nfsclient.MountEntry](t)(c.Dump(cx)); len(dump) != 0 {
		t.Fatalf("dump after umntall %+v", dump)
	}

	// A handle is not a password: a client outside AllowedClients is
	// refused on every call, even with a valid handle.
	cRoot := nfs.Handle{FSID: fsC.FSID(), Ino: kvfs.RootIno}
	rootAttr, err := fsC.GetAttr(cx, kvfs.RootIno)
	check(t, err)
	cRoot.Gen = rootAttr.Gen
	_, err = c.Getattr(cx, cRoot.Bytes())
	wantStatus(t, err, nfs.StatusAcces)
	_, err = c.Create(cx, cRoot.Bytes(), "x", nfsclient.Unchecked, nfsclient.Sattr{}, [8]byte{})
	wantStatus(t, err, nfs.StatusAcces)
}

// TestDumpShowsOnlyMountableExports: anyone may call DUMP, so it lists the
// mounts of the exports the caller may mount, and of no other export
// (nor of an export that is gone).
func TestDumpShowsOnlyMountableExports(t *testing.T) {
	fsA, _ := newFS(t)
	fsB, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{},
		&nfs.Export{Name: "a", Path: "/a", FS: fsA, AllowedClients: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
		&nfs.Export{Name: "b", Path: "/b", FS: fsB})
	one := must[*nfsclient.Client](t)(dialFrom(t, ts.addr, "127.0.0.1:0"))
	two := must[*nfsclient.Client](t)(dialFrom(t, ts.addr, "127.0.0.2:0"))
	mount(t, one, "/a")
	mount(t, one, "/b")
	mount(t, two, "/b")
	wantDump := func(name string, c *nfsclient.Client, want []nfsclient.MountEntry) {
		t.Helper()
		if got := must[[]nfsclient.MountEntry](t)(c.Dump(ctx(t))); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: DUMP %+v, want %+v", name, got, want)
		}
	}
	wantDump("a client that may mount both", one, []nfsclient.MountEntry{{Host: "127.0.0.1", Path: "/a"}, {Host: "127.0.0.1", Path: "/b"}, {Host: "127.0.0.2", Path: "/b"}})
	wantDump("a client that may mount /b only", two, []nfsclient.MountEntry{{Host: "127.0.0.1", Path: "/b"}, {Host: "127.0.0.2", Path: "/b"}})
	ts.exports.remove("/b")
	wantDump("after /b is removed", one, []nfsclient.MountEntry{{Host: "127.0.0.1", Path: "/a"}})
	wantDump("after /b is removed, a client that may mount nothing", two, nil)
}

// TestMountExport checks that EXPORT shows a client only the exports it
// may mount, and nothing of their access lists: an open export with no
// group (everyone), a restricted one with the caller's own address.
func TestMountExport(t *testing.T) {
	prefixes := func(ps ...string) []netip.Prefix {
		out := make([]netip.Prefix, len(ps))
		for i, p := range ps {
			out[i] = netip.MustParsePrefix(p)
		}
		return out
	}
	var exps []*nfs.Export
	for _, e := range []struct {
		path    string
		allowed []netip.Prefix
	}{
		{"/open", nil},
		{"/one", prefixes("127.0.0.1/32")},
		{"/two", prefixes("10.0.0.0/8", "127.0.0.2/32")},
		{"/far", prefixes("10.0.0.0/8", "192.168.0.0/16")},
	} {
		fs, _ := newFS(t)
		exps = append(exps, &nfs.Export{Name: e.path[1:], Path: e.path, FS: fs, AllowedClients: e.allowed})
	}
	ts := startServer(t, nfs.ServerOptions{}, exps...)

	tests := []struct {
		from string
		want []nfsclient.ExportEntry
	}{
		{"127.0.0.1", []nfsclient.ExportEntry{{Path: "/one", Groups: []string{"127.0.0.1"}}, {Path: "/open"}}},
		{"127.0.0.2", []nfsclient.ExportEntry{{Path: "/open"}, {Path: "/two", Groups: []string{"127.0.0.2"}}}},
		{"127.0.0.3", []nfsclient.ExportEntry{{Path: "/open"}}},
	}
	for _, tt := range tests {
		t.Run(tt.from, func(t *testing.T) {
			c, err := dialFrom(t, ts.addr, tt.from+":0")
			check(t, err)
			cx := ctx(t)
			got := must[[]nfsclient.ExportEntry](t)(c.Exports(cx))
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("EXPORT from %s: %+v, want %+v", tt.from, got, tt.want)
			}
			// What is listed can be mounted, and only that.
			for _, e := range exps {
				listed := slices.ContainsFunc(got, func(x nfsclient.ExportEntry) bool { return x.Path == e.Path })
				_, _, err := c.Mount(cx, e.Path)
				if listed {
					check(t, err)
				} else {
					wantStatus(t, err, nfs.Status(nfs.MountAcces))
				}
			}
		})
	}
}

// TestSecureExport: an export with Secure refuses MNT and every call on
// its handles from a source port of 1024 or above with AUTH_TOOWEAK, and
// serves privileged ports; NULL, EXPORT and exports without Secure serve
// every port.
func TestSecureExport(t *testing.T) {
	fsSec, _ := newFS(t)
	fsOpen, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{},
		&nfs.Export{Name: "sec", Path: "/sec", FS: fsSec, Secure: true},
		&nfs.Export{Name: "open", Path: "/open", FS: fsOpen})
	cx := ctx(t)

	priv, privPort := dialFromPort(t, ts.addr, portRange(1023, 600)...)
	secRoot := mount(t, priv, "/sec")
	must[nfsclient.CreateResult](t)(priv.Create(cx, secRoot, "f", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{}))
	openRoot := mount(t, priv, "/open")
	must[nfsclient.Fattr](t)(priv.Getattr(cx, openRoot))

	unpriv, unprivPort := dialFromPort(t, ts.addr, portRange(1024, 2047)...)
	t.Logf("privileged port %d, unprivileged port %d", privPort, unprivPort)
	tooWeak := func(t *testing.T, err error) {
		t.Helper()
		var re *rpc.ReplyError
		if !errors.As(err, &re) || !re.Denied || re.Reject != rpc.AuthError || re.Auth != rpc.AuthTooWeak {
			t.Fatalf("err = %v, want AUTH_ERROR AUTH_TOOWEAK", err)
		}
	}
	refused := map[string]func() error{
		"MNT":     func() error { _, _, err := unpriv.Mount(cx, "/sec"); return err },
		"GETATTR": func() error { _, err := unpriv.Getattr(cx, secRoot); return err },
		"LOOKUP":  func() error { _, _, err := unpriv.Lookup(cx, secRoot, "f"); return err },
		"CREATE": func() error {
			_, err := unpriv.Create(cx, secRoot, "g", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{})
			return err
		},
		"REMOVE": func() error { _, err := unpriv.Remove(cx, secRoot, "f"); return err },
	}
	for name, call := range refused {
		t.Run(name, func(t *testing.T) { tooWeak(t, call()) })
	}
	// Nothing was changed by the refused calls.
	ents := must[[]nfsclient.DirEntry](t)(priv.ReaddirAll(cx, secRoot, false))
	if len(ents) != 3 || !slices.ContainsFunc(ents, func(e nfsclient.DirEntry) bool { return e.Name == "f" }) {
		t.Fatalf("secure export changed by refused calls: %+v", ents)
	}

	// Served from any port: NULL of both programs, EXPORT, an export
	// without Secure.
	check(t, unpriv.Null(cx))
	_, err := unpriv.MountCall(cx, nfs.MountProcNull, nil)
	check(t, err)
	if exps := must[[]nfsclient.ExportEntry](t)(unpriv.Exports(cx)); len(exps) != 2 {
		t.Fatalf("EXPORT: %+v", exps)
	}
	mount(t, unpriv, "/open")
	must[nfsclient.Fattr](t)(unpriv.Getattr(cx, openRoot))
	must[nfsclient.CreateResult](t)(unpriv.Create(cx, openRoot, "g", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{}))
}

// TestCallLogNamesStatus: the debug log of a call names its status as
// RFC 1813 does (nfsstat3 for NFS, mountstat3 for MNT).
func TestCallLogNamesStatus(t *testing.T) {
	fs, _ := newFS(t)
	var logs testenv.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ts := startServer(t, nfs.ServerOptions{Logger: log}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	c := dial(t, ts.addr)
	root := mount(t, c, "/a")
	_, _, err := c.Lookup(ctx(t), root, "missing")
	wantStatus(t, err, nfs.StatusNoEnt)
	_, _, err = c.Mount(ctx(t), "/missing")
	wantStatus(t, err, nfs.Status(nfs.MountNoEnt))
	for _, want := range []string{"op=LOOKUP", "status=NFS3ERR_NOENT", "op=MNT", "status=MNT3_OK", "status=MNT3ERR_NOENT"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log has no %q:\n%s", want, logs.String())
		}
	}
}

// TestRefusalLogsLimitedPerClient: the lines any host can provoke, here a
// MNT of an unknown path, are written at most once per client address in
// a while, so that one host cannot flood the log.
func TestRefusalLogsLimitedPerClient(t *testing.T) {
	fs, _ := newFS(t)
	var logs testenv.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ts := startServer(t, nfs.ServerOptions{Logger: log}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	for _, client := range []string{"127.0.0.1", "127.0.0.2"} {
		c, err := dialFrom(t, ts.addr, client+":0")
		check(t, err)
		for range 3 {
			_, _, err := c.Mount(ctx(t), "/missing")
			wantStatus(t, err, nfs.Status(nfs.MountNoEnt))
		}
	}
	if n := strings.Count(logs.String(), "mount of unknown path"); n != 2 {
		t.Fatalf("%d lines for six MNTs of an unknown path from two clients, want 2:\n%s", n, logs.String())
	}
}

func TestReadOnlyExport(t *testing.T) {
	fs, _ := newFS(t)
	cx := ctx(t)
	// Prepare content through the filesystem itself.
	f, err := fs.Create(cx, kvfs.Cred{}, kvfs.RootIno, "f", kvfs.CreateRequest{Mode: kvfs.CreateGuarded})
	check(t, err)
	_, err = fs.Write(cx, kvfs.Cred{}, f.Attr.Ino, 0, []byte("hello"))
	check(t, err)
	_, err = fs.Mkdir(cx, kvfs.Cred{}, kvfs.RootIno, "d", 0o755)
	check(t, err)

	ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "ro", Path: "/ro", FS: fs, ReadOnly: true})
	c := dial(t, ts.addr)
	root := mount(t, c, "/ro")
	fh, _, err := c.Lookup(cx, root, "f")
	check(t, err)
	r := must[nfsclient.ReadResult](t)(c.Read(cx, fh, 0, 100))
	if string(r.Data) != "hello" {
		t.Fatalf("read %q", r.Data)
	}
	got := must[uint32](t)(c.Access(cx, fh, 0x3f))
	if got&(kvfs.AccessModify|kvfs.AccessExtend|kvfs.AccessDelete) != 0 || got&kvfs.AccessRead == 0 {
		t.Fatalf("access on a read-only export: %#x", got)
	}
	sattr := nfsclient.Sattr{Mode: nfsclient.U32(0o600)}
	mutations := map[string]func() error{
		"WRITE":   func() error { _, err := c.Write(cx, fh, 0, []byte("x"), nfsclient.FileSync); return err },
		"SETATTR": func() error { _, err := c.Setattr(cx, fh, sattr, nil); return err },
		"CREATE":  func() error { _, err := c.Create(cx, root, "n", nfsclient.Unchecked, sattr, [8]byte{}); return err },
		"MKDIR":   func() error { _, err := c.Mkdir(cx, root, "n", sattr); return err },
		"SYMLINK": func() error { _, err := c.Symlink(cx, root, "n", "t", sattr); return err },
		"MKNOD":   func() error { _, err := c.Mknod(cx, root, "n", nfsclient.TypeFifo, sattr, 0, 0); return err },
		"REMOVE":  func() error { _, err := c.Remove(cx, root, "f"); return err },
		"RMDIR":   func() error { _, err := c.Rmdir(cx, root, "d"); return err },
		"RENAME":  func() error { _, err := c.Rename(cx, root, "f", root, "g"); return err },
		"LINK":    func() error { _, err := c.Link(cx, fh, root, "l"); return err },
	}
	for name, op := range mutations {
		t.Run(name, func(t *testing.T) { wantStatus(t, op(), nfs.StatusROFS) })
	}
	if ents := must[[]nfsclient.DirEntry](t)(c.ReaddirAll(cx, root, true)); len(ents) != 4 {
		t.Fatalf("read-only export changed: %d entries", len(ents))
	}
}

func TestSquash(t *testing.T) {
	tests := []struct {
		name             string
		squash           nfs.SquashMode
		anonUID, anonGID uint32
		uid, gid         uint32
		anonymous        bool
		wantUID, wantGID uint32
	}{
		{"none keeps root", nfs.SquashNone, 4000, 4001, 0, 0, false, 0, 0},
		{"root squashed", nfs.SquashRoot, 4000, 4001, 0, 0, false, 4000, 4001},
		{"root squash keeps users", nfs.SquashRoot, 4000, 4001, 1000, 100, false, 1000, 100},
		{"all squashed", nfs.SquashAll, 4000, 4001, 1000, 100, false, 4000, 4001},
		{"auth none is anonymous", nfs.SquashNone, 4000, 4001, 0, 0, true, 4000, 4001},
		// anon_uid = 0 and anon_gid = 0 are a valid configuration (squash to
		// root), not "unset": the default is filled in by package config.
		{"all squashed to anon 0", nfs.SquashAll, 0, 0, 1000, 100, false, 0, 0},
		{"auth none as anon 0", nfs.SquashNone, 0, 0, 0, 0, true, 0, 0},
		{"anon uid 0 alone", nfs.SquashAll, 0, 4001, 1000, 100, false, 0, 4001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs, _ := newFS(t)
			cx := ctx(t)
			_, err := fs.SetAttr(cx, kvfs.Cred{}, kvfs.RootIno, kvfs.SetAttrRequest{Mode: nfsclient.U32(0o777)})
			check(t, err)
			ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "s", Path: "/s", FS: fs, Squash: tt.squash, AnonUID: tt.anonUID, AnonGID: tt.anonGID})
			c := dial(t, ts.addr)
			root := mount(t, c, "/s")
			if tt.anonymous {
				c.Cred.Flavor, c.Cred.Body = 0, nil
			} else {
				c.SetAuthSys(tt.uid, tt.gid)
			}
			cr := must[nfsclient.CreateResult](t)(c.Create(cx, root, "f", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{}))
			if cr.Attr.UID != tt.wantUID || cr.Attr.GID != tt.wantGID {
				t.Fatalf("new file owned by %d:%d, want %d:%d", cr.Attr.UID, cr.Attr.GID, tt.wantUID, tt.wantGID)
			}
		})
	}
}

func TestTwoExportsIsolated(t *testing.T) {
	fsA, _ := newFS(t)
	fsB, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{},
		&nfs.Export{Name: "a", Path: "/a", FS: fsA},
		&nfs.Export{Name: "b", Path: "/b", FS: fsB})
	c := dial(t, ts.addr)
	cx := ctx(t)
	rootA, rootB := mount(t, c, "/a"), mount(t, c, "/b")
	fa := must[nfsclient.CreateResult](t)(c.Create(cx, rootA, "same", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{}))
	fb := must[nfsclient.CreateResult](t)(c.Create(cx, rootB, "same", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{}))
	must[nfsclient.WriteResult](t)(c.Write(cx, fa.FH, 0, []byte("secret of a"), nfsclient.Unstable))
	must[nfsclient.WriteResult](t)(c.Write(cx, fb.FH, 0, []byte("b"), nfsclient.Unstable))
	if bytes.Equal(fa.FH, fb.FH) {
		t.Fatalf("two exports gave the same handle")
	}
	if fa.Attr.FSID == fb.Attr.FSID {
		t.Fatalf("two exports report the same fsid")
	}
	if ents := must[[]nfsclient.DirEntry](t)(c.ReaddirAll(cx, rootB, false)); len(ents) != 3 {
		t.Fatalf("export b has %d entries", len(ents))
	}
	r := must[nfsclient.ReadResult](t)(c.Read(cx, fb.FH, 0, 100))
	if string(r.Data) != "b" {
		t.Fatalf("export b reads %q", r.Data)
	}
	// A handle of a with b's fsid names b's inode, never a's data.
	h, err := nfs.ParseHandle(fa.FH)
	check(t, err)
	h.FSID = fsB.FSID()
	if r, err := c.Read(cx, h.Bytes(), 0, 100); err == nil && bytes.Contains(r.Data, []byte("secret")) {
		t.Fatalf("forged handle read export a's data through export b")
	}
	// Cross-export RENAME and LINK are refused.
	_, err = c.Rename(cx, rootA, "same", rootB, "moved")
	wantStatus(t, err, nfs.StatusXDev)
	_, err = c.Link(cx, fa.FH, rootB, "l")
	wantStatus(t, err, nfs.StatusXDev)
}

func TestHandleChecks(t *testing.T) {
	fs, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	c := dial(t, ts.addr)
	cx := ctx(t)
	root := mount(t, c, "/a")
	f := must[nfsclient.CreateResult](t)(c.Create(cx, root, "f", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{}))
	h, err := nfs.ParseHandle(f.FH)
	check(t, err)

	wrongVersion := append([]byte(nil), f.FH...)
	wrongVersion[0] = 2
	tests := []struct {
		name string
		fh   []byte
		want nfs.Status
	}{
		{"empty", nil, nfs.StatusBadHandle},
		{"short", f.FH[:10], nfs.StatusBadHandle},
		{"long", append(append([]byte(nil), f.FH...), 0), nfs.StatusBadHandle},
		{"version", wrongVersion, nfs.StatusBadHandle},
		{"unknown fsid", nfs.Handle{FSID: fs.FSID() + 1, Ino: h.Ino, Gen: h.Gen}.Bytes(), nfs.StatusStale},
		{"wrong generation", nfs.Handle{FSID: h.FSID, Ino: h.Ino, Gen: h.Gen + 1}.Bytes(), nfs.StatusStale},
		{"no such inode", nfs.Handle{FSID: h.FSID, Ino: 1 << 40, Gen: 0}.Bytes(), nfs.StatusStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Getattr(cx, tt.fh)
			wantStatus(t, err, tt.want)
			_, _, err = c.Lookup(cx, tt.fh, "x")
			wantStatus(t, err, tt.want)
			_, err = c.Write(cx, tt.fh, 0, []byte("x"), nfsclient.Unstable)
			wantStatus(t, err, tt.want)
		})
	}
	// A removed export's handles go stale.
	ts.exports.remove("/a")
	_, err = c.Getattr(cx, root)
	wantStatus(t, err, nfs.StatusStale)
}
