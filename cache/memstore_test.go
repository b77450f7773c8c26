package cache

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/zerofs-go/zerofsd/objstore"
)

// memStore is a minimal in-memory objstore.Store that counts reads and can
// run a hook inside GetRange (to block or interleave), one in Get after it
// has read the object, before it returns it, and one in Put and PutIfAbsent
// after the object is written, before they return. With getRangeErr set,
// every GetRange fails with it once its hook has run (a store that is down).
type memStore struct {
	mu      sync.Mutex
	objects map[string][]byte

	gets, getRanges atomic.Int64
	rangeLog        []string // "key off n" of every GetRange, guarded by mu
	getRangeHook    func(key string, off, n int64)
	getRangeErr     error
	getHook         func(key string)
	putHook         func(key string, data []byte)
}

func newMemStore() *memStore { return &memStore{objects: make(map[string][]byte)} }

func (m *memStore) Get(ctx context.Context, key string) ([]byte, error) {
	m.gets.Add(1)
	m.mu.Lock()
	b, ok := m.objects[key]
	b = slices.Clone(b)
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("get %q: %w", key, objstore.ErrNotFound)
	}
	if m.getHook != nil {
		m.getHook(key)
	}
	return b, nil
}

func (m *memStore) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	m.getRanges.Add(1)
	if m.getRangeHook != nil {
		m.getRangeHook(key, off, n)
	}
	if m.getRangeErr != nil {
		return nil, m.getRangeErr
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rangeLog = append(m.rangeLog, fmt.Sprintf("%s %d %d", key, off, n))
	b, ok := m.objects[key]
	if !ok {
		return nil, fmt.Errorf("get range %q: %w", key, objstore.ErrNotFound)
	}
	if off >= int64(len(b)) {
		return []byte{}, nil
	}
	end := int64(len(b))
	if n < end-off {
		end = off + n
	}
	return slices.Clone(b[off:end]), nil
}

func (m *memStore) Head(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[key]
	if !ok {
		return objstore.ObjectInfo{}, fmt.Errorf("head %q: %w", key, objstore.ErrNotFound)
	}
	return objstore.ObjectInfo{Key: key, Size: int64(len(b))}, nil
}

func (m *memStore) Put(ctx context.Context, key string, data []byte) error {
	m.mu.Lock()
	m.objects[key] = slices.Clone(data)
	m.mu.Unlock()
	if m.putHook != nil {
		m.putHook(key, data)
	}
	return nil
}

func (m *memStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	m.mu.Lock()
	if _, ok := m.objects[key]; ok {
		m.mu.Unlock()
		return fmt.Errorf("put %q: %w", key, objstore.ErrPreconditionFailed)
	}
	m.objects[key] = slices.Clone(data)
	m.mu.Unlock()
	if m.putHook != nil {
		m.putHook(key, data)
	}
	return nil
}

func (m *memStore) Delete(ctx context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objects, key)
	return nil
}

func (m *memStore) List(ctx context.Context, prefix string, opts objstore.ListOptions) (objstore.ListPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var page objstore.ListPage
	var keys []string
	for k := range m.objects {
		if strings.HasPrefix(k, prefix) && k > opts.StartAfter {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	limit := opts.Limit
	if limit <= 0 {
		limit = 1000
	}
	if len(keys) > limit {
		keys, page.Truncated = keys[:limit], true
	}
	for _, k := range keys {
		page.Objects = append(page.Objects, objstore.ObjectInfo{Key: k, Size: int64(len(m.objects[k]))})
	}
	return page, nil
}

func (m *memStore) takeRangeLog() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.rangeLog
	m.rangeLog = nil
	return l
}

var _ objstore.Store = (*memStore)(nil)
