package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/kvfs/lsmkv"
	"github.com/zerofs-go/zerofsd/lsm"
)

// TestDu: du reports the file data written as live and the size of every
// object of the store as stored.
func TestDu(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	cfgPath := filepath.Join(dir, "zerofs.toml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`
[cache]
dir = %q
size_gb = 0.1
[[exports]]
name = "a"
path = "/a"
store = "file://%s"
`, filepath.Join(dir, "cache"), storeDir)), 0o644)
	cfg, err := config.Load(cfgPath, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	store, err := exports.OpenStore(ctx, cfg.Exports[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := lsm.Open(ctx, store, lsm.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := kvfs.Open(ctx, lsmkv.New(db), kvfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var live int64
	for i, size := range []int{10, 5000, 100000, 300000} {
		f, err := fsys.Create(ctx, kvfs.Cred{}, kvfs.RootIno, fmt.Sprintf("f%d", i), kvfs.CreateRequest{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fsys.Write(ctx, kvfs.Cred{}, f.Attr.Ino, 0, bytes.Repeat([]byte{byte(i)}, size)); err != nil {
			t.Fatal(err)
		}
		live += int64(size)
	}
	fsys.Close(ctx)
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	var stored int64
	filepath.WalkDir(storeDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			info, _ := d.Info()
			stored += info.Size()
		}
		return nil
	})

	var stdout, stderr bytes.Buffer
	if code := dispatch(ctx, []string{"du", "-c", cfgPath, "--export", "a"}, &stdout, &stderr); code != 0 {
		t.Fatalf("du: exit %d, stderr:\n%s", code, stderr.String())
	}
	field := func(what string) int64 {
		m := regexp.MustCompile(`(?m)^\s*` + what + `\s+(\d+) bytes`).FindStringSubmatch(stdout.String())
		if m == nil {
			t.Fatalf("no %q line in:\n%s", what, stdout.String())
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		return n
	}
	if got := field("live"); got != live {
		t.Errorf("live %d bytes, want %d", got, live)
	}
	if got := field("stored"); got != stored {
		t.Errorf("stored %d bytes, the store's files hold %d", got, stored)
	}
	if field("with values") == 0 {
		t.Errorf("no objects with separated values in use:\n%s", stdout.String())
	}
	t.Logf("\n%s", stdout.String())
}
