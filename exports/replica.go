package exports

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/lsm"
	"github.com/zerofs-go/zerofsd/nfs"
)

// replicaID names a replica's lease: zerofsd-<host>-<pid>-<random>, so
// that replicas of one store on several machines, or restarted, never
// share one.
func replicaID() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, host)
	if len(host) > 64 {
		host = host[:64]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("zerofsd-%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// viewKV is the kvfs.KV of one replica state (an lsm.View): every read
// sees the same state, and nothing can be written.
type viewKV struct {
	v *lsm.View
}

var _ kvfs.KV = viewKV{}

func (k viewKV) Get(ctx context.Context, key []byte) ([]byte, error) {
	v, err := k.v.Get(ctx, key)
	if errors.Is(err, lsm.ErrNotFound) {
		return nil, kvfs.ErrNoKey
	}
	return v, err
}

func (k viewKV) NewIterator(ctx context.Context, lower, upper []byte) (kvfs.KVIterator, error) {
	return k.v.NewIterator(ctx, lower, upper)
}

func (k viewKV) Write(context.Context, []kvfs.KVOp, bool) error {
	return fmt.Errorf("a replica is read-only: %w", kvfs.ErrKVReadOnly)
}

func (k viewKV) Flush(context.Context) error { return nil }

// replicaFS serves a replica: each call runs on the filesystem of the
// state current when it began (one lsm.View, so one call never mixes two
// states of the writer, and a batch is never seen in part), and a new
// state is installed for later calls when the replica refreshes. A state
// is released once the calls using it are done.
type replicaFS struct {
	rep  *lsm.Replica
	opts kvfs.Options
	log  *slog.Logger

	// rotateMu makes rotations one at a time, each taking its view after
	// the one before it installed: so they install states in the order
	// the replica reached them, never an older one last.
	rotateMu sync.Mutex
	// failedLog is when a failed rotation was last logged (guarded by
	// rotateMu): one failing at every poll is logged once a minute.
	failedLog time.Time
	// openFS is kvfs.Open (a test holds one up).
	openFS func(context.Context, kvfs.KV, kvfs.Options) (*kvfs.FS, error)
	// ctx is what rotations read the store under; close cancels it, so
	// that a rotation reading a failing store does not hold up Close
	// (the replica's refresh loop runs rotations, and Close waits for it).
	ctx    context.Context
	cancel context.CancelFunc

	// servedAsOf is when the last refresh whose state this serves began
	// (unix nanoseconds): the state served holds everything that was in
	// the store then. A rotation that fails leaves it behind the
	// replica's own LastRefresh, so the lag reported is what NFS serves.
	servedAsOf atomic.Int64

	mu     sync.Mutex
	cur    *replicaState
	closed bool
	// open holds every state not yet closed (the current one and retired
	// ones calls still use); readAhead sums the read-ahead counters of the
	// states closed, so that the replica's counters never go down.
	open      map[*replicaState]struct{}
	readAhead kvfs.ReadAheadStats
}

// replicaState is one state of the replica and the filesystem on it.
type replicaState struct {
	vw      *lsm.View
	fs      *kvfs.FS
	refs    int
	retired bool
}

var _ nfs.Filesystem = (*replicaFS)(nil)

// newReplicaFS serves rep's current state.
func newReplicaFS(ctx context.Context, rep *lsm.Replica, opts kvfs.Options) (*replicaFS, error) {
	r := &replicaFS{rep: rep, opts: opts, log: opts.Logger, open: make(map[*replicaState]struct{}), openFS: kvfs.Open}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	asOf := rep.Stats().LastRefresh
	vw, err := rep.View()
	if err != nil {
		r.cancel()
		return nil, err
	}
	st, err := r.openStateOf(ctx, vw)
	if err != nil {
		r.cancel()
		return nil, err
	}
	r.cur = st
	r.open[st] = struct{}{}
	r.served(asOf)
	return r, nil
}

// served records that the state served holds everything that was in the
// store at asOf (never moving it back).
func (r *replicaFS) served(asOf time.Time) {
	n := asOf.UnixNano()
	for {
		cur := r.servedAsOf.Load()
		if n <= cur || r.servedAsOf.CompareAndSwap(cur, n) {
			return
		}
	}
}

// replicaStats is the replica's lag as NFS sees it: the state served, and
// the refresh it is as fresh as. The replica's own counters (refreshes,
// failures) are its database's.
func (r *replicaFS) replicaStats() lsm.ReplicaStats {
	st := r.rep.Stats()
	r.mu.Lock()
	st.ManifestID = r.cur.vw.ManifestID()
	r.mu.Unlock()
	served := time.Unix(0, r.servedAsOf.Load())
	if served.Before(st.LastRefresh) {
		st.Lag += st.LastRefresh.Sub(served) // on the replica's own clock
		st.LastRefresh = served
	}
	return st
}

// openStateOf opens the filesystem of view vw, which it releases if that
// fails.
func (r *replicaFS) openStateOf(ctx context.Context, vw *lsm.View) (*replicaState, error) {
	fs, err := r.openFS(ctx, viewKV{v: vw}, r.opts)
	if err != nil {
		vw.Release()
		return nil, fmt.Errorf("opening the filesystem of replica state at manifest %d: %w", vw.ManifestID(), err)
	}
	return &replicaState{vw: vw, fs: fs}, nil
}

// rotate serves the replica's current state from now on (lsm's OnRefresh,
// after every refresh), unless it serves that state already. One that
// fails leaves the previous state served until the next refresh tries
// again.
func (r *replicaFS) rotate() {
	r.rotateMu.Lock()
	defer r.rotateMu.Unlock()
	// The refresh that began at asOf has installed its state before it
	// recorded asOf, so the view taken next holds that state or a newer.
	asOf := r.rep.Stats().LastRefresh
	vw, err := r.rep.View()
	if err != nil {
		r.log.Warn("replica: serving the previous state", "err", err)
		return
	}
	r.mu.Lock()
	same := r.closed || sameState(r.cur.vw, vw)
	r.mu.Unlock()
	if same {
		vw.Release()
		r.served(asOf)
		return
	}
	st, err := r.openStateOf(r.ctx, vw)
	if err != nil {
		if now := time.Now(); now.Sub(r.failedLog) > time.Minute {
			r.failedLog = now
			r.log.Warn("replica: serving the previous state; trying again at the next poll", "err", err)
		}
		return
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		_ = st.fs.Close(context.Background())
		st.vw.Release()
		return
	}
	old := r.cur
	r.cur = st
	r.open[st] = struct{}{}
	old.retired = true
	idle := old.refs == 0
	r.mu.Unlock()
	r.served(asOf)
	if idle {
		r.closeState(old)
	}
}

// sameState reports whether two views read the same state of the replica.
func sameState(a, b *lsm.View) bool {
	return a.ManifestID() == b.ManifestID() && a.Seq() == b.Seq()
}

// closeState closes a retired state that no call uses any more, and adds
// its read-ahead counters to the replica's.
func (r *replicaFS) closeState(st *replicaState) {
	_ = st.fs.Close(context.Background())
	st.vw.Release()
	final := st.fs.ReadAheadStats()
	final.Streams, final.HeldBytes = 0, 0 // closed: it follows and holds nothing
	r.mu.Lock()
	delete(r.open, st)
	r.readAhead = r.readAhead.Plus(final)
	r.mu.Unlock()
}

// stats returns what the replica serves: the live bytes of the current
// state's filesystem, and the read-ahead of every state since the replica
// opened (counters summed; streams and bytes held now, of the states
// still open).
func (r *replicaFS) stats() FSStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	ra := r.readAhead
	for st := range r.open {
		ra = ra.Plus(st.fs.ReadAheadStats())
	}
	return FSStats{DataBytes: r.cur.fs.DataBytes(), ReadAhead: ra}
}

// do runs f on the current state's filesystem.
func (r *replicaFS) do(f func(*kvfs.FS) error) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return fmt.Errorf("replica closed: %w", lsm.ErrClosed)
	}
	st := r.cur
	st.refs++
	r.mu.Unlock()
	err := f(st.fs)
	r.mu.Lock()
	st.refs--
	done := st.retired && st.refs == 0
	r.mu.Unlock()
	if done {
		r.closeState(st)
	}
	return err
}

// close releases the state served (calls still running finish first on
// theirs).
func (r *replicaFS) close() {
	r.cancel()
	r.mu.Lock()
	r.closed = true
	st := r.cur
	st.retired = true
	idle := st.refs == 0
	r.mu.Unlock()
	if idle {
		r.closeState(st)
	}
}

func (r *replicaFS) FSID() uint64 {
	var id uint64
	_ = r.do(func(fs *kvfs.FS) error { id = fs.FSID(); return nil })
	return id
}

func (r *replicaFS) GetAttr(ctx context.Context, ino uint64) (a kvfs.Attr, err error) {
	err = r.do(func(fs *kvfs.FS) error { a, err = fs.GetAttr(ctx, ino); return err })
	return a, err
}

func (r *replicaFS) SetAttr(ctx context.Context, cred kvfs.Cred, ino uint64, req kvfs.SetAttrRequest) (c kvfs.Change, err error) {
	err = r.do(func(fs *kvfs.FS) error { c, err = fs.SetAttr(ctx, cred, ino, req); return err })
	return c, err
}

func (r *replicaFS) Lookup(ctx context.Context, cred kvfs.Cred, dir uint64, name string) (a kvfs.Attr, err error) {
	err = r.do(func(fs *kvfs.FS) error { a, err = fs.Lookup(ctx, cred, dir, name); return err })
	return a, err
}

func (r *replicaFS) Access(ctx context.Context, cred kvfs.Cred, ino uint64, mask uint32) (g uint32, err error) {
	err = r.do(func(fs *kvfs.FS) error { g, err = fs.Access(ctx, cred, ino, mask); return err })
	return g, err
}

func (r *replicaFS) Readlink(ctx context.Context, ino uint64) (s string, err error) {
	err = r.do(func(fs *kvfs.FS) error { s, err = fs.Readlink(ctx, ino); return err })
	return s, err
}

func (r *replicaFS) Read(ctx context.Context, cred kvfs.Cred, ino uint64, off uint64, buf []byte) (n int, eof bool, err error) {
	err = r.do(func(fs *kvfs.FS) error { n, eof, err = fs.Read(ctx, cred, ino, off, buf); return err })
	return n, eof, err
}

func (r *replicaFS) Write(ctx context.Context, cred kvfs.Cred, ino uint64, off uint64, data []byte) (c kvfs.Change, err error) {
	err = r.do(func(fs *kvfs.FS) error { c, err = fs.Write(ctx, cred, ino, off, data); return err })
	return c, err
}

func (r *replicaFS) Create(ctx context.Context, cred kvfs.Cred, dir uint64, name string, req kvfs.CreateRequest) (e kvfs.NewEntry, err error) {
	err = r.do(func(fs *kvfs.FS) error { e, err = fs.Create(ctx, cred, dir, name, req); return err })
	return e, err
}

func (r *replicaFS) Mkdir(ctx context.Context, cred kvfs.Cred, dir uint64, name string, mode uint32) (e kvfs.NewEntry, err error) {
	err = r.do(func(fs *kvfs.FS) error { e, err = fs.Mkdir(ctx, cred, dir, name, mode); return err })
	return e, err
}

func (r *replicaFS) Symlink(ctx context.Context, cred kvfs.Cred, dir uint64, name, target string, mode uint32) (e kvfs.NewEntry, err error) {
	err = r.do(func(fs *kvfs.FS) error { e, err = fs.Symlink(ctx, cred, dir, name, target, mode); return err })
	return e, err
}

func (r *replicaFS) Mknod(ctx context.Context, cred kvfs.Cred, dir uint64, name string, typ kvfs.FileType, mode, major, minor uint32) (e kvfs.NewEntry, err error) {
	err = r.do(func(fs *kvfs.FS) error { e, err = fs.Mknod(ctx, cred, dir, name, typ, mode, major, minor); return err })
	return e, err
}

func (r *replicaFS) Link(ctx context.Context, cred kvfs.Cred, ino uint64, dir uint64, name string) (e kvfs.NewEntry, err error) {
	err = r.do(func(fs *kvfs.FS) error { e, err = fs.Link(ctx, cred, ino, dir, name); return err })
	return e, err
}

func (r *replicaFS) Unlink(ctx context.Context, cred kvfs.Cred, dir uint64, name string) (c kvfs.Change, err error) {
	err = r.do(func(fs *kvfs.FS) error { c, err = fs.Unlink(ctx, cred, dir, name); return err })
	return c, err
}

func (r *replicaFS) Rmdir(ctx context.Context, cred kvfs.Cred, dir uint64, name string) (c kvfs.Change, err error) {
	err = r.do(func(fs *kvfs.FS) error { c, err = fs.Rmdir(ctx, cred, dir, name); return err })
	return c, err
}

func (r *replicaFS) Rename(ctx context.Context, cred kvfs.Cred, fromDir uint64, fromName string, toDir uint64, toName string) (rn kvfs.Renamed, err error) {
	err = r.do(func(fs *kvfs.FS) error { rn, err = fs.Rename(ctx, cred, fromDir, fromName, toDir, toName); return err })
	return rn, err
}

func (r *replicaFS) ReadDir(ctx context.Context, cred kvfs.Cred, dir uint64, cookie uint64, max int, withAttr bool) (ents []kvfs.DirEntry, eof bool, err error) {
	err = r.do(func(fs *kvfs.FS) error {
		ents, eof, err = fs.ReadDir(ctx, cred, dir, cookie, max, withAttr)
		return err
	})
	return ents, eof, err
}

func (r *replicaFS) Parent(ctx context.Context, dir uint64) (p uint64, err error) {
	err = r.do(func(fs *kvfs.FS) error { p, err = fs.Parent(ctx, dir); return err })
	return p, err
}

func (r *replicaFS) StatFS(ctx context.Context) (st kvfs.StatFS, err error) {
	err = r.do(func(fs *kvfs.FS) error { st, err = fs.StatFS(ctx); return err })
	return st, err
}

// Flush has nothing to make durable.
func (r *replicaFS) Flush(context.Context) error { return nil }
