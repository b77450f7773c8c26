package exports_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zerofs-go/zerofsd/cache"
	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/crypt"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
	"github.com/zerofs-go/zerofsd/objstore"
)

// cryptEnv is one test's config, stores and cache on disk.
type cryptEnv struct {
	t        *testing.T
	dir      string
	cacheDir string
	env      map[string]string
	logs     *testenv.SyncBuffer
	log      *slog.Logger
	// openStore, when set, opens the exports' stores (Options.OpenStore).
	openStore func(ctx context.Context, ec config.Export) (objstore.Store, error)
}

func newCryptEnv(t *testing.T) *cryptEnv {
	dir := t.TempDir()
	logs := &testenv.SyncBuffer{}
	return &cryptEnv{t: t, dir: dir, cacheDir: filepath.Join(dir, "cache"), env: map[string]string{}, logs: logs,
		log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))}
}

// keyFile writes a key file (64 hex digits of b) and returns its path.
func (e *cryptEnv) keyFile(name string, b byte) string {
	path := filepath.Join(e.dir, name)
	if err := os.WriteFile(path, []byte(strings.Repeat(fmt.Sprintf("%02x", b), crypt.KeyLen)+"\n"), 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

// config loads a config of the given exports (TOML) with e's environment.
func (e *cryptEnv) config(exportsTOML string) *config.Config {
	e.t.Helper()
	path := filepath.Join(e.dir, "zerofs.toml")
	content := fmt.Sprintf("[cache]\ndir = %q\nsize_gb = 1\n", e.cacheDir) + exportsTOML
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		e.t.Fatal(err)
	}
	cfg, err := config.Load(path, func(k string) (string, bool) { v, ok := e.env[k]; return v, ok })
	if err != nil {
		e.t.Fatal(err)
	}
	return cfg
}

// served is a registry behind an NFS server on loopback, and a client.
type served struct {
	reg  *exports.Registry
	disk *cache.Disk
	srv  *nfs.Server
	c    *nfsclient.Client
}

// serve opens cfg's exports (with a disk cache unless noCache) and serves them.
func (e *cryptEnv) serve(cfg *config.Config, noCache bool) (*served, error) {
	ctx := context.Background()
	s := &served{}
	if !noCache {
		disk, err := cache.OpenDisk(e.cacheDir, 1<<30, e.log)
		if err != nil {
			return nil, err
		}
		s.disk = disk
	}
	reg, err := exports.Open(ctx, cfg, exports.Options{DiskCache: s.disk, Logger: e.log, OpenStore: e.openStore})
	if err != nil {
		if s.disk != nil {
			s.disk.Close()
		}
		return nil, err
	}
	s.reg = reg
	s.srv, err = nfs.NewServer(nfs.ServerOptions{Exports: reg, Logger: e.log})
	if err != nil {
		e.t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	go s.srv.Serve(ctx, ln)
	s.c, err = nfsclient.Dial(ctx, ln.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	return s, nil
}

func (e *cryptEnv) mustServe(cfg *config.Config, noCache bool) *served {
	e.t.Helper()
	s, err := e.serve(cfg, noCache)
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func (s *served) close(t *testing.T) {
	ctx := context.Background()
	s.c.Close()
	_ = s.srv.Shutdown(ctx)
	if err := s.reg.Close(ctx); err != nil {
		t.Errorf("closing the registry: %v", err)
	}
	if s.disk != nil {
		s.disk.Close()
	}
}

func (s *served) mount(t *testing.T, path string) []byte {
	t.Helper()
	root, _, err := s.c.Mount(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// Known names and contents: what must never appear in the bucket or cache.
const (
	secretDir    = "confidential-projects-dir"
	secretName   = "quarterly-secret-name-%02d.txt"
	secretMarker = "PLAINTEXT-MARKER-%02d|"
	secretFiles  = 12
)

func secretContent(i int) []byte {
	n := 300
	if i%3 == 0 {
		n = 150 << 10 // several chunks
	}
	marker := fmt.Sprintf(secretMarker, i)
	return bytes.Repeat([]byte(marker), n/len(marker)+1)[:n]
}

// writeSecrets creates a directory of files with known names and contents
// through NFS and commits them.
func writeSecrets(t *testing.T, c *nfsclient.Client, root []byte) {
	ctx := context.Background()
	dir, err := c.Mkdir(ctx, root, secretDir, nfsclient.Sattr{Mode: nfsclient.U32(0o755)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range secretFiles {
		f, err := c.Create(ctx, dir.FH, fmt.Sprintf(secretName, i), nfsclient.Unchecked, nfsclient.Sattr{Mode: nfsclient.U32(0o644)}, [8]byte{})
		if err != nil {
			t.Fatal(err)
		}
		data := secretContent(i)
		for off := 0; off < len(data); off += 64 << 10 {
			if _, err := c.Write(ctx, f.FH, uint64(off), data[off:min(len(data), off+64<<10)], nfsclient.Unstable); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Commit(ctx, f.FH, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
}

// readSecrets reads every file back through NFS and checks its contents.
// It returns the first error of a READ (or LOOKUP); wrong data fails the test.
func readSecrets(t *testing.T, c *nfsclient.Client, root []byte) error {
	ctx := context.Background()
	dir, _, err := c.Lookup(ctx, root, secretDir)
	if err != nil {
		return err
	}
	for i := range secretFiles {
		fh, _, err := c.Lookup(ctx, dir, fmt.Sprintf(secretName, i))
		if err != nil {
			return err
		}
		want := secretContent(i)
		var got []byte
		for {
			r, err := c.Read(ctx, fh, uint64(len(got)), 64<<10)
			if err != nil {
				return err
			}
			if !bytes.Equal(r.Data, want[len(got):len(got)+len(r.Data)]) {
				t.Fatalf("file %d: READ at %d returned wrong data", i, len(got))
			}
			got = append(got, r.Data...)
			if r.EOF || len(r.Data) == 0 {
				break
			}
		}
		if len(got) != len(want) {
			t.Fatalf("file %d: read %d bytes, want %d", i, len(got), len(want))
		}
	}
	return nil
}

// needles are byte strings whose presence in the bucket or the cache would
// reveal what the export holds: file names, contents, kvfs records.
func needles() map[string][]byte {
	n := map[string][]byte{
		"directory name":   []byte(secretDir),
		"file name":        []byte("quarterly-secret"),
		"content":          []byte("PLAINTEXT-MARKER"),
		"format record":    []byte("format"),
		"inode allocation": []byte("nextino"),
		"root inode key":   {0x01, 0, 0, 0, 0, 0, 0, 0, 1},
	}
	return n
}

// blob is one object of the bucket or one file of the cache.
type blob struct {
	where string
	data  []byte
}

func dirBlobs(t *testing.T, root, label string) []blob {
	var out []blob
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		out = append(out, blob{label + " " + rel, data})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func storeBlobs(t *testing.T, store objstore.Store, label string) []blob {
	ctx := context.Background()
	objs, err := objstore.ListAll(ctx, store, "")
	if err != nil {
		t.Fatal(err)
	}
	var out []blob
	for _, o := range objs {
		data, err := store.Get(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, blob{label + " " + o.Key, data})
	}
	return out
}

// found returns, for each needle found, where.
func found(blobs []blob) map[string]string {
	out := map[string]string{}
	for name, n := range needles() {
		for _, b := range blobs {
			if bytes.Contains(b.data, n) {
				out[name] = b.where
				break
			}
		}
	}
	return out
}

// TestEncryptedExportRevealsNothing writes files with known names and
// contents through NFS, restarts, reads them back (filling the disk cache),
// and then scans every object in the bucket and every file of the disk
// cache: with encryption nothing of the names, contents or kvfs records is
// there. The same run without encryption finds them, which shows the scan
// would see them.
func TestEncryptedExportRevealsNothing(t *testing.T) {
	type variant struct {
		name      string
		encrypted bool
		s3        bool
	}
	for _, v := range []variant{{"file", true, false}, {"s3", true, true}, {"file unencrypted control", false, false}} {
		t.Run(v.name, func(t *testing.T) {
			e := newCryptEnv(t)
			var store, extra string
			var raw func() objstore.Store
			if v.s3 {
				env := testenv.S3(t)
				store = "s3://" + env.Bucket + "/team"
				extra = fmt.Sprintf("[exports.s3]\nendpoint = %q\naccess_key_id = %q\nsecret_access_key = %q\nregion = %q\nallow_http = true\n",
					env.Endpoint, env.AccessKeyID, env.SecretAccessKey, env.Region)
				raw = func() objstore.Store {
					s, err := objstore.NewS3(context.Background(), env.Options())
					if err != nil {
						t.Fatal(err)
					}
					return s
				}
			} else {
				dir := filepath.Join(e.dir, "store")
				store = "file://" + dir
				raw = func() objstore.Store {
					s, err := objstore.NewLocal(dir)
					if err != nil {
						t.Fatal(err)
					}
					return s
				}
			}
			enc := ""
			if v.encrypted {
				enc = fmt.Sprintf("encryption = true\nkey_file = %q\n", e.keyFile("team.key", 0x5a))
			}
			cfg := e.config(fmt.Sprintf("[[exports]]\nname = \"team\"\npath = \"/team\"\nstore = %q\nsquash = \"none\"\n%s%s", store, enc, extra))

			s := e.mustServe(cfg, false)
			writeSecrets(t, s.c, s.mount(t, "/team"))
			s.close(t) // writes the memtables out as SSTs

			s = e.mustServe(cfg, false)
			if err := readSecrets(t, s.c, s.mount(t, "/team")); err != nil {
				t.Fatal(err)
			}
			stats := s.disk.Stats()
			s.close(t)

			bucket := storeBlobs(t, raw(), "object")
			cached := dirBlobs(t, e.cacheDir, "cache file")
			if stats.Fetches == 0 || len(cached) < 2 {
				t.Fatalf("the reads did not go through the disk cache (%d fetches, %d cache files)", stats.Fetches, len(cached))
			}
			got := found(append(bucket, cached...))
			t.Logf("%d objects, %d cache files scanned", len(bucket), len(cached))
			if v.encrypted {
				for name, where := range got {
					t.Errorf("%s found in the clear in %s", name, where)
				}
				return
			}
			// Control: without encryption the names and contents are
			// there, in the bucket and in the cache.
			for _, name := range []string{"directory name", "file name", "content", "format record"} {
				if got[name] == "" {
					t.Errorf("control: %s not found without encryption: the scan cannot see plaintext", name)
				}
			}
			if cachedFound := found(cached); cachedFound["content"] == "" {
				t.Errorf("control: no content in the cache files without encryption")
			}
		})
	}
}

// encryptedExport is the TOML of one encrypted export on a local directory.
func encryptedExport(name, dir, keyFile string) string {
	return fmt.Sprintf("[[exports]]\nname = %q\npath = \"/%s\"\nstore = \"file://%s\"\nsquash = \"none\"\nencryption = true\nkey_file = %q\n", name, name, dir, keyFile)
}

// TestTamperedObjectAnswersEIO damages one byte of the object holding the
// file data (a WAL object, which SSTs point into): reading the files
// through NFS must answer NFS3ERR_IO for what it covers (never wrong data)
// and log the object's name; a damaged manifest, or one copied from another
// export, stops the open with an error naming it.
func TestTamperedObjectAnswersEIO(t *testing.T) {
	e := newCryptEnv(t)
	storeDir := filepath.Join(e.dir, "store")
	// Uncompressed, so that the damage lands in file data, not in metadata
	// read at open.
	cfg := e.config(encryptedExport("team", storeDir, e.keyFile("team.key", 1)) + "compression = \"none\"\n")
	cfg.Cache.MemoryMB = 0 // no block cache: reads go to the store every time

	s := e.mustServe(cfg, true)
	writeSecrets(t, s.c, s.mount(t, "/team"))
	s.close(t)

	// The largest object holds the file data: a WAL object the SSTs
	// point into.
	var sst string
	var size int64
	objects, _ := filepath.Glob(filepath.Join(storeDir, "*", "*.sst"))
	for _, p := range objects {
		if fi, err := os.Stat(p); err == nil && fi.Size() > size {
			sst, size = p, fi.Size()
		}
	}
	if sst == "" {
		t.Fatal("no SST or WAL object in the store")
	}
	orig, _ := os.ReadFile(sst)
	bad := bytes.Clone(orig)
	bad[len(bad)/2] ^= 0x10
	if err := os.WriteFile(sst, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	s = e.mustServe(cfg, true)
	err := readSecrets(t, s.c, s.mount(t, "/team"))
	s.close(t)
	var se *nfsclient.StatusError
	if !errors.As(err, &se) || se.Status != uint32(nfs.StatusIO) {
		t.Fatalf("reading over a damaged SST: %v, want NFS3ERR_IO", err)
	}
	name := filepath.Base(filepath.Dir(sst)) + "/" + filepath.Base(sst)
	if logs := e.logs.String(); !strings.Contains(logs, name) || !strings.Contains(logs, "failed authentication") {
		t.Fatalf("the log does not name the damaged object %s:\n%s", name, logs)
	}
	if err := os.WriteFile(sst, orig, 0o644); err != nil {
		t.Fatal(err)
	}

	// A damaged manifest: the open fails, naming it.
	manifests, _ := filepath.Glob(filepath.Join(storeDir, "manifest", "*.manifest"))
	latest := manifests[len(manifests)-1]
	origManifest, _ := os.ReadFile(latest)
	damaged := bytes.Clone(origManifest)
	damaged[len(damaged)-3] ^= 1
	_ = os.WriteFile(latest, damaged, 0o644)
	_, err = e.serve(cfg, true)
	if !errors.Is(err, crypt.ErrTampered) || !strings.Contains(err.Error(), "manifest/"+filepath.Base(latest)) {
		t.Fatalf("open over a damaged manifest: %v, want crypt.ErrTampered naming it", err)
	}

	// The same manifest name copied from another export (another key).
	otherDir := filepath.Join(e.dir, "other")
	other := e.config(encryptedExport("other", otherDir, e.keyFile("other.key", 2)))
	s = e.mustServe(other, true)
	s.close(t)
	s = e.mustServe(other, true) // a few more manifests
	s.close(t)
	foreign, err := os.ReadFile(filepath.Join(otherDir, "manifest", filepath.Base(latest)))
	if err != nil {
		t.Fatalf("the other export has no manifest %s: %v", filepath.Base(latest), err)
	}
	_ = os.WriteFile(latest, foreign, 0o644)
	_, err = e.serve(cfg, true)
	if !errors.Is(err, crypt.ErrTampered) {
		t.Fatalf("open over a manifest from another export: %v, want crypt.ErrTampered", err)
	}
	_ = os.WriteFile(latest, origManifest, 0o644)
	s = e.mustServe(cfg, true)
	if err := readSecrets(t, s.c, s.mount(t, "/team")); err != nil {
		t.Fatalf("after repair: %v", err)
	}
	s.close(t)
}

// TestWrongKeyNeverFencesTheWriter opens an encrypted export, then tries
// to open it again with a wrong key, a missing key file and without
// encryption: each is refused with a clear error before the database opens,
// and the running writer keeps accepting durable writes.
func TestWrongKeyNeverFencesTheWriter(t *testing.T) {
	ctx := context.Background()
	e := newCryptEnv(t)
	storeDir := filepath.Join(e.dir, "store")
	right := e.keyFile("right.key", 1)
	running := e.mustServe(e.config(encryptedExport("team", storeDir, right)), true)
	defer running.close(t)
	fsys, _ := running.reg.FS("team")

	cases := []struct {
		name string
		toml string
		// removed is a file removed once the config is loaded (Load
		// refuses a missing key file).
		removed string
		want    error
		msg     string
	}{
		{"wrong key", encryptedExport("team", storeDir, e.keyFile("wrong.key", 2)), "", crypt.ErrWrongKey, "keyring/00000000000000000001.key"},
		{"missing key file", encryptedExport("team", storeDir, e.keyFile("missing.key", 1)), filepath.Join(e.dir, "missing.key"), fs.ErrNotExist, "missing.key"},
		{"encryption off", fmt.Sprintf("[[exports]]\nname = \"team\"\npath = \"/team\"\nstore = \"file://%s\"\n", storeDir), "", crypt.ErrEncrypted, "encryption = true"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := e.config(tc.toml)
			if tc.removed != "" {
				if err := os.Remove(tc.removed); err != nil {
					t.Fatal(err)
				}
			}
			_, err := exports.Open(ctx, cfg, exports.Options{Logger: e.log})
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "export team") {
				t.Fatalf("open: %v, want %v mentioning %q and the export", err, tc.want, tc.msg)
			}
			// The running writer is not fenced: a durable write succeeds.
			if _, err := fsys.Create(ctx, kvfs.Cred{}, kvfs.RootIno, fmt.Sprintf("after-%d", i), kvfs.CreateRequest{}); err != nil {
				t.Fatal(err)
			}
			if err := fsys.Flush(ctx); err != nil {
				t.Fatalf("the running writer no longer accepts durable writes: %v", err)
			}
			if db, _ := running.reg.DB("team"); db.Stats().Fenced {
				t.Fatal("the running writer was fenced")
			}
		})
	}
}

// TestEncryptionCannotBeTurnedOnLater refuses an encrypted config on an
// existing unencrypted export.
func TestEncryptionCannotBeTurnedOnLater(t *testing.T) {
	ctx := context.Background()
	e := newCryptEnv(t)
	storeDir := filepath.Join(e.dir, "store")
	s := e.mustServe(e.config(fmt.Sprintf("[[exports]]\nname = \"team\"\npath = \"/team\"\nstore = \"file://%s\"\n", storeDir)), true)
	s.close(t)
	_, err := exports.Open(ctx, e.config(encryptedExport("team", storeDir, e.keyFile("k", 3))), exports.Options{Logger: e.log})
	if !errors.Is(err, crypt.ErrNotEncrypted) || !strings.Contains(err.Error(), "cannot be turned on") {
		t.Fatalf("open with encryption over unencrypted data: %v, want crypt.ErrNotEncrypted", err)
	}
	if keyrings, _ := filepath.Glob(filepath.Join(storeDir, "keyring", "*")); len(keyrings) != 0 {
		t.Fatalf("a keyring was written into the unencrypted export: %v", keyrings)
	}
}

// TestPassphraseRotationAndRestart opens an export locked by a passphrase,
// rotates to a key file, restarts with it, checks fsck and a checkpoint
// through the read-only tools, and refuses the old passphrase.
func TestPassphraseRotationAndRestart(t *testing.T) {
	ctx := context.Background()
	e := newCryptEnv(t)
	storeDir := filepath.Join(e.dir, "store")
	passTOML := fmt.Sprintf("[[exports]]\nname = \"team-a\"\npath = \"/team-a\"\nstore = \"file://%s\"\nsquash = \"none\"\nencryption = true\n", storeDir)
	e.env["ZEROFS_KEY_TEAM_A"] = "a passphrase for the test export"
	cfg := e.config(passTOML)
	s := e.mustServe(cfg, false)
	writeSecrets(t, s.c, s.mount(t, "/team-a"))
	s.close(t)

	store, err := exports.OpenStore(ctx, cfg.Exports[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	oldCred, err := exports.Credential(cfg.Exports[0])
	if err != nil {
		t.Fatal(err)
	}
	newKey := e.keyFile("new.key", 7)
	newCred, err := crypt.ReadKeyFile(newKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crypt.Rotate(ctx, store, oldCred, newCred, crypt.KeyringOptions{}); err != nil {
		t.Fatal(err)
	}

	if _, err := e.serve(cfg, false); !errors.Is(err, crypt.ErrWrongKey) {
		t.Fatalf("the old passphrase after rotation: %v, want crypt.ErrWrongKey", err)
	}
	delete(e.env, "ZEROFS_KEY_TEAM_A")
	cfg = e.config(strings.Replace(passTOML, "encryption = true\n", fmt.Sprintf("encryption = true\nkey_file = %q\n", newKey), 1))
	s = e.mustServe(cfg, false)
	if err := readSecrets(t, s.c, s.mount(t, "/team-a")); err != nil {
		t.Fatal(err)
	}
	s.close(t)

	dbStore, err := exports.OpenDatabaseStore(ctx, cfg.Exports[0], e.log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lsm.CreateCheckpoint(ctx, dbStore, "before"); err != nil {
		t.Fatal(err)
	}
	ro, err := exports.OpenReadOnly(ctx, cfg.Exports[0], "before", e.log)
	if err != nil {
		t.Fatal(err)
	}
	report, err := ro.FS.Fsck(ctx)
	ro.Close(ctx)
	if err != nil || !report.OK() || report.Inodes < secretFiles {
		t.Fatalf("fsck at the checkpoint: %+v, %v", report, err)
	}
}
