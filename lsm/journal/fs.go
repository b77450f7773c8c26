package journal

import (
	"errors"
	"io"
	"os"

	"github.com/zerofs-go/zerofsd/internal/flock"
)

// FS is the file system a journal lives on: OSFS in production; tests use
// one that injects faults and models what survives a crash (package memfs).
type FS interface {
	MkdirAll(dir string) error
	// ReadDir lists a directory (sorted by name).
	ReadDir(dir string) ([]Entry, error)
	ReadFile(name string) ([]byte, error)
	// Create creates a file for writing, truncating an existing one.
	Create(name string) (File, error)
	// OpenFile opens an existing file for writing.
	OpenFile(name string) (File, error)
	Remove(name string) error
	Rename(oldName, newName string) error
	// SyncDir makes the directory's entries (created, removed, renamed
	// files) durable.
	SyncDir(dir string) error
	// Lock takes an exclusive lock on the file name (creating it) without
	// waiting; it fails with ErrLocked while another owner holds it.
	Lock(name string) (io.Closer, error)
}

// Entry is one directory entry.
type Entry struct {
	Name string
	Dir  bool
}

// File is a journal file open for writing.
type File interface {
	WriteAt(p []byte, off int64) (int, error)
	// Sync makes the written bytes (and the file's size) durable
	// (fdatasync).
	Sync() error
	Truncate(size int64) error
	// Allocate reserves n bytes at off as zeros, extending the file's
	// size, so that later writes there change no metadata and their
	// fdatasync writes only data. It fails with errors.ErrUnsupported
	// (wrapped) where the file system cannot reserve space.
	Allocate(off, n int64) error
	Close() error
}

// ErrLocked is returned (wrapped) when the journal directory is in use by
// another owner (another process, or another database in this one).
var ErrLocked = errors.New("journal: directory is in use")

// OSFS is the operating system's file system.
type OSFS struct{}

var _ FS = OSFS{}

func (OSFS) MkdirAll(dir string) error { return os.MkdirAll(dir, 0o755) }

func (OSFS) ReadDir(dir string) ([]Entry, error) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, len(des))
	for i, de := range des {
		out[i] = Entry{Name: de.Name(), Dir: de.IsDir()}
	}
	return out, nil
}

func (OSFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

func (OSFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (OSFS) OpenFile(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (OSFS) Remove(name string) error { return os.Remove(name) }

func (OSFS) Rename(oldName, newName string) error { return os.Rename(oldName, newName) }

func (OSFS) SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

func (OSFS) Lock(name string) (io.Closer, error) {
	f, err := flock.Lock(name)
	if errors.Is(err, flock.ErrLocked) {
		return nil, ErrLocked
	}
	return f, err
}

type osFile struct{ f *os.File }

func (o osFile) WriteAt(p []byte, off int64) (int, error) { return o.f.WriteAt(p, off) }
func (o osFile) Sync() error                              { return fdatasync(o.f) }
func (o osFile) Truncate(size int64) error                { return o.f.Truncate(size) }
func (o osFile) Allocate(off, n int64) error              { return fallocate(o.f, off, n) }
func (o osFile) Close() error                             { return o.f.Close() }
