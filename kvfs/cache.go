package kvfs

import (
	"fmt"

	lru "github.com/hashicorp/golang-lru/v2"
)

// cacheShards is the number of independently locked LRUs a cache is split
// into, so that concurrent lookups do not serialize on one mutex.
const cacheShards = 16

// shardedLRU is an LRU cache split into cacheShards shards by a hash of the key;
// each shard holds an equal part of the capacity.
type shardedLRU[K comparable, V any] struct {
	shards [cacheShards]*lru.Cache[K, V]
	hash   func(K) uint64
}

// perShard is the capacity of one shard of a cache of entries entries.
func perShard(entries int) int { return max(1, (entries+cacheShards-1)/cacheShards) }

func newShardedLRU[K comparable, V any](entries int, hash func(K) uint64) (*shardedLRU[K, V], error) {
	c := &shardedLRU[K, V]{hash: hash}
	per := perShard(entries)
	for i := range c.shards {
		s, err := lru.New[K, V](per)
		if err != nil {
			return nil, fmt.Errorf("kvfs: cache of %d entries: %w", entries, err)
		}
		c.shards[i] = s
	}
	return c, nil
}

func (c *shardedLRU[K, V]) shard(k K) *lru.Cache[K, V] {
	return c.shards[c.hash(k)%cacheShards]
}

func (c *shardedLRU[K, V]) Get(k K) (V, bool) { return c.shard(k).Get(k) }
func (c *shardedLRU[K, V]) Add(k K, v V)      { c.shard(k).Add(k, v) }
func (c *shardedLRU[K, V]) Remove(k K)        { c.shard(k).Remove(k) }

// resize changes the capacity to entries, evicting the least recently used
// entries of each shard that holds more.
func (c *shardedLRU[K, V]) resize(entries int) {
	per := perShard(entries)
	for _, s := range c.shards {
		s.Resize(per)
	}
}

// Len returns the number of cached entries.
func (c *shardedLRU[K, V]) Len() int {
	n := 0
	for _, s := range c.shards {
		n += s.Len()
	}
	return n
}
