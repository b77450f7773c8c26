package kvfs_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
)

// TestChangesNeverHideALiveName: a lookup reads a name's entry, then its
// inode, without a lock. A change landing between the two reads made a
// name that existed all along look missing (ENOENT to a lookup during a
// rename over it: the temp-file-then-rename pattern), or stale (ESTALE to
// an unchecked create of it, and to ".." of a directory moved while its
// old parent was removed). Each probe runs while the change repeats; none
// may fail.
func TestChangesNeverHideALiveName(t *testing.T) {
	const changes = 3000
	tests := []struct {
		name string
		// setup makes the tree and returns the change (its i-th time) and
		// the probe.
		setup func(t *testing.T, ctx context.Context, fs *kvfs.FS) (change func(i int), probe func() error)
	}{
		{"lookup during rename over", func(t *testing.T, ctx context.Context, fs *kvfs.FS) (func(int), func() error) {
			must[kvfs.NewEntry](t)(fs.Create(ctx, root, kvfs.RootIno, "b", kvfs.CreateRequest{}))
			return renameOver(t, ctx, fs), func() error {
				_, err := fs.Lookup(ctx, root, kvfs.RootIno, "b")
				return err
			}
		}},
		{"unchecked create during rename over", func(t *testing.T, ctx context.Context, fs *kvfs.FS) (func(int), func() error) {
			must[kvfs.NewEntry](t)(fs.Create(ctx, root, kvfs.RootIno, "b", kvfs.CreateRequest{}))
			return renameOver(t, ctx, fs), func() error {
				_, err := fs.Create(ctx, root, kvfs.RootIno, "b", kvfs.CreateRequest{Mode: kvfs.CreateUnchecked})
				return err
			}
		}},
		{"parent of a directory moving between removed parents", func(t *testing.T, ctx context.Context, fs *kvfs.FS) (func(int), func() error) {
			p := must[kvfs.NewEntry](t)(fs.Mkdir(ctx, root, kvfs.RootIno, "p", 0o777)).Attr
			x := must[kvfs.NewEntry](t)(fs.Mkdir(ctx, root, p.Ino, "x", 0o777)).Attr
			names := []string{"p", "q"}
			change := func(i int) {
				from, to := names[i%2], names[(i+1)%2]
				fromDir := must[kvfs.Attr](t)(fs.Lookup(ctx, root, kvfs.RootIno, from)).Ino
				toDir := must[kvfs.NewEntry](t)(fs.Mkdir(ctx, root, kvfs.RootIno, to, 0o777)).Attr.Ino
				must[kvfs.Renamed](t)(fs.Rename(ctx, root, fromDir, "x", toDir, "x"))
				must[kvfs.Change](t)(fs.Rmdir(ctx, root, kvfs.RootIno, from))
			}
			return change, func() error {
				_, err := fs.Lookup(ctx, root, x.Ino, "..")
				return err
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			fs, _ := newFS(t, kvfs.Options{})
			change, probe := tt.setup(t, ctx, fs)
			var stop atomic.Bool
			var probes, failed atomic.Int64
			var first atomic.Value
			var wg sync.WaitGroup
			for range 2 {
				wg.Go(func() {
					for !stop.Load() {
						probes.Add(1)
						if err := probe(); err != nil {
							failed.Add(1)
							first.CompareAndSwap(nil, err.Error())
						}
					}
				})
			}
			for i := range changes {
				change(i)
			}
			stop.Store(true)
			wg.Wait()
			if n := failed.Load(); n > 0 {
				t.Fatalf("%d of %d probes failed during %d changes; first: %v", n, probes.Load(), changes, first.Load())
			}
		})
	}
}

// renameOver returns a change that creates "tmp" and renames it over "b".
func renameOver(t *testing.T, ctx context.Context, fs *kvfs.FS) func(int) {
	return func(int) {
		must[kvfs.NewEntry](t)(fs.Create(ctx, root, kvfs.RootIno, "tmp", kvfs.CreateRequest{}))
		must[kvfs.Renamed](t)(fs.Rename(ctx, root, kvfs.RootIno, "tmp", kvfs.RootIno, "b"))
	}
}
