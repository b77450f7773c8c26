package cache

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPageSize is the cached unit: objects are cached in aligned pages of
// this many bytes.
const DefaultPageSize = 256 << 10

// ErrLocked is returned by OpenDisk when another Disk (in this or another
// process) already uses the directory.
var ErrLocked = errors.New("cache directory is in use")

// DiskOptions configures a Disk.
type DiskOptions struct {
	// CapacityBytes bounds the sum of the sizes of the cache files, headers
	// included. Required: must be > 0.
	CapacityBytes int64
	// PageSize is the cached unit, a multiple of 4 KiB up to 16 MiB.
	// Default DefaultPageSize (256 KiB). Files written with another page size
	// are dropped when the cache is opened.
	PageSize int64
	// Logger receives warnings (corrupt files, failing writes). Default slog.Default().
	Logger *slog.Logger
}

// DiskStats is a snapshot of a Disk's counters. Hits and Misses count pages.
type DiskStats struct {
	Hits        int64 // pages served from cache files
	Misses      int64 // pages that had to be fetched from the object store
	Bytes       int64 // resident: sum of cache file sizes, headers included
	Files       int64 // resident page files
	Evictions   int64 // files removed to stay under the capacity
	Corrupt     int64 // files dropped because they failed verification or could not be read
	Writes      int64 // page files written
	WriteErrors int64 // page files that could not be written (ignored)
	Fetches     int64 // object store reads issued on misses
}

// pageID names one cached page: page index `page` of object `key` in `namespace`.
type pageID struct {
	namespace string
	key       string
	page      int64
}

// objectID names one object in one namespace.
type objectID struct {
	namespace string
	key       string
}

func (id pageID) object() objectID { return objectID{id.namespace, id.key} }

// entry is one resident page file.
type entry struct {
	id         pageID
	path       string
	headerLen  int
	payloadLen int
	elem       *list.Element // in Disk.lru
}

func (e *entry) size() int64 { return int64(e.headerLen + e.payloadLen) }

// object tracks the resident pages of one object and guards against caching
// data fetched before an overwrite or delete (gen).
type object struct {
	pages   map[int64]*entry
	endPage int64  // index of a resident page shorter than a full page (the object ends in it), or -1
	gen     uint64 // bumped by invalidate; a fetch started under an older gen is not cached
	users   int    // fetches and populates holding gen; the object is kept while > 0
}

// Disk is an on-disk cache of object pages shared by every caching store of
// a process; see the package documentation. It is safe for concurrent use.
type Disk struct {
	dir      string
	capacity int64
	pageSize int64
	logger   *slog.Logger
	lockFile *os.File
	seq      atomic.Uint64 // makes every written file name unique

	hits, misses, evictions, corrupt, writes, writeErrors, fetches atomic.Int64
	writeFailing                                                   atomic.Bool
	warnLimit                                                      logLimiter

	// pageWritten and removingFile, when set (by tests, before the Disk is
	// used), are called with the path of each page file written, before it
	// is indexed, and of each file about to be removed.
	pageWritten  func(path string)
	removingFile func(path string)

	mu      sync.Mutex
	closed  bool
	pages   map[pageID]*entry
	objects map[objectID]*object
	lru     list.List // of *entry, most recently used first
	bytes   int64     // sum of the sizes of the indexed files
	// reserved is room set aside for page files being written; removing is
	// the size of files taken out of the index whose removal is under way
	// (but for the part of pages evicted for a page that its reservation
	// covers: it is written once they are gone). bytes+reserved+removing
	// never exceeds the capacity, and bounds the files on disk.
	reserved int64
	removing int64
	inflight map[pageID]*fetchCall
}

// OpenDisk opens (creating it if needed) the cache directory dir, bounded by
// capacityBytes (> 0; to run without a disk cache, pass a nil *Disk to
// NewCachingStore), with the default page size. Existing valid page files are
// indexed and reused; temporary and invalid files are removed. One Disk per
// directory: a second OpenDisk of the same directory fails with ErrLocked
// until the first is closed. Close it after the stores that use it.
func OpenDisk(dir string, capacityBytes int64, logger *slog.Logger) (*Disk, error) {
	return OpenDiskWithOptions(dir, DiskOptions{CapacityBytes: capacityBytes, Logger: logger})
}

// OpenDiskWithOptions is OpenDisk with every option.
func OpenDiskWithOptions(dir string, opts DiskOptions) (*Disk, error) {
	if opts.CapacityBytes <= 0 {
		return nil, fmt.Errorf("cache: open %s: capacity must be > 0, got %d", dir, opts.CapacityBytes)
	}
	if opts.PageSize == 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.PageSize < chunkSize || opts.PageSize > maxPageSize || opts.PageSize%chunkSize != 0 {
		return nil, fmt.Errorf("cache: open %s: page size %d is not a multiple of %d up to %d", dir, opts.PageSize, chunkSize, maxPageSize)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("cache: open %s: %w", dir, err)
	}
	lockFile, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	d := &Disk{
		dir:      dir,
		capacity: opts.CapacityBytes,
		pageSize: opts.PageSize,
		logger:   opts.Logger.With("component", "disk-cache", "dir", dir),
		lockFile: lockFile,
		pages:    make(map[pageID]*entry),
		objects:  make(map[objectID]*object),
		inflight: make(map[pageID]*fetchCall),
	}
	d.seq.Store(uint64(time.Now().UnixNano()))
	start := time.Now()
	if err := d.scan(); err != nil {
		lockFile.Close()
		return nil, err
	}
	d.logger.Info("disk cache opened", "files", len(d.pages), "bytes", d.bytes,
		"capacity", d.capacity, "page_size", d.pageSize, "scan", time.Since(start))
	return d, nil
}

// Close stops caching: caching stores on a closed Disk pass every call
// through to their inner store. Files stay on disk for the next OpenDisk.
func (d *Disk) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.lockFile.Close() // releases the flock
}

// Stats returns a snapshot of the counters.
func (d *Disk) Stats() DiskStats {
	d.mu.Lock()
	bytes, files := d.bytes, int64(len(d.pages))
	d.mu.Unlock()
	return DiskStats{
		Hits:        d.hits.Load(),
		Misses:      d.misses.Load(),
		Bytes:       bytes,
		Files:       files,
		Evictions:   d.evictions.Load(),
		Corrupt:     d.corrupt.Load(),
		Writes:      d.writes.Load(),
		WriteErrors: d.writeErrors.Load(),
		Fetches:     d.fetches.Load(),
	}
}

func (d *Disk) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// namespaceDir is the directory name of a namespace: a hash, so any string works.
func namespaceDir(namespace string) string {
	sum := sha256.Sum256([]byte(namespace))
	return hex.EncodeToString(sum[:8])
}

// pageHash is the file name stem of a page: a hash of its full identity.
func pageHash(id pageID) string {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(id.namespace)))
	h.Write(n[:])
	h.Write([]byte(id.namespace))
	binary.BigEndian.PutUint64(n[:], uint64(len(id.key)))
	h.Write(n[:])
	h.Write([]byte(id.key))
	binary.BigEndian.PutUint64(n[:], uint64(id.page))
	h.Write(n[:])
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// pageDir is the directory holding the files of a page.
func (d *Disk) pageDir(id pageID, hash string) string {
	return filepath.Join(d.dir, namespaceDir(id.namespace), hash[:2])
}

// --- index (d.mu held) ---

func (d *Disk) objectLocked(oid objectID, create bool) *object {
	obj := d.objects[oid]
	if obj == nil && create {
		obj = &object{pages: make(map[int64]*entry), endPage: -1}
		d.objects[oid] = obj
	}
	return obj
}

// acquireObject pins the object's generation for a fetch or populate.
func (d *Disk) acquireObject(oid objectID) (*object, uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	obj := d.objectLocked(oid, true)
	obj.users++
	return obj, obj.gen
}

func (d *Disk) releaseObject(oid objectID, obj *object) {
	d.mu.Lock()
	defer d.mu.Unlock()
	obj.users--
	d.forgetIfUnusedLocked(oid, obj)
}

func (d *Disk) forgetIfUnusedLocked(oid objectID, obj *object) {
	if obj.users == 0 && len(obj.pages) == 0 && d.objects[oid] == obj {
		delete(d.objects, oid)
	}
}

// unlinkLocked removes e from the index; the caller removes the file.
func (d *Disk) unlinkLocked(e *entry) {
	delete(d.pages, e.id)
	d.lru.Remove(e.elem)
	d.bytes -= e.size()
	oid := e.id.object()
	if obj := d.objects[oid]; obj != nil && obj.pages[e.id.page] == e {
		delete(obj.pages, e.id.page)
		if obj.endPage == e.id.page {
			obj.endPage = -1
		}
		d.forgetIfUnusedLocked(oid, obj)
	}
}

// evictLocked unlinks least recently used entries until need more bytes fit
// within the capacity beside those indexed, reserved and being removed. It
// returns the evicted entries, whose files the caller removes; nothing is
// evicted, and ok is false, when need cannot fit even in an empty index.
func (d *Disk) evictLocked(need int64) (victims []*entry, ok bool) {
	if d.reserved+d.removing+need > d.capacity {
		return nil, false
	}
	for d.bytes+d.reserved+d.removing+need > d.capacity && d.lru.Len() > 0 {
		victim := d.lru.Back().Value.(*entry)
		d.unlinkLocked(victim)
		d.evictions.Add(1)
		victims = append(victims, victim)
	}
	return victims, true
}

// linkLocked adds e (not yet in the index, its room made by evictLocked),
// and returns the entry of the same page it replaces, if any: its file is
// the caller's to remove.
func (d *Disk) linkLocked(e *entry) (replaced *entry) {
	if old := d.pages[e.id]; old != nil {
		d.unlinkLocked(old)
		replaced = old
	}
	d.pages[e.id] = e
	e.elem = d.lru.PushFront(e)
	d.bytes += e.size()
	obj := d.objectLocked(e.id.object(), true)
	obj.pages[e.id.page] = e
	if int64(e.payloadLen) < d.pageSize {
		obj.endPage = e.id.page
	}
	return replaced
}

// entryPaths returns the file paths of entries.
func entryPaths(entries []*entry) []string {
	paths := make([]string, len(entries))
	for i, e := range entries {
		paths[i] = e.path
	}
	return paths
}

func (d *Disk) removeFiles(paths []string) {
	for _, p := range paths {
		if d.removingFile != nil {
			d.removingFile(p)
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			d.logger.Warn("cannot remove cache file", "path", p, "err", err)
		}
	}
}

// removeCounted removes files whose size, n bytes in all, the caller added
// to d.removing when it took them out of the index, and then subtracts it.
func (d *Disk) removeCounted(paths []string, n int64) {
	d.removeFiles(paths)
	if n == 0 {
		return
	}
	d.mu.Lock()
	d.removing -= n
	d.mu.Unlock()
}

// Forget drops every cached page of the object key in namespace, and keeps
// fetches of it in flight from caching their result: for a writer that
// creates an object without a caching store, under a name an earlier object
// may have had (sequential names, a store wiped and started again). A nil
// Disk does nothing.
func (d *Disk) Forget(namespace, key string) {
	if d == nil || len(namespace) > maxNameLen || len(key) > maxNameLen {
		return
	}
	d.invalidate(objectID{namespace: namespace, key: key})
}

// invalidate drops every resident page of an object and makes fetches of it
// that are in flight not cache their result.
func (d *Disk) invalidate(oid objectID) {
	d.mu.Lock()
	garbage, n := d.invalidateLocked(oid, d.objects[oid])
	d.mu.Unlock()
	d.removeCounted(garbage, n)
}

// invalidateWritten is invalidate after a write of the object through a
// caching store, which pinned obj at generation gen before writing. It
// returns the object's new generation, and whether nothing else invalidated
// the object since gen: only then may the written bytes be cached.
func (d *Disk) invalidateWritten(oid objectID, obj *object, gen uint64) (uint64, bool) {
	d.mu.Lock()
	alone := obj.gen == gen
	garbage, n := d.invalidateLocked(oid, obj)
	gen = obj.gen
	d.mu.Unlock()
	d.removeCounted(garbage, n)
	return gen, alone
}

// invalidateLocked does the work of invalidate on obj, the object of oid
// (nil if none), and returns the files to remove with removeCounted and
// their size.
func (d *Disk) invalidateLocked(oid objectID, obj *object) ([]string, int64) {
	// Readers that start from now on must not join a fetch of the old content.
	for id := range d.inflight {
		if id.namespace == oid.namespace && id.key == oid.key {
			delete(d.inflight, id)
		}
	}
	if obj == nil {
		return nil, 0
	}
	obj.gen++
	var garbage []string
	var n int64
	for _, e := range obj.pages {
		d.unlinkLocked(e)
		garbage = append(garbage, e.path)
		n += e.size()
	}
	d.removing += n
	return garbage, n
}

// drop removes an entry whose file failed to read or verify, unless it was
// already replaced or evicted meanwhile (then the failure was a benign race
// with eviction and is not counted). It reports whether it counted corruption.
func (d *Disk) drop(e *entry, cause error) {
	d.mu.Lock()
	current := d.pages[e.id] == e
	if current {
		d.unlinkLocked(e)
		d.removing += e.size()
	}
	d.mu.Unlock()
	if !current {
		return
	}
	d.corrupt.Add(1)
	level := slog.LevelWarn
	if !d.warnLimit.allow(time.Now()) {
		level = slog.LevelDebug // e.g. the whole directory was deleted: one line per file would flood
	}
	d.logger.Log(context.Background(), level, "dropping cache file that failed verification; refetching",
		"namespace", e.id.namespace, "key", e.id.key, "page", e.id.page, "path", e.path, "err", cause)
	d.removeCounted([]string{e.path}, e.size())
}

// --- page files ---

// readRange returns payload bytes [a, b) of a resident page, verifying the
// header (including the cache key) and every chunk the range touches.
// 0 <= a <= b <= e.payloadLen.
func (d *Disk) readRange(e *entry, a, b int) ([]byte, error) {
	f, err := os.Open(e.path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	firstChunk, endChunk := a/chunkSize, (b+chunkSize-1)/chunkSize
	chunkStart, chunkEnd := firstChunk*chunkSize, min(endChunk*chunkSize, e.payloadLen)
	// One read when the chunks are near the header, else two.
	var hdr, chunks []byte
	if chunkStart <= 16<<10 {
		buf := make([]byte, e.headerLen+chunkEnd)
		if _, err := f.ReadAt(buf, 0); err != nil {
			return nil, fmt.Errorf("%w: read %s: %v", errCorruptPage, e.path, err)
		}
		hdr, chunks = buf[:e.headerLen], buf[e.headerLen+chunkStart:]
	} else {
		hdr = make([]byte, e.headerLen)
		chunks = make([]byte, chunkEnd-chunkStart)
		if _, err := f.ReadAt(hdr, 0); err != nil {
			return nil, fmt.Errorf("%w: read %s: %v", errCorruptPage, e.path, err)
		}
		if _, err := f.ReadAt(chunks, int64(e.headerLen+chunkStart)); err != nil {
			return nil, fmt.Errorf("%w: read %s: %v", errCorruptPage, e.path, err)
		}
	}
	h, _, err := decodePageHeader(hdr)
	if err != nil {
		return nil, err
	}
	if err := d.checkIdentity(&h, e); err != nil {
		return nil, err
	}
	if err := h.verifyChunks(firstChunk, chunks); err != nil {
		return nil, err
	}
	return chunks[a-chunkStart : b-chunkStart], nil
}

// readWhole returns the whole verified payload of a resident page.
func (d *Disk) readWhole(e *entry) ([]byte, error) {
	b, err := os.ReadFile(e.path)
	if err != nil {
		return nil, err
	}
	h, payload, err := decodePage(b)
	if err != nil {
		return nil, err
	}
	if err := d.checkIdentity(&h, e); err != nil {
		return nil, err
	}
	return payload, nil
}

// checkIdentity verifies that a decoded header is the page the entry names.
func (d *Disk) checkIdentity(h *pageHeader, e *entry) error {
	if h.namespace != e.id.namespace || h.key != e.id.key || int64(h.page) != e.id.page {
		return fmt.Errorf("%w: file holds %q/%q page %d, want %q/%q page %d",
			errCorruptPage, h.namespace, h.key, h.page, e.id.namespace, e.id.key, e.id.page)
	}
	if int64(h.pageSize) != d.pageSize || int(h.payloadLen) != e.payloadLen {
		return fmt.Errorf("%w: page size %d, payload %d; want %d, %d",
			errCorruptPage, h.pageSize, h.payloadLen, d.pageSize, e.payloadLen)
	}
	return nil
}

// storePage writes a page file and indexes it, unless the object was
// invalidated since gen was taken or the cache is closed. Room is made
// first: least recently used pages are evicted and their files removed
// before the file is written, so the files on disk stay within the
// capacity; when the room is held by other writes in flight, the page is
// not cached. Failures are logged and ignored: the cache is an
// optimisation.
func (d *Disk) storePage(obj *object, gen uint64, id pageID, payload []byte) {
	hdrLen := pageHeaderLen(len(id.namespace), len(id.key), len(payload))
	size := int64(hdrLen + len(payload))
	if size > d.capacity {
		return
	}
	d.mu.Lock()
	if d.closed || obj.gen != gen {
		d.mu.Unlock()
		return
	}
	victims, ok := d.evictLocked(size)
	if ok {
		d.reserved += size
	}
	// The victims' room is now this page's reservation, up to its size:
	// they are gone before it is written. What they hold beyond it (a big
	// page evicted for a small one) counts as being removed until they
	// are gone, lest another write take it while they are still there.
	var excess int64
	for _, v := range victims {
		excess += v.size()
	}
	excess = max(excess-size, 0)
	d.removing += excess
	d.mu.Unlock()
	d.removeCounted(entryPaths(victims), excess)
	if !ok {
		return
	}
	path, err := d.writePageFile(id, payload)
	if err != nil {
		d.mu.Lock()
		d.reserved -= size
		d.mu.Unlock()
		d.writeErrors.Add(1)
		if !d.writeFailing.Swap(true) {
			d.logger.Warn("cannot write cache file; serving from the object store", "key", id.key, "err", err)
		} else {
			d.logger.Debug("cannot write cache file", "key", id.key, "err", err)
		}
		return
	}
	if d.pageWritten != nil {
		d.pageWritten(path)
	}
	if d.writeFailing.Swap(false) {
		d.logger.Info("cache files are written again")
	}
	d.writes.Add(1)
	e := &entry{id: id, path: path, headerLen: hdrLen, payloadLen: len(payload)}
	var doomed *entry
	d.mu.Lock()
	d.reserved -= size
	if d.closed || obj.gen != gen {
		doomed = e
	} else {
		doomed = d.linkLocked(e)
	}
	if doomed != nil {
		d.removing += doomed.size()
	}
	d.mu.Unlock()
	if doomed != nil {
		d.removeCounted([]string{doomed.path}, doomed.size())
	}
}

// writePageFile writes a page atomically (temporary file, then rename) under
// a unique name and returns its path. Missing directories are (re)created.
func (d *Disk) writePageFile(id pageID, payload []byte) (string, error) {
	hash := pageHash(id)
	dir := d.pageDir(id, hash)
	path := filepath.Join(dir, hash+"."+strconv.FormatUint(d.seq.Add(1), 16))
	hdr := appendPageHeader(make([]byte, 0, pageHeaderLen(len(id.namespace), len(id.key), len(payload))), id, d.pageSize, payload)
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if err = writeFileAtomic(dir, path, hdr, payload); !errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err = os.MkdirAll(dir, 0o755); err != nil {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("write cache page %d of %q: %w", id.page, id.key, err)
	}
	return path, nil
}

func writeFileAtomic(dir, path string, parts ...[]byte) error {
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	for _, p := range parts {
		if _, err = f.Write(p); err != nil {
			break
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// logLimiter lets at most warnBurst warnings through per warnInterval.
type logLimiter struct {
	mu    sync.Mutex
	start time.Time
	n     int
}

const (
	warnBurst    = 20
	warnInterval = time.Minute
)

func (l *logLimiter) allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.start) > warnInterval {
		l.start, l.n = now, 0
	}
	l.n++
	return l.n <= warnBurst
}

// tmpPrefix starts the name of a file being written; such files are removed
// when the cache is opened.
const tmpPrefix = "tmp-"

// readFull reads the whole of r (used by the scanner on small headers).
func readFull(r io.ReaderAt, n int) ([]byte, error) {
	b := make([]byte, n)
	m, err := r.ReadAt(b, 0)
	return b[:m], err
}
