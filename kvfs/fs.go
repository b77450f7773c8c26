package kvfs

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"math/rand/v2"
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
	// ReadAheadBytes bounds the memory that read-ahead of files read
	// sequentially holds (segments fetched or being fetched, across all
	// files). 0 means DefaultReadAheadBytes; negative turns read-ahead off.
	ReadAheadBytes int64
	// ChunkSize is the chunk size of a filesystem this Open formats: a
	// power of two from MinChunkSize to MaxChunkSize. Default
	// DefaultChunkSize. An existing filesystem keeps the chunk size it was
	// formatted with (64 KiB for format version 1), whatever this says.
	ChunkSize int
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
	kv   storageKV
	opts Options
	log  *slog.Logger
	now  func() time.Time
	fsid uint64
	// chunkSize is the filesystem's chunk size (from its format record).
	chunkSize uint64

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
	ra        *readAhead
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
	if opts.ChunkSize == 0 {
		opts.ChunkSize = DefaultChunkSize
	}
	if !validChunkSize(uint64(opts.ChunkSize)) {
		return nil, fmt.Errorf("kvfs: open: chunk size %d is not a power of two from %d to %d: %w", opts.ChunkSize, MinChunkSize, MaxChunkSize, syscall.EINVAL)
	}
	if opts.ReadAheadBytes == 0 {
		opts.ReadAheadBytes = DefaultReadAheadBytes
	}
	fs := &FS{kv: storageKV{kv}, opts: opts, log: opts.Logger, now: opts.Now}
	fs.ra = newReadAhead(fs, max(opts.ReadAheadBytes, 0))
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
	raw, err := fs.kv.Get(ctx, metaKey(metaFormat))
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
		fs.fsid, fs.chunkSize = f.fsid, uint64(f.chunkSize)
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
	fs.chunkSize = uint64(fs.opts.ChunkSize)
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
		{Key: metaKey(metaFormat), Value: encodeFormat(formatRecord{
			formatVersion: currentFormat, fsid: fs.fsid, chunkSize: uint32(fs.chunkSize)})},
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

// ChunkSize returns the filesystem's chunk size, fixed when it was formatted.
func (fs *FS) ChunkSize() uint64 { return fs.chunkSize }

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

// Close stops read-ahead (waiting for its fetches) and background reclaim,
// and flushes. The KV is not closed.
func (fs *FS) Close(ctx context.Context) error {
	fs.ra.close()
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
