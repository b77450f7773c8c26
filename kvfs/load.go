package kvfs

import (
	"context"
	"errors"
	"fmt"
)

// Reading inodes and directory entries through the caches. The load
// functions expect the caller to hold the stripe lock; the get functions
// take it themselves.

// loadInode returns ino's inode (shared: do not modify), from the cache or
// the store. The caller holds ino's stripe lock (read or write).
func (fs *FS) loadInode(ctx context.Context, ino uint64) (*inode, error) {
	if n, ok := fs.inodes.Get(ino); ok {
		return n, nil
	}
	n, err := fs.readInode(ctx, ino)
	if err != nil {
		return nil, err
	}
	fs.inodes.Add(ino, n)
	return n, nil
}

// readInode reads ino from the store, bypassing the cache.
func (fs *FS) readInode(ctx context.Context, ino uint64) (*inode, error) {
	raw, err := fs.kv.Get(ctx, inodeKey(ino))
	if errors.Is(err, ErrNoKey) {
		return nil, fmt.Errorf("kvfs: inode %d: %w", ino, ErrStale)
	}
	if err != nil {
		return nil, fmt.Errorf("kvfs: read inode %d: %w", ino, err)
	}
	n, err := decodeInode(raw)
	if err != nil {
		return nil, fmt.Errorf("kvfs: inode %d: %w", ino, err)
	}
	return n, nil
}

// getInode is loadInode for callers holding no lock.
func (fs *FS) getInode(ctx context.Context, ino uint64) (*inode, error) {
	if n, ok := fs.inodes.Get(ino); ok {
		return n, nil
	}
	l := &fs.locks[stripeOf(ino)]
	l.RLock()
	defer l.RUnlock()
	return fs.loadInode(ctx, ino)
}

// peekInode reads ino without locking and without filling the cache; for
// callers already holding unrelated stripe locks.
func (fs *FS) peekInode(ctx context.Context, ino uint64) (*inode, error) {
	if n, ok := fs.inodes.Get(ino); ok {
		return n, nil
	}
	return fs.readInode(ctx, ino)
}

// loadEntry returns the entry name in dir; the caller holds dir's stripe lock.
func (fs *FS) loadEntry(ctx context.Context, dir uint64, name string) (dirent, bool, error) {
	ck := entryCacheKey{dir, name}
	if e, ok := fs.entries.Get(ck); ok {
		return e, true, nil
	}
	raw, err := fs.kv.Get(ctx, entryKey(dir, name))
	if errors.Is(err, ErrNoKey) {
		return dirent{}, false, nil
	}
	if err != nil {
		return dirent{}, false, fmt.Errorf("kvfs: read entry %q in dir %d: %w", name, dir, err)
	}
	e, err := decodeDirent(raw)
	if err != nil {
		return dirent{}, false, fmt.Errorf("kvfs: entry %q in dir %d: %w", name, dir, err)
	}
	fs.entries.Add(ck, e)
	return e, true, nil
}

// settledEntry is getEntry after the caches were found behind the store:
// it waits for dir's stripe lock, which a change holds from before its
// batch until its caches are updated, so that it sees every change that
// had reached the store when it was called.
func (fs *FS) settledEntry(ctx context.Context, dir uint64, name string) (dirent, bool, error) {
	l := &fs.locks[stripeOf(dir)]
	l.RLock()
	defer l.RUnlock()
	return fs.loadEntry(ctx, dir, name)
}

// settledInode is settledEntry for an inode.
func (fs *FS) settledInode(ctx context.Context, ino uint64) (*inode, error) {
	l := &fs.locks[stripeOf(ino)]
	l.RLock()
	defer l.RUnlock()
	return fs.loadInode(ctx, ino)
}

// getEntry is loadEntry for callers holding no lock.
func (fs *FS) getEntry(ctx context.Context, dir uint64, name string) (dirent, bool, error) {
	if e, ok := fs.entries.Get(entryCacheKey{dir, name}); ok {
		return e, true, nil
	}
	l := &fs.locks[stripeOf(dir)]
	l.RLock()
	defer l.RUnlock()
	return fs.loadEntry(ctx, dir, name)
}
