package crypt

import (
	"sync"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// frameCharge is what a cached frame is charged beyond its plaintext: its
// entry, map slot and list links.
const frameCharge = 96

// frameCache keeps decrypted (authenticated) frames in memory, least
// recently used first out (golang-lru's simplelru, under mu), bounded by
// the bytes it charges. A frame is keyed by the objectKey it was opened
// with and its index: an objectKey is derived from one verified header of
// one object name, so a frame is found again only through that header (a
// name written again gets a new key, and its old frames age out). Cached
// frames are never modified. It is safe for concurrent use.
type frameCache struct {
	mu       sync.Mutex
	capacity int64
	bytes    int64
	lru      *simplelru.LRU[frameKey, []byte]

	hits, misses atomic.Int64
}

type frameKey struct {
	ok *objectKey
	i  int64
}

// newFrameCache returns a cache of at most capacity bytes, or nil (no
// cache) for a capacity <= 0.
func newFrameCache(capacity int64) *frameCache {
	if capacity <= 0 {
		return nil
	}
	c := &frameCache{capacity: capacity}
	// The byte bound evicts first; the count bound only sizes the list.
	lru, err := simplelru.NewLRU(int(capacity/frameCharge)+1, func(_ frameKey, plain []byte) {
		c.bytes -= int64(len(plain)) + frameCharge
	})
	if err != nil {
		panic(err) // the size is positive
	}
	c.lru = lru
	return c
}

// lookup fills got[j] with the plaintext of frame first+j of ok where it is
// cached (nil where not) and reports how many it found.
func (c *frameCache) lookup(ok *objectKey, first int64, got [][]byte) int {
	found := 0
	c.mu.Lock()
	for j := range got {
		plain, hit := c.lru.Get(frameKey{ok, first + int64(j)})
		if !hit {
			got[j] = nil
			continue
		}
		got[j] = plain
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
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lru.Contains(k) {
		return
	}
	c.lru.Add(k, plain)
	c.bytes += int64(len(plain)) + frameCharge
	for c.bytes > c.capacity {
		c.lru.RemoveOldest()
	}
}
