package kvfs

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// MaxFileSize is the largest file size kvfs accepts; larger writes and
// truncates fail with EFBIG.
const MaxFileSize uint64 = 1 << 50 // 1 PiB

// MaxLinks caps the link count of an inode: a link or subdirectory beyond
// it fails with EMLINK. NFS PATHCONF reports it as linkmax.
const MaxLinks = 1<<31 - 1

// unlimitedBytes is the total size StatFS reports when no size limit is set.
const unlimitedBytes uint64 = 1 << 50

// totalInodes is the inode count StatFS reports.
const totalInodes uint64 = 1 << 40

const (
	lockStripes     = 4096
	counterShards   = 16
	inoReserveBatch = 1024
)

// Options configure a filesystem. The zero value is valid.
type Options struct {
	// InodeCacheEntries bounds the in-memory LRU of inodes and, separately, of
	// directory entries. Default DefaultInodeCacheEntries. FS.SetInodeCacheEntries
	// changes it on an open filesystem.
	InodeCacheEntries int
	// SizeLimitBytes makes writes that would use more than this many bytes of
	// file data fail with ENOSPC. 0 (default) means no limit; StatFS then
	// reports a total of 1 PiB. FS.SetSizeLimit changes it on an open filesystem.
	SizeLimitBytes uint64
	// Logger receives background errors (reclaim). Default slog.Default().
	Logger *slog.Logger
	// Now is the clock for timestamps. Default time.Now.
	Now func() time.Time
	// InlineTruncateChunks is how many chunks a truncate deletes in its own
	// batch; when more are to go, they are left to background reclaim.
	// Default 256.
	InlineTruncateChunks int
	// ReadOnly opens an existing filesystem (e.g. from a checkpoint) without
	// writing anything: no formatting, no background reclaim, and every
	// change fails with EROFS.
	ReadOnly bool
	// Root is the owner and mode of the root directory of a filesystem
	// that Open creates (on an empty store); nil means uid 0, gid 0, mode
	// DefaultRootMode. The root of an existing filesystem is left as it is.
	Root *RootAttrs
}

// DefaultInodeCacheEntries is the size of the inode and directory-entry
// caches when Options.InodeCacheEntries is not positive.
const DefaultInodeCacheEntries = 100000

// RootAttrs are the owner and mode of a new filesystem's root directory.
type RootAttrs struct {
	UID, GID uint32
	// Mode is the permission bits, with setgid (02000) and sticky (01000)
	// allowed; Open refuses anything else (setuid means nothing on a
	// directory).
	Mode uint32
}

const (
	// DefaultRootMode is the mode of a new filesystem's root when Options.Root is nil.
	DefaultRootMode = 0o755
	// RootModeBits are the mode bits RootAttrs.Mode may hold.
	RootModeBits = 0o3777
)

// FS is a POSIX filesystem stored in a KV. It is safe for concurrent use.
type FS struct {
	kv   KV
	opts Options
	log  *slog.Logger
	now  func() time.Time
	fsid uint64

	locks [lockStripes]sync.RWMutex
	// renameMu serializes renames that move a directory to another parent,
	// so that the subtree check walks a stable chain of parents.
	renameMu sync.Mutex

	inodes  *shardedLRU[uint64, *inode]
	entries *shardedLRU[entryCacheKey, dirent]

	counters [counterShards]counterShard
	// sizeLimit is the size limit in bytes (0 = none); SetSizeLimit changes it.
	sizeLimit atomic.Uint64
	// limitUsed is the bytes used plus those reserved by writes in flight: a
	// write reserves its growth here first (compare-and-swap against the
	// limit), so concurrent writers never exceed it. It is kept with or
	// without a limit, so that a limit set later starts from the truth.
	limitUsed atomic.Int64

	// nextIno is the next inode id to hand out; ids below inoLimit are
	// reserved in the store. allocMu serializes extending the reservation.
	allocMu   sync.Mutex
	nextIno   atomic.Uint64
	inoLimit  atomic.Uint64
	reclaimer reclaimer
}

// counterShard is one shard of the space and inode counters. mu serializes
// the shard's read-modify-write around the batch that stores it; the values
// are atomics so that StatFS and the size-limit check read every shard
// without taking other shards' locks.
type counterShard struct {
	mu     sync.Mutex
	bytes  atomic.Int64
	inodes atomic.Int64
}

type entryCacheKey struct {
	dir  uint64
	name string
}

// Open opens the filesystem stored in kv, formatting it when kv holds none.
func Open(ctx context.Context, kv KV, opts Options) (*FS, error) {
	if opts.InodeCacheEntries <= 0 {
		opts.InodeCacheEntries = DefaultInodeCacheEntries
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.InlineTruncateChunks <= 0 {
		opts.InlineTruncateChunks = 256
	}
	if opts.Root == nil {
		opts.Root = &RootAttrs{Mode: DefaultRootMode}
	}
	if opts.Root.Mode&^RootModeBits != 0 {
		return nil, fmt.Errorf("kvfs: open: root mode %#o has bits other than permissions, setgid and sticky: %w", opts.Root.Mode, syscall.EINVAL)
	}
	fs := &FS{kv: kv, opts: opts, log: opts.Logger, now: opts.Now}
	fs.sizeLimit.Store(opts.SizeLimitBytes)
	var err error
	if fs.inodes, err = newShardedLRU[uint64, *inode](opts.InodeCacheEntries, func(ino uint64) uint64 {
		return uint64(stripeOf(ino))
	}); err != nil {
		return nil, err
	}
	seed := maphash.MakeSeed()
	if fs.entries, err = newShardedLRU[entryCacheKey, dirent](opts.InodeCacheEntries, func(k entryCacheKey) uint64 {
		return maphash.Comparable(seed, k)
	}); err != nil {
		return nil, err
	}
	raw, err := kv.Get(ctx, metaKey(metaFormat))
	switch {
	case errors.Is(err, ErrNoKey) && opts.ReadOnly:
		return nil, fmt.Errorf("kvfs: open read-only: no filesystem in this store: %w", err)
	case errors.Is(err, ErrNoKey):
		if err := fs.format(ctx); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("kvfs: open: read format record: %w", err)
	default:
		f, err := decodeFormat(raw)
		if err != nil {
			return nil, fmt.Errorf("kvfs: open: %w", err)
		}
		if f.formatVersion != currentFormat {
			return nil, fmt.Errorf("kvfs: open: format version %d not supported (want %d)", f.formatVersion, currentFormat)
		}
		fs.fsid = f.fsid
		if err := fs.loadCounters(ctx); err != nil {
			return nil, err
		}
	}
	fs.limitUsed.Store(fs.usedBytes())
	if !opts.ReadOnly {
		fs.reclaimer.start(fs)
	}
	return fs, nil
}

func (fs *FS) format(ctx context.Context) error {
	fs.fsid = rand.Uint64() | 1
	now := fs.now().UnixNano()
	r := fs.opts.Root
	root := &inode{typ: TypeDir, mode: r.Mode, uid: r.UID, gid: r.GID, nlink: 2, gen: rand.Uint32() | 1,
		atime: now, mtime: now, ctime: now, parent: RootIno, nextCookie: firstCookie}
	fs.nextIno.Store(RootIno + 1)
	fs.inoLimit.Store(RootIno + 1 + inoReserveBatch)
	fs.counters[RootIno%counterShards].inodes.Store(1)
	ops := []KVOp{
		{Key: inodeKey(RootIno), Value: encodeInode(root)},
		{Key: metaKey(metaNextIno), Value: encodeU64(fs.inoLimit.Load())},
		{Key: counterKey(int(RootIno % counterShards)), Value: encodeCounter(0, 1)},
		// The format record goes last in the batch; the batch is atomic anyway.
		{Key: metaKey(metaFormat), Value: encodeFormat(formatRecord{formatVersion: currentFormat, fsid: fs.fsid})},
	}
	if err := fs.kv.Write(ctx, ops, true); err != nil {
		return fmt.Errorf("kvfs: format: %w", err)
	}
	return nil
}

func (fs *FS) loadCounters(ctx context.Context) error {
	raw, err := fs.kv.Get(ctx, metaKey(metaNextIno))
	if err != nil {
		return fmt.Errorf("kvfs: open: read next inode id: %w", err)
	}
	next, err := decodeU64(raw)
	if err != nil {
		return fmt.Errorf("kvfs: open: next inode id: %w", err)
	}
	fs.nextIno.Store(next)
	fs.inoLimit.Store(next)
	for i := range fs.counters {
		raw, err := fs.kv.Get(ctx, counterKey(i))
		if errors.Is(err, ErrNoKey) {
			continue
		}
		if err != nil {
			return fmt.Errorf("kvfs: open: read counter %d: %w", i, err)
		}
		b, n, err := decodeCounter(raw)
		if err != nil {
			return fmt.Errorf("kvfs: open: counter %d: %w", i, err)
		}
		fs.counters[i].bytes.Store(b)
		fs.counters[i].inodes.Store(n)
	}
	return nil
}

// FSID returns the filesystem's stable random id.
func (fs *FS) FSID() uint64 { return fs.fsid }

// Flush makes every change made so far durable.
func (fs *FS) Flush(ctx context.Context) error {
	if fs.opts.ReadOnly {
		return nil
	}
	if err := fs.kv.Flush(ctx); err != nil {
		return fmt.Errorf("kvfs: flush: %w", err)
	}
	return nil
}

// Close stops background reclaim and flushes. The KV is not closed.
func (fs *FS) Close(ctx context.Context) error {
	fs.reclaimer.stop()
	return fs.Flush(ctx)
}

// allocIno returns a fresh inode id. Ids are reserved in the store in blocks,
// in a batch written ahead of any batch using them, so an id in use is never
// handed out again, even across crashes.
func (fs *FS) allocIno(ctx context.Context) (uint64, error) {
	if fs.opts.ReadOnly {
		return 0, fmt.Errorf("kvfs: allocate inode: %w", syscall.EROFS)
	}
	ino := fs.nextIno.Add(1) - 1
	if ino < fs.inoLimit.Load() {
		return ino, nil
	}
	fs.allocMu.Lock()
	defer fs.allocMu.Unlock()
	if ino >= fs.inoLimit.Load() {
		limit := ino + 1 + inoReserveBatch
		if err := fs.kv.Write(ctx, []KVOp{{Key: metaKey(metaNextIno), Value: encodeU64(limit)}}, false); err != nil {
			return 0, fmt.Errorf("kvfs: reserve inode ids: %w", err)
		}
		fs.inoLimit.Store(limit)
	}
	return ino, nil
}

// --- locking ---

func stripeOf(ino uint64) int { return int((ino * 0x9E3779B97F4A7C15) >> 52) }

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

// --- reading inodes and entries ---

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

// --- transactions ---

// txn collects the changes of one operation into one atomic batch. Its
// inodes are private copies; commit writes them and updates the caches.
// The caller holds the locks of every inode and directory it touches.
type txn struct {
	fs      *FS
	ops     []KVOp
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
	return &txn{fs: fs, shard: int(shardIno % counterShards), inodes: map[uint64]*inode{}}
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

// SetSizeLimit changes the size limit (0 = none) of an open filesystem:
// writes that begin afterwards are held to it, and StatFS reports it. Data
// already stored above a lowered limit stays; only growth is refused.
func (fs *FS) SetSizeLimit(bytes uint64) { fs.sizeLimit.Store(bytes) }

// SetInodeCacheEntries resizes the inode and directory-entry caches of an
// open filesystem (entries <= 0 means the default, as in Options); shrinking
// evicts the least recently used entries.
func (fs *FS) SetInodeCacheEntries(entries int) {
	if entries <= 0 {
		entries = DefaultInodeCacheEntries
	}
	fs.inodes.resize(entries)
	fs.entries.resize(entries)
}

// --- helpers ---

// storedTime converts t to the stored form of times, signed nanoseconds
// since the epoch. A time outside what that holds (before 1677-09-21 or
// after 2262-04-11) is clamped to the nearest end, as Linux clamps
// timestamps to a filesystem's range.
func storedTime(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func (n *inode) attr(ino uint64) Attr {
	return Attr{Ino: ino, Gen: n.gen, Type: n.typ, Mode: n.mode, Nlink: n.nlink, UID: n.uid, GID: n.gid,
		Size: n.size, Used: n.used, Major: n.major, Minor: n.minor,
		Atime: time.Unix(0, n.atime), Mtime: time.Unix(0, n.mtime), Ctime: time.Unix(0, n.ctime)}
}

func errIno(op string, ino uint64, e syscall.Errno) error {
	return fmt.Errorf("kvfs: %s inode %d: %w", op, ino, e)
}

func errName(op string, dir uint64, name string, e syscall.Errno) error {
	return fmt.Errorf("kvfs: %s %q in dir %d: %w", op, name, dir, e)
}

// checkName is CheckName with the operation and directory named.
func checkName(op string, dir uint64, name string) error {
	if err := CheckName(name); err != nil {
		return errName(op, dir, name, err.(syscall.Errno))
	}
	return nil
}

// firstCookie is the first READDIR cookie handed out in a directory; 1 and 2
// are left to the server for "." and "..".
const firstCookie = 3
