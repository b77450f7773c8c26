package objstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// localTempPrefix starts the name of every temp file of the local backend;
// keys may not use it (ValidateKey), and List skips it.
const localTempPrefix = ".objstore-tmp-"

// localStaleTempAge is how old (by modification time) a temp file must be
// for RemoveStaleTemps to remove it as left by a crash. Another process may share
// the directory and be writing a temp file right now; a write takes
// seconds, so one untouched for an hour is abandoned. Should a writer stall
// that long all the same, its rename or link then fails and its Put
// reports an error: no object is lost or torn.
const localStaleTempAge = time.Hour

// Local is a Store on a local directory: key "a/b/c" is the file
// DIR/a/b/c. Writes are atomic and durable when they return: the data goes
// to a temp file in the target's directory, which is fsynced and then
// renamed (Put) or hard-linked (PutIfAbsent) into place, and the directory
// is fsynced. Several processes may share one directory: link(2) gives
// PutIfAbsent exactly one winner. Opening the store writes nothing (not
// even to remove what a crash left): the store's writer removes the
// abandoned temp files with RemoveStaleTemps.
//
// Context cancellation is checked before each operation (and between
// directories while listing); a file system call in progress is not
// interrupted.
type Local struct {
	root string
	// noSync skips every fsync: writes then survive a crash of the process
	// but not of the machine. Only the package's tests and benchmarks set
	// it (export_test.go).
	noSync bool
}

var _ Store = (*Local)(nil)

// NewLocal returns a store on dir, creating the directory if needed.
func NewLocal(dir string) (*Local, error) {
	if dir == "" {
		return nil, errors.New("objstore: local store: empty directory name")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("objstore: local store %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("objstore: local store: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("objstore: local store: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("objstore: local store %q: not a directory", abs)
	}
	return &Local{root: abs}, nil
}

// RemoveStaleTemps removes the temp files that a process that crashed
// between writing and renaming left in the store (up to one object's size
// each), once they are an hour old (localStaleTempAge): another process
// sharing the directory may still be writing a younger one. It walks the
// whole store, so it is for the store's writer to run, in the background.
// It is best effort: what cannot be read or removed stays, invisible to
// List, until a later call. It returns how many files it removed, and
// ctx's error if ctx ended the walk.
func (l *Local) RemoveStaleTemps(ctx context.Context) (int, error) {
	cutoff := time.Now().Add(-localStaleTempAge)
	removed := 0
	err := filepath.WalkDir(l.root, func(path string, d fs.DirEntry, err error) error {
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if err != nil {
			return nil // an unreadable directory: skip it, keep walking
		}
		if !d.Type().IsRegular() || !strings.HasPrefix(d.Name(), localTempPrefix) {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().Before(cutoff) && os.Remove(path) == nil {
			removed++
		}
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("objstore: removing stale temp files in %s: %w", l.root, err)
	}
	return removed, nil
}

// Dir returns the store's root directory.
func (l *Local) Dir() string { return l.root }

func (l *Local) path(key string) string {
	return filepath.Join(l.root, filepath.FromSlash(key))
}

// begin checks the context and the key, and returns the key's file path.
func (l *Local) begin(ctx context.Context, op, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("objstore: %s %q: %w", op, key, err)
	}
	if err := ValidateKey(key); err != nil {
		return "", fmt.Errorf("objstore: %s: %w", op, err)
	}
	return l.path(key), nil
}

// fsErr wraps a file system error, mapping "does not exist" (and "a path
// component is a file") to ErrNotFound.
func fsErr(op, key string, err error) error {
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("objstore: %s %q: %w", op, key, ErrNotFound)
	}
	return fmt.Errorf("objstore: %s %q: %w", op, key, err)
}

// openRegular opens the key's file, treating a directory as not found.
func openRegular(op, key, path string) (*os.File, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fsErr(op, key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fsErr(op, key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("objstore: %s %q: %w", op, key, ErrNotFound)
	}
	return f, fi, nil
}

// Get reads the whole file.
func (l *Local) Get(ctx context.Context, key string) ([]byte, error) {
	path, err := l.begin(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	f, fi, err := openRegular("get", key, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, fmt.Errorf("objstore: get %q: %w", key, err)
	}
	return data, nil
}

// GetRange reads up to n bytes at off.
func (l *Local) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if err := checkRange(key, off, n); err != nil {
		return nil, err
	}
	path, err := l.begin(ctx, "get range", key)
	if err != nil {
		return nil, err
	}
	f, fi, err := openRegular("get range", key, path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := fi.Size()
	if off >= size {
		return []byte{}, nil
	}
	n = min(n, size-off)
	data := make([]byte, n)
	if _, err := f.ReadAt(data, off); err != nil {
		return nil, fmt.Errorf("objstore: get range %q [%d,+%d): %w", key, off, n, err)
	}
	return data, nil
}

// Head stats the file.
func (l *Local) Head(ctx context.Context, key string) (ObjectInfo, error) {
	path, err := l.begin(ctx, "head", key)
	if err != nil {
		return ObjectInfo{}, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return ObjectInfo{}, fsErr("head", key, err)
	}
	if !fi.Mode().IsRegular() {
		return ObjectInfo{}, fmt.Errorf("objstore: head %q: %w", key, ErrNotFound)
	}
	return ObjectInfo{Key: key, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Put writes a temp file, fsyncs it, renames it over the key's file and
// fsyncs the directory.
func (l *Local) Put(ctx context.Context, key string, data []byte) error {
	path, err := l.begin(ctx, "put", key)
	if err != nil {
		return err
	}
	tmp, err := l.writeTemp(key, path, data)
	if err != nil {
		return fmt.Errorf("objstore: put %q: %w", key, err)
	}
	err = os.Rename(tmp, path)
	if err != nil && isDirInTheWay(path) {
		// An empty directory left behind by deleted keys "key/...".
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		if isDir(path) {
			return fmt.Errorf("objstore: put %q: it holds objects: %w", key, ErrKeyConflict)
		}
		return fmt.Errorf("objstore: put %q: %w", key, err)
	}
	if err := l.syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("objstore: put %q: %w", key, err)
	}
	return nil
}

// PutIfAbsent writes a temp file, fsyncs it, links it to the key's name
// (link(2) fails if the name exists), removes the temp name and fsyncs the
// directory.
func (l *Local) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	path, err := l.begin(ctx, "put if absent", key)
	if err != nil {
		return err
	}
	tmp, err := l.writeTemp(key, path, data)
	if err != nil {
		return fmt.Errorf("objstore: put if absent %q: %w", key, err)
	}
	err = os.Link(tmp, path)
	if err != nil {
		defer os.Remove(tmp)
	}
	if errors.Is(err, fs.ErrExist) && isDirInTheWay(path) {
		err = os.Link(tmp, path)
	}
	if errors.Is(err, fs.ErrExist) && isDir(path) {
		return fmt.Errorf("objstore: put if absent %q: it holds objects: %w", key, ErrKeyConflict)
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("objstore: put if absent %q: %w", key, ErrPreconditionFailed)
	}
	if err != nil {
		return fmt.Errorf("objstore: put if absent %q: %w", key, err)
	}
	// The object is in place: a temp name that cannot be removed is left
	// for List to ignore rather than reported as a failed write.
	_ = os.Remove(tmp)
	if err := l.syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("objstore: put if absent %q: %w", key, err)
	}
	return nil
}

func isDir(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.IsDir()
}

// isDirInTheWay removes path if it is an empty directory and reports
// whether it did.
func isDirInTheWay(path string) bool {
	fi, err := os.Lstat(path)
	if err != nil || !fi.IsDir() {
		return false
	}
	return os.Remove(path) == nil
}

// writeTemp writes data to a fresh, fsynced temp file in path's directory
// (creating the directories as needed) and returns its name.
func (l *Local) writeTemp(key, path string, data []byte) (string, error) {
	dir := filepath.Dir(path)
	if err := l.ensureDir(dir); err != nil {
		return "", err
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return "", err
	}
	tmp := filepath.Join(dir, localTempPrefix+hex.EncodeToString(rnd[:]))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, syscall.ENOTDIR) {
		return "", fmt.Errorf("a parent of %q is an object: %w", key, ErrKeyConflict)
	}
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = l.syncFile(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return "", err
	}
	return tmp, nil
}

// ensureDir creates dir and any missing parents under the root, fsyncing
// each parent that gained an entry so the new directory survives a crash.
func (l *Local) ensureDir(dir string) error {
	if dir == l.root {
		return nil
	}
	fi, err := os.Stat(dir)
	if err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%q is an object, not a directory: %w", dir, ErrKeyConflict)
		}
		return nil
	}
	if errors.Is(err, syscall.ENOTDIR) {
		return fmt.Errorf("a parent of %q is an object: %w", dir, ErrKeyConflict)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent := filepath.Dir(dir)
	if err := l.ensureDir(parent); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return l.syncDir(parent)
}

func (l *Local) syncFile(f *os.File) error {
	if l.noSync {
		return nil
	}
	return f.Sync()
}

func (l *Local) syncDir(dir string) error {
	if l.noSync {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %q: %w", dir, err)
	}
	return nil
}

// Delete removes the key's file; a missing file is not an error. Empty
// directories are left in place (they are invisible to List and removed by
// a later Put of the same name).
func (l *Local) Delete(ctx context.Context, key string) error {
	path, err := l.begin(ctx, "delete", key)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("objstore: delete %q: %w", key, err)
	}
	if fi.IsDir() {
		return nil // not an object
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("objstore: delete %q: %w", key, err)
	}
	if err := l.syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("objstore: delete %q: %w", key, err)
	}
	return nil
}

// List walks the directory tree in key order, skipping subtrees that cannot
// hold keys with the prefix or after StartAfter, and temp files.
func (l *Local) List(ctx context.Context, prefix string, opts ListOptions) (ListPage, error) {
	w := localLister{
		ctx:        ctx,
		prefix:     prefix,
		startAfter: opts.StartAfter,
		limit:      listLimit(opts),
	}
	// Start at the deepest directory that the prefix names completely.
	base := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		base = prefix[:i+1]
	}
	if base != "" && ValidateKey(strings.TrimSuffix(base, "/")) != nil {
		return ListPage{}, nil // no valid key can have this prefix
	}
	err := w.walk(l.path(base), base)
	if err != nil && !errors.Is(err, errListFull) {
		return ListPage{}, fmt.Errorf("objstore: list %q: %w", prefix, err)
	}
	return w.page, nil
}

var errListFull = errors.New("list page full")

type localLister struct {
	ctx        context.Context
	prefix     string
	startAfter string
	limit      int
	page       ListPage
}

type dirChild struct {
	name string // key of the file, or of the directory followed by "/"
	dir  bool
	info fs.DirEntry
}

// walk lists the directory dirPath, whose keys start with keyPrefix ("" or
// ending in "/").
func (w *localLister) walk(dirPath, keyPrefix string) error {
	if err := w.ctx.Err(); err != nil {
		return err
	}
	entries, err := os.ReadDir(dirPath)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil
	}
	if err != nil {
		return err
	}
	children := make([]dirChild, 0, len(entries))
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, localTempPrefix) {
			continue
		}
		key := keyPrefix + name
		switch {
		case e.IsDir():
			children = append(children, dirChild{name: key + "/", dir: true, info: e})
		case e.Type().IsRegular():
			children = append(children, dirChild{name: key, info: e})
		}
	}
	// Keys under directory "d/" all start with "d/", so sorting directories
	// by their name plus "/" makes a depth-first walk yield byte order.
	slices.SortFunc(children, func(a, b dirChild) int { return strings.Compare(a.name, b.name) })
	for _, c := range children {
		if c.dir {
			if !w.mayHold(c.name) {
				continue
			}
			if err := w.walk(filepath.Join(dirPath, filepath.Base(c.name)), c.name); err != nil {
				return err
			}
			continue
		}
		if !strings.HasPrefix(c.name, w.prefix) || c.name <= w.startAfter {
			continue
		}
		fi, err := c.info.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted while listing
		}
		if err != nil {
			return err
		}
		if len(w.page.Objects) == w.limit {
			w.page.Truncated = true
			return errListFull
		}
		w.page.Objects = append(w.page.Objects, ObjectInfo{Key: c.name, Size: fi.Size(), ModTime: fi.ModTime()})
	}
	return nil
}

// mayHold reports whether the subtree of directory key d (ending in "/")
// can contain a key that has the prefix and sorts after StartAfter.
func (w *localLister) mayHold(d string) bool {
	if !strings.HasPrefix(d, w.prefix) && !strings.HasPrefix(w.prefix, d) {
		return false
	}
	// Every key under d starts with d: if d sorts before StartAfter without
	// being its prefix, so does every key under d.
	if d < w.startAfter && !strings.HasPrefix(w.startAfter, d) {
		return false
	}
	return true
}
