package exports_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/zerofs-go/zerofsd/config"
	"github.com/zerofs-go/zerofsd/exports"
	"github.com/zerofs-go/zerofsd/nfs"
)

func loadConfig(t *testing.T, exportsTOML string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "zerofs.toml")
	content := "[cache]\ndir = \"cache\"\nsize_gb = 1\n" + exportsTOML
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestServingOptions checks that an export's serving options reach the NFS
// server as configured, at open and after a Reload: secure, and anon ids of
// 0 (root, not "unset").
func TestServingOptions(t *testing.T) {
	ctx := context.Background()
	const b = "[[exports]]\nname = \"b\"\npath = \"/b\"\nstore = \"memory://b\"\n"
	first := loadConfig(t, `
[[exports]]
name = "a"
path = "/a"
store = "memory://a"
secure = true
squash = "all"
anon_uid = 0
anon_gid = 0
`+b)
	reg, err := exports.Open(ctx, first, exports.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(ctx) })

	type want struct {
		secure           bool
		squash           nfs.SquashMode
		anonUID, anonGID uint32
	}
	checkExports := func(t *testing.T, wants map[string]want) {
		t.Helper()
		for path, w := range wants {
			e, ok := reg.ByPath(path)
			if !ok {
				t.Fatalf("no export at %s", path)
			}
			got := want{e.Secure, e.Squash, e.AnonUID, e.AnonGID}
			if got != w {
				t.Errorf("%s: %+v, want %+v", path, got, w)
			}
		}
	}
	checkExports(t, map[string]want{
		"/a": {true, nfs.SquashAll, 0, 0},
		"/b": {false, nfs.SquashRoot, config.DefaultAnonID, config.DefaultAnonID},
	})

	second := loadConfig(t, "[[exports]]\nname = \"a\"\npath = \"/a\"\nstore = \"memory://a\"\n"+b+"secure = true\nanon_gid = 0\n")
	if err := reg.Reload(ctx, second); err != nil {
		t.Fatal(err)
	}
	checkExports(t, map[string]want{
		"/a": {false, nfs.SquashRoot, config.DefaultAnonID, config.DefaultAnonID},
		"/b": {true, nfs.SquashRoot, config.DefaultAnonID, 0},
	})
}
