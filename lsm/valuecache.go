package lsm

import (
	"slices"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/zerofs-go/zerofsd/lsm/vlog"
)

// valueEntryOverhead is charged for each cached value beside its
// allocation: the map's key and slot, the entry and its links (measured:
// about 270 bytes).
const valueEntryOverhead = 256

// valueCache keeps values read from value and WAL objects (file data,
// checked and decompressed) in memory, least recently used first out
// (golang-lru's simplelru, under mu), bounded by the bytes it charges: the
// block cache holds SST blocks, which point at such values without
// holding them. Objects are immutable, so a value never changes under its
// pointer. A value over an eighth of the capacity is not kept. Cached
// values are never modified. Safe for concurrent use.
type valueCache struct {
	mu       sync.Mutex
	capacity int64
	bytes    int64
	lru      *simplelru.LRU[vlog.Pointer, cachedValue]
	hits     uint64
	misses   uint64
}

type cachedValue struct {
	value  []byte
	charge int64 // its allocation and valueEntryOverhead
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
	c := &valueCache{capacity: capacity}
	// The byte bound evicts first; the count bound only sizes the list.
	lru, err := simplelru.NewLRU(int(capacity/valueEntryOverhead)+1, func(_ vlog.Pointer, v cachedValue) {
		c.bytes -= v.charge
	})
	if err != nil {
		panic(err) // the size is positive
	}
	c.lru = lru
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
	v, ok := c.lru.Get(p)
	if !ok {
		c.misses++
		return nil, false
	}
	c.hits++
	return v.value, true
}

// add keeps a copy of value, the value p points at.
func (c *valueCache) add(p vlog.Pointer, value []byte) {
	if c == nil || int64(len(value)) > c.capacity/8 {
		return
	}
	kept := append([]byte(nil), value...)
	// Clipped: an iterator hands the bytes out, and an append to them
	// must not write into the cache.
	v := cachedValue{value: slices.Clip(kept), charge: int64(cap(kept)) + valueEntryOverhead}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lru.Contains(p) {
		return
	}
	c.lru.Add(p, v)
	c.bytes += v.charge
	for c.bytes > c.capacity {
		c.lru.RemoveOldest()
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
