package kvfs

import (
	"context"
	"fmt"
	"slices"
	"syscall"
)

// txn collects the changes of one operation into one atomic batch. Its
// inodes are private copies; commit writes them and updates the caches.
// The caller holds the locks of every inode and directory it touches.
type txn struct {
	fs      *FS
	ops     []KVOp
	owner   uint64 // the inode the operation is about (newTxn's)
	shard   int
	dBytes  int64
	dInodes int64
	inodes  map[uint64]*inode
	dirty   []uint64
	deleted []uint64
	dents   []dentChange
	wake    bool
}

type dentChange struct {
	key    entryCacheKey
	e      dirent
	remove bool
}

func (fs *FS) newTxn(shardIno uint64) *txn {
	return &txn{fs: fs, owner: shardIno, shard: int(shardIno % counterShards), inodes: map[uint64]*inode{}}
}

// get returns a private, modifiable copy of ino for this transaction.
func (t *txn) get(ctx context.Context, ino uint64) (*inode, error) {
	if n, ok := t.inodes[ino]; ok {
		return n, nil
	}
	n, err := t.fs.loadInode(ctx, ino)
	if err != nil {
		return nil, err
	}
	c := *n
	t.inodes[ino] = &c
	return &c, nil
}

// put marks ino (obtained by get or create) to be written.
func (t *txn) put(ino uint64) {
	if !slices.Contains(t.dirty, ino) {
		t.dirty = append(t.dirty, ino)
	}
}

func (t *txn) create(ino uint64, n *inode) {
	t.inodes[ino] = n
	t.put(ino)
	t.dInodes++
}

// remove deletes ino; a regular file's data goes to background reclaim.
func (t *txn) remove(ino uint64, n *inode) {
	t.dirty = slices.DeleteFunc(t.dirty, func(i uint64) bool { return i == ino })
	t.deleted = append(t.deleted, ino)
	t.dInodes--
	if n.typ == TypeRegular && (n.used > 0 || n.truncTo > n.truncFrom) {
		t.ops = append(t.ops, KVOp{Key: reclaimKey(ino), Value: encodeReclaim(reclaimUnlinked)})
		t.wake = true
	}
}

func (t *txn) putEntry(dir uint64, name string, e dirent) {
	t.ops = append(t.ops,
		KVOp{Key: entryKey(dir, name), Value: encodeDirent(e)},
		KVOp{Key: cookieKey(dir, e.cookie), Value: encodeCookie(e, name)})
	t.dents = append(t.dents, dentChange{key: entryCacheKey{dir, name}, e: e})
}

func (t *txn) deleteEntry(dir uint64, name string, e dirent) {
	t.ops = append(t.ops,
		KVOp{Key: entryKey(dir, name), Delete: true},
		KVOp{Key: cookieKey(dir, e.cookie), Delete: true})
	t.dents = append(t.dents, dentChange{key: entryCacheKey{dir, name}, remove: true})
}

func (t *txn) commit(ctx context.Context) error {
	fs := t.fs
	if fs.opts.ReadOnly {
		return fmt.Errorf("kvfs: read-only filesystem: %w", syscall.EROFS)
	}
	defer t.dropReadAhead()
	for _, ino := range t.dirty {
		t.ops = append(t.ops, KVOp{Key: inodeKey(ino), Value: encodeInode(t.inodes[ino])})
	}
	for _, ino := range t.deleted {
		t.ops = append(t.ops, KVOp{Key: inodeKey(ino), Delete: true})
	}
	if t.dBytes != 0 || t.dInodes != 0 {
		if t.dBytes > 0 {
			if limit, ok := fs.reserveBytes(t.dBytes); !ok {
				return fmt.Errorf("kvfs: %d bytes more would exceed the size limit of %d: %w", t.dBytes, limit, syscall.ENOSPC)
			}
		}
		c := &fs.counters[t.shard]
		c.mu.Lock()
		nb, ni := c.bytes.Load()+t.dBytes, c.inodes.Load()+t.dInodes
		t.ops = append(t.ops, KVOp{Key: counterKey(t.shard), Value: encodeCounter(nb, ni)})
		err := fs.kv.Write(ctx, t.ops, false)
		if err == nil {
			c.bytes.Store(nb)
			c.inodes.Store(ni)
		}
		c.mu.Unlock()
		switch {
		case t.dBytes > 0 && err != nil:
			fs.limitUsed.Add(-t.dBytes) // release the reservation
		case t.dBytes < 0 && err == nil:
			fs.limitUsed.Add(t.dBytes) // space freed
		}
		if err != nil {
			return t.failed(err)
		}
	} else if err := fs.kv.Write(ctx, t.ops, false); err != nil {
		return t.failed(err)
	}
	for _, ino := range t.dirty {
		fs.inodes.Add(ino, t.inodes[ino])
	}
	for _, ino := range t.deleted {
		fs.inodes.Remove(ino)
	}
	for _, d := range t.dents {
		if d.remove {
			fs.entries.Remove(d.key)
		} else {
			fs.entries.Add(d.key, d.e)
		}
	}
	if t.wake {
		fs.reclaimer.wake()
	}
	return nil
}

// dropReadAhead drops what the read-ahead holds of the inodes the batch
// may have changed, once it is applied (or failed: it may have been) and
// before the operation returns; see readahead.go. commit defers it.
func (t *txn) dropReadAhead() {
	t.fs.ra.invalidate(t.owner)
	for ino := range t.inodes {
		t.fs.ra.invalidate(ino)
	}
	for _, ino := range t.deleted {
		t.fs.ra.invalidate(ino)
	}
}

// failed drops cache entries the failed batch may have touched: the store
// might or might not hold it.
func (t *txn) failed(err error) error {
	for ino := range t.inodes {
		t.fs.inodes.Remove(ino)
	}
	for _, d := range t.dents {
		t.fs.entries.Remove(d.key)
	}
	return fmt.Errorf("kvfs: write batch: %w", err)
}

// DataBytes is the bytes of file data the filesystem holds (the chunks of
// every file, holes excluded; what StatFS reports as used), a moment's view.
func (fs *FS) DataBytes() int64 { return fs.usedBytes() }

// usedBytes sums the space counters (a moment's view; no locks).
func (fs *FS) usedBytes() int64 {
	var b int64
	for i := range fs.counters {
		b += fs.counters[i].bytes.Load()
	}
	return b
}

// reserveBytes reserves n more bytes under the size limit, or reports false
// and the limit.
func (fs *FS) reserveBytes(n int64) (uint64, bool) {
	limit := fs.sizeLimit.Load()
	if limit == 0 {
		fs.limitUsed.Add(n)
		return 0, true
	}
	for {
		cur := fs.limitUsed.Load()
		if cur+n > int64(limit) {
			return limit, false
		}
		if fs.limitUsed.CompareAndSwap(cur, cur+n) {
			return limit, true
		}
	}
}
