package objstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Memory is a Store held in memory: a map plus a sorted key slice under one
// mutex. Data is copied in and out, so callers may reuse their buffers.
// It is meant for unit tests; nothing survives the process.
type Memory struct {
	mu      sync.RWMutex
	objects map[string]memObject
	keys    []string // sorted
	now     func() time.Time
}

type memObject struct {
	data    []byte
	modTime time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return NewMemoryClock(time.Now) }

// NewMemoryClock returns an empty in-memory store whose objects take their
// modification times from now (a test's clock).
func NewMemoryClock(now func() time.Time) *Memory {
	return &Memory{objects: make(map[string]memObject), now: now}
}

func (m *Memory) lookup(ctx context.Context, op, key string) (memObject, error) {
	if err := ctx.Err(); err != nil {
		return memObject{}, fmt.Errorf("objstore: %s %q: %w", op, key, err)
	}
	if err := ValidateKey(key); err != nil {
		return memObject{}, fmt.Errorf("objstore: %s: %w", op, err)
	}
	m.mu.RLock()
	obj, ok := m.objects[key]
	m.mu.RUnlock()
	if !ok {
		return memObject{}, fmt.Errorf("objstore: %s %q: %w", op, key, ErrNotFound)
	}
	return obj, nil
}

// Get returns a copy of the whole object.
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	obj, err := m.lookup(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	return append([]byte{}, obj.data...), nil
}

// GetRange returns a copy of up to n bytes starting at off.
func (m *Memory) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if err := checkRange(key, off, n); err != nil {
		return nil, err
	}
	obj, err := m.lookup(ctx, "get range", key)
	if err != nil {
		return nil, err
	}
	return sliceRange(obj.data, off, n), nil
}

// Head returns the object's size and modification time.
func (m *Memory) Head(ctx context.Context, key string) (ObjectInfo, error) {
	obj, err := m.lookup(ctx, "head", key)
	if err != nil {
		return ObjectInfo{}, err
	}
	return ObjectInfo{Key: key, Size: int64(len(obj.data)), ModTime: obj.modTime}, nil
}

// Put stores a copy of data under key.
func (m *Memory) Put(ctx context.Context, key string, data []byte) error {
	return m.put(ctx, "put", key, data, false)
}

// PutIfAbsent stores a copy of data under key unless the key exists.
func (m *Memory) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	return m.put(ctx, "put if absent", key, data, true)
}

func (m *Memory) put(ctx context.Context, op, key string, data []byte, ifAbsent bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objstore: %s %q: %w", op, key, err)
	}
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("objstore: %s: %w", op, err)
	}
	obj := memObject{data: append([]byte{}, data...), modTime: m.now()}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, exists := m.objects[key]; exists {
		if ifAbsent {
			return fmt.Errorf("objstore: %s %q: %w", op, key, ErrPreconditionFailed)
		}
	} else {
		if err := m.conflict(key); err != nil {
			return fmt.Errorf("objstore: %s %q: %w", op, key, err)
		}
		i, _ := slices.BinarySearch(m.keys, key)
		m.keys = slices.Insert(m.keys, i, key)
	}
	m.objects[key] = obj
	return nil
}

// conflict reports whether a new key would be a "directory" of an existing
// key or the other way round, as the file-based backends would.
func (m *Memory) conflict(key string) error {
	for i := strings.IndexByte(key, '/'); i >= 0; i = nextSlash(key, i) {
		if _, exists := m.objects[key[:i]]; exists {
			return fmt.Errorf("%w: %q is an object", ErrKeyConflict, key[:i])
		}
	}
	dir := key + "/"
	if i, _ := slices.BinarySearch(m.keys, dir); i < len(m.keys) && strings.HasPrefix(m.keys[i], dir) {
		return fmt.Errorf("%w: %q holds objects", ErrKeyConflict, key)
	}
	return nil
}

func nextSlash(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '/')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

// Delete removes key; a missing key is not an error.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("objstore: delete %q: %w", key, err)
	}
	if err := ValidateKey(key); err != nil {
		return fmt.Errorf("objstore: delete: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, exists := m.objects[key]; !exists {
		return nil
	}
	delete(m.objects, key)
	if i, found := slices.BinarySearch(m.keys, key); found {
		m.keys = slices.Delete(m.keys, i, i+1)
	}
	return nil
}

// List returns one page of the keys starting with prefix, in key order.
func (m *Memory) List(ctx context.Context, prefix string, opts ListOptions) (ListPage, error) {
	if err := ctx.Err(); err != nil {
		return ListPage{}, fmt.Errorf("objstore: list %q: %w", prefix, err)
	}
	limit := listLimit(opts)
	start := prefix
	if opts.StartAfter >= start {
		start = opts.StartAfter
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	i, found := slices.BinarySearch(m.keys, start)
	if found && start == opts.StartAfter {
		i++
	}
	var page ListPage
	for ; i < len(m.keys); i++ {
		key := m.keys[i]
		if !strings.HasPrefix(key, prefix) {
			break
		}
		if len(page.Objects) == limit {
			page.Truncated = true
			break
		}
		obj := m.objects[key]
		page.Objects = append(page.Objects, ObjectInfo{Key: key, Size: int64(len(obj.data)), ModTime: obj.modTime})
	}
	return page, nil
}

// Len returns the number of stored objects.
func (m *Memory) Len() int {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.keys)
}
