package nfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/zerofs-go/zerofsd/kvfs"
)

// errGarbage marks arguments that could not be decoded (GARBAGE_ARGS).
var errGarbage = errors.New("nfs: undecodable arguments")

// garbage wraps a decoding error as errGarbage.
func garbage(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", errGarbage, err)
}

// errnoStatus maps the errno values a Filesystem returns to nfsstat3.
func errnoStatus(errno syscall.Errno) (Status, bool) {
	switch errno {
	case syscall.EPERM:
		return StatusPerm, true
	case syscall.ENOENT:
		return StatusNoEnt, true
	case syscall.EIO:
		return StatusIO, true
	case syscall.ENXIO:
		return StatusNXIO, true
	case syscall.EACCES:
		return StatusAcces, true
	case syscall.EEXIST:
		return StatusExist, true
	case syscall.EXDEV:
		return StatusXDev, true
	case syscall.ENODEV:
		return StatusNoDev, true
	case syscall.ENOTDIR:
		return StatusNotDir, true
	case syscall.EISDIR:
		return StatusIsDir, true
	case syscall.EINVAL:
		return StatusInval, true
	case syscall.EFBIG:
		return StatusFBig, true
	case syscall.ENOSPC:
		return StatusNoSpc, true
	case syscall.EROFS:
		return StatusROFS, true
	case syscall.EMLINK:
		return StatusMLink, true
	case syscall.ENAMETOOLONG:
		return StatusNameTooLong, true
	case syscall.ENOTEMPTY:
		return StatusNotEmpty, true
	case syscall.EDQUOT:
		return StatusDQuot, true
	case syscall.ESTALE:
		return StatusStale, true
	case syscall.ENOTSUP:
		return StatusNotSupp, true
	case syscall.EAGAIN:
		return StatusJukebox, true
	}
	return StatusIO, false
}

// statusOf maps a Filesystem error to an nfsstat3; known reports whether
// the error was an expected one (unknown errors are logged by the caller).
func statusOf(err error) (st Status, known bool) {
	if err == nil {
		return StatusOK, true
	}
	if errors.Is(err, kvfs.ErrNotSync) {
		return StatusNotSync, true
	}
	if errors.Is(err, kvfs.ErrKVReadOnly) {
		// A fenced or read-only store: the one failure of the storage
		// that is an answer.
		return StatusROFS, true
	}
	if storageFailure(err) {
		// A full disk under the storage (a local store's directory, the
		// local journal's) is the client's to hear as such: a write it
		// can retry after freeing space, not an I/O error.
		switch {
		case errors.Is(err, syscall.ENOSPC):
			return StatusNoSpc, true
		case errors.Is(err, syscall.EDQUOT):
			return StatusDQuot, true
		}
		return StatusIO, false
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if st, ok := errnoStatus(errno); ok {
			return st, true
		}
	}
	// Anything else is a failure of the storage under the filesystem (an
	// object store that stayed unreachable through its retries, a corrupt
	// object): a hard I/O error to the client (EIO), logged by the caller.
	return StatusIO, false
}

// storageFailure reports whether err failed in the storage under the
// filesystem, so that an errno it holds is not the filesystem's answer:
// kvfs marks its store's errors (kvfs.StorageError), and an errno that
// comes out of an OS call (fs.PathError, os.LinkError, os.SyscallError)
// can only be the storage's too, since a Filesystem answers with bare
// errno values. An unreadable store directory is not "permission denied",
// a missing object not a removed file (or a stale handle).
func storageFailure(err error) bool {
	var (
		storage *kvfs.StorageError
		path    *fs.PathError
		link    *os.LinkError
		sys     *os.SyscallError
	)
	return errors.As(err, &storage) || errors.As(err, &path) || errors.As(err, &link) || errors.As(err, &sys)
}
