package kvfstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/zerofs-go/zerofsd/kvfs"
)

var root = kvfs.Cred{}

func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	if err != nil {
		return syscall.Errno(0xffff)
	}
	return 0
}

// Store is a KV that can simulate a crash.
type Store interface {
	// KV returns the store's current KV.
	KV() kvfs.KV
	// Crash simulates a power loss of the current KV and returns the KV as
	// reopened afterwards: it holds every batch made durable and a prefix
	// (possibly empty) of the later ones. The old KV is not used afterwards
	// except for a Flush whose error is ignored.
	Crash(ctx context.Context, rng *rand.Rand) (kvfs.KV, error)
}

// MemStore is a Store on kvfs.MemKV; a crash keeps a random prefix of the
// batches not yet durable.
type MemStore struct{ Mem *kvfs.MemKV }

// NewMemStore returns a MemStore on an empty MemKV.
func NewMemStore() *MemStore { return &MemStore{Mem: kvfs.NewMemKV()} }

func (s *MemStore) KV() kvfs.KV { return s.Mem }

func (s *MemStore) Crash(ctx context.Context, rng *rand.Rand) (kvfs.KV, error) {
	s.Mem = s.Mem.CrashKeeping(rng.IntN(s.Mem.Pending() + 1))
	return s.Mem, nil
}

// ModelOptions tune RunModel. Zero values take the defaults.
type ModelOptions struct {
	Seed    uint64 // default: random (logged)
	Rounds  int    // rounds of concurrent steps, each followed by a crash with probability 1/3; default 40
	Steps   int    // operations per worker and round; default 60
	Workers int    // goroutines, each in its own directory; default 4
	// FS is passed to kvfs.Open; default a 64-entry inode cache, so that
	// evictions happen, and truncations that leave all but one chunk to
	// background reclaim.
	FS kvfs.Options
}

// RunModel runs random operation sequences from several goroutines, each in
// its own directory, as root or as an unprivileged user (so permission
// checks are part of the model), against kvfs on st and against a reference model, and
// crashes the store at random points. After each crash the filesystem is
// reopened, fsck must be clean, and every goroutine's subtree must equal the
// model after some prefix of its operations that includes every operation
// flushed before the crash: every operation that had returned when a flush
// began, whichever goroutine flushed. Failures report the seed.
func RunModel(t testing.TB, st Store, o ModelOptions) {
	t.Helper()
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	if o.Rounds == 0 {
		o.Rounds = 40
	}
	if o.Steps == 0 {
		o.Steps = 60
	}
	if o.Workers == 0 {
		o.Workers = 4
	}
	if o.FS.InodeCacheEntries == 0 {
		o.FS.InodeCacheEntries = 64
	}
	if o.FS.InlineTruncateChunks == 0 {
		o.FS.InlineTruncateChunks = 1 // exercise background reclaim of truncations
	}
	t.Logf("model seed %d", o.Seed)
	if err := runModel(st, o); err != nil {
		t.Fatalf("model seed %d: %v", o.Seed, err)
	}
}

// mnode is a model inode; hard links share one mnode.
type mnode struct {
	typ      kvfs.FileType
	mode     uint32
	uid, gid uint32
	data     []byte // never modified in place: writers build a new slice
	target   string
	children map[string]*mnode
}

func (n *mnode) clone(seen map[*mnode]*mnode) *mnode {
	if c, ok := seen[n]; ok {
		return c
	}
	c := &mnode{typ: n.typ, mode: n.mode, uid: n.uid, gid: n.gid, data: n.data, target: n.target}
	seen[n] = c
	if n.children != nil {
		c.children = make(map[string]*mnode, len(n.children))
		for k, v := range n.children {
			c.children[k] = v.clone(seen)
		}
	}
	return c
}

// canonical renders a subtree: one line per path, sorted, with hard links
// identified by their first path.
func canonicalModel(root *mnode) string {
	var lines []string
	first := map[*mnode]string{}
	links := map[*mnode]int{}
	var walk func(p string, n *mnode)
	var order []string
	paths := map[string]*mnode{}
	walk = func(p string, n *mnode) {
		paths[p] = n
		order = append(order, p)
		links[n]++
		names := slices.Sorted(func(yield func(string) bool) {
			for k := range n.children {
				if !yield(k) {
					return
				}
			}
		})
		for _, k := range names {
			walk(p+"/"+k, n.children[k])
		}
	}
	walk("", root)
	sort.Strings(order)
	for _, p := range order {
		if _, ok := first[paths[p]]; !ok {
			first[paths[p]] = p
		}
	}
	for _, p := range order {
		n := paths[p]
		nlink := links[n]
		if n.typ == kvfs.TypeDir {
			nlink = 2
			for _, c := range n.children {
				if c.typ == kvfs.TypeDir {
					nlink++
				}
			}
		}
		lines = append(lines, fmt.Sprintf("%s type=%d mode=%o uid=%d gid=%d nlink=%d size=%d crc=%08x target=%q link=%s",
			p, n.typ, n.mode, n.uid, n.gid, nlink, len(n.data), crc32.ChecksumIEEE(n.data), n.target, first[n]))
	}
	return strings.Join(lines, "\n")
}

// canonicalFS renders the subtree of dir the same way, through the public API.
func canonicalFS(ctx context.Context, fs *kvfs.FS, dir uint64) (string, error) {
	type item struct {
		p string
		a kvfs.Attr
	}
	var items []item
	var walk func(p string, a kvfs.Attr) error
	walk = func(p string, a kvfs.Attr) error {
		items = append(items, item{p, a})
		if a.Type != kvfs.TypeDir {
			return nil
		}
		var cookie uint64
		for {
			ents, eof, err := fs.ReadDir(ctx, root, a.Ino, cookie, 3, true)
			if err != nil {
				return err
			}
			for _, e := range ents {
				if e.Attr == nil {
					_, gerr := fs.GetAttr(ctx, e.Ino)
					return fmt.Errorf("readdir entry %s/%s: no attr: getattr says %v", p, e.Name, gerr)
				}
				if e.Attr == nil || e.Attr.Ino != e.Ino || e.Attr.Type != e.Type {
					return fmt.Errorf("readdir entry %s/%s: attr %+v does not match entry %+v", p, e.Name, e.Attr, e)
				}
				if err := walk(p+"/"+e.Name, *e.Attr); err != nil {
					return err
				}
				cookie = e.Cookie
			}
			if eof {
				return nil
			}
		}
	}
	top, err := fs.GetAttr(ctx, dir)
	if err != nil {
		return "", err
	}
	if err := walk("", top); err != nil {
		return "", err
	}
	sort.Slice(items, func(i, j int) bool { return items[i].p < items[j].p })
	first := map[uint64]string{}
	var lines []string
	for _, it := range items {
		if _, ok := first[it.a.Ino]; !ok {
			first[it.a.Ino] = it.p
		}
		var data []byte
		var target string
		switch it.a.Type {
		case kvfs.TypeRegular:
			data = make([]byte, it.a.Size+1)
			n, eof, err := fs.Read(ctx, root, it.a.Ino, 0, data)
			if err != nil {
				return "", err
			}
			if !eof || uint64(n) != it.a.Size {
				return "", fmt.Errorf("read %s: %d bytes eof=%v, size %d", it.p, n, eof, it.a.Size)
			}
			data = data[:n]
		case kvfs.TypeSymlink:
			if target, err = fs.Readlink(ctx, it.a.Ino); err != nil {
				return "", err
			}
			if it.a.Size != uint64(len(target)) {
				return "", fmt.Errorf("symlink %s size %d", it.p, it.a.Size)
			}
		}
		size := len(data)
		lines = append(lines, fmt.Sprintf("%s type=%d mode=%o uid=%d gid=%d nlink=%d size=%d crc=%08x target=%q link=%s",
			it.p, it.a.Type, it.a.Mode, it.a.UID, it.a.GID, it.a.Nlink, size, crc32.ChecksumIEEE(data), target, first[it.a.Ino]))
	}
	return strings.Join(lines, "\n"), nil
}

// workerKey is the context key of the worker running an operation (its
// index): a Store may tell the workers' batches and flushes apart by it.
type workerKey struct{}

// worker drives one goroutine's subtree.
type worker struct {
	id    int
	rng   *rand.Rand
	name  string // directory under the root
	model *mnode
	// order guards history and trimmed, which other workers' flushes trim.
	order *order
	// history is the model after each operation since the last durable
	// point; history[0] is durable. trimmed counts the entries dropped
	// from its front since the last crash: history[i] is the model after
	// operation trimmed+i.
	history []*mnode
	trimmed int
	log     []string
}

// snapshot notes in the worker's history that an operation has finished.
func (w *worker) snapshot() {
	c := w.model.clone(map[*mnode]*mnode{})
	w.order.mu.Lock()
	w.history = append(w.history, c)
	w.order.mu.Unlock()
}

// order is the one order in which the workers' operations finish and
// flushes begin: a flush makes durable every operation of every worker
// noted before it began (whichever worker flushed), so once it returns,
// a crash may no longer lose them.
type order struct {
	mu      sync.Mutex
	workers []*worker
}

// flushBegins notes where each worker's history stands as a flush begins.
func (o *order) flushBegins() []int {
	o.mu.Lock()
	defer o.mu.Unlock()
	marks := make([]int, len(o.workers))
	for i, w := range o.workers {
		marks[i] = w.trimmed + len(w.history)
	}
	return marks
}

// flushed trims every worker's history to the operations after those
// noted when the flush that returned marks began: the model after the
// last of those is durable now.
func (o *order) flushed(marks []int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, w := range o.workers {
		if drop := marks[i] - 1 - w.trimmed; drop > 0 {
			w.history = w.history[drop:]
			w.trimmed += drop
		}
	}
}

// durable trims every worker's history to its last entry: after a flush
// with no worker running.
func (o *order) durable() {
	o.flushed(o.flushBegins())
}

// paths lists the model's paths (relative to the worker's directory) with their nodes.
func (w *worker) paths() (dirs, all []string, nodes map[string]*mnode) {
	nodes = map[string]*mnode{}
	var walk func(p string, n *mnode)
	walk = func(p string, n *mnode) {
		nodes[p] = n
		all = append(all, p)
		if n.typ == kvfs.TypeDir {
			dirs = append(dirs, p)
			for k, c := range n.children {
				walk(path.Join(p, k), c)
			}
		}
	}
	walk(".", w.model)
	sort.Strings(dirs)
	sort.Strings(all)
	return dirs, all, nodes
}

// resolve finds p's inode in fs.
func resolve(ctx context.Context, fs *kvfs.FS, base uint64, p string) (uint64, error) {
	ino := base
	if p == "." {
		return ino, nil
	}
	for _, c := range strings.Split(p, "/") {
		a, err := fs.Lookup(ctx, root, ino, c)
		if err != nil {
			return 0, fmt.Errorf("resolve %s: %w", p, err)
		}
		ino = a.Ino
	}
	return ino, nil
}

func isUnder(nodes map[string]*mnode, anc *mnode, p string) bool {
	for {
		if nodes[p] == anc {
			return true
		}
		if p == "." {
			return false
		}
		p = path.Dir(p)
	}
}

var names = []string{"a", "b", "c", "d", "e", "f"}

// user is the unprivileged identity some operations run as.
var user = kvfs.Cred{UID: 1000, GID: 1000}

// mperm mirrors kvfs' permission rule for the model.
func mperm(cred kvfs.Cred, n *mnode, want uint32) bool {
	if cred.UID == 0 {
		return want&1 == 0 || n.typ == kvfs.TypeDir || n.mode&0o111 != 0
	}
	bits := n.mode
	switch {
	case cred.UID == n.uid:
		bits >>= 6
	case cred.GID == n.gid:
		bits >>= 3
	}
	return bits&7&want == want
}

// canModify is the model's check for adding or removing entries of d.
func canModify(cred kvfs.Cred, d *mnode) bool { return mperm(cred, d, 2|1) }

// step runs one random operation on fs and on the model and compares.
func (w *worker) step(ctx context.Context, fs *kvfs.FS, base uint64) error {
	chunk := int(fs.ChunkSize())
	r := w.rng
	dirs, all, nodes := w.paths()
	pick := func(l []string) string { return l[r.IntN(len(l))] }
	dir := pick(dirs)
	name := names[r.IntN(len(names))]
	dn := nodes[dir]
	child := dn.children[name]
	dino, err := resolve(ctx, fs, base, dir)
	if err != nil {
		return err
	}
	cred := root
	if r.IntN(2) == 0 {
		cred = user
	}
	newNode := func(typ kvfs.FileType, mode uint32) *mnode {
		n := &mnode{typ: typ, mode: mode, uid: cred.UID, gid: cred.GID}
		if typ == kvfs.TypeDir {
			n.children = map[string]*mnode{}
		}
		return n
	}
	var got error
	var want syscall.Errno
	changed := false
	var desc string
	switch op := r.IntN(16); op {
	case 0, 1: // create
		guarded := r.IntN(2) == 0
		mode := kvfs.CreateUnchecked
		if guarded {
			mode = kvfs.CreateGuarded
		}
		desc = fmt.Sprintf("uid %d: create %s/%s guarded=%v", cred.UID, dir, name, guarded)
		_, got = fs.Create(ctx, cred, dino, name, kvfs.CreateRequest{Mode: mode})
		switch { // finding the name needs search permission, making it write too
		case !mperm(cred, dn, 1), child == nil && !canModify(cred, dn):
			want = syscall.EACCES
		case child == nil:
			dn.children[name] = newNode(kvfs.TypeRegular, 0o644)
			changed = true
		case guarded:
			want = syscall.EEXIST
		}
	case 2: // mkdir
		desc = fmt.Sprintf("uid %d: mkdir %s/%s", cred.UID, dir, name)
		_, got = fs.Mkdir(ctx, cred, dino, name, 0o755)
		switch {
		case !canModify(cred, dn):
			want = syscall.EACCES
		case child != nil:
			want = syscall.EEXIST
		default:
			dn.children[name] = newNode(kvfs.TypeDir, 0o755)
			changed = true
		}
	case 3: // symlink or fifo
		var n *mnode
		if r.IntN(2) == 0 {
			target := "t/" + strconv.Itoa(r.IntN(1000))
			desc = fmt.Sprintf("uid %d: symlink %s/%s -> %s", cred.UID, dir, name, target)
			_, got = fs.Symlink(ctx, cred, dino, name, target, 0o777)
			n = newNode(kvfs.TypeSymlink, 0o777)
			n.target = target
		} else {
			desc = fmt.Sprintf("uid %d: mkfifo %s/%s", cred.UID, dir, name)
			_, got = fs.Mknod(ctx, cred, dino, name, kvfs.TypeFIFO, 0o600, 0, 0)
			n = newNode(kvfs.TypeFIFO, 0o600)
		}
		switch {
		case !canModify(cred, dn):
			want = syscall.EACCES
		case child != nil:
			want = syscall.EEXIST
		default:
			dn.children[name] = n
			changed = true
		}
	case 4: // link
		src := pick(all)
		sn := nodes[src]
		desc = fmt.Sprintf("uid %d: link %s to %s/%s", cred.UID, src, dir, name)
		sino, err := resolve(ctx, fs, base, src)
		if err != nil {
			return err
		}
		_, got = fs.Link(ctx, cred, sino, dino, name)
		switch {
		case sn.typ == kvfs.TypeDir:
			want = syscall.EPERM
		case !canModify(cred, dn):
			want = syscall.EACCES
		case child != nil:
			want = syscall.EEXIST
		default:
			dn.children[name] = sn
			changed = true
		}
	case 5, 6: // unlink
		desc = fmt.Sprintf("uid %d: unlink %s/%s", cred.UID, dir, name)
		_, got = fs.Unlink(ctx, cred, dino, name)
		switch {
		case !canModify(cred, dn):
			want = syscall.EACCES
		case child == nil:
			want = syscall.ENOENT
		case child.typ == kvfs.TypeDir:
			want = syscall.EISDIR
		default:
			delete(dn.children, name)
			changed = true
		}
	case 7: // rmdir
		desc = fmt.Sprintf("uid %d: rmdir %s/%s", cred.UID, dir, name)
		_, got = fs.Rmdir(ctx, cred, dino, name)
		switch {
		case !canModify(cred, dn):
			want = syscall.EACCES
		case child == nil:
			want = syscall.ENOENT
		case child.typ != kvfs.TypeDir:
			want = syscall.ENOTDIR
		case len(child.children) > 0:
			want = syscall.ENOTEMPTY
		default:
			delete(dn.children, name)
			changed = true
		}
	case 8, 9: // rename
		todir := pick(dirs)
		toname := names[r.IntN(len(names))]
		tn := nodes[todir]
		dst := tn.children[toname]
		desc = fmt.Sprintf("uid %d: rename %s/%s to %s/%s", cred.UID, dir, name, todir, toname)
		toino, err := resolve(ctx, fs, base, todir)
		if err != nil {
			return err
		}
		_, got = fs.Rename(ctx, cred, dino, name, toino, toname)
		moveDir := child != nil && child.typ == kvfs.TypeDir && dn != tn
		switch {
		case child == nil && !canModify(cred, dn):
			want = syscall.EACCES
		case child == nil:
			want = syscall.ENOENT
		case !canModify(cred, dn) || !canModify(cred, tn):
			want = syscall.EACCES
		case dst == child:
		case moveDir && !mperm(cred, child, 2):
			want = syscall.EACCES
		case moveDir && isUnder(nodes, child, todir):
			want = syscall.EINVAL
		case dst != nil && child.typ == kvfs.TypeDir && dst.typ != kvfs.TypeDir:
			want = syscall.ENOTDIR
		case dst != nil && child.typ != kvfs.TypeDir && dst.typ == kvfs.TypeDir:
			want = syscall.EISDIR
		case dst != nil && dst.typ == kvfs.TypeDir && len(dst.children) > 0:
			want = syscall.ENOTEMPTY
		default:
			delete(dn.children, name)
			tn.children[toname] = child
			changed = true
		}
	case 10, 11, 12: // write
		off := uint64(r.IntN(4 * chunk))
		if r.IntN(8) == 0 {
			off = uint64(r.IntN(64) * chunk)
		}
		n := 1 + r.IntN(2*chunk)
		if r.IntN(2) == 0 {
			n = 1 + r.IntN(100)
		}
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(r.IntN(256))
		}
		desc = fmt.Sprintf("uid %d: write %s/%s off=%d len=%d", cred.UID, dir, name, off, n)
		if child == nil {
			_, got = fs.Write(ctx, cred, 1<<60, off, data)
			want = syscall.ESTALE
			break
		}
		cino, err := resolve(ctx, fs, base, path.Join(dir, name))
		if err != nil {
			return err
		}
		_, got = fs.Write(ctx, cred, cino, off, data)
		switch {
		case child.typ == kvfs.TypeDir:
			want = syscall.EISDIR
		case child.typ != kvfs.TypeRegular:
			want = syscall.EINVAL
		case cred.UID != child.uid && !mperm(cred, child, 2):
			want = syscall.EACCES
		default:
			nd := make([]byte, max(uint64(len(child.data)), off+uint64(n)))
			copy(nd, child.data)
			copy(nd[off:], data)
			child.data = nd
			changed = true
		}
	case 13: // truncate or chmod
		if child == nil {
			return nil
		}
		cino, err := resolve(ctx, fs, base, path.Join(dir, name))
		if err != nil {
			return err
		}
		if r.IntN(2) == 0 {
			mode := uint32(r.IntN(0o1000))
			desc = fmt.Sprintf("uid %d: chmod %s/%s %o", cred.UID, dir, name, mode)
			_, got = fs.SetAttr(ctx, cred, cino, kvfs.SetAttrRequest{Mode: &mode})
			if child.typ == kvfs.TypeSymlink {
				break // a symlink's mode is ignored, for anyone
			}
			if cred.UID != 0 && cred.UID != child.uid {
				want = syscall.EPERM
				break
			}
			child.mode = mode
			changed = true
			break
		}
		size := uint64(r.IntN(5 * chunk))
		if r.IntN(4) == 0 {
			size = uint64(r.IntN(3) * chunk)
		}
		desc = fmt.Sprintf("uid %d: truncate %s/%s %d", cred.UID, dir, name, size)
		_, got = fs.SetAttr(ctx, cred, cino, kvfs.SetAttrRequest{Size: &size})
		switch {
		case child.typ == kvfs.TypeDir:
			want = syscall.EISDIR
		case child.typ != kvfs.TypeRegular:
			want = syscall.EINVAL
		case cred.UID != child.uid && !mperm(cred, child, 2):
			want = syscall.EACCES
		default:
			nd := make([]byte, size)
			copy(nd, child.data)
			child.data = nd
			changed = true
		}
	case 14: // read and compare
		if child == nil || child.typ != kvfs.TypeRegular {
			return nil
		}
		cino, err := resolve(ctx, fs, base, path.Join(dir, name))
		if err != nil {
			return err
		}
		off := uint64(r.IntN(len(child.data) + 10))
		buf := make([]byte, r.IntN(3*chunk))
		desc = fmt.Sprintf("uid %d: read %s/%s off=%d len=%d", cred.UID, dir, name, off, len(buf))
		n, eof, err := fs.Read(ctx, cred, cino, off, buf)
		if cred.UID != child.uid && !mperm(cred, child, 4) && !mperm(cred, child, 1) {
			if errnoOf(err) != syscall.EACCES {
				return fmt.Errorf("%s: got %v, want EACCES", desc, err)
			}
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", desc, err)
		}
		var wantData []byte
		if off < uint64(len(child.data)) {
			wantData = child.data[off:min(uint64(len(child.data)), off+uint64(len(buf)))]
		}
		if !bytes.Equal(buf[:n], wantData) || eof != (off+uint64(n) >= uint64(len(child.data))) {
			return fmt.Errorf("%s: got %d bytes eof=%v, want %d bytes", desc, n, eof, len(wantData))
		}
	case 15: // flush
		desc = "flush"
		marks := w.order.flushBegins()
		if err := fs.Flush(ctx); err != nil {
			return err
		}
		w.order.flushed(marks)
	}
	if desc != "" {
		w.log = append(w.log, desc)
	}
	if errnoOf(got) != want {
		return fmt.Errorf("%s: got %v, want errno %v", desc, got, want)
	}
	if changed {
		w.snapshot()
	}
	return nil
}

func runModel(st Store, o ModelOptions) error {
	ctx := context.Background()
	seed, rounds, steps, workers, opts := o.Seed, o.Rounds, o.Steps, o.Workers, o.FS
	rng := rand.New(rand.NewPCG(seed, 0))
	fs, err := kvfs.Open(ctx, st.KV(), opts)
	if err != nil {
		return err
	}
	defer func() { fs.Close(ctx) }()
	ws := make([]*worker, workers)
	ord := &order{workers: ws}
	for i := range ws {
		w := &worker{id: i, rng: rand.New(rand.NewPCG(seed, uint64(i+1))), name: fmt.Sprintf("w%d", i), order: ord,
			model: &mnode{typ: kvfs.TypeDir, mode: 0o777, children: map[string]*mnode{}}}
		if _, err := fs.Mkdir(ctx, root, kvfs.RootIno, w.name, 0o777); err != nil {
			return err
		}
		w.snapshot()
		ws[i] = w
	}
	if err := fs.Flush(ctx); err != nil {
		return err
	}
	ord.durable()
	bases := func() ([]uint64, error) {
		b := make([]uint64, len(ws))
		for i, w := range ws {
			a, err := fs.Lookup(ctx, root, kvfs.RootIno, w.name)
			if err != nil {
				return nil, err
			}
			b[i] = a.Ino
		}
		return b, nil
	}
	for round := range rounds {
		base, err := bases()
		if err != nil {
			return err
		}
		var wg sync.WaitGroup
		errs := make([]error, len(ws))
		for i, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx := context.WithValue(ctx, workerKey{}, i)
				for range steps {
					if err := w.step(ctx, fs, base[i]); err != nil {
						errs[i] = fmt.Errorf("round %d worker %d: %w\nlast ops:\n%s", round, i, err, strings.Join(w.log[max(0, len(w.log)-10):], "\n"))
						return
					}
				}
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		if rng.IntN(3) != 0 {
			continue
		}
		kv, err := st.Crash(ctx, rng)
		if err != nil {
			return fmt.Errorf("round %d: crash: %w", round, err)
		}
		fs.Close(ctx)
		if fs, err = kvfs.Open(ctx, kv, opts); err != nil {
			return fmt.Errorf("round %d: reopen after crash: %w", round, err)
		}
		rep, err := fs.Fsck(ctx)
		if err != nil {
			return err
		}
		if !rep.OK() {
			return fmt.Errorf("round %d: fsck after crash:\n%s", round, strings.Join(rep.Problems, "\n"))
		}
		base, err = bases()
		if err != nil {
			return err
		}
		for i, w := range ws {
			got, err := canonicalFS(ctx, fs, base[i])
			if err != nil {
				return fmt.Errorf("round %d worker %d: walk after crash: %w", round, i, err)
			}
			match := -1
			for j := len(w.history) - 1; j >= 0; j-- {
				if canonicalModel(w.history[j]) == got {
					match = j
					break
				}
			}
			if match < 0 {
				return fmt.Errorf("round %d worker %d: state after crash matches no prefix of %d operations since the last flush\ngot:\n%s\nlast durable:\n%s\nlatest:\n%s\nlast ops:\n%s",
					round, i, len(w.history)-1, got, canonicalModel(w.history[0]), canonicalModel(w.model), strings.Join(w.log[max(0, len(w.log)-10):], "\n"))
			}
			w.model = w.history[match].clone(map[*mnode]*mnode{})
			w.history, w.trimmed = []*mnode{w.model.clone(map[*mnode]*mnode{})}, 0
		}
	}
	// Finally the live state must equal the models exactly.
	base, err := bases()
	if err != nil {
		return err
	}
	for i, w := range ws {
		got, err := canonicalFS(ctx, fs, base[i])
		if err != nil {
			return err
		}
		if want := canonicalModel(w.model); got != want {
			return fmt.Errorf("worker %d: final state differs\ngot:\n%s\nwant:\n%s", i, got, want)
		}
	}
	if _, err := fs.ReclaimPass(ctx); err != nil {
		return err
	}
	rep, err := fs.Fsck(ctx)
	if err != nil {
		return err
	}
	if !rep.OK() {
		return fmt.Errorf("final fsck:\n%s", strings.Join(rep.Problems, "\n"))
	}
	return nil
}
