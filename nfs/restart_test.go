package nfs_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// TestRestartKeepsHandlesAndSyncedData writes through one server, crashes
// the store (keeping only what is durable), opens the filesystem again
// behind a new server, and goes on with the handles of the first.
func TestRestartKeepsHandlesAndSyncedData(t *testing.T) {
	kv := kvfs.NewMemKV()
	cx := ctx(t)
	fs1, err := kvfs.Open(cx, kv, kvfs.Options{Logger: quietLogger()})
	check(t, err)
	ts1 := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: fs1})
	c1 := dial(t, ts1.addr)
	root := mount(t, c1, "/a")

	committed := must[nfsclient.CreateResult](t)(c1.Create(cx, root, "committed", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{}))
	must[nfsclient.WriteResult](t)(c1.Write(cx, committed.FH, 0, []byte("unstable then committed"), nfsclient.Unstable))
	verf1 := must[[8]byte](t)(c1.Commit(cx, committed.FH, 0, 0))
	synced := must[nfsclient.CreateResult](t)(c1.Create(cx, root, "synced", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{}))
	must[nfsclient.WriteResult](t)(c1.Write(cx, synced.FH, 0, []byte("file sync"), nfsclient.FileSync))
	d := must[nfsclient.CreateResult](t)(c1.Mkdir(cx, root, "dir", nfsclient.Sattr{}))
	must[[8]byte](t)(c1.Commit(cx, d.FH, 0, 0))

	shutdown(t, ts1.srv)
	crashed := kv.Crash()
	fs2, err := kvfs.Open(cx, crashed, kvfs.Options{Logger: quietLogger()})
	check(t, err)
	t.Cleanup(func() { fs2.Close(context.Background()) })
	if fs2.FSID() != fs1.FSID() {
		t.Fatalf("fsid changed across restart")
	}
	ts2 := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: fs2})
	c2 := dial(t, ts2.addr) // a client reconnecting, without a new MOUNT

	for fh, want := range map[string]string{string(committed.FH): "unstable then committed", string(synced.FH): "file sync"} {
		r, err := c2.Read(cx, []byte(fh), 0, 100)
		check(t, err)
		if string(r.Data) != want {
			t.Fatalf("after restart read %q, want %q", r.Data, want)
		}
	}
	fh, _, err := c2.Lookup(cx, root, "dir")
	check(t, err)
	if !bytes.Equal(fh, d.FH) {
		t.Fatalf("directory handle changed across restart")
	}
	if ts2.srv.WriteVerifier(ts2.exports.list[0]) == verf1 {
		t.Fatalf("write verifier unchanged across restart: clients would not resend")
	}
}

func shutdown(t *testing.T, srv *nfs.Server) {
	t.Helper()
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	check(t, srv.Shutdown(c))
}

func TestStrictSync(t *testing.T) {
	for _, strict := range []bool{false, true} {
		fs, kv := newFS(t)
		ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: fs, StrictSync: strict})
		c := dial(t, ts.addr)
		cx := ctx(t)
		root := mount(t, c, "/a")
		ops := []struct {
			name string
			do   func() error
		}{
			{"CREATE", func() error {
				_, err := c.Create(cx, root, "f", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{})
				return err
			}},
			{"MKDIR", func() error { _, err := c.Mkdir(cx, root, "d", nfsclient.Sattr{}); return err }},
			{"SYMLINK", func() error { _, err := c.Symlink(cx, root, "s", "f", nfsclient.Sattr{}); return err }},
			{"MKNOD", func() error {
				_, err := c.Mknod(cx, root, "p", nfsclient.TypeFifo, nfsclient.Sattr{}, 0, 0)
				return err
			}},
			{"SETATTR", func() error {
				_, err := c.Setattr(cx, root, nfsclient.Sattr{Mode: nfsclient.U32(0o700)}, nil)
				return err
			}},
			{"RENAME", func() error { _, err := c.Rename(cx, root, "f", root, "g"); return err }},
			{"LINK", func() error {
				fh, _, err := c.Lookup(cx, root, "g")
				if err == nil {
					_, err = c.Link(cx, fh, root, "h")
				}
				return err
			}},
			{"REMOVE", func() error { _, err := c.Remove(cx, root, "h"); return err }},
			{"RMDIR", func() error { _, err := c.Rmdir(cx, root, "d"); return err }},
		}
		for _, op := range ops {
			check(t, op.do())
			if pending := kv.Pending(); strict && pending != 0 {
				t.Fatalf("strict: %s replied before its change was durable (%d batches pending)", op.name, pending)
			} else if !strict && pending == 0 {
				t.Fatalf("relaxed: %s flushed on its own", op.name)
			}
			if !strict {
				check(t, kv.Flush(cx))
			}
		}
	}
}

// TestWriteVerifierPerExport checks that each export answers WRITE and
// COMMIT with its own verifier, and that an export replaced under the same
// FSID by one with another WriteVerifier (its storage reopened) answers the
// new one, so that a client resends its uncommitted writes.
func TestWriteVerifierPerExport(t *testing.T) {
	cx := ctx(t)
	fsA, _ := newFS(t)
	fsB, _ := newFS(t)
	a := &nfs.Export{Name: "a", Path: "/a", FS: fsA, WriteVerifier: [8]byte{1, 2, 3}}
	b := &nfs.Export{Name: "b", Path: "/b", FS: fsB, WriteVerifier: [8]byte{4, 5, 6}}
	ts := startServer(t, nfs.ServerOptions{}, a, b)
	c := dial(t, ts.addr)
	verfs := map[string][8]byte{}
	files := map[string][]byte{}
	for _, e := range []*nfs.Export{a, b} {
		root := mount(t, c, e.Path)
		f := must[nfsclient.CreateResult](t)(c.Create(cx, root, "f", nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{}))
		w := must[nfsclient.WriteResult](t)(c.Write(cx, f.FH, 0, []byte("data"), nfsclient.Unstable))
		if w.Verf != ts.srv.WriteVerifier(e) {
			t.Fatalf("%s: WRITE verifier %x, want %x", e.Name, w.Verf, ts.srv.WriteVerifier(e))
		}
		if v := must[[8]byte](t)(c.Commit(cx, f.FH, 0, 0)); v != w.Verf {
			t.Fatalf("%s: COMMIT verifier %x, WRITE's %x", e.Name, v, w.Verf)
		}
		verfs[e.Name], files[e.Name] = w.Verf, f.FH
	}
	if verfs["a"] == verfs["b"] {
		t.Fatalf("two exports with different WriteVerifiers answer the same verifier %x", verfs["a"])
	}

	// Export a's storage is reopened: same FS id, new WriteVerifier.
	reopened := *a
	reopened.WriteVerifier = [8]byte{7, 8, 9}
	ts.exports.mu.Lock()
	ts.exports.list[0] = &reopened
	ts.exports.mu.Unlock()
	v := must[[8]byte](t)(c.Commit(cx, files["a"], 0, 0))
	if v == verfs["a"] {
		t.Fatalf("COMMIT after the export's storage was reopened answers the old verifier %x: the client would not resend", v)
	}
	w := must[nfsclient.WriteResult](t)(c.Write(cx, files["a"], 0, []byte("more"), nfsclient.FileSync))
	if w.Verf != v {
		t.Fatalf("WRITE and COMMIT disagree after the reopen: %x and %x", w.Verf, v)
	}
	if v := must[[8]byte](t)(c.Commit(cx, files["b"], 0, 0)); v != verfs["b"] {
		t.Fatalf("export b's verifier changed when a's storage was reopened: %x, was %x", v, verfs["b"])
	}
}
