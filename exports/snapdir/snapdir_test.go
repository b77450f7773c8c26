package snapdir_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/exports/snapdir"
	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/kvfs"
	"github.com/zerofs-go/zerofsd/nfs"
)

var root = kvfs.Cred{}

// source is a Source of kvfs filesystems on MemKVs, one per snapshot.
type source struct {
	mu     sync.Mutex
	infos  []snapdir.Info
	data   map[string]*kvfs.MemKV // by name
	opened map[string]int
	closed map[string]int
	// broken makes every opened snapshot's reads fail (as a store whose
	// objects were collected would).
	broken bool
	// listErr and openErr, when set, fail List and Open.
	listErr, openErr error
}

func (s *source) List(context.Context) ([]snapdir.Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listErr != nil {
		return nil, s.listErr
	}
	return append([]snapdir.Info(nil), s.infos...), nil
}

func (s *source) Open(ctx context.Context, info snapdir.Info) (nfs.Filesystem, func(context.Context) error, error) {
	s.mu.Lock()
	found := false
	for _, i := range s.infos {
		found = found || i == info
	}
	kv := s.data[info.Name]
	openErr := s.openErr
	s.mu.Unlock()
	if openErr != nil {
		return nil, nil, openErr
	}
	if !found {
		return nil, nil, fmt.Errorf("no snapshot %q with id %d", info.Name, info.ID)
	}
	fs, err := kvfs.Open(ctx, brokenKV{KV: kv, broken: &s.broken, mu: &s.mu}, kvfs.Options{ReadOnly: true, Logger: quiet()})
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	s.opened[info.Name]++
	s.mu.Unlock()
	return fs, func(ctx context.Context) error {
		s.mu.Lock()
		s.closed[info.Name]++
		s.mu.Unlock()
		return fs.Close(ctx)
	}, nil
}

func (s *source) remove(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, info := range s.infos {
		if info.Name == name {
			s.infos = append(s.infos[:i], s.infos[i+1:]...)
			return
		}
	}
}

// brokenKV fails every read once *broken is set.
type brokenKV struct {
	kvfs.KV
	broken *bool
	mu     *sync.Mutex
}

var errGone = errors.New("object not found")

func (b brokenKV) Get(ctx context.Context, key []byte) ([]byte, error) {
	b.mu.Lock()
	broken := *b.broken
	b.mu.Unlock()
	if broken {
		return nil, errGone
	}
	return b.KV.Get(ctx, key)
}

func (b brokenKV) NewIterator(ctx context.Context, lower, upper []byte) (kvfs.KVIterator, error) {
	b.mu.Lock()
	broken := *b.broken
	b.mu.Unlock()
	if broken {
		return nil, errGone
	}
	return b.KV.NewIterator(ctx, lower, upper)
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fixture is a live filesystem with snapshots "first" (file "f" = "one")
// and "second" (file "f" = "two").
type fixture struct {
	live  *kvfs.FS
	src   *source
	set   *snapdir.Set
	fs    nfs.Filesystem // live, wrapped
	clock *testenv.Clock
}

func newFixture(t *testing.T, opts snapdir.Options) *fixture {
	t.Helper()
	ctx := context.Background()
	kv := kvfs.NewMemKV()
	live, err := kvfs.Open(ctx, kv, kvfs.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Close(ctx) })
	src := &source{data: map[string]*kvfs.MemKV{}, opened: map[string]int{}, closed: map[string]int{}}
	f := &fixture{live: live, src: src, clock: testenv.NewClock(time.Unix(1_700_000_000, 0))}
	for i, content := range []string{"one", "two"} {
		name := []string{"first", "second"}[i]
		writeFile(t, live, "f", content)
		if err := kv.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		src.data[name] = kv.Crash() // a copy of what is there now
		src.infos = append(src.infos, snapdir.Info{Name: name, ID: uint64(10 + i), Created: f.clock.Now().Add(time.Duration(i) * time.Minute)})
	}
	writeFile(t, live, "f", "live")
	opts.Logger = quiet()
	opts.Now = f.clock.Now
	f.set = snapdir.NewSet(src, live.FSID(), opts)
	t.Cleanup(func() { f.set.Close(ctx) })
	f.fs = f.set.Wrap(live, ".snapshots")
	return f
}

func writeFile(t *testing.T, fs *kvfs.FS, name, content string) {
	t.Helper()
	ctx := context.Background()
	a, err := fs.Lookup(ctx, root, kvfs.RootIno, name)
	if errors.Is(err, syscall.ENOENT) {
		e, cerr := fs.Create(ctx, root, kvfs.RootIno, name, kvfs.CreateRequest{})
		a, err = e.Attr, cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	size := uint64(0)
	if _, err := fs.SetAttr(ctx, root, a.Ino, kvfs.SetAttrRequest{Size: &size}); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Write(ctx, root, a.Ino, 0, []byte(content)); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, fs nfs.Filesystem, dir uint64, name string) string {
	t.Helper()
	ctx := context.Background()
	a, err := fs.Lookup(ctx, root, dir, name)
	if err != nil {
		t.Fatalf("lookup %s: %v", name, err)
	}
	buf := make([]byte, 100)
	n, _, err := fs.Read(ctx, root, a.Ino, 0, buf)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return string(buf[:n])
}

// snapshotFS looks up a snapshot under the directory and returns its filesystem.
func (f *fixture) snapshot(t *testing.T, name string) (nfs.Filesystem, kvfs.Attr) {
	t.Helper()
	a, err := f.fs.Lookup(context.Background(), root, snapdir.DirIno, name)
	if err != nil {
		t.Fatalf("lookup .snapshots/%s: %v", name, err)
	}
	sfs, got, ok := f.set.ByFSID(a.FSID)
	if !ok || got != name {
		t.Fatalf("ByFSID(%016x) = %v, %q", a.FSID, ok, got)
	}
	return sfs, a
}

func TestSnapshotDirectory(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, snapdir.Options{})

	d, err := f.fs.Lookup(ctx, root, kvfs.RootIno, ".snapshots")
	if err != nil {
		t.Fatal(err)
	}
	if d.Ino != snapdir.DirIno || d.Type != kvfs.TypeDir || d.Mode != 0o555 || d.FSID != 0 {
		t.Fatalf(".snapshots attributes = %+v", d)
	}
	// Hidden from the root's listing.
	ents, _, err := f.fs.ReadDir(ctx, root, kvfs.RootIno, 0, 100, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name == ".snapshots" {
			t.Fatal(".snapshots is listed in the root")
		}
	}
	// Listed by creation, one page at a time.
	var names []string
	cookie := uint64(0)
	for {
		ents, eof, err := f.fs.ReadDir(ctx, root, snapdir.DirIno, cookie, 1, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			names = append(names, e.Name)
			cookie = e.Cookie
		}
		if eof {
			break
		}
	}
	if fmt.Sprint(names) != "[first second]" {
		t.Fatalf("listing = %v", names)
	}
	// Each snapshot is its own filesystem, with its own content.
	for name, want := range map[string]string{"first": "one", "second": "two"} {
		sfs, a := f.snapshot(t, name)
		if a.FSID != snapdir.FSIDOf(f.live.FSID(), snapdir.Info{Name: name, ID: map[string]uint64{"first": 10, "second": 11}[name]}) {
			t.Fatalf("%s: fsid %016x is not derived from the parent and the snapshot", name, a.FSID)
		}
		if a.FSID == f.live.FSID() || sfs.FSID() != a.FSID {
			t.Fatalf("%s: fsid %016x (live %016x, fs %016x)", name, a.FSID, f.live.FSID(), sfs.FSID())
		}
		if got := readFile(t, sfs, kvfs.RootIno, "f"); got != want {
			t.Fatalf("%s/f = %q, want %q", name, got, want)
		}
		if _, err := sfs.Create(ctx, root, kvfs.RootIno, "new", kvfs.CreateRequest{}); !errors.Is(err, syscall.EROFS) {
			t.Fatalf("create in a snapshot: %v, want EROFS", err)
		}
		g, err := sfs.Access(ctx, root, kvfs.RootIno, kvfs.AccessModify|kvfs.AccessRead)
		if err != nil || g != kvfs.AccessRead {
			t.Fatalf("access in a snapshot = %#x, %v", g, err)
		}
	}
	if got := readFile(t, f.fs, kvfs.RootIno, "f"); got != "live" {
		t.Fatalf("live f = %q", got)
	}
	// The directory itself refuses changes; its name is taken in the root.
	if _, err := f.fs.Mkdir(ctx, root, snapdir.DirIno, "x", 0o755); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("mkdir in .snapshots: %v", err)
	}
	if _, err := f.fs.Rmdir(ctx, root, snapdir.DirIno, "first"); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("rmdir in .snapshots: %v", err)
	}
	if _, err := f.fs.Create(ctx, root, kvfs.RootIno, ".snapshots", kvfs.CreateRequest{Mode: kvfs.CreateGuarded}); !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("guarded create .snapshots: %v", err)
	}
	// An unchecked create answers the directory, unchanged, as over any
	// other directory.
	if e, err := f.fs.Create(ctx, root, kvfs.RootIno, ".snapshots", kvfs.CreateRequest{}); err != nil || e.Attr.Ino != snapdir.DirIno || e.Attr.Type != kvfs.TypeDir {
		t.Fatalf("unchecked create .snapshots = %+v, %v; want the snapshot directory", e.Attr, err)
	}
	if _, err := f.fs.Rename(ctx, root, kvfs.RootIno, "f", kvfs.RootIno, ".snapshots"); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("rename onto .snapshots: %v", err)
	}
	if _, err := f.fs.Lookup(ctx, root, snapdir.DirIno, "nope"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("lookup of a missing snapshot: %v", err)
	}
	if p, err := f.fs.Parent(ctx, snapdir.DirIno); err != nil || p != kvfs.RootIno {
		t.Fatalf("parent of .snapshots = %d, %v", p, err)
	}
	// NFS looks up ".." (a snapshot may not be named so).
	if p, err := f.fs.Lookup(ctx, root, snapdir.DirIno, ".."); err != nil || p.Ino != kvfs.RootIno || p.FSID != 0 {
		t.Fatalf(`lookup of ".." in .snapshots = %+v, %v; want the root`, p, err)
	}
}

// isStale reports whether err is ESTALE as an answer of the filesystem,
// not a failure of its storage (which NFS answers NFS3ERR_IO).
func isStale(err error) bool {
	var storage *kvfs.StorageError
	return errors.Is(err, kvfs.ErrStale) && !errors.As(err, &storage)
}

// TestSnapshotGoneIsStale: a deleted snapshot answers ESTALE, whether the
// deletion is seen by a listing or by a read that fails.
func TestSnapshotGoneIsStale(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, snapdir.Options{})
	first, _ := f.snapshot(t, "first")
	second, _ := f.snapshot(t, "second")
	readFile(t, first, kvfs.RootIno, "f")
	readFile(t, second, kvfs.RootIno, "f")

	// Deleted, and its objects gone: the failed read finds it gone.
	f.src.remove("first")
	f.src.mu.Lock()
	f.src.broken = true
	f.src.mu.Unlock()
	f.clock.Advance(time.Second) // within ListTTL: only the failed read finds it gone
	if _, _, err := first.Read(ctx, root, 1000, 0, make([]byte, 10)); !isStale(err) {
		t.Fatalf("read in a deleted snapshot: %v, want ESTALE", err)
	}
	if _, err := first.Lookup(ctx, root, kvfs.RootIno, "f"); !isStale(err) {
		t.Fatalf("lookup in a deleted snapshot: %v, want ESTALE", err)
	}
	// A snapshot that still exists keeps its own error.
	if _, err := second.Lookup(ctx, root, kvfs.RootIno, "g"); errors.Is(err, kvfs.ErrStale) || err == nil {
		t.Fatalf("failed read in a live snapshot = %v, want its own error", err)
	}
	f.src.mu.Lock()
	f.src.broken = false
	f.src.mu.Unlock()
	if _, err := first.GetAttr(ctx, kvfs.RootIno); !isStale(err) {
		t.Fatalf("getattr in a deleted snapshot: %v", err)
	}
	if f.src.closed["first"] != 1 {
		t.Fatalf("deleted snapshot closed %d times", f.src.closed["first"])
	}
	if _, _, ok := f.set.ByFSID(first.FSID()); ok {
		t.Fatal("ByFSID finds a deleted snapshot")
	}
	// Deleted and made again under the same name: another snapshot.
	f.src.mu.Lock()
	f.src.infos = append(f.src.infos, snapdir.Info{Name: "first", ID: 20})
	f.src.mu.Unlock()
	f.clock.Advance(time.Second)
	again, _ := f.snapshot(t, "first")
	if again.FSID() == first.FSID() {
		t.Fatal("a snapshot made again under the same name has the old FSID")
	}
	if _, err := first.GetAttr(ctx, kvfs.RootIno); !isStale(err) {
		t.Fatalf("old handle after re-creation: %v", err)
	}
}

// TestSnapshotReadersBounded: at most MaxOpen readers, idle ones closed.
func TestSnapshotReadersBounded(t *testing.T) {
	f := newFixture(t, snapdir.Options{MaxOpen: 1, IdleTimeout: time.Minute, SweepInterval: 10 * time.Millisecond})
	first, _ := f.snapshot(t, "first")
	second, _ := f.snapshot(t, "second")
	for range 3 {
		readFile(t, first, kvfs.RootIno, "f")
		readFile(t, second, kvfs.RootIno, "f")
		if n := f.set.OpenReaders(); n != 1 {
			t.Fatalf("%d readers open, want at most 1", n)
		}
	}
	// Once by the lookup, then once per round, each time closed for "second".
	if f.src.opened["first"] != 4 || f.src.closed["first"] != 4 {
		t.Fatalf("first opened %d, closed %d times", f.src.opened["first"], f.src.closed["first"])
	}
	f.clock.Advance(2 * time.Minute)
	deadline := time.Now().Add(5 * time.Second)
	for f.set.OpenReaders() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the idle reader was not closed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Reopened on use, with the same content and FSID.
	if got := readFile(t, second, kvfs.RootIno, "f"); got != "two" {
		t.Fatalf("after reopening: %q", got)
	}
}

// TestSnapshotGoneBeforeItsFirstOpen: a snapshot deleted after the
// directory was listed but before its reader was first opened answers
// ESTALE. Before, the failed open listed the snapshots again while it held
// the snapshot's lock, which the new listing takes to close a snapshot
// that is gone: the call never returned, and every later listing of the
// set, and Close, waited behind it.
func TestSnapshotGoneBeforeItsFirstOpen(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, snapdir.Options{})
	if _, err := f.fs.Lookup(ctx, root, kvfs.RootIno, ".snapshots"); err != nil {
		t.Fatal(err)
	}
	f.src.remove("first")
	f.clock.Advance(time.Second) // past MinRefresh, within ListTTL: the listing still names it
	done := make(chan error, 1)
	go func() {
		_, err := f.fs.Lookup(ctx, root, snapdir.DirIno, "first")
		done <- err
	}()
	select {
	case err := <-done:
		if !isStale(err) && !errors.Is(err, syscall.ENOENT) {
			t.Fatalf("lookup of a deleted snapshot = %v, want ESTALE or ENOENT", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("lookup of a snapshot deleted before its first open still has not returned after 20 s")
	}
}

// TestStoreErrorsAreNotSnapshotsGone: a snapshot that fails to open while
// listing fails too is not answered as gone (ESTALE makes a client drop
// its handles) even when the store's error is an ESTALE of its own (a
// store directory on an NFS mount): that answer is kept for snapshots the
// listing no longer names.
func TestStoreErrorsAreNotSnapshotsGone(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, snapdir.Options{})
	if _, err := f.fs.Lookup(ctx, root, kvfs.RootIno, ".snapshots"); err != nil {
		t.Fatal(err)
	}
	f.src.mu.Lock()
	f.src.listErr = fmt.Errorf("listing the store: %w", syscall.ESTALE)
	f.src.openErr = fmt.Errorf("reading the manifest: %w", syscall.EIO)
	f.src.mu.Unlock()
	f.clock.Advance(time.Second) // past MinRefresh, within ListTTL
	_, err := f.fs.Lookup(ctx, root, snapdir.DirIno, "first")
	if err == nil || isStale(err) {
		t.Fatalf("lookup of a snapshot whose store fails = %v, want the store's error, not ESTALE", err)
	}
	f.src.mu.Lock()
	f.src.listErr, f.src.openErr = nil, nil
	f.src.mu.Unlock()
	f.clock.Advance(time.Second)
	if _, err := f.fs.Lookup(ctx, root, snapdir.DirIno, "first"); err != nil {
		t.Fatalf("lookup once the store is back: %v", err)
	}
}
