package kvfs

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Read-ahead of files read sequentially.
//
// On an object store every cold read of a file's chunks is a round trip;
// a client that reads a file from start to end one call at a time would
// wait one round trip per call. So each file being read gets a stream:
// when two reads in a row begin near where the earlier reads of the file
// ended (within raSlack, so that a client's concurrent, reordered
// read-ahead calls still count), or the first read is at offset 0, the
// bytes past them are fetched in the background, in segments of
// raSegment bytes, up to the stream's window ahead of the reader (doubling
// with every sequential read, from raMinWindow to raMaxWindow). A read that
// segments cover whole waits for them and copies; any other read goes to
// the KV as before. A read that is not sequential drops the stream's
// segments and cancels their fetches.
//
// Never stale: every batch that changes an inode (txn.commit: writes,
// truncations, reclaim, unlink) drops the inode's segments once it is
// applied, before the change returns; a segment's fetch takes its snapshot
// (opens the KV's iterators) after the segment was made. So a segment still
// held was made after the last such drop, hence after every change that
// had returned by then, and its snapshot holds them all; a segment made
// before a change is dropped by it. A read that begins after a change has
// returned never finds a segment that misses it.
//
// Bounded: the bytes of every segment held or being fetched count against
// Options.ReadAheadBytes until the segment is dropped and its fetch is over;
// a segment that does not fit is not fetched (after evicting streams idle
// for raIdle). At most raMaxStreams streams are kept (the least recently
// used goes first); a segment is dropped once read whole or once the reader
// is raSlack past it.
const (
	raSegment    = 1 << 20
	raMinWindow  = 2 << 20
	raMaxWindow  = 8 << 20
	raSlack      = 4 << 20
	raMaxStreams = 64
	raIdle       = 2 * time.Second
)

// DefaultReadAheadBytes is Options.ReadAheadBytes when it is 0.
const DefaultReadAheadBytes = 64 << 20

// errSegmentDropped ends the fetch of a segment dropped before it began.
var errSegmentDropped = errors.New("kvfs: read-ahead segment dropped")

// ReadAheadStats are the read-ahead's counters since Open.
type ReadAheadStats struct {
	// Streams is the number of files followed now.
	Streams int
	// HeldBytes is the size of the segments held or being fetched now;
	// PeakHeldBytes the most it has been. Neither exceeds
	// Options.ReadAheadBytes.
	HeldBytes, PeakHeldBytes int64
	// FetchedBytes counts the bytes of segments fetched whole; ServedBytes
	// the bytes reads copied from them.
	FetchedBytes, ServedBytes int64
	// Dropped counts the segments dropped before they were read whole
	// (non-sequential reads, changes of the file, evictions, Close).
	Dropped int64
}

// Plus is s and o together (two filesystems' read-ahead): counters and
// what is held now added, the peak the larger of the two.
func (s ReadAheadStats) Plus(o ReadAheadStats) ReadAheadStats {
	return ReadAheadStats{
		Streams:       s.Streams + o.Streams,
		HeldBytes:     s.HeldBytes + o.HeldBytes,
		PeakHeldBytes: max(s.PeakHeldBytes, o.PeakHeldBytes),
		FetchedBytes:  s.FetchedBytes + o.FetchedBytes,
		ServedBytes:   s.ServedBytes + o.ServedBytes,
		Dropped:       s.Dropped + o.Dropped,
	}
}

// readAhead holds the streams of one FS.
type readAhead struct {
	fs     *FS
	budget int64 // 0: read-ahead is off
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// active is len(streams), read without mu so that a commit with no
	// stream to drop takes no lock.
	active atomic.Int64

	mu      sync.Mutex
	streams map[uint64]*raStream
	closed  bool
	held    int64
	stats   ReadAheadStats
}

// raStream is the read-ahead state of one file.
type raStream struct {
	ino     uint64
	pos     uint64 // the highest end of a read so far
	window  uint64 // how far past pos segments are fetched; 0 until reads look sequential
	seq     int    // reads in a row near pos
	segs    []*raSeg
	lastUse time.Time
}

// raSeg is the bytes [off, end) of a file, being fetched or fetched.
type raSeg struct {
	off, end uint64
	cancel   context.CancelFunc
	done     chan struct{} // closed when data or err is set
	data     []byte
	err      error
	// guarded by readAhead.mu:
	served   uint64 // bytes copied to reads
	dropped  bool   // removed from its stream
	finished bool   // the fetch is over
}

func (s *raSeg) size() int64 { return int64(s.end - s.off) }

func newReadAhead(fs *FS, budget int64) *readAhead {
	ctx, cancel := context.WithCancel(context.Background())
	return &readAhead{fs: fs, budget: budget, ctx: ctx, cancel: cancel, streams: make(map[uint64]*raStream)}
}

// read serves [off, end) of ino into out from the stream's segments when
// they cover it whole, and reports whether it did; either way it notes the
// read and fetches ahead of it when the file is read sequentially. size is
// the file's size as the read saw it.
func (ra *readAhead) read(ctx context.Context, ino, off, end, size uint64, out []byte) bool {
	if ra.budget <= 0 {
		return false
	}
	ra.mu.Lock()
	s := ra.streams[ino]
	if s == nil && (ra.closed || (off == 0 && end >= size)) {
		ra.mu.Unlock()
		return false // a whole file in one read: nothing to follow
	}
	now := time.Now()
	fresh := s == nil
	if fresh {
		s = ra.newStreamLocked(ino, now)
	}
	s.lastUse = now
	cover := s.coverLocked(off, end)
	switch {
	case fresh:
		if off == 0 {
			s.window = raMinWindow // a file read from its start
		}
	case off+raSlack >= s.pos && off <= s.pos+raSlack:
		s.seq++
		if s.seq >= 2 || s.window > 0 {
			s.window = min(max(2*s.window, raMinWindow), raMaxWindow)
		}
	default:
		ra.dropSegsLocked(s, 0, ^uint64(0))
		s.pos, s.window, s.seq, cover = 0, 0, 0, nil
		if off == 0 {
			s.window = raMinWindow
		}
	}
	s.pos = max(s.pos, end)
	ra.dropSegsLocked(s, 0, s.pos-min(s.pos, raSlack))
	if s.window > 0 {
		ra.scheduleLocked(s, size, now)
	}
	ra.mu.Unlock()
	if cover == nil {
		return false
	}
	for _, seg := range cover {
		select {
		case <-seg.done:
		case <-ctx.Done():
			return false
		}
		if seg.err != nil {
			return false
		}
	}
	for _, seg := range cover {
		lo, hi := max(seg.off, off), min(seg.end, end)
		copy(out[lo-off:hi-off], seg.data[lo-seg.off:hi-seg.off])
	}
	ra.mu.Lock()
	for _, seg := range cover {
		n := min(seg.end, end) - max(seg.off, off)
		seg.served += n
		ra.stats.ServedBytes += int64(n)
		if seg.served >= seg.end-seg.off && !seg.dropped {
			ra.removeSegLocked(s, seg, false)
		}
	}
	ra.mu.Unlock()
	return true
}

// coverLocked returns the segments of s that cover [off, end) whole, in
// order, or nil.
func (s *raStream) coverLocked(off, end uint64) []*raSeg {
	var cover []*raSeg
	at := off
	for _, seg := range s.segs {
		if seg.end <= at {
			continue
		}
		if seg.off > at {
			return nil
		}
		cover = append(cover, seg)
		at = seg.end
		if at >= end {
			return cover
		}
	}
	return nil
}

// newStreamLocked starts following ino, evicting the least recently used
// stream when there are raMaxStreams.
func (ra *readAhead) newStreamLocked(ino uint64, now time.Time) *raStream {
	if len(ra.streams) >= raMaxStreams {
		var lru *raStream
		for _, o := range ra.streams {
			if lru == nil || o.lastUse.Before(lru.lastUse) {
				lru = o
			}
		}
		ra.removeStreamLocked(lru)
	}
	s := &raStream{ino: ino, lastUse: now}
	ra.streams[ino] = s
	ra.active.Store(int64(len(ra.streams)))
	ra.stats.Streams = len(ra.streams)
	return s
}

func (ra *readAhead) removeStreamLocked(s *raStream) {
	ra.dropSegsLocked(s, 0, ^uint64(0))
	delete(ra.streams, s.ino)
	ra.active.Store(int64(len(ra.streams)))
	ra.stats.Streams = len(ra.streams)
}

// scheduleLocked starts fetching the segments of s from the one holding
// s.pos up to s.pos+s.window (and the size), as far as the budget allows.
func (ra *readAhead) scheduleLocked(s *raStream, size uint64, now time.Time) {
	from := s.pos / raSegment * raSegment
	if n := len(s.segs); n > 0 {
		from = max(from, s.segs[n-1].end)
	}
	limit := min(s.pos+s.window, size)
	for off := from; off < limit; off += raSegment {
		seg := &raSeg{off: off, end: min(off+raSegment, size), done: make(chan struct{})}
		if ra.held+seg.size() > ra.budget && !ra.evictIdleLocked(s, seg.size(), now) {
			return
		}
		ra.held += seg.size()
		ra.stats.HeldBytes = ra.held
		ra.stats.PeakHeldBytes = max(ra.stats.PeakHeldBytes, ra.held)
		var ctx context.Context
		ctx, seg.cancel = context.WithCancel(ra.ctx)
		s.segs = append(s.segs, seg)
		ra.wg.Add(1)
		go ra.fetch(ctx, s.ino, seg)
	}
}

// evictIdleLocked drops streams other than keep idle for raIdle, oldest
// first, until need bytes more fit in the budget; it reports whether they do.
func (ra *readAhead) evictIdleLocked(keep *raStream, need int64, now time.Time) bool {
	for ra.held+need > ra.budget {
		var oldest *raStream
		for _, o := range ra.streams {
			if o != keep && len(o.segs) > 0 && now.Sub(o.lastUse) >= raIdle && (oldest == nil || o.lastUse.Before(oldest.lastUse)) {
				oldest = o
			}
		}
		if oldest == nil {
			return false
		}
		ra.removeStreamLocked(oldest)
	}
	return true
}

// dropSegsLocked drops the segments of s that lie inside [from, to).
func (ra *readAhead) dropSegsLocked(s *raStream, from, to uint64) {
	kept := s.segs[:0]
	for _, seg := range s.segs {
		if seg.off >= from && seg.end <= to {
			ra.releaseLocked(seg, true)
			continue
		}
		kept = append(kept, seg)
	}
	clear(s.segs[len(kept):])
	s.segs = kept
}

// removeSegLocked removes seg from s; early tells it was not read whole.
func (ra *readAhead) removeSegLocked(s *raStream, seg *raSeg, early bool) {
	for i, o := range s.segs {
		if o == seg {
			s.segs = append(s.segs[:i], s.segs[i+1:]...)
			break
		}
	}
	ra.releaseLocked(seg, early)
}

// releaseLocked marks seg dropped and cancels its fetch; its bytes leave
// the budget once its fetch is over too.
func (ra *readAhead) releaseLocked(seg *raSeg, early bool) {
	seg.dropped = true
	seg.cancel()
	if early && seg.served < seg.end-seg.off {
		ra.stats.Dropped++
	}
	if seg.finished {
		ra.held -= seg.size()
		ra.stats.HeldBytes = ra.held
	}
}

// fetch reads seg's bytes of ino (nothing once seg is dropped).
func (ra *readAhead) fetch(ctx context.Context, ino uint64, seg *raSeg) {
	defer ra.wg.Done()
	fs := ra.fs
	first, last := seg.off/fs.chunkSize, (seg.end-1)/fs.chunkSize
	ra.mu.Lock()
	live := !seg.dropped
	ra.mu.Unlock()
	var scans []chunkScan
	err := errSegmentDropped
	if live {
		scans, err = fs.openChunkScans(ctx, ino, first, last)
	}
	var data []byte
	if err == nil {
		data = make([]byte, seg.end-seg.off)
		err = fs.runChunkScans(ino, scans, func(c uint64, chunk []byte) {
			placeChunk(data, seg.off, seg.end, c*fs.chunkSize, chunk)
		})
	}
	ra.mu.Lock()
	if err == nil {
		seg.data = data
		ra.stats.FetchedBytes += seg.size()
	} else {
		seg.err = err
	}
	seg.finished = true
	if seg.dropped {
		ra.held -= seg.size()
		ra.stats.HeldBytes = ra.held
	}
	ra.mu.Unlock()
	close(seg.done)
}

// invalidate drops every segment of ino: called after each batch that
// changes it is applied, before the change returns.
func (ra *readAhead) invalidate(ino uint64) {
	if ra.active.Load() == 0 {
		return
	}
	ra.mu.Lock()
	if s := ra.streams[ino]; s != nil {
		ra.dropSegsLocked(s, 0, ^uint64(0))
	}
	ra.mu.Unlock()
}

// close drops every stream and waits for the fetches to end.
func (ra *readAhead) close() {
	ra.mu.Lock()
	ra.closed = true
	for _, s := range ra.streams {
		ra.removeStreamLocked(s)
	}
	ra.mu.Unlock()
	ra.cancel()
	ra.wg.Wait()
}

// ReadAheadStats returns the read-ahead's counters.
func (fs *FS) ReadAheadStats() ReadAheadStats {
	fs.ra.mu.Lock()
	defer fs.ra.mu.Unlock()
	return fs.ra.stats
}
