package kvfs

import (
	"errors"
	"syscall"
)

// ErrStale is returned for an inode that no longer exists or whose generation
// does not match (maps to ESTALE / NFS3ERR_STALE).
var ErrStale error = syscall.ESTALE

// ErrNotSync is returned by SetAttr when its ctime guard does not match.
var ErrNotSync = errors.New("kvfs: ctime guard mismatch")

// StorageError marks a failure of the storage kvfs runs on: every error of
// its KV but ErrNoKey and ErrKVReadOnly comes out of kvfs wrapped in one.
// Whatever the cause holds (an errno of the object store's directory, of a
// mount under it, of a system call) is the storage's, never an answer of
// the filesystem: EACCES in it does not mean the caller lacks permission,
// nor ENOENT or ESTALE that a file is gone. Callers check for it before
// looking for an errno (errors.As); package nfs answers it NFS3ERR_IO.
type StorageError struct {
	Err error
}

func (e *StorageError) Error() string { return e.Err.Error() }
func (e *StorageError) Unwrap() error { return e.Err }

// isStale reports whether err is kvfs's own ErrStale (an inode that no
// longer exists), not an ESTALE of the storage.
func isStale(err error) bool {
	var storage *StorageError
	return errors.Is(err, ErrStale) && !errors.As(err, &storage)
}

// storageError marks err, an error of the KV, as a StorageError, leaving
// alone the errors that are answers rather than failures: a missing key
// and a store that takes no writes.
func storageError(err error) error {
	if err == nil || errors.Is(err, ErrNoKey) || errors.Is(err, ErrKVReadOnly) {
		return err
	}
	return &StorageError{Err: err}
}
