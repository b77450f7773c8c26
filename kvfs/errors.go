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
