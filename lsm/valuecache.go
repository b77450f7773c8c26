package lsm

import (
	"slices"
	"sync"

	"github.com/zerofs-go/zerofsd/lsm/vlog"
)

// valueCache keeps values read from value and WAL objects (file data,
// checked and decompressed) in memory, least recently used first out,
// bounded by their bytes: the block cache holds SST blocks, which point at
// such values without holding them. Objects are immutable, so a value
// never changes under its pointer. A value over an eighth of the capacity
// is not kept. Safe for concurrent use.
type valueCache struct {
	mu       sync.Mutex
	capacity int64
	bytes    int64
	entries  map[vlog.Pointer]*valueEntry
	lru      valueEntry // sentinel of a circular list; lru.next is the most recent
	hits     uint64
	misses   uint64
}

type valueEntry struct {
	ptr   vlog.Pointer
	value []byte
	// charge is what the entry counts against the capacity: its value's
	// allocation and the entry's own overhead.
	charge     int64
	prev, next *valueEntry
}

// ValueCacheStats is a snapshot of the value cache's counters.
type ValueCacheStats struct {
	Hits, Misses    uint64
	Bytes, Capacity int64
}

// newValueCache returns a cache of at most capacity bytes of values; nil
// (which caches nothing) when capacity <= 0.
func newValueCache(capacity int64) *valueCache {
	if capacity <= 0 {
		return nil
	}
	c := &valueCache{capacity: capacity, entries: make(map[vlog.Pointer]*valueEntry)}
	c.lru.next, c.lru.prev = &c.lru, &c.lru
	return c
}

// get returns a copy of the value p points at, if cached.
func (c *valueCache) get(p vlog.Pointer) ([]byte, bool) {
	v, ok := c.peek(p)
	if !ok {
		return nil, false
	}
	return append([]byte(nil), v...), true // copied outside the lock
}

// peek returns the cached value p points at, which nobody may change.
func (c *valueCache) peek(p vlog.Pointer) ([]byte, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[p]
	if !ok {
		c.misses++
		return nil, false
	}
	c.hits++
	c.unlink(e)
	c.pushFront(e)
	return e.value, true
}

// valueEntryOverhead is charged for each entry beside its value: the map's
// key and slot, the entry and its links (measured: about 270 bytes).
const valueEntryOverhead = 256

// add keeps a copy of value, the value p points at.
func (c *valueCache) add(p vlog.Pointer, value []byte) {
	if c == nil || int64(len(value)) > c.capacity/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[p]; ok {
		return
	}
	kept := append([]byte(nil), value...)
	// Clipped: an iterator hands the bytes out, and an append to them
	// must not write into the cache.
	e := &valueEntry{ptr: p, value: slices.Clip(kept), charge: int64(cap(kept)) + valueEntryOverhead}
	c.entries[p] = e
	c.pushFront(e)
	c.bytes += e.charge
	for c.bytes > c.capacity {
		old := c.lru.prev
		c.unlink(old)
		delete(c.entries, old.ptr)
		c.bytes -= old.charge
	}
}

func (c *valueCache) stats() ValueCacheStats {
	if c == nil {
		return ValueCacheStats{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return ValueCacheStats{Hits: c.hits, Misses: c.misses, Bytes: c.bytes, Capacity: c.capacity}
}

func (c *valueCache) unlink(e *valueEntry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

func (c *valueCache) pushFront(e *valueEntry) {
	e.prev = &c.lru
	e.next = c.lru.next
	e.prev.next = e
	e.next.prev = e
}
