package storetest

import (
	"context"
	"fmt"
	"strings"

	"github.com/zerofs-go/zerofsd/objstore"
)

// Prefixed is a view of an objstore.Store under a key prefix: key k of the
// view is key prefix+k of the inner store, and List returns keys relative
// to the prefix.
// Tests use it to share one store (one S3 bucket) between independent runs;
// the daemon does not need it (an S3 store has its own prefix, a local store
// its own directory).
type Prefixed struct {
	inner  objstore.Store
	prefix string
}

var _ objstore.Store = (*Prefixed)(nil)

// NewPrefixed returns a view of inner under prefix. The prefix is
// normalised to end with "/" (so "exports/a" and "exports/a/" are the same
// view); an empty prefix returns inner unchanged.
func NewPrefixed(inner objstore.Store, prefix string) objstore.Store {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return inner
	}
	return &Prefixed{inner: inner, prefix: prefix + "/"}
}

// Prefix returns the normalised prefix, ending with "/".
func (p *Prefixed) Prefix() string { return p.prefix }

// Inner returns the wrapped store.
func (p *Prefixed) Inner() objstore.Store { return p.inner }

// checkKey validates the view-relative key, so that an empty or absolute
// key cannot name the prefix itself or escape it.
func (p *Prefixed) checkKey(op, key string) error {
	if err := objstore.ValidateKey(key); err != nil {
		return fmt.Errorf("storetest: %s under %q: %w", op, p.prefix, err)
	}
	return nil
}

// Get reads prefix+key.
func (p *Prefixed) Get(ctx context.Context, key string) ([]byte, error) {
	if err := p.checkKey("get", key); err != nil {
		return nil, err
	}
	return p.inner.Get(ctx, p.prefix+key)
}

// GetRange reads a range of prefix+key.
func (p *Prefixed) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if err := p.checkKey("get range", key); err != nil {
		return nil, err
	}
	return p.inner.GetRange(ctx, p.prefix+key, off, n)
}

// Head describes prefix+key; the returned Key is relative to the prefix.
func (p *Prefixed) Head(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	if err := p.checkKey("head", key); err != nil {
		return objstore.ObjectInfo{}, err
	}
	info, err := p.inner.Head(ctx, p.prefix+key)
	if err != nil {
		return objstore.ObjectInfo{}, err
	}
	info.Key = key
	return info, nil
}

// Put writes prefix+key.
func (p *Prefixed) Put(ctx context.Context, key string, data []byte) error {
	if err := p.checkKey("put", key); err != nil {
		return err
	}
	return p.inner.Put(ctx, p.prefix+key, data)
}

// PutIfAbsent writes prefix+key unless it exists.
func (p *Prefixed) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if err := p.checkKey("put if absent", key); err != nil {
		return err
	}
	return p.inner.PutIfAbsent(ctx, p.prefix+key, data)
}

// Delete removes prefix+key.
func (p *Prefixed) Delete(ctx context.Context, key string) error {
	if err := p.checkKey("delete", key); err != nil {
		return err
	}
	return p.inner.Delete(ctx, p.prefix+key)
}

// List lists keys under prefix+prefix, returned relative to the view.
func (p *Prefixed) List(ctx context.Context, prefix string, opts objstore.ListOptions) (objstore.ListPage, error) {
	inner := objstore.ListOptions{Limit: opts.Limit}
	if opts.StartAfter != "" {
		inner.StartAfter = p.prefix + opts.StartAfter
	}
	page, err := p.inner.List(ctx, p.prefix+prefix, inner)
	if err != nil {
		return objstore.ListPage{}, err
	}
	for i := range page.Objects {
		key, ok := strings.CutPrefix(page.Objects[i].Key, p.prefix)
		if !ok {
			return objstore.ListPage{}, fmt.Errorf("storetest: list under %q: inner store returned key %q outside the prefix", p.prefix, page.Objects[i].Key)
		}
		page.Objects[i].Key = key
	}
	return page, nil
}
