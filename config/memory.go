package config

// MemoryBoundMB is how much memory, in MiB, this configuration lets the
// exports' caches and write buffers hold at most: for every export its
// block cache (cache.memory_mb) and read-ahead (cache.read_ahead_mb), and
// for every writable export twice lsm.max_unflushed_mb (its memtables not
// yet written as SSTs, and the WAL buffers that hold the same changes until
// they are in the store), and once more with durability local (the changes
// waiting for the local journal's disk). Inode and entry caches,
// connections and the Go runtime's own overhead come on top;
// docs/config.md (Memory) says how much.
func (c *Config) MemoryBoundMB() int {
	total := 0
	for _, e := range c.Exports {
		total += c.Cache.MemoryMB + c.Cache.ReadAheadMB
		if e.Writable() {
			total += 2 * c.LSM.MaxUnflushedMB
			if e.Durability == DurabilityLocal {
				total += c.LSM.MaxUnflushedMB
			}
		}
	}
	return total
}
