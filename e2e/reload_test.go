package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/s3proxy"
	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// TestReload changes the config of a running daemon with SIGHUP: a new export
// appears, a removed one is flushed and closed, a broken config is refused
// while the old exports keep serving.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	d := newDaemon(t, dir, []exportSpec{
		{Name: "team-a", Store: "file://" + filepath.Join(dir, "team-a"), Extra: `squash = "none"`},
		{Name: "team-b", Store: "file://" + filepath.Join(dir, "team-b"), Extra: `squash = "none"`},
	})
	d.Start()
	b, _ := mountGo(t, d.addr, "/team-b")
	writeFile(t, b, "kept.txt", []byte("team-b data"))

	original, err := os.ReadFile(d.config)
	if err != nil {
		t.Fatal(err)
	}
	// Drop team-b, add team-c.
	cfg := string(original)
	cut := strings.Index(cfg, "[[exports]]\nname = \"team-b\"")
	if cut < 0 {
		t.Fatalf("unexpected generated config:\n%s", cfg)
	}
	next := cfg[:cut] + fmt.Sprintf("[[exports]]\nname = \"team-c\"\npath = \"/team-c\"\nstore = %q\nsquash = \"none\"\n",
		"file://"+filepath.Join(dir, "team-c"))
	hup(t, d, next, "config reloaded")

	if _, err := mountGoQuiet(d.addr, "/team-b"); err == nil {
		t.Fatalf("/team-b is still mountable after it was removed from the config")
	}
	c, _ := mountGo(t, d.addr, "/team-c")
	writeFile(t, c, "new.txt", []byte("team-c data"))
	a, _ := mountGo(t, d.addr, "/team-a")
	writeFile(t, a, "a.txt", []byte("team-a still serves"))

	// A broken config is refused; the running exports keep serving.
	hup(t, d, next+"\nbogus_key = 1\n", "reload refused")
	if got := string(readFile(t, c, "new.txt")); got != "team-c data" {
		t.Fatalf("team-c after a refused reload: %q", got)
	}

	// team-b comes back with its data: it was flushed and closed cleanly.
	hup(t, d, cfg, "config reloaded")
	b2, _ := mountGo(t, d.addr, "/team-b")
	if got := string(readFile(t, b2, "kept.txt")); got != "team-b data" {
		t.Fatalf("team-b after being removed and added again: %q", got)
	}
	d.Stop()
}

// hup writes a new config, sends SIGHUP and waits for a log line.
func hup(t *testing.T, d *daemon, config, want string) {
	t.Helper()
	before := strings.Count(d.Logs(), want)
	if err := os.WriteFile(d.config, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Send(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitLogCount(t, d, want, before)
}

// waitLogCount waits until the log holds want more than n times.
func waitLogCount(t *testing.T, d *daemon, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Count(d.Logs(), want) > n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %q in the log:\n%s", want, tail(d.Logs(), 30))
}

// TestReloadWhileStarting sends SIGHUP while the exports are still opening
// (on a store that answers each request half a second late): the daemon is
// not killed, serves once the exports are open, and applies the reload then.
func TestReloadWhileStarting(t *testing.T) {
	env := testenv.S3(t)
	lat, err := s3proxy.ParseLatency("get=500ms,put=500ms")
	if err != nil {
		t.Fatal(err)
	}
	p, err := s3proxy.Start(s3proxy.Options{Upstream: env.Endpoint, Latency: lat})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	slow := env
	slow.Endpoint = p.Endpoint()
	dir := t.TempDir()
	d := newDaemon(t, dir, []exportSpec{{Name: "slow", Store: "s3://" + env.Bucket + "/slow", Extra: s3ExportExtra(slow)}})
	d.Launch()
	waitLogCount(t, d, `msg="zerofsd starting"`, 0)
	if err := d.Send(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(d.Logs(), "msg=listening") {
		t.Fatalf("the daemon served before the SIGHUP: its store was not slow enough to test a SIGHUP while starting")
	}
	d.WaitListening()
	waitLogCount(t, d, "SIGHUP received while starting", 0)
	waitLogCount(t, d, "config reloaded", 0)
	m, _ := mountGo(t, d.addr, "/slow")
	writeFile(t, m, "after.txt", []byte("served after a SIGHUP while starting"))
	if got := string(readFile(t, m, "after.txt")); got != "served after a SIGHUP while starting" {
		t.Fatalf("read back %q", got)
	}
	d.Stop()
}

// reloadLSM makes the WAL wait up to a minute while writes flow, so that
// writes made just before a reload are acknowledged and not yet durable.
const reloadLSM = "[lsm]\nflush_interval = \"1m\"\n"

// unflushedFile is a file written UNSTABLE and never committed.
type unflushedFile struct {
	name string // path from the export's root
	fh   []byte
	data string
}

// writeUnflushed makes a directory tag and files in it through m, with
// UNSTABLE writes and no COMMIT: metadata and data acknowledged, not yet
// durable (sync = "commit"). It returns the files and the WRITE verifier.
func writeUnflushed(t *testing.T, m *suiteMount, tag string) ([]unflushedFile, [8]byte) {
	t.Helper()
	ctx := stepContext(t)
	dir, err := m.c.Mkdir(ctx, m.root, tag, nfsclient.Sattr{Mode: nfsclient.U32(0o755)})
	if err != nil {
		t.Fatalf("MKDIR %s: %v", tag, err)
	}
	var files []unflushedFile
	var verf [8]byte
	for i := range 4 {
		name := fmt.Sprintf("f%d", i)
		fh, err := suiteCreate(ctx, m.c, dir.FH, name)
		if err != nil {
			t.Fatal(err)
		}
		data := fmt.Sprintf("%s/%s: acknowledged UNSTABLE, never committed", tag, name)
		r, err := m.c.Write(ctx, fh, 0, []byte(data), nfsclient.Unstable)
		if err != nil {
			t.Fatalf("WRITE %s/%s: %v", tag, name, err)
		}
		verf = r.Verf
		files = append(files, unflushedFile{name: tag + "/" + name, fh: fh, data: data})
	}
	return files, verf
}

// checkUnflushed finds every file by name, with its old handle, and reads
// its data through the handle.
func checkUnflushed(t *testing.T, m *suiteMount, files []unflushedFile) {
	t.Helper()
	ctx := stepContext(t)
	for _, f := range files {
		fh, err := lookupPath(ctx, m, f.name)
		if err != nil {
			t.Fatalf("%s: %v (an acknowledged create was lost)", f.name, err)
		}
		if !bytes.Equal(fh, f.fh) {
			t.Fatalf("%s: its handle changed", f.name)
		}
		got, err := suiteReadAll(ctx, m.c, f.fh)
		if err != nil || string(got) != f.data {
			t.Fatalf("%s reads %q, %v; want %q (an acknowledged write was lost)", f.name, got, err, f.data)
		}
	}
}

// commitMore writes one more file through m and commits it, returning the
// COMMIT verifier.
func commitMore(t *testing.T, m *suiteMount, name string) [8]byte {
	t.Helper()
	ctx := stepContext(t)
	fh, err := suiteCreate(ctx, m.c, m.root, name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.c.Write(ctx, fh, 0, []byte(name), nfsclient.Unstable); err != nil {
		t.Fatalf("WRITE %s: %v", name, err)
	}
	verf, err := m.c.Commit(ctx, fh, 0, 0)
	if err != nil {
		t.Fatalf("COMMIT %s: %v", name, err)
	}
	return verf
}

// manifests lists the manifest objects of a file store: a new writer (a
// fence) adds one.
func manifests(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "manifest"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

// TestReloadKeepsUnflushedWrites changes an export's name, mount path,
// options, S3 credentials or S3 endpoint on a running daemon, just after
// writes it acknowledged but did not make durable: the reload keeps the
// export's open database, so nothing is lost, the write verifier stays, and
// fsck is clean after a clean stop.
func TestReloadKeepsUnflushedWrites(t *testing.T) {
	// change is what a case does to team-a: its new spec, whether it is now
	// read-only, and hooks run right after the reload and at the end.
	type change struct {
		spec       exportSpec
		readOnly   bool
		postReload func()
		verify     func()
	}
	tests := []struct {
		name   string
		s3     bool
		change func(t *testing.T, spec exportSpec, env testenv.S3Env, oldKey testenv.S3Account) change
	}{
		{"rename", false, func(t *testing.T, spec exportSpec, _ testenv.S3Env, _ testenv.S3Account) change {
			spec.Name, spec.Path = "renamed", "/team-a"
			return change{spec: spec}
		}},
		{"mount path", false, func(t *testing.T, spec exportSpec, _ testenv.S3Env, _ testenv.S3Account) change {
			spec.Path = "/moved"
			return change{spec: spec}
		}},
		{"options", false, func(t *testing.T, spec exportSpec, _ testenv.S3Env, _ testenv.S3Account) change {
			spec.Extra = "read_only = true\nsquash = \"all\"\nanon_uid = 1000\nanon_gid = 1000\nsync = \"strict\"\nsize_limit_gb = 1\ninode_cache_entries = 10\n"
			return change{spec: spec, readOnly: true}
		}},
		{"s3 credential rotation", true, func(t *testing.T, spec exportSpec, env testenv.S3Env, oldKey testenv.S3Account) change {
			acct := testenv.NewS3Account(t)
			env.AccessKeyID, env.SecretAccessKey = acct.AccessKeyID, acct.SecretAccessKey
			spec.Extra = s3ExportExtra(env)
			// Requests from now on must use the new key.
			return change{spec: spec, postReload: func() { oldKey.Revoke(t) }}
		}},
		{"s3 endpoint", true, func(t *testing.T, spec exportSpec, env testenv.S3Env, _ testenv.S3Account) change {
			p := startFaultProxy(t, env.Endpoint, 1, s3proxy.Rates{})
			env.Endpoint = p.Endpoint()
			spec.Extra = s3ExportExtra(env)
			return change{spec: spec, verify: func() {
				if p.Requests() == 0 {
					t.Errorf("the new endpoint saw no request after the reload")
				}
			}}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			spec := exportSpec{Name: "team-a", Store: "file://" + filepath.Join(dir, "a"), Extra: `squash = "none"`}
			var env testenv.S3Env
			var oldKey testenv.S3Account
			if tc.s3 {
				env = testenv.S3(t)
				oldKey = testenv.NewS3Account(t)
				env.AccessKeyID, env.SecretAccessKey = oldKey.AccessKeyID, oldKey.SecretAccessKey
				spec.Store, spec.Extra = "s3://"+env.Bucket+"/exports/a", s3ExportExtra(env)
			}
			other := exportSpec{Name: "team-b", Store: "file://" + filepath.Join(dir, "b"), Extra: `squash = "none"`}
			cfg := suiteConfig{Global: reloadLSM, Exports: []exportSpec{spec, other}}
			d := newSuiteDaemon(t, dir, cfg)
			d.Start()
			m := suiteMustDial(t, d.addr, "/team-a")
			files, verf := writeUnflushed(t, m, "before")
			bFiles, _ := writeUnflushed(t, suiteMustDial(t, d.addr, "/team-b"), "other")

			ch := tc.change(t, spec, env, oldKey)
			cfg.Exports = []exportSpec{ch.spec, other}
			hup(t, d, suiteConfigTOML(dir, d.addr, cfg), "config reloaded")
			if ch.postReload != nil {
				ch.postReload()
			}
			path := ch.spec.Path
			if path == "" {
				path = "/" + ch.spec.Name
			}
			m2 := suiteMustDial(t, d.addr, path)
			checkUnflushed(t, m2, files)
			checkUnflushed(t, m, files) // the old connection, through its handles
			ctx := stepContext(t)
			if got, err := m2.c.Commit(ctx, files[0].fh, 0, 0); err != nil || got != verf {
				t.Fatalf("COMMIT after the reload: verifier %x (WRITE's %x), %v: the database was reopened", got, verf, err)
			}
			if ch.readOnly {
				_, err := m2.c.Create(ctx, m2.root, "refused", 0, nfsclient.Sattr{}, [8]byte{})
				if suiteStatus(err) != uint32(nfs.StatusROFS) {
					t.Fatalf("CREATE after read_only = true: %v, want NFS3ERR_ROFS", err)
				}
			} else {
				commitMore(t, m2, "after-reload")
			}
			if ch.verify != nil {
				ch.verify()
			}
			if strings.Contains(d.Logs(), "FENCED") {
				t.Fatalf("the daemon fenced itself:\n%s", tail(d.Logs(), 30))
			}
			d.Stop()
			suiteFsck(t, d, ch.spec.Name, other.Name)
			d.Start()
			checkUnflushed(t, suiteMustDial(t, d.addr, path), files)
			checkUnflushed(t, suiteMustDial(t, d.addr, "/team-b"), bFiles)
			d.Stop()
		})
	}
}

// TestReloadRefusedKeepsServing refuses a config whose last export cannot
// open, after a renamed one: the running export keeps serving unfenced (no
// new manifest in its store), its unflushed writes survive, and it still
// commits new ones.
func TestReloadRefusedKeepsServing(t *testing.T) {
	dir := t.TempDir()
	storeA := filepath.Join(dir, "a")
	spec := exportSpec{Name: "team-a", Store: "file://" + storeA, Extra: `squash = "none"`}
	cfg := suiteConfig{Global: reloadLSM, Exports: []exportSpec{spec}}
	d := newSuiteDaemon(t, dir, cfg)
	d.Start()
	m := suiteMustDial(t, d.addr, "/team-a")
	files, verf := writeUnflushed(t, m, "before")
	before := manifests(t, storeA)

	renamed := spec
	renamed.Name, renamed.Path = "team-x", "/team-x"
	broken := exportSpec{Name: "broken", Store: "file://" + filepath.Join(dir, "empty"), Extra: "read_only = true"}
	next := cfg
	next.Exports = []exportSpec{renamed, broken}
	hup(t, d, suiteConfigTOML(dir, d.addr, next), "reload failed")
	if got := manifests(t, storeA); !slices.Equal(got, before) {
		t.Fatalf("the refused reload wrote manifests %v (was %v): a second writer fenced the running one", got, before)
	}
	if !strings.Contains(d.Logs(), "holds no filesystem yet") {
		t.Fatalf("the log does not say why the reload failed:\n%s", tail(d.Logs(), 20))
	}
	if _, err := suiteDial(stepContext(t), d.addr, "/team-x"); err == nil {
		t.Fatalf("/team-x is served although the reload was refused")
	}
	checkUnflushed(t, m, files)
	if got := commitMore(t, m, "after-refused"); got != verf {
		t.Fatalf("verifier %x after a refused reload, was %x", got, verf)
	}
	hup(t, d, suiteConfigTOML(dir, d.addr, cfg), "config reloaded") // the file back as it was
	d.Stop()
	suiteFsck(t, d, "team-a")
	d.Start()
	checkUnflushed(t, suiteMustDial(t, d.addr, "/team-a"), files)
	d.Stop()
}

// TestReloadSwapsStores gives two exports each other's store: both open
// databases are kept, handles follow their store, nothing unflushed is lost.
func TestReloadSwapsStores(t *testing.T) {
	dir := t.TempDir()
	a := exportSpec{Name: "team-a", Store: "file://" + filepath.Join(dir, "A"), Extra: `squash = "none"`}
	b := exportSpec{Name: "team-b", Store: "file://" + filepath.Join(dir, "B"), Extra: `squash = "none"`}
	cfg := suiteConfig{Global: reloadLSM, Exports: []exportSpec{a, b}}
	d := newSuiteDaemon(t, dir, cfg)
	d.Start()
	filesA, verfA := writeUnflushed(t, suiteMustDial(t, d.addr, "/team-a"), "in-A")
	filesB, verfB := writeUnflushed(t, suiteMustDial(t, d.addr, "/team-b"), "in-B")

	a.Store, b.Store = b.Store, a.Store
	cfg.Exports = []exportSpec{a, b}
	hup(t, d, suiteConfigTOML(dir, d.addr, cfg), "config reloaded")
	ma, mb := suiteMustDial(t, d.addr, "/team-a"), suiteMustDial(t, d.addr, "/team-b")
	checkUnflushed(t, ma, filesB) // team-a now serves store B
	checkUnflushed(t, mb, filesA)
	ctx := stepContext(t)
	for _, c := range []struct {
		f    unflushedFile
		want [8]byte
	}{{filesA[0], verfA}, {filesB[0], verfB}} {
		if got, err := ma.c.Commit(ctx, c.f.fh, 0, 0); err != nil || got != c.want {
			t.Fatalf("COMMIT %s: verifier %x, %v; want %x (its store's database kept)", c.f.name, got, err, c.want)
		}
	}
	d.Stop()
	suiteFsck(t, d, "team-a", "team-b")
	d.Start()
	checkUnflushed(t, suiteMustDial(t, d.addr, "/team-a"), filesB)
	checkUnflushed(t, suiteMustDial(t, d.addr, "/team-b"), filesA)
	d.Stop()
}

// TestReloadReadOnlyBesideWriter serves one store from two daemons: a writer,
// and a read_only export in the other. The reader fences nothing and writes
// no manifest; the writer keeps committing.
func TestReloadReadOnlyBesideWriter(t *testing.T) {
	base := t.TempDir()
	store := filepath.Join(base, "shared")
	spec := exportSpec{Name: "shared", Store: "file://" + store, Extra: `squash = "none"`}
	w := newSuiteDaemon(t, filepath.Join(base, "w"), suiteConfig{Exports: []exportSpec{spec}})
	w.Start()
	mw := suiteMustDial(t, w.addr, "/shared")
	commitMore(t, mw, "committed-before")
	before := manifests(t, store)

	ro := spec
	ro.Extra += "\nread_only = true"
	r := newSuiteDaemon(t, filepath.Join(base, "r"), suiteConfig{Exports: []exportSpec{ro}})
	r.Start()
	mr := suiteMustDial(t, r.addr, "/shared")
	ctx := stepContext(t)
	fh, _, err := mr.c.Lookup(ctx, mr.root, "committed-before")
	if err != nil {
		t.Fatalf("the read-only export does not see the writer's committed file: %v", err)
	}
	if got, err := suiteReadAll(ctx, mr.c, fh); err != nil || string(got) != "committed-before" {
		t.Fatalf("read-only export reads %q, %v", got, err)
	}
	if _, err := mr.c.Create(ctx, mr.root, "refused", 0, nfsclient.Sattr{}, [8]byte{}); suiteStatus(err) != uint32(nfs.StatusROFS) {
		t.Fatalf("CREATE on the read-only export: %v, want NFS3ERR_ROFS", err)
	}
	if got := manifests(t, store); !slices.Equal(got, before) {
		t.Fatalf("starting a read-only export wrote manifests %v (was %v)", got, before)
	}
	commitMore(t, mw, "committed-after") // the writer was not fenced
	if strings.Contains(w.Logs(), "FENCED") {
		t.Fatalf("the writer was fenced by a read-only export:\n%s", tail(w.Logs(), 20))
	}
	r.Stop()
	w.Stop()
}
