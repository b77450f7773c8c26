package exports_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/kvfs"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// logger keeps the registry's logs for a failing test and shows them.
func logger(t testing.TB) *slog.Logger {
	t.Helper()
	buf := &testenv.SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("registry log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testConfig is a config with the given exports. The WAL is written at most
// once an hour while writes flow, so that writes made just before a reload
// are acknowledged but not durable.
func testConfig(exps ...config.Export) *config.Config {
	return &config.Config{
		Cache:   config.Cache{MemoryMB: 8},
		LSM:     config.LSM{FlushInterval: time.Hour, MemtableMB: 64, Compression: config.CompressionSnappy},
		Exports: exps,
	}
}

// fileExport is an export named name at /name on directory dir, with the
// defaults Load would fill in.
func fileExport(name, dir string) config.Export {
	return config.Export{
		Name: name, Path: "/" + name,
		Store:  config.StoreURL{Scheme: config.SchemeFile, Dir: dir},
		Squash: config.SquashRoot, AnonUID: config.DefaultAnonID, AnonGID: config.DefaultAnonID,
		Sync: config.SyncCommit, InodeCacheEntries: 1000,
	}
}

// s3Export is an export on env's bucket under prefix, with env's endpoint and
// the given credentials.
func s3Export(name, prefix string, env testenv.S3Env, access, secret string) config.Export {
	e := fileExport(name, "")
	e.Store = config.StoreURL{Scheme: config.SchemeS3, Bucket: env.Bucket, Prefix: prefix}
	e.S3 = config.S3{Endpoint: env.Endpoint, Bucket: env.Bucket, AccessKeyID: access,
		SecretAccessKey: config.Secret(secret), Region: env.Region, AllowHTTP: true}
	return e
}

func open(t *testing.T, cfg *config.Config) *exports.Registry {
	t.Helper()
	reg, err := exports.Open(context.Background(), cfg, exports.Options{Logger: logger(t)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = reg.Close(context.Background()) })
	return reg
}

func fsOf(t *testing.T, reg *exports.Registry, name string) *kvfs.FS {
	t.Helper()
	fs, ok := reg.FS(name)
	if !ok {
		t.Fatalf("no export %q", name)
	}
	return fs
}

var root = kvfs.Cred{}

// writeFile creates name in the root of fs and writes data to it, neither
// durable: the way an NFS CREATE and an UNSTABLE WRITE leave them.
func writeFile(t *testing.T, fs *kvfs.FS, name, data string) {
	t.Helper()
	ctx := context.Background()
	a, err := fs.Create(ctx, root, kvfs.RootIno, name, kvfs.CreateRequest{})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	if _, err := fs.Write(ctx, root, a.Attr.Ino, 0, []byte(data)); err != nil {
		t.Fatalf("write %s: %v", name, err)
	}
}

// readFile returns the content of name in the root of fs.
func readFile(fs *kvfs.FS, name string) (string, error) {
	ctx := context.Background()
	a, err := fs.Lookup(ctx, root, kvfs.RootIno, name)
	if err != nil {
		return "", err
	}
	buf := make([]byte, a.Size)
	n, _, err := fs.Read(ctx, root, a.Ino, 0, buf)
	return string(buf[:n]), err
}

// wantFiles checks that fs holds exactly these files with these contents in
// its root.
func wantFiles(t *testing.T, fs *kvfs.FS, files map[string]string) {
	t.Helper()
	for name, want := range files {
		got, err := readFile(fs, name)
		if err != nil || got != want {
			t.Fatalf("%s = %q, %v; want %q (an acknowledged write was lost)", name, got, err, want)
		}
	}
	entries, _, err := fs.ReadDir(context.Background(), root, kvfs.RootIno, 0, 1000, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(files) {
		t.Fatalf("%d files in the root, want %d", len(entries), len(files))
	}
}

// wantDurable opens ec's store read-only, as after a restart, and checks
// that it holds files and passes fsck.
func wantDurable(t *testing.T, ec config.Export, files map[string]string) {
	t.Helper()
	ctx := context.Background()
	ro, err := exports.OpenReadOnly(ctx, ec, "", logger(t))
	if err != nil {
		t.Fatalf("opening %s read-only: %v", ec.Store, err)
	}
	defer ro.Close(ctx)
	wantFiles(t, ro.FS, files)
	rep, err := ro.FS.Fsck(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("fsck of %s: %s", ec.Store, strings.Join(rep.Problems, "\n"))
	}
}

// lsmObjects lists the manifests and WAL objects of a file store: what
// opening a writer (a fence) adds to.
func lsmObjects(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, sub := range []string{"manifest", "wal"} {
		err := filepath.WalkDir(filepath.Join(dir, sub), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				out = append(out, strings.TrimPrefix(p, dir))
			}
			return nil
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	slices.Sort(out)
	return out
}

// files is a set of file contents by name.
func files(kv ...string) map[string]string {
	m := make(map[string]string)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// content makes a recognizable file body.
func content(store string, i int) string { return fmt.Sprintf("%s file %d", store, i) }
