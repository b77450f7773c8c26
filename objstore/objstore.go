package objstore

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned (wrapped) when the named object does not exist.
var ErrNotFound = errors.New("object not found")

// ErrPreconditionFailed is returned (wrapped) by PutIfAbsent when the object
// already exists.
var ErrPreconditionFailed = errors.New("precondition failed: object exists")

// ObjectInfo describes one stored object.
type ObjectInfo struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// ListOptions selects one page of a listing.
type ListOptions struct {
	// StartAfter lists only keys strictly greater than this one ("" = from the start).
	StartAfter string
	// Limit caps the number of objects returned; 0 means the backend's default (1000).
	Limit int
}

// ListPage is one page of a listing, sorted by key.
type ListPage struct {
	Objects []ObjectInfo
	// Truncated is true when more keys follow; pass the last key as StartAfter to continue.
	Truncated bool
}

// Store is an object store: a flat namespace of immutable-once-written byte
// objects. Keys are slash-separated strings; no key may be a "directory" of
// another (never store both "a" and "a/b"). All methods are safe for
// concurrent use and honour ctx cancellation. The bytes Get and GetRange
// return belong to the caller, who may change them; the data given to Put
// and PutIfAbsent is not kept after they return.
type Store interface {
	// Get returns the whole object.
	Get(ctx context.Context, key string) ([]byte, error)
	// GetRange returns n bytes starting at off. Fewer bytes are returned only
	// when the object ends first; an offset at or past the end returns an
	// empty slice and no error.
	GetRange(ctx context.Context, key string, off, n int64) ([]byte, error)
	// Head returns the object's metadata.
	Head(ctx context.Context, key string) (ObjectInfo, error)
	// Put stores the object atomically, replacing any previous one.
	Put(ctx context.Context, key string, data []byte) error
	// PutIfAbsent stores the object atomically only if no object has that key;
	// otherwise it fails with ErrPreconditionFailed.
	PutIfAbsent(ctx context.Context, key string, data []byte) error
	// Delete removes the object; deleting a missing object is not an error.
	Delete(ctx context.Context, key string) error
	// List returns one page of the objects whose keys start with prefix, in key order.
	List(ctx context.Context, prefix string, opts ListOptions) (ListPage, error)
}

// PutPreparer is implemented by a Store that transforms what it stores
// (package crypt's seals every object): PreparePut does that work for one
// object ahead of its PUT, so that a caller writing objects one after
// another (the WAL writer) prepares the next while the current one is on
// its way to the store. data is not kept after PreparePut returns.
type PutPreparer interface {
	PreparePut(key string, data []byte) (PreparedPut, error)
}

// PreparedPut is one object made ready by PreparePut for its key. Each
// PutIfAbsent stores the same bytes, so a retry after an ambiguous failure
// writes what the first attempt may have written.
type PreparedPut interface {
	// PutIfAbsent is Store.PutIfAbsent of the prepared object. Once it
	// has succeeded, the object is spent: the store may reuse its memory,
	// and a later call fails.
	PutIfAbsent(ctx context.Context) error
}
