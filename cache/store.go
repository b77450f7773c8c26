package cache

import (
	"context"
	"errors"
	"math"

	"github.com/zerofs-go/zerofsd/objstore"
)

const (
	// maxPagesPerRange bounds the pages one GetRange goes through the cache
	// for; larger reads pass straight through to the object store.
	maxPagesPerRange = 4096
	// maxFetchRounds bounds how often one read retries after losing races
	// (a shared fetch its owner gave up, a file that failed to verify)
	// before it reads from the object store directly.
	maxFetchRounds = 3
)

// cachingStore is the objstore.Store returned by NewCachingStore.
type cachingStore struct {
	inner     objstore.Store
	d         *Disk
	namespace string
}

// NewCachingStore wraps inner: Get/GetRange of immutable objects are served from
// the disk cache when present, otherwise fetched from inner and cached. Put and
// PutIfAbsent write through and populate the cache; Delete evicts. Head/List pass through.
// A nil d returns inner unchanged. namespace separates databases: it is the
// identity of the store (not the name of an export).
//
// Objects are assumed immutable once written (the LSM names every object
// uniquely); an overwrite or delete made through this store is seen at once,
// one made by another process is not.
func NewCachingStore(inner objstore.Store, d *Disk, namespace string) objstore.Store {
	if d == nil {
		return inner
	}
	if len(namespace) > maxNameLen {
		d.logger.Warn("namespace too long for the disk cache; not caching it", "namespace_len", len(namespace))
		return inner
	}
	return &cachingStore{inner: inner, d: d, namespace: namespace}
}

func (s *cachingStore) oid(key string) objectID { return objectID{s.namespace, key} }

func (s *cachingStore) cacheable(key string) bool { return len(key) <= maxNameLen }

// Get returns the whole object, from the cache when every page of it is
// resident, else from the inner store (and caches it).
func (s *cachingStore) Get(ctx context.Context, key string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // honour cancellation even when the cache could answer
	}
	if !s.cacheable(key) || s.d.isClosed() {
		return s.inner.Get(ctx, key)
	}
	oid := s.oid(key)
	if data, ok := s.d.getWhole(oid); ok {
		return data, nil
	}
	// Take the object's generation before reading it, as GetRange's fetch
	// does: a Put or Delete landing meanwhile moves it on, and the bytes
	// read, maybe the old ones, are then not cached.
	obj, gen := s.d.acquireObject(oid)
	defer s.d.releaseObject(oid, obj)
	s.d.fetches.Add(1)
	data, err := s.inner.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	s.d.misses.Add(int64(len(data))/s.d.pageSize + 1)
	s.d.populate(oid, obj, gen, data, true)
	return data, nil
}

// GetRange returns bytes [off, off+n) of the object, reading resident pages
// from the cache and fetching the missing ones with one inner GetRange.
func (s *cachingStore) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if off < 0 || n <= 0 || !s.cacheable(key) || s.d.isClosed() {
		return s.inner.GetRange(ctx, key, off, n)
	}
	end := off + n
	if end < off { // overflow: "to the end"
		end = math.MaxInt64
	}
	oid := s.oid(key)
	first, last := off/s.d.pageSize, (end-1)/s.d.pageSize
	if last-first >= maxPagesPerRange {
		if endPage := s.d.knownEndPage(oid); endPage >= 0 {
			last = min(last, max(endPage, first))
		}
		if last-first >= maxPagesPerRange {
			return s.inner.GetRange(ctx, key, off, n)
		}
		end = min(end, (last+1)*s.d.pageSize)
	}
	return s.d.getRange(ctx, s.inner, oid, off, end)
}

// Head passes through.
func (s *cachingStore) Head(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	return s.inner.Head(ctx, key)
}

// List passes through.
func (s *cachingStore) List(ctx context.Context, prefix string, opts objstore.ListOptions) (objstore.ListPage, error) {
	return s.inner.List(ctx, prefix, opts)
}

// Put writes through, then replaces the cached pages with the new content.
func (s *cachingStore) Put(ctx context.Context, key string, data []byte) error {
	if !s.cacheable(key) {
		return s.inner.Put(ctx, key, data)
	}
	return s.writeThrough(key, data, func() error { return s.inner.Put(ctx, key, data) })
}

// PutIfAbsent writes through; on success the new object is cached.
func (s *cachingStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	if !s.cacheable(key) {
		return s.inner.PutIfAbsent(ctx, key, data)
	}
	return s.writeThrough(key, data, func() error { return s.inner.PutIfAbsent(ctx, key, data) })
}

// writeThrough runs write, a Put or PutIfAbsent of key with data in the
// inner store, then drops the cached pages of the old content and caches
// data. The object's generation is taken before the write: should another
// write or delete of the key reach the cache while this one runs, the two
// may have landed in the store in either order, so data is not cached (the
// next read fetches whichever won). A precondition failure leaves the
// existing object, and the cache, unchanged.
func (s *cachingStore) writeThrough(key string, data []byte, write func() error) error {
	oid := s.oid(key)
	obj, gen := s.d.acquireObject(oid)
	defer s.d.releaseObject(oid, obj)
	err := write()
	if errors.Is(err, objstore.ErrPreconditionFailed) {
		return err
	}
	// Whether or not it failed: the object may have changed.
	gen, alone := s.d.invalidateWritten(oid, obj, gen)
	if err == nil && alone && !s.d.isClosed() {
		s.d.populate(oid, obj, gen, data, false)
	}
	return err
}

// Delete deletes through and evicts every cached page of the object.
func (s *cachingStore) Delete(ctx context.Context, key string) error {
	err := s.inner.Delete(ctx, key)
	if s.cacheable(key) {
		s.d.invalidate(s.oid(key))
	}
	return err
}

// --- the read paths of Disk ---

// fetchCall is one page being fetched; concurrent readers of that page wait
// on it instead of fetching it again.
type fetchCall struct {
	done    chan struct{}
	payload []byte // the page's bytes (shorter than a page: the object ends in it); set before done closes
	err     error
	// gaveUp tells that err is the owner's own: its context ended, and
	// the store may well answer a waiter; set before done closes.
	gaveUp  bool
	waiters int // readers waiting on it (guarded by Disk.mu; observed by tests)
}

// piece is the part of one page that a range read returns.
type piece struct {
	resolved bool
	data     []byte
	last     bool // the object ends in this page: nothing after it
}

// rangeRead is one GetRange in progress: bytes [off, end) as pages from first on.
type rangeRead struct {
	d        *Disk
	inner    objstore.Store
	oid      objectID
	off, end int64
	first    int64
	pieces   []piece
}

type plannedHit struct {
	i int
	e *entry
}

type plannedWait struct {
	i int
	c *fetchCall
}

// bounds returns the part [a, b) of page i (of payloadLen bytes) that the read wants.
func (r *rangeRead) bounds(i int, payloadLen int) (a, b int, last bool) {
	P := r.d.pageSize
	pageStart := (r.first + int64(i)) * P
	a = int(max(r.off, pageStart) - pageStart)
	b = int(min(r.end, pageStart+P) - pageStart)
	b = min(b, payloadLen)
	a = min(a, b)
	return a, b, int64(payloadLen) < P
}

func (r *rangeRead) resolveFromPayload(i int, payload []byte) {
	a, b, last := r.bounds(i, len(payload))
	r.pieces[i] = piece{resolved: true, data: payload[a:b], last: last}
}

// complete reports whether every piece up to the object's end is resolved.
func (r *rangeRead) complete() bool {
	for _, p := range r.pieces {
		if !p.resolved {
			return false
		}
		if p.last {
			return true
		}
	}
	return true
}

func (r *rangeRead) assemble() []byte {
	n := 0
	for _, p := range r.pieces {
		n += len(p.data)
		if p.last {
			break
		}
	}
	out := make([]byte, 0, n)
	for _, p := range r.pieces {
		out = append(out, p.data...)
		if p.last {
			break
		}
	}
	return out
}

func (d *Disk) getRange(ctx context.Context, inner objstore.Store, oid objectID, off, end int64) ([]byte, error) {
	first, last := off/d.pageSize, (end-1)/d.pageSize
	r := &rangeRead{d: d, inner: inner, oid: oid, off: off, end: end, first: first,
		pieces: make([]piece, last-first+1)}
	for range maxFetchRounds {
		hits, waits, own, ok := r.plan()
		if !ok {
			break // closed
		}
		if len(own) > 0 {
			if err := r.fetch(ctx, own); err != nil {
				return nil, err
			}
		}
		for _, h := range hits {
			if r.pieces[h.i].resolved {
				continue // came with our own fetch
			}
			a, b, last := r.bounds(h.i, h.e.payloadLen)
			var data []byte
			if a < b {
				var err error
				if data, err = d.readRange(h.e, a, b); err != nil {
					d.drop(h.e, err)
					continue
				}
			}
			d.hits.Add(1)
			r.pieces[h.i] = piece{resolved: true, data: data, last: last}
		}
		for _, w := range waits {
			if r.pieces[w.i].resolved {
				continue
			}
			select {
			case <-w.c.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if w.c.err != nil {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
				if !w.c.gaveUp {
					// The store failed the fetch, after its own
					// retries: asking it again would only make this
					// read wait as long once more.
					return nil, w.c.err
				}
				continue // the owner's context ended: fetch it ourselves
			}
			r.resolveFromPayload(w.i, w.c.payload)
		}
		if r.complete() {
			return r.assemble(), nil
		}
	}
	return inner.GetRange(ctx, oid.key, off, end-off)
}

// plan sorts the unresolved pages of the read into resident ones (hits),
// ones another reader is fetching (waits) and ones this reader will fetch
// (own, registered as in flight). ok is false when the Disk is closed.
func (r *rangeRead) plan() (hits []plannedHit, waits []plannedWait, own map[int]*fetchCall, ok bool) {
	d := r.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, nil, nil, false
	}
	if obj := d.objects[r.oid]; obj != nil && obj.endPage >= 0 {
		// The object is known to end in endPage: nothing to read after it.
		keep := max(obj.endPage-r.first+1, 0)
		if keep < int64(len(r.pieces)) {
			r.pieces = r.pieces[:keep]
		}
	}
	for i := range r.pieces {
		if r.pieces[i].resolved {
			if r.pieces[i].last {
				break
			}
			continue
		}
		id := pageID{r.oid.namespace, r.oid.key, r.first + int64(i)}
		if e := d.pages[id]; e != nil {
			d.lru.MoveToFront(e.elem)
			hits = append(hits, plannedHit{i, e})
		} else if c := d.inflight[id]; c != nil {
			c.waiters++
			waits = append(waits, plannedWait{i, c})
		} else {
			if own == nil {
				own = make(map[int]*fetchCall)
			}
			c := &fetchCall{done: make(chan struct{})}
			d.inflight[id] = c
			own[i] = c
		}
	}
	return hits, waits, own, true
}

// fetch reads the pages this reader owns with one inner GetRange spanning
// them, hands them to waiting readers, caches them and resolves every piece
// the span covers.
func (r *rangeRead) fetch(ctx context.Context, own map[int]*fetchCall) error {
	d := r.d
	lo, hi := len(r.pieces), -1
	for i := range own {
		lo, hi = min(lo, i), max(hi, i)
	}
	obj, gen := d.acquireObject(r.oid)
	defer d.releaseObject(r.oid, obj)
	unregister := func() {
		d.mu.Lock()
		for i, c := range own {
			id := pageID{r.oid.namespace, r.oid.key, r.first + int64(i)}
			if d.inflight[id] == c {
				delete(d.inflight, id)
			}
		}
		d.mu.Unlock()
	}
	P := d.pageSize
	spanStart := (r.first + int64(lo)) * P
	d.fetches.Add(1)
	d.misses.Add(int64(len(own)))
	data, err := r.inner.GetRange(ctx, r.oid.key, spanStart, int64(hi-lo+1)*P)
	if err != nil {
		gaveUp := ctx.Err() != nil
		for _, c := range own {
			c.err, c.gaveUp = err, gaveUp
			close(c.done)
		}
		unregister()
		return err
	}
	payloads := make([][]byte, hi-lo+1)
	for i := lo; i <= hi; i++ {
		rel := int64(i-lo) * P
		payload := data[min(rel, int64(len(data))):min(rel+P, int64(len(data)))]
		payloads[i-lo] = payload
		if c := own[i]; c != nil {
			c.payload = payload
			close(c.done)
		}
		if !r.pieces[i].resolved {
			r.resolveFromPayload(i, payload)
		}
	}
	// Cache the owned pages up to the object's end. An empty page is cached
	// only when it provably starts exactly at the end: it is page 0, or the
	// page before it is full (in this span, or resident).
	for i := lo; i <= hi; i++ {
		rel := int64(i-lo) * P
		if rel > int64(len(data)) || (rel == int64(len(data)) && i == lo && !d.fullPageBefore(r.oid, r.first+int64(i))) {
			break
		}
		if own[i] != nil {
			d.storePage(obj, gen, pageID{r.oid.namespace, r.oid.key, r.first + int64(i)}, payloads[i-lo])
		}
		if int64(len(payloads[i-lo])) < P {
			break
		}
	}
	unregister()
	return nil
}

// fullPageBefore reports whether page p starts where a full page ends: p is
// 0, or page p-1 is resident and full.
func (d *Disk) fullPageBefore(oid objectID, p int64) bool {
	if p == 0 {
		return true
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e := d.pages[pageID{oid.namespace, oid.key, p - 1}]
	return e != nil && int64(e.payloadLen) == d.pageSize
}

// knownEndPage returns the page in which the object is known to end, or -1.
func (d *Disk) knownEndPage(oid objectID) int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if obj := d.objects[oid]; obj != nil {
		return obj.endPage
	}
	return -1
}

// getWhole returns the whole object when all its pages are resident and verify.
func (d *Disk) getWhole(oid objectID) ([]byte, bool) {
	d.mu.Lock()
	obj := d.objects[oid]
	if d.closed || obj == nil || obj.endPage < 0 {
		d.mu.Unlock()
		return nil, false
	}
	entries := make([]*entry, 0, obj.endPage+1)
	for p := int64(0); p <= obj.endPage; p++ {
		e := obj.pages[p]
		if e == nil {
			d.mu.Unlock()
			return nil, false
		}
		entries = append(entries, e)
	}
	size := 0
	for _, e := range entries {
		d.lru.MoveToFront(e.elem)
		size += e.payloadLen
	}
	d.mu.Unlock()
	out := make([]byte, 0, size)
	for _, e := range entries {
		payload, err := d.readWhole(e)
		if err != nil {
			d.drop(e, err)
			return nil, false
		}
		out = append(out, payload...)
	}
	d.hits.Add(int64(len(entries)))
	return out, true
}

// populate caches a whole object (from Get, Put or PutIfAbsent) as of
// generation gen of obj (acquireObject, which the caller holds): nothing is
// cached if the object was invalidated since. With skipResident, pages
// already cached are not rewritten.
func (d *Disk) populate(oid objectID, obj *object, gen uint64, data []byte, skipResident bool) {
	if int64(len(data)) > d.capacity {
		return
	}
	P := int(d.pageSize)
	for p := 0; p*P <= len(data); p++ {
		payload := data[p*P : min((p+1)*P, len(data))]
		id := pageID{oid.namespace, oid.key, int64(p)}
		if skipResident {
			d.mu.Lock()
			e := d.pages[id]
			d.mu.Unlock()
			if e != nil && e.payloadLen == len(payload) {
				continue
			}
		}
		d.storePage(obj, gen, id, payload)
		if len(payload) < P {
			break
		}
	}
}
