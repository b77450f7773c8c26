package crypt

import (
	"sync"
	"sync/atomic"
)

// frameCharge is what a cached frame is charged beyond its plaintext: its
// entry, map slot and list links.
const frameCharge = 96

// frameCache keeps decrypted (authenticated) frames in memory, least
// recently used first out, bounded by the bytes it charges. A frame is
// keyed by the objectKey it was opened with and its index: an objectKey is
// derived from one verified header of one object name, so a frame is found
// again only through that header (a name written again gets a new key, and
// its old frames age out). Cached frames are never modified. It is safe for
// concurrent use.
type frameCache struct {
	mu       sync.Mutex
	capacity int64
	bytes    int64
	entries  map[frameKey]*frameEntry
	lru      frameEntry // sentinel of a circular list; lru.next is the most recent

	hits, misses atomic.Int64
}

type frameKey struct {
	ok *objectKey
	i  int64
}

type frameEntry struct {
	key        frameKey
	plain      []byte
	prev, next *frameEntry
}

// newFrameCache returns a cache of at most capacity bytes, or nil (no
// cache) for a capacity <= 0.
func newFrameCache(capacity int64) *frameCache {
	if capacity <= 0 {
		return nil
	}
	c := &frameCache{capacity: capacity, entries: make(map[frameKey]*frameEntry)}
	c.lru.next, c.lru.prev = &c.lru, &c.lru
	return c
}

func (c *frameCache) unlink(e *frameEntry) {
	e.prev.next = e.next
	e.next.prev = e.prev
	e.prev, e.next = nil, nil
}

func (c *frameCache) pushFront(e *frameEntry) {
	e.prev = &c.lru
	e.next = c.lru.next
	e.prev.next = e
	e.next.prev = e
}

// lookup fills got[j] with the plaintext of frame first+j of ok where it is
// cached (nil where not) and reports how many it found.
func (c *frameCache) lookup(ok *objectKey, first int64, got [][]byte) int {
	found := 0
	c.mu.Lock()
	for j := range got {
		e := c.entries[frameKey{ok, first + int64(j)}]
		if e == nil {
			got[j] = nil
			continue
		}
		c.unlink(e)
		c.pushFront(e)
		got[j] = e.plain
		found++
	}
	c.mu.Unlock()
	c.hits.Add(int64(found))
	c.misses.Add(int64(len(got) - found))
	return found
}

// add caches the plaintext of frame i of ok, which becomes the cache's: the
// caller never modifies it again.
func (c *frameCache) add(ok *objectKey, i int64, plain []byte) {
	k := frameKey{ok, i}
	charge := int64(len(plain)) + frameCharge
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.entries[k]; dup {
		return
	}
	e := &frameEntry{key: k, plain: plain}
	c.entries[k] = e
	c.pushFront(e)
	c.bytes += charge
	for c.bytes > c.capacity {
		old := c.lru.prev
		c.unlink(old)
		delete(c.entries, old.key)
		c.bytes -= int64(len(old.plain)) + frameCharge
	}
}
