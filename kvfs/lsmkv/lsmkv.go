package lsmkv

import (
	"context"
	"errors"
	"fmt"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/lsm"
)

// KV adapts an lsm database to the key-value interface kvfs runs on.
type KV struct {
	db *lsm.DB
}

var _ kvfs.KV = KV{}

// New returns db as a kvfs.KV.
func New(db *lsm.DB) KV { return KV{db: db} }

// Get returns the value of key, or kvfs.ErrNoKey.
func (k KV) Get(ctx context.Context, key []byte) ([]byte, error) {
	v, err := k.db.Get(ctx, key)
	if errors.Is(err, lsm.ErrNotFound) {
		return nil, kvfs.ErrNoKey
	}
	return v, translate(err)
}

// NewIterator iterates over the keys in [lower, upper) of one snapshot.
func (k KV) NewIterator(ctx context.Context, lower, upper []byte) (kvfs.KVIterator, error) {
	it, err := k.db.NewIterator(ctx, lower, upper)
	if err != nil {
		return nil, translate(err)
	}
	return it, nil
}

// Write applies ops as one atomic batch; durable waits until it is in the
// store.
func (k KV) Write(ctx context.Context, ops []kvfs.KVOp, durable bool) error {
	b := lsm.NewBatch()
	defer b.Release()
	size := 0
	for _, op := range ops {
		if op.Delete {
			size += lsm.DeleteSize(op.Key)
		} else {
			size += lsm.PutSize(op.Key, op.Value)
		}
	}
	b.Grow(size)
	for _, op := range ops {
		if op.Delete {
			b.Delete(op.Key)
		} else {
			b.Put(op.Key, op.Value)
		}
	}
	return translate(k.db.Write(ctx, b, lsm.WriteOptions{AwaitDurable: durable}))
}

// Flush makes every write so far durable.
func (k KV) Flush(ctx context.Context) error {
	return translate(k.db.Flush(ctx))
}

// translate makes a fenced or read-only database kvfs.ErrKVReadOnly, a
// read-only filesystem to the layers above (NFS3ERR_ROFS), keeping the
// cause. Every other error is a failure of the storage, which kvfs marks.
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, lsm.ErrFenced) || errors.Is(err, lsm.ErrReadOnly) {
		return fmt.Errorf("%w: %w", kvfs.ErrKVReadOnly, err)
	}
	return err
}
