package lsm

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound is returned by Get when the key has no value.
	ErrNotFound = errors.New("lsm: key not found")
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("lsm: database closed")
	// ErrFenced is returned once a newer writer has opened the database:
	// this instance will never acknowledge another write.
	ErrFenced = errors.New("lsm: fenced by a newer writer")
	// ErrCorrupt is returned (wrapped, naming the object) when a stored
	// object fails its checksum or does not decode.
	ErrCorrupt = errors.New("lsm: corrupt object")
	// ErrReadOnly is returned by writes to a database opened with
	// OpenReadOnly.
	ErrReadOnly = errors.New("lsm: database is read-only")
	// ErrCheckpointExists is returned by Checkpoint for a name in use.
	ErrCheckpointExists = errors.New("lsm: checkpoint already exists")
	// ErrCheckpointNotFound is returned for an unknown checkpoint name.
	ErrCheckpointNotFound = errors.New("lsm: checkpoint not found")
	// ErrNoDatabase is returned (wrapped, together with objstore.ErrNotFound)
	// by what reads an existing database (OpenReadOnly, checkpoints from
	// outside) when the store holds none: no manifest.
	ErrNoDatabase = errors.New("lsm: no database in this store (no manifest)")
)

// errAlreadyDone aborts a manifest update that an earlier attempt applied.
var errAlreadyDone = errors.New("lsm: update already applied")

// corruptError wraps a decoder error so that it matches ErrCorrupt and the
// format package's own sentinel, naming the object.
type corruptError struct {
	object string
	err    error
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("lsm: corrupt object %s: %v", e.object, e.err)
}

func (e *corruptError) Unwrap() []error { return []error{ErrCorrupt, e.err} }

func corrupt(object string, err error) error { return &corruptError{object: object, err: err} }
