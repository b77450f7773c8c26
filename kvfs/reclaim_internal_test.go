package kvfs

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/zerofs-go/zerofsd/internal/testenv"
)

// TestReclaimGoesPastACorruptRecord: reclaim records are processed in
// inode order, and a pass stopped at the first that failed; one that
// cannot be decoded failed every time, so the unlinked files after it
// kept their data, and their space, for good. Now the pass reports it and
// goes on with the others.
func TestReclaimGoesPastACorruptRecord(t *testing.T) {
	ctx := context.Background()
	kv := NewMemKV()
	fs, err := Open(ctx, kv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close(ctx)
	cred := Cred{}
	a, err := fs.Create(ctx, cred, RootIno, "a", CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := fs.Create(ctx, cred, RootIno, "b", CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 64<<10)
	for i := range data {
		data[i] = byte(i)
	}
	if _, err := fs.Write(ctx, cred, b.Attr.Ino, 0, data); err != nil {
		t.Fatal(err)
	}
	// a's reclaim record, before b's in key order, cannot be read.
	if err := kv.Write(ctx, []KVOp{{Key: reclaimKey(a.Attr.Ino), Value: []byte{0xff, 0xff}}}, false); err != nil {
		t.Fatal(err)
	}
	before := fs.DataBytes()
	if _, err := fs.Unlink(ctx, cred, RootIno, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.ReclaimPass(ctx); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReclaimPass = %v, want the corrupt record reported", err)
	}
	if n := kv.Len(chunkKey(b.Attr.Ino, 0), chunkKey(b.Attr.Ino+1, 0)); n != 0 {
		t.Fatalf("%d chunks of the unlinked file are left: its reclaim waited behind the corrupt record", n)
	}
	if got := fs.DataBytes(); got != before-int64(len(data)) {
		t.Fatalf("data bytes %d after the unlink, want %d", got, before-int64(len(data)))
	}
}

// heldGetKV is a KV whose first Get of key, once armed, waits for
// release once it has begun (entered is closed then).
type heldGetKV struct {
	*MemKV
	key     []byte
	armed   atomic.Bool
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (k *heldGetKV) Get(ctx context.Context, key []byte) ([]byte, error) {
	if k.armed.Load() && bytes.Equal(key, k.key) {
		held := false
		k.once.Do(func() { held = true })
		if held {
			close(k.entered)
			<-k.release
		}
	}
	return k.MemKV.Get(ctx, key)
}

// TestReadRacingUnlinkReturnsNoZeros: a READ reads its chunks without a
// lock. When the file was unlinked and reclaimed between the inode and
// the chunk reads, the chunks were gone and read as holes: the reply held
// zeros the file never held, as good data. Now the read looks at the
// inode again and fails with ESTALE.
func TestReadRacingUnlinkReturnsNoZeros(t *testing.T) {
	ctx := context.Background()
	kv := &heldGetKV{MemKV: NewMemKV(), entered: make(chan struct{}), release: make(chan struct{})}
	fs, err := Open(ctx, kv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close(ctx)
	cred := Cred{}
	f, err := fs.Create(ctx, cred, RootIno, "f", CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte{0xaa}, 8<<10)
	if _, err := fs.Write(ctx, cred, f.Attr.Ino, 0, data); err != nil {
		t.Fatal(err)
	}
	kv.key = chunkKey(f.Attr.Ino, 0)
	kv.armed.Store(true)
	type result struct {
		n   int
		err error
		buf []byte
	}
	done := make(chan result, 1)
	go func() {
		buf := make([]byte, len(data))
		n, _, err := fs.Read(ctx, cred, f.Attr.Ino, 0, buf)
		done <- result{n, err, buf}
	}()
	<-kv.entered // the read has its inode and is reading the chunk
	if _, err := fs.Unlink(ctx, cred, RootIno, "f"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.ReclaimPass(ctx); err != nil {
		t.Fatal(err)
	}
	close(kv.release)
	// The read's chunk is gone (reclaimed), and so is its inode: ESTALE
	// is the one right answer; no bytes, whatever they are.
	r := <-done
	if !errors.Is(r.err, syscall.ESTALE) {
		t.Fatalf("the read returned %d bytes (first %#x), err %v; want ESTALE", r.n, r.buf[0], r.err)
	}
}

// heldIterKV holds the first NewIterator from from to past upTo, after
// armed, until released.
type heldIterKV struct {
	*MemKV
	from    []byte
	upTo    []byte
	armed   atomic.Bool
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (k *heldIterKV) NewIterator(ctx context.Context, lower, upper []byte) (KVIterator, error) {
	if k.armed.Load() && bytes.Equal(lower, k.from) && bytes.Compare(upper, k.upTo) > 0 {
		held := false
		k.once.Do(func() { held = true })
		if held {
			close(k.entered)
			<-k.release
		}
	}
	return k.MemKV.NewIterator(ctx, lower, upper)
}

// TestReadAheadRacingTruncateReturnsNoZeros: a READ served by read-ahead
// whose segment was fetched after a truncate deleted the chunks got the
// holes as data: zeros the file never held. Like a read of the chunks, it
// now looks at the inode again and is cut at the new size.
func TestReadAheadRacingTruncateReturnsNoZeros(t *testing.T) {
	ctx := context.Background()
	kv := &heldIterKV{MemKV: NewMemKV(), entered: make(chan struct{}), release: make(chan struct{})}
	fs, err := Open(ctx, kv, Options{InlineTruncateChunks: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close(ctx)
	cred := Cred{}
	f, err := fs.Create(ctx, cred, RootIno, "f", CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte{0xab}, 4<<20)
	if _, err := fs.Write(ctx, cred, f.Attr.Ino, 0, data); err != nil {
		t.Fatal(err)
	}
	// A read from the start: the read-ahead fetches the segments from
	// the file's start (the read's own chunk scan ends at first), and the
	// fetch of the first one is held.
	const first = 64 << 10
	kv.from, kv.upTo = chunkKey(f.Attr.Ino, 0), chunkKey(f.Attr.Ino, first/fs.chunkSize)
	kv.armed.Store(true)
	if _, _, err := fs.Read(ctx, cred, f.Attr.Ino, 0, make([]byte, first)); err != nil {
		t.Fatal(err)
	}
	<-kv.entered
	type result struct {
		n   int
		eof bool
		err error
		buf []byte
	}
	done := make(chan result, 1)
	returned := make(chan struct{})
	go func() {
		defer close(returned)
		buf := make([]byte, 64<<10)
		n, eof, err := fs.Read(ctx, cred, f.Attr.Ino, first, buf)
		done <- result{n, eof, err, buf}
	}()
	// The read waits for the held segment, which covers it: it copies
	// from that segment whatever the truncate does meanwhile.
	if !testenv.WaitParked(t, "kvfs.(*readAhead).read", "select", returned) {
		r := <-done
		t.Fatalf("the read returned (%d bytes, %v) without waiting for the held segment", r.n, r.err)
	}
	zero := uint64(0)
	if _, err := fs.SetAttr(ctx, cred, f.Attr.Ino, SetAttrRequest{Size: &zero}); err != nil {
		t.Fatal(err)
	}
	// The segment's fetch now reads the chunks the truncate deleted.
	close(kv.release)
	r := <-done
	if r.err != nil || r.n != 0 || !r.eof {
		t.Fatalf("the read returned %d bytes (first %#x), eof %v, err %v; want none, at EOF: the file is empty now", r.n, r.buf[0], r.eof, r.err)
	}
}
