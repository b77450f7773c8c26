// Package memfs is an in-memory journal.FS for tests. It models what
// survives a crash of the machine — a file's contents as of its last Sync,
// a directory's entries as of its last SyncDir — optionally keeping a
// random part of what was written but not synced (a torn write), and it
// injects errors (a full disk, an I/O error) into chosen operations.
//
// Nothing is durable without an explicit sync, as on a real file system: a
// directory made by MkdirAll survives a crash only once its parent has been
// synced (SyncDir) after it was made, and its parent survives too.
package memfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/zerofs-go/zerofsd/lsm/journal"
)

// Op names an operation a fault can hit.
type Op int

const (
	OpWrite Op = iota
	OpSync
	OpCreate
	OpSyncDir
	OpRemove
	OpRename
	OpAllocate
	OpOpen
)

func (o Op) String() string {
	switch o {
	case OpWrite:
		return "write"
	case OpSync:
		return "sync"
	case OpCreate:
		return "create"
	case OpSyncDir:
		return "syncdir"
	case OpRemove:
		return "remove"
	case OpRename:
		return "rename"
	case OpAllocate:
		return "allocate"
	case OpOpen:
		return "open"
	}
	return fmt.Sprintf("op%d", int(o))
}

// Fault makes matching operations fail with Err (a write first writes half
// of its bytes, like a disk filling up in the middle of it).
type Fault struct {
	Op Op
	// Path, when set, must be contained in the operation's path.
	Path string
	Err  error
	// Times is how many operations fail; 0 means until removed.
	Times int
}

// FaultHandle controls an injected fault.
type FaultHandle struct {
	fs    *FS
	f     *Fault
	fired int
}

// Remove stops the fault.
func (h *FaultHandle) Remove() {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	h.fs.faults = slices.DeleteFunc(h.fs.faults, func(x *FaultHandle) bool { return x == h })
}

// Fired is how many operations the fault has failed.
func (h *FaultHandle) Fired() int {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	return h.fired
}

// FS is the in-memory file system. Safe for concurrent use.
type FS struct {
	mu     sync.Mutex
	dirs   map[string]*dir
	locks  map[string]bool
	faults []*FaultHandle
	rng    *rand.Rand
}

type dir struct {
	entries map[string]*node // now
	synced  map[string]*node // as of the last SyncDir
	// durable: the directory's own entry in its parent is synced (the
	// root always is).
	durable bool
}

type node struct {
	data   []byte
	synced []byte // contents as of the last Sync
}

var _ journal.FS = (*FS)(nil)

// New returns an empty file system; seed drives torn writes.
func New(seed uint64) *FS {
	root := newDir()
	root.durable = true
	return &FS{dirs: map[string]*dir{"/": root}, locks: map[string]bool{}, rng: rand.New(rand.NewPCG(seed, 1))}
}

func newDir() *dir { return &dir{entries: map[string]*node{}, synced: map[string]*node{}} }

// Inject adds a fault.
func (f *FS) Inject(fault Fault) *FaultHandle {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := &FaultHandle{fs: f, f: &fault}
	f.faults = append(f.faults, h)
	return h
}

// fault returns the error an operation must fail with. Callers hold mu.
func (f *FS) fault(op Op, name string) error {
	for _, h := range f.faults {
		if h.f.Op != op || (h.f.Path != "" && !strings.Contains(name, h.f.Path)) {
			continue
		}
		if h.f.Times > 0 && h.fired >= h.f.Times {
			continue
		}
		h.fired++
		return &fs.PathError{Op: op.String(), Path: name, Err: h.f.Err}
	}
	return nil
}

// Crash models a machine crash and restart: a directory whose entry (or an
// ancestor's) was never synced into its parent is gone with everything in
// it, every file reverts to what was synced (with tear, a random prefix of
// what was appended after that is kept too), every directory to its synced
// entries, and every lock is released.
func (f *FS) Crash(tear bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p := range f.dirs {
		if !f.survives(p) {
			delete(f.dirs, p)
		}
	}
	for _, d := range f.dirs {
		d.entries = cloneMap(d.synced)
		for _, n := range d.entries {
			kept := n.synced
			if tear && len(n.data) > len(n.synced) && string(n.data[:len(n.synced)]) == string(n.synced) {
				kept = n.data[:len(n.synced)+f.rng.IntN(len(n.data)-len(n.synced)+1)]
			}
			n.data = slices.Clone(kept)
			n.synced = slices.Clone(kept)
		}
	}
	f.locks = map[string]bool{}
}

// survives reports whether directory p and every ancestor have a synced
// entry in their parents. Callers hold mu.
func (f *FS) survives(p string) bool {
	for ; p != "/"; p = path.Dir(p) {
		if d, ok := f.dirs[p]; !ok || !d.durable {
			return false
		}
	}
	return true
}

// ReleaseLocks models the death of the process alone (no data is lost):
// every lock is released.
func (f *FS) ReleaseLocks() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.locks = map[string]bool{}
}

func cloneMap(m map[string]*node) map[string]*node {
	out := make(map[string]*node, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func clean(name string) string { return path.Clean("/" + name) }

// lookup returns the directory and base name of name. Callers hold mu.
func (f *FS) lookup(name string) (*dir, string, error) {
	name = clean(name)
	d, ok := f.dirs[path.Dir(name)]
	if !ok {
		return nil, "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return d, path.Base(name), nil
}

func (f *FS) MkdirAll(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for p := clean(name); ; p = path.Dir(p) {
		if _, ok := f.dirs[p]; !ok {
			f.dirs[p] = newDir()
		}
		if p == "/" {
			return nil
		}
	}
}

func (f *FS) ReadDir(name string) ([]journal.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = clean(name)
	d, ok := f.dirs[name]
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	var out []journal.Entry
	for n := range d.entries {
		out = append(out, journal.Entry{Name: n})
	}
	for p := range f.dirs {
		if p != "/" && path.Dir(p) == name {
			out = append(out, journal.Entry{Name: path.Base(p), Dir: true})
		}
	}
	slices.SortFunc(out, func(a, b journal.Entry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (f *FS) ReadFile(name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, base, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	n, ok := d.entries[base]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return slices.Clone(n.data), nil
}

// WriteFile replaces a file's contents, durably (for tests that damage a
// journal).
func (f *FS) WriteFile(name string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, base, err := f.lookup(name)
	if err != nil {
		return err
	}
	n := &node{data: slices.Clone(data), synced: slices.Clone(data)}
	d.entries[base] = n
	d.synced[base] = n
	return nil
}

func (f *FS) Create(name string) (journal.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(OpCreate, clean(name)); err != nil {
		return nil, err
	}
	d, base, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	n, ok := d.entries[base]
	if ok {
		n.data = nil
	} else {
		n = &node{}
		d.entries[base] = n
	}
	return &file{fs: f, n: n, name: clean(name)}, nil
}

func (f *FS) OpenFile(name string) (journal.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(OpOpen, clean(name)); err != nil {
		return nil, err
	}
	d, base, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	n, ok := d.entries[base]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &file{fs: f, n: n, name: clean(name)}, nil
}

func (f *FS) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(OpRemove, clean(name)); err != nil {
		return err
	}
	d, base, err := f.lookup(name)
	if err != nil {
		return err
	}
	if _, ok := d.entries[base]; !ok {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	delete(d.entries, base)
	return nil
}

func (f *FS) Rename(oldName, newName string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fault(OpRename, clean(oldName)); err != nil {
		return err
	}
	od, ob, err := f.lookup(oldName)
	if err != nil {
		return err
	}
	nd, nb, err := f.lookup(newName)
	if err != nil {
		return err
	}
	n, ok := od.entries[ob]
	if !ok {
		return &fs.PathError{Op: "rename", Path: oldName, Err: fs.ErrNotExist}
	}
	delete(od.entries, ob)
	nd.entries[nb] = n
	return nil
}

func (f *FS) SyncDir(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = clean(name)
	if err := f.fault(OpSyncDir, name); err != nil {
		return err
	}
	d, ok := f.dirs[name]
	if !ok {
		return &fs.PathError{Op: "sync", Path: name, Err: fs.ErrNotExist}
	}
	d.synced = cloneMap(d.entries)
	for p, sub := range f.dirs {
		if p != "/" && path.Dir(p) == name {
			sub.durable = true
		}
	}
	return nil
}

func (f *FS) Lock(name string) (io.Closer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = clean(name)
	if f.locks[name] {
		return nil, journal.ErrLocked
	}
	f.locks[name] = true
	return &lock{fs: f, name: name}, nil
}

type lock struct {
	fs   *FS
	name string
	once sync.Once
}

func (l *lock) Close() error {
	l.once.Do(func() {
		l.fs.mu.Lock()
		delete(l.fs.locks, l.name)
		l.fs.mu.Unlock()
	})
	return nil
}

type file struct {
	fs     *FS
	n      *node
	name   string
	closed bool
}

var errClosed = errors.New("memfs: file closed")

func (h *file) WriteAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return 0, errClosed
	}
	err := h.fs.fault(OpWrite, h.name)
	if err != nil {
		p = p[:len(p)/2]
	}
	if end := off + int64(len(p)); end > int64(len(h.n.data)) {
		h.n.data = append(h.n.data, make([]byte, end-int64(len(h.n.data)))...)
	}
	copy(h.n.data[off:], p)
	return len(p), err
}

func (h *file) Sync() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return errClosed
	}
	if err := h.fs.fault(OpSync, h.name); err != nil {
		return err
	}
	h.n.synced = slices.Clone(h.n.data)
	return nil
}

func (h *file) Truncate(size int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return errClosed
	}
	if size < int64(len(h.n.data)) {
		h.n.data = h.n.data[:size]
	} else {
		h.n.data = append(h.n.data, make([]byte, size-int64(len(h.n.data)))...)
	}
	return nil
}

// Allocate extends the file with zeros up to off+n, as fallocate does; it
// is not durable until Sync.
func (h *file) Allocate(off, n int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return errClosed
	}
	if err := h.fs.fault(OpAllocate, h.name); err != nil {
		return err
	}
	if end := off + n; end > int64(len(h.n.data)) {
		h.n.data = append(h.n.data, make([]byte, end-int64(len(h.n.data)))...)
	}
	return nil
}

func (h *file) Close() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	h.closed = true
	return nil
}
