package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-billy/v5"
	"github.com/go-git/go-billy/v5/osfs"
	gonfs "github.com/willscott/go-nfs"
	"github.com/willscott/go-nfs/helpers"
)

func main() {
	addr := flag.String("listen", "127.0.0.1:0", "address to listen on")
	dir := flag.String("dir", "", "directory to serve (required)")
	handles := flag.Int("handles", 1<<20, "file handles go-nfs keeps in its cache")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "gonfsref: -dir is required")
		os.Exit(2)
	}
	if err := serve(*addr, *dir, *handles); err != nil {
		fmt.Fprintln(os.Stderr, "gonfsref:", err)
		os.Exit(1)
	}
}

func serve(addr, dir string, handles int) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", dir, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", addr, err)
	}
	// The line the benchmark waits for.
	fmt.Printf("listening on %s\n", ln.Addr())
	slog.Info("gonfsref serving", "dir", abs, "addr", ln.Addr().String())
	fs := changeFS{Filesystem: osfs.New(abs, osfs.WithBoundOS()), root: abs}
	handler := helpers.NewCachingHandler(helpers.NewNullAuthHandler(fs), handles)
	return gonfs.Serve(ln, handler)
}

// changeFS adds billy.Change (chmod, chown, utimes) to a directory-bound
// billy filesystem, which go-nfs needs to apply the attributes of CREATE,
// MKDIR and SETATTR; without it every CREATE with a mode fails with EIO.
type changeFS struct {
	billy.Filesystem
	root string
}

func (f changeFS) real(name string) string {
	return filepath.Join(f.root, filepath.FromSlash(filepath.Clean("/"+name)))
}

func (f changeFS) Chmod(name string, mode os.FileMode) error { return os.Chmod(f.real(name), mode) }
func (f changeFS) Lchown(name string, uid, gid int) error    { return os.Lchown(f.real(name), uid, gid) }
func (f changeFS) Chown(name string, uid, gid int) error     { return os.Chown(f.real(name), uid, gid) }
func (f changeFS) Chtimes(name string, atime, mtime time.Time) error {
	return os.Chtimes(f.real(name), atime, mtime)
}
