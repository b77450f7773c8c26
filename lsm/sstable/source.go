package sstable

import (
	"context"

	"github.com/zerofs-go/zerofsd/objstore"
)

// ObjectSource reads an SST stored as one object of an objstore.Store, with
// ranged GETs. Stores return fresh buffers, as Source requires.
type ObjectSource struct {
	Store objstore.Store
	Key   string
}

// NewObjectSource returns a Source over the object key of store.
func NewObjectSource(store objstore.Store, key string) ObjectSource {
	return ObjectSource{Store: store, Key: key}
}

// ReadAt reads n bytes at off (fewer when the object ends first).
func (s ObjectSource) ReadAt(ctx context.Context, off, n int64) ([]byte, error) {
	return s.Store.GetRange(ctx, s.Key, off, n)
}

// OpenObject opens the SST stored under key: one Head for the size, then
// Open. Errors name the key.
func OpenObject(ctx context.Context, store objstore.Store, key string, opts ReaderOptions) (*Reader, error) {
	info, err := store.Head(ctx, key)
	if err != nil {
		return nil, err
	}
	return Open(ctx, key, info.Size, NewObjectSource(store, key), opts)
}
