package nfs_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs"
	"github.com/zerofs-go/zerofsd/nfs/nfsclient"
)

// wccChain collects the wcc_data that replies report for one object.
// Every change of the object moves its ctime (the test clock never
// repeats), so ordered by post-operation ctime the replies must form a
// chain: each one's pre-operation attributes are the post-operation
// attributes of the change before it, with no gap and no repeat.
type wccChain struct {
	name string
	mu   sync.Mutex
	recs []wccRec
}

type wccRec struct {
	op     string
	before nfsclient.WccAttr
	after  nfsclient.WccAttr
}

func wccOf(a nfsclient.Fattr) nfsclient.WccAttr {
	return nfsclient.WccAttr{Size: a.Size, Mtime: a.Mtime, Ctime: a.Ctime}
}

func (c *wccChain) add(t *testing.T, op string, w nfsclient.WccData) {
	if w.Before == nil || w.After == nil {
		t.Errorf("%s: %s reply without pre- or post-operation attributes: %+v", c.name, op, w)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recs = append(c.recs, wccRec{op: op, before: *w.Before, after: wccOf(*w.After)})
}

// check verifies the chain from the attributes before the first change to
// those after the last.
func (c *wccChain) check(t *testing.T, initial, final nfsclient.Fattr) {
	t.Helper()
	slices.SortFunc(c.recs, func(a, b wccRec) int { return a.after.Ctime.Compare(b.after.Ctime) })
	prev, prevOp := wccOf(initial), "initial state"
	for i, r := range c.recs {
		if r.before != prev {
			t.Fatalf("%s: change %d of %d (%s) reports before %+v, but the change before it (%s) left %+v",
				c.name, i, len(c.recs), r.op, r.before, prevOp, prev)
		}
		prev, prevOp = r.after, r.op
	}
	if prev != wccOf(final) {
		t.Fatalf("%s: last change (%s) left %+v, final attributes %+v", c.name, prevOp, prev, wccOf(final))
	}
}

// newClockedFS opens a kvfs whose clock moves one microsecond per reading,
// so that no two changes share a ctime.
func newClockedFS(t *testing.T) *kvfs.FS {
	t.Helper()
	var ns atomic.Int64
	ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	fs, err := kvfs.Open(context.Background(), kvfs.NewMemKV(), kvfs.Options{
		Logger: quietLogger(),
		Now:    func() time.Time { return time.Unix(0, ns.Add(1000)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fs.Close(context.Background()) })
	return fs
}

// TestWccChainsWithConcurrentClients has two clients change one file
// (WRITE, SETATTR) and two directories (CREATE, MKDIR, SYMLINK, MKNOD,
// LINK, RENAME between them, REMOVE, RMDIR) at once, and checks that the
// pre-operation attributes of every reply are those the object had just
// before that very change: a client comparing them with its cache sees
// every change made by the other client.
func TestWccChainsWithConcurrentClients(t *testing.T) {
	fs := newClockedFS(t)
	ts := startServer(t, nfs.ServerOptions{}, &nfs.Export{Name: "a", Path: "/a", FS: fs})
	clients := []*nfsclient.Client{dial(t, ts.addr), dial(t, ts.addr)}
	cx := ctx(t)
	root := mount(t, clients[0], "/a")
	c0 := clients[0]
	dirA := must[nfsclient.CreateResult](t)(c0.Mkdir(cx, root, "A", nfsclient.Sattr{Mode: nfsclient.U32(0o777)})).FH
	dirB := must[nfsclient.CreateResult](t)(c0.Mkdir(cx, root, "B", nfsclient.Sattr{Mode: nfsclient.U32(0o777)})).FH
	file := must[nfsclient.CreateResult](t)(c0.Create(cx, root, "f", nfsclient.Guarded, nfsclient.Sattr{Mode: nfsclient.U32(0o666)}, [8]byte{})).FH
	getattr := func(fh []byte) nfsclient.Fattr { return must[nfsclient.Fattr](t)(c0.Getattr(cx, fh)) }
	initF, initA, initB := getattr(file), getattr(dirA), getattr(dirB)

	chF := &wccChain{name: "file"}
	chA := &wccChain{name: "dir A"}
	chB := &wccChain{name: "dir B"}
	const workersPerClient, fileIters, dirIters = 3, 60, 15
	var wg sync.WaitGroup
	for ci, c := range clients {
		for w := range workersPerClient {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("%d-%d", ci, w)
				for i := range fileIters {
					if i%4 == 3 {
						size := uint64(100 * i)
						wcc, err := c.Setattr(cx, file, nfsclient.Sattr{Size: &size, Mode: nfsclient.U32(0o666)}, nil)
						if err != nil {
							t.Errorf("setattr: %v", err)
							return
						}
						chF.add(t, "SETATTR "+id, wcc)
						continue
					}
					wr, err := c.Write(cx, file, uint64(37*i), []byte("wcc chain"), nfsclient.Unstable)
					if err != nil {
						t.Errorf("write: %v", err)
						return
					}
					chF.add(t, "WRITE "+id, wr.Wcc)
				}
				for i := range dirIters {
					n := func(p string) string { return fmt.Sprintf("%s-%s-%d", p, id, i) }
					var firstErr error
					do := func(op string, err error, f func()) {
						if err != nil && firstErr == nil {
							firstErr = fmt.Errorf("%s: %w", op, err)
						}
						if err == nil {
							f()
						}
					}
					cr, err := c.Create(cx, dirA, n("c"), nfsclient.Guarded, nfsclient.Sattr{}, [8]byte{})
					do("CREATE", err, func() { chA.add(t, "CREATE "+n("c"), cr.Dir) })
					md, err := c.Mkdir(cx, dirB, n("d"), nfsclient.Sattr{})
					do("MKDIR", err, func() { chB.add(t, "MKDIR "+n("d"), md.Dir) })
					sl, err := c.Symlink(cx, dirA, n("s"), "target", nfsclient.Sattr{})
					do("SYMLINK", err, func() { chA.add(t, "SYMLINK "+n("s"), sl.Dir) })
					mk, err := c.Mknod(cx, dirB, n("p"), nfsclient.TypeFifo, nfsclient.Sattr{}, 0, 0)
					do("MKNOD", err, func() { chB.add(t, "MKNOD "+n("p"), mk.Dir) })
					ln, err := c.Link(cx, cr.FH, dirB, n("l"))
					do("LINK", err, func() { chB.add(t, "LINK "+n("l"), ln.Dir) })
					rn, err := c.Rename(cx, dirA, n("c"), dirB, n("r"))
					do("RENAME", err, func() {
						chA.add(t, "RENAME from "+n("c"), rn.From)
						chB.add(t, "RENAME to "+n("r"), rn.To)
					})
					rm, err := c.Remove(cx, dirB, n("l"))
					do("REMOVE", err, func() { chB.add(t, "REMOVE "+n("l"), rm) })
					rd, err := c.Rmdir(cx, dirB, n("d"))
					do("RMDIR", err, func() { chB.add(t, "RMDIR "+n("d"), rd) })
					rs, err := c.Remove(cx, dirA, n("s"))
					do("REMOVE", err, func() { chA.add(t, "REMOVE "+n("s"), rs) })
					if firstErr != nil {
						t.Error(firstErr)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	chF.check(t, initF, getattr(file))
	chA.check(t, initA, getattr(dirA))
	chB.check(t, initB, getattr(dirB))
	if len(chF.recs) != 2*workersPerClient*fileIters {
		t.Fatalf("file chain has %d changes, want %d", len(chF.recs), 2*workersPerClient*fileIters)
	}
}
