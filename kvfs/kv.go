package kvfs

import (
	"context"
	"errors"
)

// ErrNoKey is what KV.Get returns (possibly wrapped) for a key that is not stored.
var ErrNoKey = errors.New("kvfs: key not found")

// KV is the ordered key-value store with atomic batches that kvfs runs on.
//
// Implementations must apply each Write atomically and in order: after a
// crash, the store holds exactly the batches of some prefix of the write
// order (at least every batch written with durable=true or before a
// successful Flush). Keys compare as unsigned bytes.
type KV interface {
	// Get returns the value of key, or an error matching errors.Is(err, ErrNoKey).
	// The caller may keep but must not modify the returned slice.
	Get(ctx context.Context, key []byte) ([]byte, error)
	// NewIterator returns an iterator over the keys in [lower, upper) in
	// ascending order, seeing one consistent snapshot, which holds every
	// Write that returned before NewIterator was called. A nil upper means
	// no upper bound.
	NewIterator(ctx context.Context, lower, upper []byte) (KVIterator, error)
	// Write applies ops atomically. With durable set it returns only once the
	// batch (and every batch before it) survives a crash. Write must not keep
	// references to the keys and values of ops after it returns (kvfs passes
	// slices of the caller's write buffer).
	Write(ctx context.Context, ops []KVOp, durable bool) error
	// Flush makes everything written so far durable.
	Flush(ctx context.Context) error
}

// KVIterator walks a key range. Call Next before the first Key.
type KVIterator interface {
	Next() bool
	// Key and Value are valid until the next call of Next; callers copy them to keep them.
	Key() []byte
	Value() []byte
	// ValueLen is len(Value()), answered without reading the value where
	// the KV keeps large values apart (kvfs asks it to account for chunks it
	// deletes without reading them).
	ValueLen() int
	Err() error
	Close() error
}

// KVOp is one operation of a batch: a put of Value under Key, or a delete of Key.
type KVOp struct {
	Key    []byte
	Value  []byte
	Delete bool
}
