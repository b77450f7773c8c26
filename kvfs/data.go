package kvfs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"syscall"
)

// canAccessData checks read or write access to a regular file's data. As with
// Linux nfsd, the owner may always read and write its file (NFS clients
// check permissions at open time; a file created read-only must still be
// writable by the creator), and whoever may execute a file may read it: the
// client reads a program to run it, so an execute-only (0711) program must
// be readable over NFS (the client's kernel still refuses read(2) to whoever
// lacks the read bit).
func canAccessData(op string, cred Cred, ino uint64, n *inode, want uint32) error {
	switch n.typ {
	case TypeRegular:
	case TypeDir:
		return errIno(op, ino, syscall.EISDIR)
	default:
		return errIno(op, ino, syscall.EINVAL)
	}
	if cred.UID == n.uid || permits(cred, n, want) {
		return nil
	}
	if want == permRead && permits(cred, n, permExec) {
		return nil
	}
	return errIno(op, ino, syscall.EACCES)
}

// Read fills buf from off. n < len(buf) only at end of file; eof is true when
// off+n reaches the size. Holes read as zeros. Reads do not update atime.
func (fs *FS) Read(ctx context.Context, cred Cred, ino uint64, off uint64, buf []byte) (int, bool, error) {
	n, err := fs.getInode(ctx, ino)
	if err != nil {
		return 0, false, err
	}
	if err := canAccessData("read", cred, ino, n, permRead); err != nil {
		return 0, false, err
	}
	if off >= n.size {
		return 0, true, nil
	}
	end := min(off+uint64(len(buf)), n.size)
	out := buf[:end-off]
	if len(out) == 0 {
		return 0, end >= n.size, nil
	}
	if !fs.ra.read(ctx, ino, off, end, n.size, out) {
		if err := fs.readChunks(ctx, ino, off, end, out); err != nil {
			return 0, false, err
		}
	}
	// The chunks were read without a lock (here, or by the read-ahead that
	// served the read): if the file was removed, or cut shorter,
	// meanwhile, its chunks may have been deleted under the read, and
	// their holes read as zeros it never held. Look again.
	now, err := fs.getInode(ctx, ino)
	if err != nil {
		return 0, false, err
	}
	if now.size < end {
		if off >= now.size {
			return 0, true, nil
		}
		out, end = out[:now.size-off], now.size
	}
	return len(out), end >= now.size, nil
}

// readChunks fills out with bytes [off, end) of ino's chunks (holes as
// zeros): one point read per chunk, concurrently, for a few chunks; ranges
// of chunks scanned with iterators for more.
func (fs *FS) readChunks(ctx context.Context, ino, off, end uint64, out []byte) error {
	clear(out)
	size := fs.chunkSize
	first, last := off/size, (end-1)/size
	if last-first+1 <= readParallelism {
		return forEachChunk(first, last, func(c uint64) error {
			data, err := fs.kv.Get(ctx, chunkKey(ino, c))
			if errors.Is(err, ErrNoKey) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("kvfs: read inode %d chunk %d: %w", ino, c, err)
			}
			placeChunk(out, off, end, c*size, data)
			return nil
		})
	}
	scans, err := fs.openChunkScans(ctx, ino, first, last)
	if err != nil {
		return err
	}
	return fs.runChunkScans(ino, scans, func(c uint64, data []byte) {
		placeChunk(out, off, end, c*size, data)
	})
}

// placeChunk copies the part of a chunk's data (the chunk begins at byte
// cs of the file) that overlaps [off, end) into out, which holds [off,
// end). Chunks do not overlap, so concurrent calls for different chunks
// write disjoint parts of out.
func placeChunk(out []byte, off, end, cs uint64, data []byte) {
	lo := max(cs, off)
	hi := min(cs+uint64(len(data)), end)
	if hi > lo {
		copy(out[lo-off:], data[lo-cs:hi-cs])
	}
}

// scanBytes is how much of a file one iterator of a read covers at least:
// a read of many chunks is split into up to readParallelism ranges of
// consecutive chunks, each scanned by its own iterator (one seek, then
// the KV's read-ahead), rather than read with one point read per chunk.
const scanBytes = 256 << 10

// chunkScan is an iterator over the chunks [lo, hi) of a file.
type chunkScan struct {
	lo, hi uint64
	it     KVIterator
}

// openChunkScans opens iterators over chunks [first, last] of ino, up to
// readParallelism ranges of consecutive chunks. Every iterator sees at
// least every batch written before openChunkScans was called (the
// read-ahead relies on it; see KV.NewIterator).
func (fs *FS) openChunkScans(ctx context.Context, ino, first, last uint64) ([]chunkScan, error) {
	n := last - first + 1
	perScan := max(scanBytes/fs.chunkSize, (n+readParallelism-1)/readParallelism)
	var scans []chunkScan
	for lo := first; lo <= last; lo += perScan {
		hi := min(lo+perScan, last+1)
		it, err := fs.kv.NewIterator(ctx, chunkKey(ino, lo), chunkKey(ino, hi))
		if err != nil {
			for _, s := range scans {
				s.it.Close()
			}
			return nil, fmt.Errorf("kvfs: read inode %d chunks %d-%d: %w", ino, lo, hi-1, err)
		}
		scans = append(scans, chunkScan{lo: lo, hi: hi, it: it})
	}
	return scans, nil
}

// runChunkScans calls place for every chunk the scans find, running up to
// readParallelism of them at once, and closes them.
func (fs *FS) runChunkScans(ino uint64, scans []chunkScan, place func(c uint64, data []byte)) error {
	defer func() {
		for _, s := range scans {
			s.it.Close()
		}
	}()
	if len(scans) == 0 {
		return nil
	}
	return forEachChunk(0, uint64(len(scans)-1), func(p uint64) error {
		s := scans[p]
		for s.it.Next() {
			k := s.it.Key()
			if len(k) != 17 {
				return fmt.Errorf("kvfs: read inode %d: chunk key %x: %w", ino, k, ErrCorrupt)
			}
			place(binary.BigEndian.Uint64(k[9:]), s.it.Value())
		}
		if err := s.it.Err(); err != nil {
			return fmt.Errorf("kvfs: read inode %d chunks %d-%d: %w", ino, s.lo, s.hi-1, err)
		}
		return nil
	})
}

// readParallelism bounds the chunk reads one Read has in flight: a 1 MiB
// NFS READ spans 16 chunks, and on an object store each cold one is a
// round trip that need not wait for the previous.
const readParallelism = 8

// forEachChunk calls read for chunks first..last, up to readParallelism at a
// time, and returns the first error.
func forEachChunk(first, last uint64, read func(c uint64) error) error {
	if first == last {
		return read(first)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	next := make(chan uint64)
	workers := min(int(last-first+1), readParallelism)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				if err := read(c); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for c := first; c <= last; c++ {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- c
	}
	close(next)
	wg.Wait()
	return firstErr
}

// prefetchPartialChunks reads the chunks that a write of [off, end) covers
// only in part, before the write takes the inode lock, and drops them: the
// read under the lock then finds them in the memtable or the caches. Writes
// to one file are serialized by its lock; without this, each one waiting
// for a cold chunk from the object store would hold up all the others. A
// failed prefetch is ignored (the locked read reports it).
func (fs *FS) prefetchPartialChunks(ctx context.Context, ino, off, end uint64) {
	if end <= off {
		return
	}
	size := fs.chunkSize
	first, last := off/size, (end-1)/size
	if off%size != 0 {
		_, _ = fs.kv.Get(ctx, chunkKey(ino, first))
	}
	if end%size != 0 && (last != first || off%size == 0) {
		_, _ = fs.kv.Get(ctx, chunkKey(ino, last))
	}
}

// clearPrivileges drops setuid and setgid (see dropSetID) after a data
// change by a non-root caller.
func clearPrivileges(cred Cred, n *inode) {
	if cred.UID != 0 {
		n.mode = dropSetID(n.mode)
	}
}

// Write applies data at off and returns the file's change. Only the chunks
// data covers are touched; partial chunks are read, modified and written.
// The write is not durable until Flush.
func (fs *FS) Write(ctx context.Context, cred Cred, ino uint64, off uint64, data []byte) (Change, error) {
	end := off + uint64(len(data))
	if end < off || end > MaxFileSize {
		return Change{}, errIno("write", ino, syscall.EFBIG)
	}
	fs.prefetchPartialChunks(ctx, ino, off, end)
	unlock := fs.lockInodes(ino)
	defer unlock()
	n0, err := fs.loadInode(ctx, ino)
	if err != nil {
		return Change{}, err
	}
	if err := canAccessData("write", cred, ino, n0, permWrite); err != nil {
		return Change{}, err
	}
	if len(data) == 0 {
		a := n0.attr(ino)
		return Change{Before: a, After: a}, nil
	}
	size := fs.chunkSize
	if n0.truncTo > n0.truncFrom && end > n0.truncFrom*size {
		if err := fs.reclaimTruncatedLocked(ctx, ino, true); err != nil {
			return Change{}, err
		}
	}
	t := fs.newTxn(ino)
	n, err := t.get(ctx, ino)
	if err != nil {
		return Change{}, err
	}
	before := n.attr(ino)
	// A file whose chunks hold exactly size bytes has no holes, and each of
	// its chunks is as long as the size allows.
	dense := n.used == n.size && n.truncTo == n.truncFrom
	for c := off / size; c*size < end; c++ {
		cs := c * size
		lo, hi := max(off, cs)-cs, min(end, cs+size)-cs
		src := data[cs+lo-off : cs+hi-off]
		var old []byte
		oldLen := 0
		full := lo == 0 && hi == size
		switch {
		case cs >= n.size:
			// Chunks at or beyond the size never exist.
		case full && dense:
			// No need to read what is overwritten whole: in a dense file
			// every chunk holds all the bytes up to the size.
			oldLen = int(min(size, n.size-cs))
		default:
			old, err = fs.kv.Get(ctx, chunkKey(ino, c))
			if err != nil && !errors.Is(err, ErrNoKey) {
				return Change{}, fmt.Errorf("kvfs: write inode %d: read chunk %d: %w", ino, c, err)
			}
			oldLen = len(old)
		}
		var val []byte
		if full {
			val = src
		} else {
			val = make([]byte, max(uint64(len(old)), hi))
			copy(val, old)
			copy(val[lo:], src)
		}
		t.dBytes += int64(len(val)) - int64(oldLen)
		t.ops = append(t.ops, KVOp{Key: chunkKey(ino, c), Value: val})
	}
	n.used = uint64(int64(n.used) + t.dBytes)
	n.size = max(n.size, end)
	now := fs.now().UnixNano()
	n.mtime, n.ctime = now, now
	clearPrivileges(cred, n)
	n.retireVerifier()
	t.put(ino)
	if err := t.commit(ctx); err != nil {
		return Change{}, err
	}
	return Change{Before: before, After: n.attr(ino)}, nil
}

// SetAttr changes attributes under POSIX rules: only the owner or root may
// chmod or set times to given values; a chmod by a caller (not root)
// outside the group drops setgid; owner and group follow mayChown; a size
// change needs write access. Setting the owner or group of anything but a
// directory drops setuid and setgid (dropSetID), whoever asks and even to
// the same values, from the mode set in the same request too (as Linux
// does). A size is applied before the mode, so that a mode set with it
// keeps the setuid and setgid bits the truncation drops (as Linux does).
// Setting a size or a time retires an exclusive create's verifier, as a
// write does. A mode for a symlink is ignored before any check, as Linux's
// server ignores it: its mode stays 0777. Any change updates ctime. It
// returns the inode's change.
func (fs *FS) SetAttr(ctx context.Context, cred Cred, ino uint64, req SetAttrRequest) (Change, error) {
	unlock := fs.lockInodes(ino)
	defer unlock()
	n0, err := fs.loadInode(ctx, ino)
	if err != nil {
		return Change{}, err
	}
	if req.GuardCtime != nil && storedTime(*req.GuardCtime) != n0.ctime {
		return Change{}, fmt.Errorf("kvfs: setattr inode %d: %w", ino, ErrNotSync)
	}
	if n0.typ == TypeSymlink {
		req.Mode = nil
	}
	owner := cred.UID == 0 || cred.UID == n0.uid
	if req.Mode != nil && !owner {
		return Change{}, errIno("chmod", ino, syscall.EPERM)
	}
	if !mayChown(cred, n0, req.UID, req.GID) {
		return Change{}, errIno("chown", ino, syscall.EPERM)
	}
	if req.Size != nil {
		if err := canAccessData("truncate", cred, ino, n0, permWrite); err != nil {
			return Change{}, err
		}
		if *req.Size > MaxFileSize {
			return Change{}, errIno("truncate", ino, syscall.EFBIG)
		}
	}
	for _, how := range []SetTime{req.Atime, req.Mtime} {
		switch {
		case how == TimeClient && !owner:
			return Change{}, errIno("set times of", ino, syscall.EPERM)
		case how == TimeServer && !owner && !permits(cred, n0, permWrite):
			return Change{}, errIno("set times of", ino, syscall.EACCES)
		}
	}
	if req.Mode == nil && req.UID == nil && req.GID == nil && req.Size == nil &&
		req.Atime == TimeDontChange && req.Mtime == TimeDontChange {
		a := n0.attr(ino)
		return Change{Before: a, After: a}, nil
	}
	if req.Size != nil && *req.Size > n0.size && n0.truncTo > n0.truncFrom && *req.Size > n0.truncFrom*fs.chunkSize {
		if err := fs.reclaimTruncatedLocked(ctx, ino, true); err != nil {
			return Change{}, err
		}
	}
	t := fs.newTxn(ino)
	n, err := t.get(ctx, ino)
	if err != nil {
		return Change{}, err
	}
	before := n.attr(ino)
	now := fs.now().UnixNano()
	// The size first, as Linux does: a truncation drops the setuid and
	// setgid bits of the mode the file has, not of one set with it.
	if req.Size != nil {
		if err := fs.truncate(ctx, t, ino, n, *req.Size); err != nil {
			return Change{}, err
		}
		n.mtime = now
		clearPrivileges(cred, n)
	}
	chown := req.UID != nil || req.GID != nil
	if req.UID != nil {
		n.uid = *req.UID
	}
	if req.GID != nil {
		n.gid = *req.GID
	}
	if req.Mode != nil {
		n.mode = *req.Mode & 0o7777
		if cred.UID != 0 && !inGroup(cred, n.gid) {
			n.mode &^= 0o2000
		}
	}
	if chown && n.typ != TypeDir {
		n.mode = dropSetID(n.mode)
	}
	switch req.Atime {
	case TimeServer:
		n.atime = now
	case TimeClient:
		n.atime = storedTime(req.AtimeTo)
	}
	switch req.Mtime {
	case TimeServer:
		n.mtime = now
	case TimeClient:
		n.mtime = storedTime(req.MtimeTo)
	}
	if req.Size != nil || req.Atime != TimeDontChange || req.Mtime != TimeDontChange {
		n.retireVerifier()
	}
	n.ctime = now
	t.put(ino)
	if err := t.commit(ctx); err != nil {
		return Change{}, err
	}
	return Change{Before: before, After: n.attr(ino)}, nil
}

// truncate sets n's size in t. Shrinking trims the chunk holding the new end
// and deletes the chunks past it: up to Options.InlineTruncateChunks in this batch,
// otherwise they become a pending range [truncFrom, truncTo) for background
// reclaim (no chunk of that range is visible: the size stays below it until
// the range is reclaimed).
func (fs *FS) truncate(ctx context.Context, t *txn, ino uint64, n *inode, size uint64) error {
	old := n.size
	n.size = size
	if size >= old {
		return nil
	}
	var dUsed int64
	if r := size % fs.chunkSize; r != 0 {
		c := size / fs.chunkSize
		data, err := fs.kv.Get(ctx, chunkKey(ino, c))
		if err != nil && !errors.Is(err, ErrNoKey) {
			return fmt.Errorf("kvfs: truncate inode %d: read chunk %d: %w", ino, c, err)
		}
		if uint64(len(data)) > r {
			t.ops = append(t.ops, KVOp{Key: chunkKey(ino, c), Value: data[:r]})
			dUsed -= int64(uint64(len(data)) - r)
		}
	}
	from, to := fs.ceilChunks(size), fs.ceilChunks(old)
	if to > from {
		keys, lens, more, err := fs.scanChunks(ctx, ino, from, to, fs.opts.InlineTruncateChunks)
		if err != nil {
			return fmt.Errorf("kvfs: truncate inode %d: %w", ino, err)
		}
		if more {
			if n.truncTo > n.truncFrom {
				from, to = min(from, n.truncFrom), max(to, n.truncTo)
			}
			n.truncFrom, n.truncTo = from, to
			t.ops = append(t.ops, KVOp{Key: reclaimKey(ino), Value: encodeReclaim(reclaimTruncated)})
			t.wake = true
		} else {
			for i, k := range keys {
				t.ops = append(t.ops, KVOp{Key: k, Delete: true})
				dUsed -= int64(lens[i])
			}
		}
	}
	n.used = uint64(int64(n.used) + dUsed)
	t.dBytes += dUsed
	return nil
}

// ceilChunks is the number of chunks that size bytes span.
func (fs *FS) ceilChunks(size uint64) uint64 { return (size + fs.chunkSize - 1) / fs.chunkSize }

// scanChunks lists up to limit chunk keys of ino in [from, to) with their
// value lengths; more reports that further keys follow.
func (fs *FS) scanChunks(ctx context.Context, ino, from, to uint64, limit int) (keys [][]byte, lens []int, more bool, err error) {
	upper := chunkKey(ino, to)
	if to == 0 || to > MaxFileSize/fs.chunkSize+1 {
		upper = prefixEnd(inoPrefix(prefixChunk, ino))
	}
	it, err := fs.kv.NewIterator(ctx, chunkKey(ino, from), upper)
	if err != nil {
		return nil, nil, false, err
	}
	defer it.Close()
	for it.Next() {
		if len(keys) == limit {
			return keys, lens, true, nil
		}
		keys = append(keys, append([]byte(nil), it.Key()...))
		lens = append(lens, it.ValueLen())
	}
	return keys, lens, false, it.Err()
}

// StatFS reports space and inode usage.
func (fs *FS) StatFS(ctx context.Context) (StatFS, error) {
	var bytes, inodes int64
	for i := range fs.counters {
		bytes += fs.counters[i].bytes.Load()
		inodes += fs.counters[i].inodes.Load()
	}
	total := unlimitedBytes
	if limit := fs.sizeLimit.Load(); limit > 0 {
		total = limit
	}
	used := uint64(max(bytes, 0))
	free := uint64(0)
	if used < total {
		free = total - used
	}
	ifree := totalInodes - uint64(max(inodes, 0))
	return StatFS{TotalBytes: total, FreeBytes: free, AvailBytes: free,
		TotalInodes: totalInodes, FreeInodes: ifree, AvailInodes: ifree}, nil
}
