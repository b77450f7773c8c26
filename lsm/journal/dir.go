package journal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"time"
)

const (
	lockName     = "LOCK"
	orphanedName = "orphaned"
	reasonName   = "REASON"
)

// Dir is a locked journal directory. Its methods are for one goroutine at a
// time: recovery before the Writer starts, cleanup after it stopped.
type Dir struct {
	fs     FS
	path   string
	lock   io.Closer
	next   uint64 // number of the next new file
	cipher Cipher // nil: files are written in the clear
}

// OpenDir creates (if needed) and locks the journal directory dir. fsys nil
// means OSFS. With a Cipher c, the files it begins are sealed, and sealed
// files are read with it; without one, files are written in the clear and
// reading a sealed file fails with ErrSealed. Files in the clear are read
// either way.
func OpenDir(fsys FS, dir string, c Cipher) (*Dir, error) {
	if fsys == nil {
		fsys = OSFS{}
	}
	if err := mkdirAll(fsys, dir); err != nil {
		return nil, err
	}
	lock, err := fsys.Lock(path.Join(dir, lockName))
	if err != nil {
		return nil, fmt.Errorf("journal: locking %s: %w", dir, err)
	}
	d := &Dir{fs: fsys, path: dir, lock: lock, next: 1, cipher: c}
	nums, err := journalFiles(fsys, dir)
	if err != nil {
		lock.Close()
		return nil, err
	}
	if len(nums) > 0 {
		d.next = nums[len(nums)-1] + 1
	}
	return d, nil
}

// Path is the directory's path.
func (d *Dir) Path() string { return d.path }

// Close releases the directory's lock.
func (d *Dir) Close() error { return d.lock.Close() }

// Empty reports whether the directory holds no journal file.
func (d *Dir) Empty() (bool, error) {
	nums, err := journalFiles(d.fs, d.path)
	return len(nums) == 0, err
}

func (d *Dir) file(name string) string { return path.Join(d.path, name) }

// TrimTorn cuts a torn write off the end of its file (or removes the file
// when its header is torn), durably.
func (d *Dir) TrimTorn(t *Torn) error {
	if t == nil {
		return nil
	}
	name := d.file(t.File)
	if t.WholeFile {
		if err := d.fs.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("journal: removing torn %s: %w", name, err)
		}
		return d.syncDir(d.path)
	}
	if err := d.cut(name, t.Offset); err != nil {
		return fmt.Errorf("journal: cutting the torn end of %s at %d: %w", name, t.Offset, err)
	}
	return nil
}

// cut truncates the file name to size bytes, durably.
func (d *Dir) cut(name string, size int64) error {
	f, err := d.fs.OpenFile(name)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// EmptyTo removes every journal file before the file name and cuts that
// one down to its header, durably: what is left of the journal up to name
// is one file that holds no record, whose header still names its database
// and writer epoch. It makes room for a new file on a full disk once the
// records of those files are all in the object store.
func (d *Dir) EmptyTo(name string) error {
	n, ok := parseFileName(name)
	if !ok {
		return fmt.Errorf("journal: %q is not the name of a journal file", name)
	}
	if err := d.RemoveBefore(n); err != nil {
		return err
	}
	file := d.file(name)
	data, err := d.fs.ReadFile(file)
	if err != nil {
		return fmt.Errorf("journal: reading %s: %w", file, err)
	}
	fh, err := decodeFileHeader(data)
	if err != nil {
		return fmt.Errorf("journal: %s: %w", file, err)
	}
	if len(data) == len(fh.raw) {
		return nil
	}
	if err := d.cut(file, int64(len(fh.raw))); err != nil {
		return fmt.Errorf("journal: cutting %s down to its header: %w", file, err)
	}
	return nil
}

// SetAside moves records of a group under orphaned/<time>/ with a REASON
// file saying why, and returns that directory. With whole, the whole group
// goes; otherwise only its damaged part (from g.Damage on), and the damaged
// file is cut where the damage begins. Nothing is deleted.
func (d *Dir) SetAside(g *Group, whole bool, reason string) (string, error) {
	if !whole && g.Damage == nil {
		return "", fmt.Errorf("journal: nothing damaged to set aside")
	}
	parent := d.file(orphanedName)
	dst := path.Join(parent, time.Now().UTC().Format("20060102T150405.000000000Z"))
	if err := d.fs.MkdirAll(dst); err != nil {
		return "", fmt.Errorf("journal: creating %s: %w", dst, err)
	}
	moving := whole
	var cut *Damage
	for _, name := range g.Files {
		if !moving && name == g.Damage.File {
			moving = true
			if g.Damage.Offset > 0 {
				// Copy the damaged part (behind the file's header), then cut it
				// off here: the records before it stay and are replayed.
				if err := d.copyTail(name, g.Damage.Offset, path.Join(dst, name)); err != nil {
					return "", err
				}
				cut = g.Damage
				continue
			}
		}
		if !moving {
			continue
		}
		err := d.fs.Rename(d.file(name), path.Join(dst, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue // its damaged part was set aside already
		}
		if err != nil {
			return "", fmt.Errorf("journal: moving %s to %s: %w", name, dst, err)
		}
	}
	if err := d.writeFile(path.Join(dst, reasonName), []byte(reason+"\n")); err != nil {
		return "", err
	}
	for _, dir := range []string{dst, parent, d.path} {
		if err := d.syncDir(dir); err != nil {
			return "", err
		}
	}
	if cut != nil {
		if err := d.TrimTorn(&Torn{File: cut.File, Offset: cut.Offset}); err != nil {
			return "", err
		}
	}
	return dst, nil
}

// copyTail writes name's header followed by its bytes from off on to dst.
// Sealed records stay readable there: they are bound to their file's
// header and their sequence numbers, not to their offsets.
func (d *Dir) copyTail(name string, off int64, dst string) error {
	data, err := d.fs.ReadFile(d.file(name))
	if err != nil {
		return fmt.Errorf("journal: reading %s: %w", d.file(name), err)
	}
	fh, err := decodeFileHeader(data)
	if err != nil {
		return fmt.Errorf("journal: %s: %w", name, err)
	}
	if off > int64(len(data)) || off < int64(len(fh.raw)) {
		return fmt.Errorf("journal: %s: offset %d outside the file", name, off)
	}
	out := append(append([]byte(nil), fh.raw...), data[off:]...)
	return d.writeFile(dst, out)
}

// writeFile creates name with data, durably (the directory is synced by
// the caller).
func (d *Dir) writeFile(name string, data []byte) error {
	f, err := d.fs.Create(name)
	if err != nil {
		return fmt.Errorf("journal: creating %s: %w", name, err)
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("journal: writing %s: %w", name, err)
	}
	return nil
}

// Begin starts a new journal file holding only the header h, durably (file
// and directory entry), and returns its number. With a Cipher the file is
// sealed, under a key of its own (a new random salt).
func (d *Dir) Begin(h Header) (uint64, error) {
	n, _, err := d.begin(h)
	return n, err
}

// begin is Begin that also returns the new file's codec.
func (d *Dir) begin(h Header) (uint64, *codec, error) {
	hdr, cd := AppendHeader(nil, h), plainCodec
	if d.cipher != nil {
		var err error
		if hdr, cd, err = newSealedFile(d.cipher, h); err != nil {
			return 0, nil, err
		}
	}
	n := d.next
	d.next++
	name := d.file(fileName(n))
	err := d.writeFile(name, hdr)
	if err == nil {
		err = d.syncDir(d.path)
	}
	if err != nil {
		// Nobody writes to it, nor would remove it: a disk that stays
		// full would gather one such file per attempt, each a damaged
		// group at the next recovery.
		d.removeFailed(name)
		return 0, nil, err
	}
	return n, cd, nil
}

// removeFailed removes a file begin gave up on, as well as it can.
func (d *Dir) removeFailed(name string) {
	if err := d.fs.Remove(name); err == nil {
		_ = d.syncDir(d.path)
	}
}

// RemoveBefore removes every journal file numbered below n, durably.
func (d *Dir) RemoveBefore(n uint64) error {
	nums, err := journalFiles(d.fs, d.path)
	if err != nil {
		return err
	}
	removed := false
	for _, m := range nums {
		if m >= n {
			break
		}
		if err := d.fs.Remove(d.file(fileName(m))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("journal: removing %s: %w", d.file(fileName(m)), err)
		}
		removed = true
	}
	if !removed {
		return nil
	}
	return d.syncDir(d.path)
}

// RemoveAll removes every journal file (not what was set aside), durably.
func (d *Dir) RemoveAll() error { return d.RemoveBefore(^uint64(0)) }

// mkdirAll creates dir and its missing parents durably: each directory it
// creates is synced into its parent, so that after a power cut the journal
// directory of a new database is still there with the files synced into
// it. A parent that cannot be listed for another reason than its absence
// is taken as existing (MkdirAll then says what is wrong).
func mkdirAll(fsys FS, dir string) error {
	var created []string
	for p := path.Clean(dir); ; p = path.Dir(p) {
		if _, err := fsys.ReadDir(p); err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
		created = append(created, p)
		if path.Dir(p) == p {
			break
		}
	}
	if err := fsys.MkdirAll(dir); err != nil {
		return fmt.Errorf("journal: creating %s: %w", dir, err)
	}
	for i := len(created) - 1; i >= 0; i-- {
		if parent := path.Dir(created[i]); parent != created[i] {
			if err := fsys.SyncDir(parent); err != nil {
				return fmt.Errorf("journal: syncing directory %s after creating %s: %w", parent, created[i], err)
			}
		}
	}
	return nil
}

func (d *Dir) syncDir(dir string) error {
	if err := d.fs.SyncDir(dir); err != nil {
		return fmt.Errorf("journal: syncing directory %s: %w", dir, err)
	}
	return nil
}
