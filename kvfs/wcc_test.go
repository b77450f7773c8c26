package kvfs_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/kvfs"
)

// changeLog collects the Changes that operations report for one inode.
type changeLog struct {
	mu      sync.Mutex
	changes []kvfs.Change
	ops     []string
}

func (l *changeLog) add(op string, c kvfs.Change) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.changes = append(l.changes, c)
	l.ops = append(l.ops, op)
}

// sameAttr compares attributes, times by instant.
func sameAttr(a, b kvfs.Attr) bool {
	if !a.Atime.Equal(b.Atime) || !a.Mtime.Equal(b.Mtime) || !a.Ctime.Equal(b.Ctime) {
		return false
	}
	a.Atime, a.Mtime, a.Ctime = time.Time{}, time.Time{}, time.Time{}
	b.Atime, b.Mtime, b.Ctime = time.Time{}, time.Time{}, time.Time{}
	return a == b
}

// check verifies that the changes, ordered by ctime after them, form one
// chain from initial to final: each Before is exactly the After of the
// change before it. Every change moves the ctime (the test clock never
// repeats), so a Before read outside the lock of its change would show up
// as a gap or a repeat.
func (l *changeLog) check(t *testing.T, name string, initial, final kvfs.Attr) {
	t.Helper()
	idx := make([]int, len(l.changes))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int { return l.changes[a].After.Ctime.Compare(l.changes[b].After.Ctime) })
	prev, prevOp := initial, "initial state"
	for n, i := range idx {
		c := l.changes[i]
		if !sameAttr(c.Before, prev) {
			t.Fatalf("%s: change %d of %d (%s): Before %+v, but the change before it (%s) left %+v", name, n, len(idx), l.ops[i], c.Before, prevOp, prev)
		}
		if !c.After.Ctime.After(c.Before.Ctime) {
			t.Fatalf("%s: %s: ctime did not move: %v -> %v", name, l.ops[i], c.Before.Ctime, c.After.Ctime)
		}
		prev, prevOp = c.After, l.ops[i]
	}
	if !sameAttr(prev, final) {
		t.Fatalf("%s: last change (%s) left %+v, final attributes %+v", name, prevOp, prev, final)
	}
}

// TestChangesChainUnderConcurrency runs writers and namespace operations on
// one file and two directories at once: the Before and After of every
// Change must be read under the lock of that change.
func TestChangesChainUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{}
	clock.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	fs, _ := newFS(t, kvfs.Options{Now: clock.Now})
	dirA := must[kvfs.NewEntry](t)(fs.Mkdir(ctx, root, kvfs.RootIno, "A", 0o777)).Attr.Ino
	dirB := must[kvfs.NewEntry](t)(fs.Mkdir(ctx, root, kvfs.RootIno, "B", 0o777)).Attr.Ino
	file := must[kvfs.NewEntry](t)(fs.Create(ctx, root, kvfs.RootIno, "f", kvfs.CreateRequest{})).Attr.Ino
	get := func(ino uint64) kvfs.Attr { return must[kvfs.Attr](t)(fs.GetAttr(ctx, ino)) }
	initF, initA, initB := get(file), get(dirA), get(dirB)

	var logF, logA, logB changeLog
	const workers, fileIters, dirIters = 6, 100, 25
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range fileIters {
				var (
					c   kvfs.Change
					err error
				)
				op := fmt.Sprintf("%d/%d", w, i)
				if i%3 == 2 {
					size, mode := uint64(50*i), uint32(0o600+w)
					c, err = fs.SetAttr(ctx, root, file, kvfs.SetAttrRequest{Size: &size, Mode: &mode})
					op = "setattr " + op
				} else {
					c, err = fs.Write(ctx, root, file, uint64(31*i), []byte("chain"))
					op = "write " + op
				}
				if err != nil {
					t.Error(op, err)
					return
				}
				logF.add(op, c)
			}
			for i := range dirIters {
				n := func(p string) string { return fmt.Sprintf("%s-%d-%d", p, w, i) }
				steps := []func() error{
					func() error {
						e, err := fs.Create(ctx, root, dirA, n("c"), kvfs.CreateRequest{Mode: kvfs.CreateGuarded})
						logA.add("create "+n("c"), e.Dir)
						return err
					},
					func() error {
						e, err := fs.Mkdir(ctx, root, dirB, n("d"), 0o755)
						logB.add("mkdir "+n("d"), e.Dir)
						return err
					},
					func() error {
						e, err := fs.Symlink(ctx, root, dirA, n("s"), "target", 0o777)
						logA.add("symlink "+n("s"), e.Dir)
						return err
					},
					func() error {
						e, err := fs.Mknod(ctx, root, dirB, n("p"), kvfs.TypeFIFO, 0o644, 0, 0)
						logB.add("mknod "+n("p"), e.Dir)
						return err
					},
					func() error {
						c, err := fs.Lookup(ctx, root, dirA, n("c"))
						if err != nil {
							return err
						}
						e, err := fs.Link(ctx, root, c.Ino, dirB, n("l"))
						logB.add("link "+n("l"), e.Dir)
						if err == nil && e.Attr.Nlink != 2 {
							return fmt.Errorf("link: nlink %d", e.Attr.Nlink)
						}
						return err
					},
					func() error {
						r, err := fs.Rename(ctx, root, dirA, n("c"), dirB, n("r"))
						logA.add("rename from "+n("c"), r.From)
						logB.add("rename to "+n("r"), r.To)
						return err
					},
					func() error {
						c, err := fs.Unlink(ctx, root, dirB, n("l"))
						logB.add("unlink "+n("l"), c)
						return err
					},
					func() error {
						c, err := fs.Rmdir(ctx, root, dirB, n("d"))
						logB.add("rmdir "+n("d"), c)
						return err
					},
					func() error {
						c, err := fs.Unlink(ctx, root, dirA, n("s"))
						logA.add("unlink "+n("s"), c)
						return err
					},
				}
				for _, step := range steps {
					if err := step(); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	logF.check(t, "file", initF, get(file))
	logA.check(t, "dir A", initA, get(dirA))
	logB.check(t, "dir B", initB, get(dirB))
}

// TestChangeWithoutEffect: operations that change nothing report Before
// equal to After.
func TestChangeWithoutEffect(t *testing.T) {
	ctx := context.Background()
	tr := newTree(t)
	cases := []struct {
		name string
		op   func() (kvfs.Change, error)
	}{
		{"empty write", func() (kvfs.Change, error) { return tr.fs.Write(ctx, root, tr.fileA, 0, nil) }},
		{"empty setattr", func() (kvfs.Change, error) { return tr.fs.SetAttr(ctx, root, tr.fileA, kvfs.SetAttrRequest{}) }},
		{"unchecked create of an existing file", func() (kvfs.Change, error) {
			e, err := tr.fs.Create(ctx, root, tr.pub, "a", kvfs.CreateRequest{})
			return e.Dir, err
		}},
		{"rename onto another link of the same file", func() (kvfs.Change, error) {
			if _, err := tr.fs.Link(ctx, root, tr.fileA, tr.pub, "a2"); err != nil {
				return kvfs.Change{}, err
			}
			r, err := tr.fs.Rename(ctx, root, tr.pub, "a", tr.pub, "a2")
			return r.From, err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ch, err := c.op()
			if err != nil {
				t.Fatal(err)
			}
			if ch.Before.Ino == 0 || !sameAttr(ch.Before, ch.After) {
				t.Fatalf("Before %+v, After %+v", ch.Before, ch.After)
			}
		})
	}
}
