package kvfs

import (
	"context"
	"slices"
)

// Inode locks are striped: lockStripes read-write locks, the stripe of an
// inode chosen by stripeOf. Operations lock the stripes of every inode they
// change, in ascending stripe order (lockInodes), so they cannot deadlock.
const (
	lockStripeBits = 12
	lockStripes    = 1 << lockStripeBits
)

// stripeOf maps ino to its lock stripe, in [0, lockStripes): the top
// lockStripeBits bits of ino times 2^64/phi (Fibonacci hashing), so that
// consecutive inodes land on distant stripes.
func stripeOf(ino uint64) int { return int((ino * 0x9E3779B97F4A7C15) >> (64 - lockStripeBits)) }

// lockInodes write-locks the stripes of inos in ascending stripe order (the
// global lock order) and returns the unlock function.
func (fs *FS) lockInodes(inos ...uint64) func() {
	s := make([]int, 0, len(inos))
	for _, ino := range inos {
		s = append(s, stripeOf(ino))
	}
	slices.Sort(s)
	s = slices.Compact(s)
	for _, i := range s {
		fs.locks[i].Lock()
	}
	return func() {
		for j := len(s) - 1; j >= 0; j-- {
			fs.locks[s[j]].Unlock()
		}
	}
}

// lockEntry locks dir and the inode its entry name points to (if any),
// retrying until the entry is the same before and after locking. It returns
// the entry, whether it exists, and the unlock function.
func (fs *FS) lockEntry(ctx context.Context, dir uint64, name string) (dirent, bool, func(), error) {
	for {
		e, ok, err := fs.getEntry(ctx, dir, name)
		if err != nil {
			return dirent{}, false, nil, err
		}
		inos := []uint64{dir}
		if ok {
			inos = append(inos, e.ino)
		}
		unlock := fs.lockInodes(inos...)
		e2, ok2, err := fs.loadEntry(ctx, dir, name)
		if err != nil {
			unlock()
			return dirent{}, false, nil, err
		}
		if ok == ok2 && e == e2 {
			return e, ok, unlock, nil
		}
		unlock()
	}
}
