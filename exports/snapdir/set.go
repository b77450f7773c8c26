package snapdir

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs"
)

// Info describes one snapshot.
type Info struct {
	// Name is the snapshot's directory name.
	Name string
	// ID identifies the snapshot: no two snapshots of a filesystem, even
	// with one name at different times, have the same ID (for lsm
	// checkpoints: the pinned manifest id). Entries are listed by ID.
	ID      uint64
	Created time.Time
}

// Source lists a filesystem's snapshots and opens them.
type Source interface {
	// List returns the snapshots that exist now.
	List(ctx context.Context) ([]Info, error)
	// Open opens snapshot info read-only. It must fail (with any error)
	// rather than open another snapshot of the same name. close releases
	// what it holds.
	Open(ctx context.Context, info Info) (fs nfs.Filesystem, close func(context.Context) error, err error)
}

// Options configure a Set. Zero fields take the defaults.
type Options struct {
	// MaxOpen bounds the snapshot readers open at once. Default 8.
	MaxOpen int
	// IdleTimeout closes a reader unused for this long. Default 2 minutes.
	IdleTimeout time.Duration
	// SweepInterval is how often idle readers are looked for. Default
	// IdleTimeout/4.
	SweepInterval time.Duration
	// ListTTL is how long a listing of the snapshots is served before the
	// Source is asked again. Default 2 seconds.
	ListTTL time.Duration
	// MinRefresh is the shortest interval between two listings asked for
	// by a miss (an unknown name or FSID, a failed read). Default 250ms.
	MinRefresh time.Duration
	// Logger receives the set's logs. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.MaxOpen <= 0 {
		o.MaxOpen = 8
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.SweepInterval <= 0 {
		o.SweepInterval = o.IdleTimeout / 4
	}
	if o.ListTTL <= 0 {
		o.ListTTL = 2 * time.Second
	}
	if o.MinRefresh <= 0 {
		o.MinRefresh = 250 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Set is the snapshots of one filesystem, opened lazily.
type Set struct {
	src    Source
	parent uint64 // the live filesystem's FSID
	opts   Options
	log    *slog.Logger

	refreshMu sync.Mutex // one listing at a time
	mu        sync.Mutex
	list      []*snapshot // by ID
	byName    map[string]*snapshot
	byFSID    map[uint64]*snapshot
	listed    bool
	listedAt  time.Time
	changed   time.Time // modification time of the directory
	closed    bool

	openCount atomic.Int64
	stop      chan struct{}
	done      chan struct{}
}

// snapshot is one snapshot and its reader, when open.
type snapshot struct {
	set  *Set
	info Info
	fsid uint64
	view *snapshotFS

	mu      sync.Mutex // guards fs, closeFS, refs, lastUse; held while opening
	fs      nfs.Filesystem
	closeFS func(context.Context) error
	refs    int
	lastUse time.Time
	gone    atomic.Bool
}

// NewSet returns the snapshots of the filesystem whose FSID is parent. It
// starts a goroutine that closes idle readers; Close stops it.
func NewSet(src Source, parent uint64, opts Options) *Set {
	opts = opts.withDefaults()
	s := &Set{
		src: src, parent: parent, opts: opts, log: opts.Logger,
		byName: make(map[string]*snapshot),
		byFSID: make(map[uint64]*snapshot),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go s.sweep()
	return s
}

// FSIDOf is the FSID of snapshot info of the filesystem whose FSID is
// parent: the first 8 bytes of a SHA-256 of both, never 0 nor parent.
func FSIDOf(parent uint64, info Info) uint64 {
	h := sha256.New()
	h.Write([]byte("zerofsd snapshot\x00"))
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], parent)
	binary.BigEndian.PutUint64(b[8:], info.ID)
	h.Write(b[:])
	h.Write([]byte(info.Name))
	fsid := binary.BigEndian.Uint64(h.Sum(nil)[:8])
	if fsid == 0 || fsid == parent {
		fsid ^= 1 << 63
	}
	return fsid
}

// OpenReaders is the number of snapshot readers open now.
func (s *Set) OpenReaders() int { return int(s.openCount.Load()) }

// Close closes every reader and stops the idle sweeper. Calls still using
// a reader may fail; later ones answer ErrStale.
func (s *Set) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	list := s.list
	s.list, s.byName, s.byFSID = nil, map[string]*snapshot{}, map[uint64]*snapshot{}
	s.mu.Unlock()
	close(s.stop)
	<-s.done
	var errs []error
	for _, sn := range list {
		sn.gone.Store(true)
		sn.mu.Lock()
		errs = append(errs, sn.closeLocked(ctx))
		sn.mu.Unlock()
	}
	return errors.Join(errs...)
}

// snapshots returns the current list (listing again after ListTTL).
func (s *Set) snapshots(ctx context.Context) ([]*snapshot, time.Time, error) {
	s.mu.Lock()
	fresh := s.listed && s.opts.Now().Sub(s.listedAt) < s.opts.ListTTL
	list, changed := s.list, s.changed
	s.mu.Unlock()
	if fresh {
		return list, changed, nil
	}
	if err := s.refresh(ctx, s.opts.ListTTL); err != nil {
		s.mu.Lock()
		listed := s.listed
		s.mu.Unlock()
		if !listed {
			return nil, time.Time{}, err
		}
		s.log.Warn("listing snapshots failed; serving the last listing", "err", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.list, s.changed, nil
}

func (s *Set) isListed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.listed
}

// refresh lists the snapshots again unless that was done less than minAge
// ago; snapshots no longer listed are marked gone and closed when idle.
func (s *Set) refresh(ctx context.Context, minAge time.Duration) error {
	s.refreshMu.Lock()
	defer s.refreshMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errSetClosed
	}
	if s.listed && s.opts.Now().Sub(s.listedAt) < minAge {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()

	infos, err := s.src.List(ctx)
	if err != nil {
		// The store's failure, whatever errno it holds: not an answer
		// about a snapshot (ESTALE in it does not mean one is gone).
		return &kvfs.StorageError{Err: fmt.Errorf("snapdir: listing snapshots: %w", err)}
	}
	now := s.opts.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errSetClosed
	}
	byFSID := make(map[uint64]*snapshot, len(infos))
	byName := make(map[string]*snapshot, len(infos))
	list := make([]*snapshot, 0, len(infos))
	changed := false
	var newest time.Time
	for _, info := range infos {
		fsid := FSIDOf(s.parent, info)
		sn := s.byFSID[fsid]
		if sn == nil {
			sn = &snapshot{set: s, info: info, fsid: fsid}
			sn.view = &snapshotFS{sn: sn}
			changed = true
		}
		if _, dup := byName[info.Name]; dup {
			continue // not produced by lsm; keep the first
		}
		byFSID[fsid] = sn
		byName[info.Name] = sn
		list = append(list, sn)
		if info.Created.After(newest) {
			newest = info.Created
		}
	}
	var gone []*snapshot
	for fsid, sn := range s.byFSID {
		if _, ok := byFSID[fsid]; !ok {
			gone = append(gone, sn)
			changed = true
		}
	}
	slices.SortFunc(list, func(a, b *snapshot) int { return cmp.Compare(a.info.ID, b.info.ID) })
	switch {
	case !s.listed:
		s.changed = newest
	case changed:
		s.changed = now
	}
	if s.changed.IsZero() {
		s.changed = time.Unix(0, 0)
	}
	s.list, s.byName, s.byFSID = list, byName, byFSID
	s.listed, s.listedAt = true, now
	s.mu.Unlock()

	for _, sn := range gone {
		sn.gone.Store(true)
		s.log.Info("snapshot gone", "snapshot", sn.info.Name)
		sn.mu.Lock()
		if sn.refs == 0 {
			_ = sn.closeLocked(ctx)
		}
		sn.mu.Unlock()
	}
	return nil
}

// byNameRefreshing finds a snapshot by name, listing again on a miss.
func (s *Set) byNameRefreshing(ctx context.Context, name string) (*snapshot, error) {
	if _, _, err := s.snapshots(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	sn := s.byName[name]
	s.mu.Unlock()
	if sn != nil {
		return sn, nil
	}
	if err := s.refresh(ctx, s.opts.MinRefresh); err != nil {
		return nil, err
	}
	s.mu.Lock()
	sn = s.byName[name]
	s.mu.Unlock()
	if sn == nil {
		return nil, fmt.Errorf("snapshot %q: %w", name, errNoEnt)
	}
	return sn, nil
}

// lookupTimeout bounds the listing ByFSID may do on a miss: the NFS
// server's lookup of a handle's export carries no context.
const lookupTimeout = 10 * time.Second

// Known returns the filesystem of the snapshot with this FSID among those
// listed already, without listing again.
func (s *Set) Known(fsid uint64) (nfs.Filesystem, string, bool) {
	if sn := s.find(fsid); sn != nil {
		return sn.view, sn.info.Name, true
	}
	return nil, "", false
}

// ByFSID returns the filesystem of the snapshot with this FSID, listing the
// snapshots again on a miss (at most every MinRefresh).
func (s *Set) ByFSID(fsid uint64) (nfs.Filesystem, string, bool) {
	if sn := s.find(fsid); sn != nil {
		return sn.view, sn.info.Name, true
	}
	ctx, cancel := context.WithTimeout(context.Background(), lookupTimeout)
	defer cancel()
	if err := s.refresh(ctx, s.opts.MinRefresh); err != nil {
		s.log.Warn("listing snapshots for a handle failed", "err", err)
		return nil, "", false
	}
	if sn := s.find(fsid); sn != nil {
		return sn.view, sn.info.Name, true
	}
	return nil, "", false
}

// errSetClosed answers calls on snapshots once the set is closed (their
// export is going away): ESTALE, as for a snapshot that is gone.
var errSetClosed = fmt.Errorf("snapdir: closed: %w", kvfs.ErrStale)

func (s *Set) find(fsid uint64) *snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byFSID[fsid]
}

// stillThere reports whether sn still exists, listing again (at most every
// MinRefresh). A listing that fails counts as "still there": the caller's
// own error stands.
func (s *Set) stillThere(ctx context.Context, sn *snapshot) bool {
	if sn.gone.Load() {
		return false
	}
	if err := s.refresh(ctx, s.opts.MinRefresh); err != nil {
		return !errors.Is(err, errSetClosed)
	}
	return !sn.gone.Load()
}

// acquire returns sn's open reader, opening it if needed; release must be
// called when done with it.
func (sn *snapshot) acquire(ctx context.Context) (nfs.Filesystem, error) {
	// A snapshot deleted meanwhile is found within ListTTL, even by calls
	// that the reader's caches would answer.
	if _, _, err := sn.set.snapshots(ctx); err != nil && !sn.set.isListed() {
		return nil, err
	}
	if sn.gone.Load() {
		return nil, fmt.Errorf("snapshot %q no longer exists: %w", sn.info.Name, kvfs.ErrStale)
	}
	sn.mu.Lock()
	if sn.gone.Load() {
		sn.mu.Unlock()
		return nil, fmt.Errorf("snapshot %q no longer exists: %w", sn.info.Name, kvfs.ErrStale)
	}
	if sn.fs == nil {
		fs, closeFS, err := sn.set.src.Open(ctx, sn.info)
		if err != nil {
			// Not under sn.mu: listing again closes the snapshots that
			// are gone, this one included, each under its own lock.
			sn.mu.Unlock()
			if !sn.set.stillThere(ctx, sn) {
				return nil, fmt.Errorf("snapshot %q no longer exists: %w", sn.info.Name, kvfs.ErrStale)
			}
			return nil, &kvfs.StorageError{Err: fmt.Errorf("opening snapshot %q: %w", sn.info.Name, err)}
		}
		sn.fs, sn.closeFS = fs, closeFS
		sn.set.openCount.Add(1)
		sn.set.log.Debug("snapshot opened", "snapshot", sn.info.Name)
		sn.set.evict(ctx, sn)
	}
	sn.refs++
	sn.lastUse = sn.set.opts.Now()
	fs := sn.fs
	sn.mu.Unlock()
	return fs, nil
}

// release ends a use of the reader acquire returned.
func (sn *snapshot) release(ctx context.Context) {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	sn.refs--
	sn.lastUse = sn.set.opts.Now()
	if sn.refs == 0 && sn.gone.Load() {
		_ = sn.closeLocked(ctx)
	}
}

// closeLocked closes the reader if open. Callers hold sn.mu.
func (sn *snapshot) closeLocked(ctx context.Context) error {
	if sn.fs == nil {
		return nil
	}
	err := sn.closeFS(ctx)
	sn.fs, sn.closeFS = nil, nil
	sn.set.openCount.Add(-1)
	sn.set.log.Debug("snapshot closed", "snapshot", sn.info.Name)
	if err != nil {
		return fmt.Errorf("closing snapshot %q: %w", sn.info.Name, err)
	}
	return nil
}

// evict closes the least recently used idle readers while more than
// MaxOpen are open; keep (being opened by the caller) is never closed.
func (s *Set) evict(ctx context.Context, keep *snapshot) {
	for s.openCount.Load() > int64(s.opts.MaxOpen) {
		s.mu.Lock()
		list := slices.Clone(s.list)
		s.mu.Unlock()
		var victim *snapshot
		var victimUse time.Time
		for _, sn := range list {
			if sn == keep || !sn.mu.TryLock() {
				continue
			}
			if sn.fs != nil && sn.refs == 0 && (victim == nil || sn.lastUse.Before(victimUse)) {
				victim, victimUse = sn, sn.lastUse
			}
			sn.mu.Unlock()
		}
		if victim == nil || !victim.mu.TryLock() {
			return // every other reader is busy: the sweeper closes them later
		}
		if victim.fs != nil && victim.refs == 0 {
			_ = victim.closeLocked(ctx)
		}
		victim.mu.Unlock()
	}
}

// sweep closes readers idle for IdleTimeout, until Close.
func (s *Set) sweep() {
	defer close(s.done)
	t := time.NewTicker(s.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.closeIdle(context.Background())
		}
	}
}

// closeIdle closes the readers unused for IdleTimeout.
func (s *Set) closeIdle(ctx context.Context) {
	s.mu.Lock()
	list := slices.Clone(s.list)
	s.mu.Unlock()
	now := s.opts.Now()
	for _, sn := range list {
		if !sn.mu.TryLock() {
			continue
		}
		if sn.fs != nil && sn.refs == 0 && now.Sub(sn.lastUse) >= s.opts.IdleTimeout {
			if err := sn.closeLocked(ctx); err != nil {
				s.log.Warn("closing an idle snapshot", "err", err)
			}
		}
		sn.mu.Unlock()
	}
}
