package nfs_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/internal/testenv/require"
	"github.com/zerofs-go/zerofsd/nfs"
)

// TestLibnfsCLI uses libnfs' command-line tools (package libnfs-utils) as
// an independent client; it skips when they are not installed (fails under
// ZEROFS_REQUIRE_HOST=1).
func TestLibnfsCLI(t *testing.T) {
	for _, tool := range []string{"nfs-ls", "nfs-cp", "nfs-cat"} {
		if _, err := exec.LookPath(tool); err != nil {
			require.Missing(t, require.Host, "%s is not installed (Debian package libnfs-utils; scripts/test-deps.sh installs it)", tool)
		}
	}
	fsA, _ := newFS(t)
	fsB, _ := newFS(t)
	ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/team-a", FS: fsA}, &nfs.Export{Name: "b", Path: "/team-b", FS: fsB})
	_, port, err := net.SplitHostPort(ts.addr)
	check(t, err)
	url := func(export, path string) string {
		return fmt.Sprintf("nfs://127.0.0.1%s%s?version=3&nfsport=%s&mountport=%s", export, path, port, port)
	}
	run := func(name string, args ...string) []byte {
		t.Helper()
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		out, err := exec.CommandContext(c, name, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
		}
		return out
	}

	local := filepath.Join(t.TempDir(), "src")
	data := bytes.Repeat([]byte("libnfs interoperability\n"), 200_000) // ~4.8 MB
	check(t, os.WriteFile(local, data, 0o644))
	run("nfs-cp", local, url("/team-a", "/copy"))
	run("nfs-cp", local, url("/team-b", "/other"))

	ls := string(run("nfs-ls", url("/team-a", "/")))
	if !strings.Contains(ls, "copy") || strings.Contains(ls, "other") {
		t.Fatalf("nfs-ls of /team-a:\n%s", ls)
	}
	if !strings.Contains(ls, fmt.Sprint(len(data))) {
		t.Fatalf("nfs-ls does not show the size %d:\n%s", len(data), ls)
	}
	got := run("nfs-cat", url("/team-a", "/copy"))
	if !bytes.Equal(got, data) {
		t.Fatalf("nfs-cat returned %d bytes, want %d", len(got), len(data))
	}
	back := filepath.Join(t.TempDir(), "back")
	run("nfs-cp", url("/team-b", "/other"), back)
	if b, err := os.ReadFile(back); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("nfs-cp back: %d bytes, %v", len(b), err)
	}
}
