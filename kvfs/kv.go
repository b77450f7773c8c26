package kvfs

import (
	"context"
	"errors"
	"fmt"
	"syscall"
)

// ErrNoKey is what KV.Get returns (possibly wrapped) for a key that is not stored.
var ErrNoKey = errors.New("kvfs: key not found")

// ErrKVReadOnly is what a KV returns (wrapped, with its cause) for a write
// it does not take: its store is open read-only, or another writer has
// fenced it. kvfs passes it up as is: it matches syscall.EROFS, so the
// filesystem answers "read-only filesystem" (NFS3ERR_ROFS). Any other error
// of a KV is a failure of the storage, which kvfs marks as a StorageError.
var ErrKVReadOnly = fmt.Errorf("kvfs: the store takes no writes: %w", syscall.EROFS)

// KV is the ordered key-value store with atomic batches that kvfs runs on.
//
// Implementations must apply each Write atomically and in order: after a
// crash, the store holds exactly the batches of some prefix of the write
// order (at least every batch written with durable=true or before a
// successful Flush). Keys compare as unsigned bytes.
//
// Its errors are ErrNoKey for a missing key, ErrKVReadOnly for a write it
// does not take, and otherwise failures of the storage, whatever they wrap.
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

// storageKV is the KV as kvfs uses it: its errors are marked by
// storageError, so that no errno of the storage is taken for an answer of
// the filesystem.
type storageKV struct {
	kv KV
}

func (s storageKV) Get(ctx context.Context, key []byte) ([]byte, error) {
	v, err := s.kv.Get(ctx, key)
	if err != nil {
		return nil, storageError(err)
	}
	return v, nil
}

func (s storageKV) NewIterator(ctx context.Context, lower, upper []byte) (KVIterator, error) {
	it, err := s.kv.NewIterator(ctx, lower, upper)
	if err != nil {
		return nil, storageError(err)
	}
	return storageIterator{it}, nil
}

func (s storageKV) Write(ctx context.Context, ops []KVOp, durable bool) error {
	return storageError(s.kv.Write(ctx, ops, durable))
}

func (s storageKV) Flush(ctx context.Context) error {
	return storageError(s.kv.Flush(ctx))
}

// storageIterator marks the errors of a KV's iterator as storageKV does.
type storageIterator struct {
	KVIterator
}

func (it storageIterator) Err() error   { return storageError(it.KVIterator.Err()) }
func (it storageIterator) Close() error { return storageError(it.KVIterator.Close()) }

// KVIterator walks a key range. Call Next before the first Key.
type KVIterator interface {
	Next() bool
	// Key and Value are valid until the next call of Next; callers copy them
	// to keep them, and never modify them (they may be a cache's bytes).
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
