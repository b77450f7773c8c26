package sstable

import (
	"sync"

	"github.com/zerofs-go/zerofsd/lsm/compress"
)

// BlockCache keeps decoded (verified, decompressed) data blocks in memory,
// least recently used first out, bounded by the bytes of the blocks it holds.
// Blocks are keyed by (SST cache id, block offset), so every SST sharing a
// cache needs its own ReaderOptions.CacheID. Cached blocks are immutable.
// A BlockCache is safe for concurrent use; readers sharing it also share
// one zstd decoder.
type BlockCache struct {
	mu        sync.Mutex
	capacity  int64
	bytes     int64
	entries   map[cacheKey]*cacheEntry
	lru       cacheEntry // sentinel of a circular list; lru.next is the most recent
	hits      uint64
	misses    uint64
	evictions uint64

	decomp compress.Codecs
}

// CacheStats is a snapshot of a BlockCache's counters.
type CacheStats struct {
	Hits      uint64
	Misses    uint64
	Evictions uint64
	Bytes     int64 // charged bytes of the cached blocks, never above Capacity
	Capacity  int64
	Blocks    int
}

type cacheKey struct {
	id  uint64
	off uint64
}

type cacheEntry struct {
	key        cacheKey
	blk        *block
	charge     int64
	prev, next *cacheEntry
}

// NewBlockCache returns a cache holding at most capacityBytes bytes of
// blocks. A capacity <= 0 caches nothing (but still counts misses).
func NewBlockCache(capacityBytes int64) *BlockCache {
	c := &BlockCache{capacity: max(capacityBytes, 0), entries: make(map[cacheKey]*cacheEntry)}
	c.lru.next, c.lru.prev = &c.lru, &c.lru
	return c
}

// Stats returns the current counters.
func (c *BlockCache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Hits: c.hits, Misses: c.misses, Evictions: c.evictions,
		Bytes: c.bytes, Capacity: c.capacity, Blocks: len(c.entries)}
}

func (c *BlockCache) unlink(e *cacheEntry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

func (c *BlockCache) pushFront(e *cacheEntry) {
	e.prev = &c.lru
	e.next = c.lru.next
	e.prev.next = e
	e.next.prev = e
}

func (c *BlockCache) get(id, off uint64) *block {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[cacheKey{id, off}]
	if !ok {
		c.misses++
		return nil
	}
	c.hits++
	c.unlink(e)
	c.pushFront(e)
	return e.blk
}

// put inserts a block (replacing any block at the same key) and evicts the
// least recently used blocks until the cache fits its capacity. A block
// larger than the whole cache is not kept.
func (c *BlockCache) put(id, off uint64, b *block) {
	charge := b.size()
	c.mu.Lock()
	defer c.mu.Unlock()
	k := cacheKey{id, off}
	if old, ok := c.entries[k]; ok {
		c.remove(old)
	}
	if charge > c.capacity {
		return
	}
	for c.bytes+charge > c.capacity {
		c.remove(c.lru.prev)
		c.evictions++
	}
	e := &cacheEntry{key: k, blk: b, charge: charge}
	c.entries[k] = e
	c.pushFront(e)
	c.bytes += charge
}

func (c *BlockCache) remove(e *cacheEntry) {
	c.unlink(e)
	delete(c.entries, e.key)
	c.bytes -= e.charge
}

// EvictSST drops every cached block of the SST with this cache id, e.g. when
// the SST is deleted. It walks the whole cache.
func (c *BlockCache) EvictSST(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if k.id == id {
			c.remove(e)
		}
	}
}
