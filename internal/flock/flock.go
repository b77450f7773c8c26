// Package flock takes exclusive advisory locks on files (flock(2)), so that
// two processes, or two owners in one process, never share a directory.
//
// The lock belongs to the open file: closing it releases the lock, and so
// does the death of the process, so a crash never leaves a stale lock.
package flock

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// ErrLocked is returned (wrapped) by Lock when another open file holds the lock.
var ErrLocked = errors.New("locked by another owner")

// Lock opens (creating it if needed) the file at path and takes an
// exclusive lock on it without waiting. Closing the returned file releases
// the lock.
func Lock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock file %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", path, ErrLocked)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return f, nil
}
