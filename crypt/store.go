package crypt

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/zerofs-go/zerofsd/objstore"
)

// DefaultHeaderCacheEntries is the default size of a Sealer's cache of
// verified object headers.
const DefaultHeaderCacheEntries = 4096

// nearStart is how far from an object's start a range may begin and still
// be fetched together with the header in one request, when the header is
// not cached; further away, the two are fetched concurrently.
const nearStart = 256 << 10

// Options configure a Sealer. Zero fields take the documented defaults.
type Options struct {
	// HeaderCacheEntries bounds the in-memory cache of verified object
	// headers and their derived keys (about 1 KiB each), which spares a
	// ranged read the header fetch. Default DefaultHeaderCacheEntries.
	HeaderCacheEntries int
	// FrameCacheBytes bounds the in-memory cache of decrypted frames
	// (4 KiB of plaintext each, charged about 4.2 KiB), which serves
	// ranged reads again without reading or decrypting the frames it
	// holds. 0 (the default) keeps none. Decrypted frames live only
	// there, never on disk.
	FrameCacheBytes int64
	// Logger receives an error line naming every object that fails
	// authentication. Default slog.Default().
	Logger *slog.Logger
}

// Sealer seals and opens the objects of one export with its Keys. Every
// store it wraps must be a view of the same objects (the export's store,
// possibly behind a cache): they share one header cache, keyed by object
// name. It is safe for concurrent use.
type Sealer struct {
	keys     *Keys
	log      *slog.Logger
	headers  *lru.Cache[string, *objectKey]
	frames   *frameCache // nil: none
	buffers  bufferPool
	tampered atomic.Int64
}

// NewSealer returns a Sealer for the export whose keys are given.
func NewSealer(keys *Keys, opts Options) *Sealer {
	if opts.HeaderCacheEntries <= 0 {
		opts.HeaderCacheEntries = DefaultHeaderCacheEntries
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	headers, err := lru.New[string, *objectKey](opts.HeaderCacheEntries)
	if err != nil {
		panic(err) // only for a size <= 0, excluded above
	}
	return &Sealer{keys: keys, log: opts.Logger, headers: headers, frames: newFrameCache(opts.FrameCacheBytes)}
}

// Wrap returns a Store that seals every object written through it into
// inner and opens (authenticates and decrypts) every object read.
func (s *Sealer) Wrap(inner objstore.Store) objstore.Store {
	return &store{s: s, inner: inner}
}

// Keys returns the keys s seals with.
func (s *Sealer) Keys() *Keys { return s.keys }

// FrameCacheStats reports the frame cache's hits and misses, in frames
// (both 0 without a cache).
func (s *Sealer) FrameCacheStats() (hits, misses int64) {
	if s.frames == nil {
		return 0, 0
	}
	return s.frames.hits.Load(), s.frames.misses.Load()
}

// TamperedReads counts the reads that failed authentication.
func (s *Sealer) TamperedReads() int64 { return s.tampered.Load() }

// Seal returns the stored form of data under the object name.
func (s *Sealer) Seal(name string, data []byte) ([]byte, error) {
	out, _, err := s.seal(name, data)
	return out, err
}

// Open authenticates and decrypts a whole stored object of that name.
func (s *Sealer) Open(name string, sealed []byte) ([]byte, error) {
	out, _, err := s.open(name, sealed)
	if err != nil {
		return nil, s.fail(name, err)
	}
	return out, nil
}

func (s *Sealer) seal(name string, data []byte) ([]byte, *objectKey, error) {
	return s.sealInto(name, data, func(n int64) []byte { return make([]byte, n) })
}

// sealPooled is seal into a buffer of the Sealer's pool: the caller gives
// it back (release) once the inner store holds the object.
func (s *Sealer) sealPooled(name string, data []byte) ([]byte, *objectKey, error) {
	return s.sealInto(name, data, s.buffers.get)
}

func (s *Sealer) sealInto(name string, data []byte, alloc func(n int64) []byte) ([]byte, *objectKey, error) {
	if int64(len(data)) > maxPlainLen {
		return nil, nil, fmt.Errorf("crypt: object %s: %d bytes is too large", name, len(data))
	}
	h := header{plainLen: int64(len(data))}
	if _, err := rand.Read(h.salt[:]); err != nil {
		return nil, nil, fmt.Errorf("crypt: object %s: drawing a salt: %w", name, err)
	}
	ok, err := deriveObjectKey(s.keys, name, h)
	if err != nil {
		return nil, nil, err
	}
	out := alloc(sealedSize(h.plainLen))
	h.encode(out)
	ok.sealHeader(out)
	_ = forFrames(0, numFrames(h.plainLen), len(name), func(i int64, sc *frameScratch) error {
		p, off := i*frameSize, frameOffset(i)
		ok.sealFrame(out[off:off], i, data[p:p+frameLen(i, h.plainLen)], sc)
		return nil
	})
	return out, ok, nil
}

// parallelFrames is how many frames make it worth spreading an object's
// frames over several goroutines (1 MiB); each then gets at least half.
const parallelFrames = 256

// forFrames calls fn for frames [first, end), each with a goroutine's
// scratch (room for a name of nameLen bytes), in up to GOMAXPROCS
// goroutines when there are many frames. It returns the error of the lowest
// frame that failed.
func forFrames(first, end int64, nameLen int, fn func(i int64, sc *frameScratch) error) error {
	parts := int64(1)
	if n := end - first; n >= parallelFrames {
		parts = min(int64(runtime.GOMAXPROCS(0)), n/(parallelFrames/2))
	}
	run := func(from, to int64) error {
		sc := newFrameScratch(nameLen)
		for i := from; i < to; i++ {
			if err := fn(i, sc); err != nil {
				return err
			}
		}
		return nil
	}
	if parts <= 1 {
		return run(first, end)
	}
	errs := make([]error, parts)
	var wg sync.WaitGroup
	per := (end - first + parts - 1) / parts
	for p := range parts {
		from, to := first+p*per, min(end, first+(p+1)*per)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[p] = run(from, to)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// open authenticates and decrypts a whole stored object. Its errors are not
// yet wrapped by fail. The plaintext is decrypted in place: it takes the
// place of sealed, which is the caller's to give up.
func (s *Sealer) open(name string, sealed []byte) ([]byte, *objectKey, error) {
	ok, err := s.openHeader(name, sealed)
	if err != nil {
		return nil, nil, err
	}
	if want := sealedSize(ok.plainLen); int64(len(sealed)) != want {
		return nil, nil, fmt.Errorf("stored as %d bytes, but its header says %d", len(sealed), want)
	}
	if ok.plainLen == 0 {
		return []byte{}, ok, nil
	}
	out, err := openInPlace(ok, sealed[headerLen:], 0, ok.plainLen)
	if err != nil {
		return nil, nil, err
	}
	return out, ok, nil
}

// openInPlace authenticates and decrypts the plaintext [off, end) (not
// empty, end within the object) from its stored frames, which start with the frame
// holding off: every frame is decrypted where it is stored (on several
// goroutines when there are many), then the wanted plaintext is moved
// together to the start of sealed, which is returned cut to it. No frame
// is copied before it is decrypted, and no buffer is allocated.
func openInPlace(ok *objectKey, sealed []byte, off, end int64) ([]byte, error) {
	f0, f1 := off/frameSize, (end-1)/frameSize
	base := frameOffset(f0)
	err := forFrames(f0, f1+1, len(ok.name), func(i int64, sc *frameScratch) error {
		at := frameOffset(i) - base
		frame := sealed[at : at+frameLen(i, ok.plainLen)+tagLen]
		if _, err := ok.openFrame(frame[:0], i, frame, sc); err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Each frame's plaintext moves to an offset at or before its own (tags
	// and the part before off are left out), so a frame is moved before
	// anything overwrites it.
	out := sealed[:0]
	for i := f0; i <= f1; i++ {
		p, at := i*frameSize, frameOffset(i)-base
		lo, hi := max(off, p), min(end, p+frameLen(i, ok.plainLen))
		out = append(out, sealed[at+lo-p:at+hi-p]...)
	}
	return out[:len(out):len(out)], nil
}

// openHeader parses and verifies the header at the start of b.
func (s *Sealer) openHeader(name string, b []byte) (*objectKey, error) {
	h, err := parseHeader(b)
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	ok, err := deriveObjectKey(s.keys, name, h)
	if err != nil {
		return nil, err
	}
	if !ok.openHeader(b[:headerLen]) {
		return nil, errors.New("header tag does not verify")
	}
	return ok, nil
}

// fail counts and logs an authentication failure of the named object and
// returns it as an error wrapping ErrTampered (and objstore.ErrCorrupt).
func (s *Sealer) fail(name string, cause error) error {
	s.tampered.Add(1)
	err := &tamperedError{name: name, cause: cause}
	s.log.Error("crypt: object failed authentication; its data is not returned", "object", name, "err", cause)
	return err
}

// store is the objstore.Store returned by Sealer.Wrap.
type store struct {
	s     *Sealer
	inner objstore.Store
}

var _ objstore.Store = (*store)(nil)

func checkKey(op, key string) error {
	if err := objstore.ValidateKey(key); err != nil {
		return fmt.Errorf("crypt: %s: %w", op, err)
	}
	return nil
}

// Put seals data and stores it.
func (st *store) Put(ctx context.Context, key string, data []byte) error {
	if err := checkKey("put", key); err != nil {
		return err
	}
	sealed, ok, err := st.s.sealPooled(key, data)
	if err != nil {
		return err
	}
	if err := st.inner.Put(ctx, key, sealed); err != nil {
		st.s.headers.Remove(key) // the object may have changed
		return err
	}
	st.s.buffers.put(sealed)
	st.s.headers.Add(key, ok)
	return nil
}

// PutIfAbsent seals data and stores it unless the name exists.
func (st *store) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	p, err := st.preparePut(key, data)
	if err != nil {
		return err
	}
	return p.PutIfAbsent(ctx)
}

var _ objstore.PutPreparer = (*store)(nil)

// PreparePut seals data for key now; the returned object stores it.
func (st *store) PreparePut(key string, data []byte) (objstore.PreparedPut, error) {
	return st.preparePut(key, data)
}

func (st *store) preparePut(key string, data []byte) (*sealedPut, error) {
	if err := checkKey("put if absent", key); err != nil {
		return nil, err
	}
	sealed, ok, err := st.s.sealPooled(key, data)
	if err != nil {
		return nil, err
	}
	return &sealedPut{st: st, key: key, sealed: sealed, ok: ok}, nil
}

// sealedPut is an object sealed ahead of its PUT (PreparePut).
type sealedPut struct {
	st     *store
	key    string
	sealed []byte
	ok     *objectKey
}

// PutIfAbsent stores the sealed object unless the name exists.
func (p *sealedPut) PutIfAbsent(ctx context.Context) error {
	st := p.st
	if p.sealed == nil {
		return fmt.Errorf("crypt: put if absent %q: %w", p.key, errSpent)
	}
	if err := st.inner.PutIfAbsent(ctx, p.key, p.sealed); err != nil {
		if !errors.Is(err, objstore.ErrPreconditionFailed) {
			st.s.headers.Remove(p.key) // an ambiguous failure: it may have landed
		}
		return err
	}
	st.s.buffers.put(p.sealed)
	p.sealed = nil
	st.s.headers.Add(p.key, p.ok)
	return nil
}

// errSpent is the error of a prepared object stored already.
var errSpent = errors.New("the prepared object was stored already")

// Delete deletes the object and forgets its header.
func (st *store) Delete(ctx context.Context, key string) error {
	err := st.inner.Delete(ctx, key)
	st.s.headers.Remove(key)
	return err
}

// Head reports the object's plaintext size, computed from its stored size.
func (st *store) Head(ctx context.Context, key string) (objstore.ObjectInfo, error) {
	info, err := st.inner.Head(ctx, key)
	if err != nil {
		return info, err
	}
	info.Size, _ = plainSize(info.Size)
	return info, nil
}

// List lists the objects with their plaintext sizes, computed from their
// stored sizes.
func (st *store) List(ctx context.Context, prefix string, opts objstore.ListOptions) (objstore.ListPage, error) {
	page, err := st.inner.List(ctx, prefix, opts)
	if err != nil {
		return page, err
	}
	for i := range page.Objects {
		page.Objects[i].Size, _ = plainSize(page.Objects[i].Size)
	}
	return page, nil
}

// Get reads, authenticates and decrypts the whole object.
func (st *store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey("get", key); err != nil {
		return nil, err
	}
	sealed, err := st.inner.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	out, ok, err := st.s.open(key, sealed)
	if err != nil {
		st.s.headers.Remove(key)
		return nil, st.s.fail(key, err)
	}
	st.s.headers.Add(key, ok)
	return out, nil
}

// GetRange reads the frames covering plaintext bytes [off, off+n), with the
// header unless it is cached, and authenticates and decrypts them.
func (st *store) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if err := checkKey("get range", key); err != nil {
		return nil, err
	}
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("crypt: get range %s [%d, +%d): %w", key, off, n, objstore.ErrInvalidRange)
	}
	end := off + n
	if end < off || end > maxPlainLen {
		end = maxPlainLen // "to the end"
	}
	off = min(off, end)
	ok, cached := st.s.headers.Get(key)
	if cached && st.s.frames != nil {
		return st.getFrames(ctx, key, ok, off, end)
	}
	var sealed []byte // the stored frames from frame off/frameSize on
	var err error
	if cached {
		end = min(end, ok.plainLen)
		if off >= end {
			return []byte{}, nil
		}
		sealed, err = st.inner.GetRange(ctx, key, frameOffset(off/frameSize), sealedSpan(off, end))
	} else {
		ok, sealed, err = st.fetchWithHeader(ctx, key, off, end)
	}
	if err != nil {
		return nil, err
	}
	var out []byte
	if st.s.frames != nil {
		out, err = st.s.openCached(ok, sealed, off, end, nil)
	} else {
		out, err = st.s.openRange(ok, sealed, off, end)
	}
	if err != nil {
		st.s.headers.Remove(key)
		return nil, st.s.fail(key, err)
	}
	return out, nil
}

// getFrames serves plaintext [off, end) of an object whose header is
// cached from the frame cache, reading and opening only the span of frames
// from the first to the last one it lacks.
func (st *store) getFrames(ctx context.Context, key string, ok *objectKey, off, end int64) ([]byte, error) {
	end = min(end, ok.plainLen)
	if off >= end {
		return []byte{}, nil
	}
	f0, f1 := off/frameSize, (end-1)/frameSize
	got := make([][]byte, f1-f0+1)
	if st.s.frames.lookup(ok, f0, got) == len(got) {
		return assemble(make([]byte, 0, end-off), got, f0, off, end), nil
	}
	m0, m1 := int64(0), f1-f0
	for got[m0] != nil {
		m0++
	}
	for got[m1] != nil {
		m1--
	}
	lo, hi := (f0+m0)*frameSize, min(end, (f0+m1+1)*frameSize)
	sealed, err := st.inner.GetRange(ctx, key, frameOffset(f0+m0), sealedSpan(lo, hi))
	if err != nil {
		return nil, err
	}
	out, err := st.s.openCached(ok, sealed, off, end, got)
	if err != nil {
		st.s.headers.Remove(key)
		return nil, st.s.fail(key, err)
	}
	return out, nil
}

// openCached authenticates and decrypts the frames of plaintext [off, end)
// (clamped to the object's length) that got lacks (nil: all of them), from
// the stored frames in sealed, which start with the first frame lacking,
// and adds them to the frame cache; then it puts the plaintext together,
// in sealed's room when it is large enough (sealed is the caller's to give
// up).
func (s *Sealer) openCached(ok *objectKey, sealed []byte, off, end int64, got [][]byte) ([]byte, error) {
	end = min(end, ok.plainLen)
	if off >= end {
		return []byte{}, nil
	}
	f0, f1 := off/frameSize, (end-1)/frameSize
	if got == nil {
		got = make([][]byte, f1-f0+1)
	}
	m0, m1 := int64(0), f1-f0
	for got[m0] != nil {
		m0++
	}
	for got[m1] != nil {
		m1--
	}
	first, last := f0+m0, f0+m1
	if need := frameOffset(last) + frameLen(last, ok.plainLen) + tagLen - frameOffset(first); int64(len(sealed)) < need {
		return nil, fmt.Errorf("stored frames end %d bytes early: the object is shorter than its header says", need-int64(len(sealed)))
	}
	base := frameOffset(first)
	err := forFrames(first, last+1, len(ok.name), func(i int64, sc *frameScratch) error {
		if got[i-f0] != nil {
			return nil
		}
		at := frameOffset(i) - base
		n := frameLen(i, ok.plainLen)
		plain, err := ok.openFrame(make([]byte, 0, n), i, sealed[at:at+n+tagLen], sc)
		if err != nil {
			return fmt.Errorf("frame %d: %w", i, err)
		}
		got[i-f0] = plain
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i := first; i <= last; i++ {
		s.frames.add(ok, i, got[i-f0])
	}
	buf := sealed[:0] // every frame is decrypted out of it: free to reuse
	if int64(cap(buf)) < end-off {
		buf = make([]byte, 0, end-off)
	}
	return assemble(buf, got, f0, off, end), nil
}

// assemble appends plaintext [off, end) to dst from the plaintext of
// frames f0, f0+1, ... in frames, and returns it with its capacity cut.
func assemble(dst []byte, frames [][]byte, f0, off, end int64) []byte {
	for j, p := range frames {
		start := (f0 + int64(j)) * frameSize
		lo, hi := max(off, start), min(end, start+int64(len(p)))
		dst = append(dst, p[lo-start:hi-start]...)
	}
	return dst[:len(dst):len(dst)]
}

// sealedSpan is the length of the stored frames covering plaintext [off, end)
// (end > off), the last frame counted whole.
func sealedSpan(off, end int64) int64 {
	return frameOffset((end-1)/frameSize+1) - frameOffset(off/frameSize)
}

// fetchWithHeader reads the header and the frames covering [off, end): in
// one request when they are near the start, else in two concurrent ones.
// The verified header is cached.
func (st *store) fetchWithHeader(ctx context.Context, key string, off, end int64) (*objectKey, []byte, error) {
	start := frameOffset(off / frameSize)
	var hdr, sealed []byte
	switch {
	case off >= end: // nothing to read but the header
		var err error
		if hdr, err = st.inner.GetRange(ctx, key, 0, headerLen); err != nil {
			return nil, nil, err
		}
	case start <= nearStart:
		raw, err := st.inner.GetRange(ctx, key, 0, start+sealedSpan(off, end))
		if err != nil {
			return nil, nil, err
		}
		hdr = raw
		if int64(len(raw)) > start {
			sealed = raw[start:]
		}
	default:
		type result struct {
			b   []byte
			err error
		}
		hc := make(chan result, 1)
		go func() {
			b, err := st.inner.GetRange(ctx, key, 0, headerLen)
			hc <- result{b, err}
		}()
		var ferr error
		sealed, ferr = st.inner.GetRange(ctx, key, start, sealedSpan(off, end))
		h := <-hc
		if h.err != nil {
			return nil, nil, h.err
		}
		if ferr != nil {
			return nil, nil, ferr
		}
		hdr = h.b
	}
	ok, err := st.s.openHeader(key, hdr)
	if err != nil {
		return nil, nil, st.s.fail(key, err)
	}
	st.s.headers.Add(key, ok)
	return ok, sealed, nil
}

// openRange authenticates and decrypts the plaintext [off, end) (clamped to
// the object's length) from its stored frames, which start with the frame
// holding off, in place (sealed is the caller's to give up).
func (s *Sealer) openRange(ok *objectKey, sealed []byte, off, end int64) ([]byte, error) {
	end = min(end, ok.plainLen)
	if off >= end {
		return []byte{}, nil
	}
	f0, f1 := off/frameSize, (end-1)/frameSize
	if need := frameOffset(f1) + frameLen(f1, ok.plainLen) + tagLen - frameOffset(f0); int64(len(sealed)) < need {
		return nil, fmt.Errorf("stored frames end %d bytes early: the object is shorter than its header says", need-int64(len(sealed)))
	}
	return openInPlace(ok, sealed, off, end)
}
