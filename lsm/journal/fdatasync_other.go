//go:build !linux

package journal

import (
	"errors"
	"os"
)

// fdatasync is fsync where fdatasync is not available.
func fdatasync(f *os.File) error { return f.Sync() }

// fallocate is not available: journal files grow as they are written.
func fallocate(*os.File, int64, int64) error { return errors.ErrUnsupported }
