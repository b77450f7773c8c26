package kvfs_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"syscall"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
)

// TestConcurrentSharedTree runs creates, links, unlinks, rmdirs, writes and
// renames (of files and directories, across directories) from many goroutines
// in one shared tree: no deadlock, only expected errors, and a clean fsck.
func TestConcurrentSharedTree(t *testing.T) {
	ctx := context.Background()
	fs, _ := newFS(t, kvfs.Options{InodeCacheEntries: 128, InlineTruncateChunks: 1})
	steps := 2000
	if testing.Short() {
		steps = 400
	}
	// A fixed set of directories; entries inside move around.
	dirs := []uint64{kvfs.RootIno}
	for i := range 6 {
		a := must[kvfs.NewEntry](t)(fs.Mkdir(ctx, root, dirs[rand.IntN(len(dirs))], fmt.Sprintf("d%d", i), 0o777)).Attr
		dirs = append(dirs, a.Ino)
	}
	expected := map[syscall.Errno]bool{0: true, syscall.ENOENT: true, syscall.EEXIST: true, syscall.ENOTEMPTY: true,
		syscall.EINVAL: true, syscall.EISDIR: true, syscall.ENOTDIR: true, syscall.ESTALE: true, syscall.EPERM: true}
	names := []string{"a", "b", "c", "x", "y"}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			pickDir := func() uint64 {
				// Any directory reachable: one of the fixed ones, or a subdirectory found by lookup.
				d := dirs[r.IntN(len(dirs))]
				if a, err := fs.Lookup(ctx, root, d, names[r.IntN(len(names))]); err == nil && a.Type == kvfs.TypeDir {
					return a.Ino
				}
				return d
			}
			for range steps {
				d, name := pickDir(), names[r.IntN(len(names))]
				var err error
				switch r.IntN(8) {
				case 0:
					_, err = fs.Create(ctx, root, d, name, kvfs.CreateRequest{Mode: kvfs.CreateGuarded})
				case 1:
					_, err = fs.Mkdir(ctx, root, d, name, 0o777)
				case 2:
					_, err = fs.Unlink(ctx, root, d, name)
				case 3:
					_, err = fs.Rmdir(ctx, root, d, name)
				case 4, 5:
					_, err = fs.Rename(ctx, root, d, name, pickDir(), names[r.IntN(len(names))])
				case 6:
					var a kvfs.Attr
					if a, err = fs.Lookup(ctx, root, d, name); err == nil {
						if a.Type == kvfs.TypeDir {
							_, _, err = fs.ReadDir(ctx, root, a.Ino, 0, 10, true)
						} else {
							_, err = fs.Link(ctx, root, a.Ino, pickDir(), names[r.IntN(len(names))])
						}
					}
				case 7:
					var a kvfs.Attr
					if a, err = fs.Lookup(ctx, root, d, name); err == nil && a.Type == kvfs.TypeRegular {
						if r.IntN(3) == 0 {
							size := uint64(r.IntN(5 * kvfs.DefaultChunkSize))
							_, err = fs.SetAttr(ctx, root, a.Ino, kvfs.SetAttrRequest{Size: &size})
						} else {
							_, err = fs.Write(ctx, root, a.Ino, uint64(r.IntN(5*kvfs.DefaultChunkSize)), make([]byte, 1+r.IntN(kvfs.DefaultChunkSize)))
						}
					}
				}
				if e := errnoOf(err); !expected[e] {
					t.Errorf("unexpected error: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if _, err := fs.ReclaimPass(ctx); err != nil {
		t.Fatal(err)
	}
	checkFsck(t, fs)
}
