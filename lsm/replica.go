package lsm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/zerofs-go/zerofsd/cache"
	"github.com/zerofs-go/zerofsd/lsm/manifest"
	"github.com/zerofs-go/zerofsd/objstore"
)

// Leases: leases/<replica id>.lease, one per replica, holding a leaseBody
// as JSON. The writer's GC keeps every manifest a live lease names, and
// their SSTs; a lease not rewritten for its TTL (by the store's clock) is
// dead.
const (
	leasePrefix = "leases/"
	leaseSuffix = ".lease"
)

func leaseKey(id string) string { return leasePrefix + id + leaseSuffix }

type leaseBody struct {
	Manifests []uint64 `json:"manifests"`
	TTLNanos  int64    `json:"ttl_ns"`
}

// leaseIDRE is what a replica id may hold: it names an object.
var leaseIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ReplicaOptions configure OpenReplica. Zero fields take the defaults.
type ReplicaOptions struct {
	// ID names the replica's lease: unique among the replicas of a store
	// (e.g. host name, process id and a random part). Required.
	ID string
	// Poll is how often the replica reads the store for the writer's new
	// state. Default 1s.
	Poll time.Duration
	// LeaseTTL is how long the writer's GC honours the lease after its
	// last renewal: a replica stalled longer may find SSTs of its state
	// collected (its reads then fail until it refreshes). Default 1 minute,
	// and at least 3 polls. The lease is renewed when the state it pins
	// changes and at least every third of it.
	LeaseTTL        time.Duration
	BlockCacheBytes int64
	ValueCacheBytes int64 // as Options.ValueCacheBytes
	DiskCache       *cache.Disk
	CacheNamespace  string
	// WrapStore is as in Options (an encrypted database's sealing): the
	// replica reads and writes its lease through it too.
	WrapStore func(objstore.Store) objstore.Store
	Logger    *slog.Logger
	// OnRefresh is called, from the replica's goroutine, after each
	// successful refresh, whether or not it installed a new state: so that
	// the caller moves its Views forward, and tries again a move that
	// failed (one that finds its View at the state served has nothing to
	// do: View.ManifestID and View.Seq name the state).
	OnRefresh func()
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// ReplicaStats describe how far behind the writer a replica is.
type ReplicaStats struct {
	// ManifestID is the manifest of the state served.
	ManifestID uint64
	// LastRefresh is when the last successful refresh began: the state
	// served holds everything that was in the store then.
	LastRefresh time.Time
	// Lag is how long ago LastRefresh was.
	Lag                 time.Duration
	Refreshes, Failures int64
}

// Replica is a read-only database that follows the writer of its store,
// in this or another process, without ever writing to the database (no
// fence, manifest or WAL object; only its own lease). Read it through
// Views: each holds one consistent state.
type Replica struct {
	db    *DB
	store objstore.Store
	opts  ReplicaOptions
	log   *slog.Logger

	// Refresh state, owned by the refresh goroutine (and OpenReplica).
	cur *manifest.Manifest
	// curObj is cur's object as listed: manifests are never rewritten, so
	// another object under cur's id is another database's manifest.
	curObj    objstore.ObjectInfo
	mem       *memTable
	walNext   uint64 // next WAL id to replay into mem
	lastSeq   uint64 // highest sequence number replayed into mem
	shownSeq  uint64 // the visible sequence number installed
	leased    []uint64
	leasedAt  time.Time
	failedLog time.Time

	lastRefresh         atomic.Int64 // unix nanoseconds
	refreshes, failures atomic.Int64
	cancel              context.CancelFunc
	done                chan struct{}
}

// OpenReplica opens the database in store as a replica and starts
// following it every opts.Poll.
//
// A refresh leases the manifest it is about to read (together with those
// of the state served and of live Views) before it reads it, and installs
// it only if no newer manifest appeared meanwhile: a GC round of the
// writer that did not see the lease yet took a manifest no newer than it
// as current, and so kept its SSTs. The WAL objects above it are replayed
// (only the new ones while the manifest is unchanged).
func OpenReplica(ctx context.Context, store objstore.Store, ro ReplicaOptions) (*Replica, error) {
	if !leaseIDRE.MatchString(ro.ID) {
		return nil, fmt.Errorf("lsm: replica id %q: use letters, digits, '.', '_' and '-' (at most 128)", ro.ID)
	}
	if ro.Poll <= 0 {
		ro.Poll = time.Second
	}
	if ro.LeaseTTL <= 0 {
		ro.LeaseTTL = time.Minute
	}
	ro.LeaseTTL = max(ro.LeaseTTL, 3*ro.Poll)
	if ro.Now == nil {
		ro.Now = time.Now
	}
	opts := Options{Logger: ro.Logger, BlockCacheBytes: ro.BlockCacheBytes, ValueCacheBytes: ro.ValueCacheBytes, Now: ro.Now, WrapStore: ro.WrapStore}.withDefaults()
	db := newDB(store, opts, ro.DiskCache, ro.CacheNamespace, opts.BlockCacheBytes)
	db.readOnly = true
	db.replica = true
	// db.store is the store as the database sees it (sealed, counted).
	r := &Replica{db: db, store: db.store, opts: ro, log: opts.Logger, done: make(chan struct{})}
	if err := r.refresh(ctx); err != nil {
		r.dropLease(ctx)
		_ = db.Close(ctx)
		return nil, err
	}
	var loopCtx context.Context
	loopCtx, r.cancel = context.WithCancel(context.Background())
	go r.loop(loopCtx)
	return r, nil
}

// DB is the replica's read-only database (for Stats; read through View).
func (r *Replica) DB() *DB { return r.db }

// View returns the state the replica serves now, pinned until Release.
func (r *Replica) View() (*View, error) { return r.db.View() }

// Stats returns how far behind the writer the replica is.
func (r *Replica) Stats() ReplicaStats {
	last := time.Unix(0, r.lastRefresh.Load())
	return ReplicaStats{
		ManifestID:  r.db.v.Load().manifestID,
		LastRefresh: last,
		Lag:         r.opts.Now().Sub(last),
		Refreshes:   r.refreshes.Load(),
		Failures:    r.failures.Load(),
	}
}

// Close stops following, deletes the lease and closes the database.
func (r *Replica) Close(ctx context.Context) error {
	r.cancel()
	<-r.done
	r.dropLease(ctx)
	return r.db.Close(ctx)
}

func (r *Replica) dropLease(ctx context.Context) {
	if err := r.store.Delete(ctx, leaseKey(r.opts.ID)); err != nil && !errors.Is(err, objstore.ErrNotFound) {
		r.log.Warn("lsm: replica: deleting the lease failed; it expires by itself", "lease", leaseKey(r.opts.ID), "err", err)
	}
}

func (r *Replica) loop(ctx context.Context) {
	defer close(r.done)
	t := time.NewTicker(r.opts.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			r.failures.Add(1)
			if now := r.opts.Now(); now.Sub(r.failedLog) > time.Minute {
				r.failedLog = now
				r.log.Warn("lsm: replica: refresh failed; serving the previous state", "lag", r.Stats().Lag.String(), "err", err)
			}
		}
	}
}

// refresh moves the replica to the writer's latest state.
func (r *Replica) refresh(ctx context.Context) error {
	start := r.opts.Now()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		err := r.refreshOnce(ctx)
		if err == nil {
			r.lastRefresh.Store(start.UnixNano())
			r.refreshes.Add(1)
			if r.opts.OnRefresh != nil {
				r.opts.OnRefresh()
			}
			return nil
		}
		if ctx.Err() != nil || errors.Is(err, ErrNoDatabase) || errors.Is(err, ErrCorrupt) || errors.Is(err, errStoreWentBack) {
			return err
		}
		lastErr = err
	}
	return lastErr
}

// errMoved: a newer manifest appeared during a refresh attempt.
var errMoved = errors.New("lsm: replica: a newer manifest appeared")

// refreshOnce installs the store's latest state if it is new.
func (r *Replica) refreshOnce(ctx context.Context) error {
	target, obj, err := latestManifestObject(ctx, r.store)
	if err != nil {
		return err
	}
	if target == 0 {
		return fmt.Errorf("%w: %w", ErrNoDatabase, objstore.ErrNotFound)
	}
	if err := r.lease(ctx, target); err != nil {
		return err
	}
	m, mem, walNext, lastSeq := r.cur, r.mem, r.walNext, r.lastSeq
	// The manifest is read again when its id moved, or when the object
	// under the id served is another one (its listing, already at hand,
	// says so): a store made again passes through that id too.
	if m == nil || m.ID != target || !sameObject(obj, r.curObj) {
		read, err := readManifest(ctx, r.store, target)
		if err != nil {
			return err
		}
		r.db.mu.Lock()
		err = r.db.sameDatabaseLocked(read)
		r.db.mu.Unlock()
		if err != nil {
			return err
		}
		if m == nil || m.ID != target {
			m = read
			mem, walNext, lastSeq = &memTable{Memtable: newMemtable()}, m.WALIDFlushed+1, m.LastSeq
		} else if read.WriterEpoch != m.WriterEpoch || read.CreatedUnixNano != m.CreatedUnixNano {
			// Another manifest under the id served: the database's own
			// history writes an id once, so this is a copy put back from
			// before it, written on again by a writer.
			return fmt.Errorf("%w (manifest %d written again, by writer epoch %d)", errStoreWentBack, target, read.WriterEpoch)
		}
		// Else the same manifest, copied again.
	}
	// Replay the WAL objects from walNext on, up to the first gap (one
	// being written). A listing that starts past walNext means the writer
	// flushed and collected them: its manifest moved.
	objs, err := listAll(ctx, r.store, walPrefix)
	if err != nil {
		return err
	}
	var ids []uint64
	for _, o := range objs {
		if id, ok := parseID(o.Key, walPrefix, walSuffix); ok && id >= walNext {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	if len(ids) > 0 && ids[0] != walNext {
		return errMoved
	}
	for i, id := range ids {
		if id != walNext+uint64(i) {
			ids = ids[:i]
			break
		}
	}
	// walNext and lastSeq move past an object only once it is applied: one
	// that failed is read again by the next attempt, never skipped (what
	// follows it must not be served without it).
	err = r.db.fetchWAL(ctx, ids, func(id uint64, data []byte) error {
		seq, err := r.db.replayWAL(walKey(id), id, data, mem, lastSeq)
		if err != nil {
			return err
		}
		walNext, lastSeq = id+1, seq
		return nil
	})
	if err != nil {
		if m != r.cur {
			return err
		}
		// Entries already in the served memtable sit above the visible
		// sequence number until installed: nothing torn is seen.
		r.walNext, r.lastSeq = walNext, lastSeq
		return err
	}
	if newest, err := latestManifestID(ctx, r.store); err != nil {
		return err
	} else if newest != target {
		if m == r.cur {
			r.walNext, r.lastSeq = walNext, lastSeq
		}
		return errMoved
	}
	if m == r.cur && lastSeq == r.shownSeq {
		r.curObj = obj
		return nil // nothing new
	}
	r.db.mu.Lock()
	installed := r.db.installReadOnlyLocked(m, mem, max(lastSeq, m.LastSeq))
	r.db.mu.Unlock()
	if !installed {
		// Only a store that went back does this: wiped and made again,
		// or put back from an older copy. What it holds now is not the
		// writer history this replica follows.
		return fmt.Errorf("%w (manifest %d, below the one served)", errStoreWentBack, m.ID)
	}
	r.cur, r.curObj, r.mem, r.walNext, r.lastSeq, r.shownSeq = m, obj, mem, walNext, lastSeq, lastSeq
	return nil
}

// sameObject reports whether two listings show the same object.
func sameObject(a, b objstore.ObjectInfo) bool {
	return a.Key == b.Key && a.Size == b.Size && a.ModTime.Equal(b.ModTime)
}

// pinned returns the manifests of the state served and of live Views.
func (r *Replica) pinned() []uint64 {
	r.db.mu.Lock()
	defer r.db.mu.Unlock()
	ids := []uint64{}
	if v := r.db.v.Load(); v != nil && v.manifestID != 0 {
		ids = append(ids, v.manifestID)
	}
	for v := range r.db.live {
		ids = append(ids, v.manifestID)
	}
	return ids
}

// lease writes the lease naming target and every pinned manifest, unless
// the last one named the same and is younger than a third of its TTL.
func (r *Replica) lease(ctx context.Context, target uint64) error {
	ids := append(r.pinned(), target)
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	ids = slices.Compact(ids)
	now := r.opts.Now()
	if slices.Equal(ids, r.leased) && now.Sub(r.leasedAt) < r.opts.LeaseTTL/3 {
		return nil
	}
	data, err := json.Marshal(leaseBody{Manifests: ids, TTLNanos: int64(r.opts.LeaseTTL)})
	if err != nil {
		return err
	}
	if err := r.store.Put(ctx, leaseKey(r.opts.ID), data); err != nil {
		return fmt.Errorf("lsm: replica: writing lease %s: %w", leaseKey(r.opts.ID), err)
	}
	r.leased, r.leasedAt = ids, now
	return nil
}

// leasedManifests returns the manifests that live leases of store name,
// and deletes leases dead for more than deadLeaseAge.
func leasedManifests(ctx context.Context, store objstore.Store, now time.Time, log *slog.Logger) ([]uint64, error) {
	objs, err := listAll(ctx, store, leasePrefix)
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, o := range objs {
		data, err := store.Get(ctx, o.Key)
		if errors.Is(err, objstore.ErrNotFound) {
			continue // the replica closed
		}
		if err != nil {
			return nil, fmt.Errorf("lsm: reading lease %s: %w", o.Key, err)
		}
		var b leaseBody
		if err := json.Unmarshal(data, &b); err != nil {
			log.Warn("lsm: gc: ignoring an unreadable lease", "lease", o.Key, "err", err)
			continue
		}
		// Its age as of now, not of the listing: a replica that renewed
		// it in between must not lose it (nor its manifests their lease).
		info, err := store.Head(ctx, o.Key)
		if errors.Is(err, objstore.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("lsm: reading lease %s: %w", o.Key, err)
		}
		age := now.Sub(info.ModTime)
		if age > time.Duration(b.TTLNanos) {
			if age > deadLeaseAge {
				if err := store.Delete(ctx, o.Key); err == nil {
					log.Info("lsm: gc: deleted a dead replica's lease", "lease", o.Key, "age", age.String())
				}
			}
			continue
		}
		ids = append(ids, b.Manifests...)
	}
	return ids, nil
}

// deadLeaseAge is how long a lease stays after it expired (a replica
// stalled that long has long found its state gone).
const deadLeaseAge = 24 * time.Hour
