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

func newShardedLRU[K comparable, V any](entries int, hash func(K) uint64) (*shardedLRU[K, V], error) {
	c := &shardedLRU[K, V]{hash: hash}
	per := max(1, (entries+cacheShards-1)/cacheShards)
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
