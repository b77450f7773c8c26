package lsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/zerofs-go/zerofsd/internal/testenv"
	"github.com/zerofs-go/zerofsd/objstore"
	"github.com/zerofs-go/zerofsd/objstore/faultstore"
)

// TestShippedSegmentsAreReleased: once a WAL segment is in the store,
// nothing in the database keeps its buffer (up to WALMaxBytes and a
// quarter), which is then garbage. The segment itself stays reachable
// (the last sealed one, each frozen memtable's last one), but those
// holders read only its id and outcome. Before, every shipped buffer stayed
// in memory as long as its segment did, and the queue of sealed segments
// kept each shipped segment in its array until the array was replaced.
func TestShippedSegmentsAreReleased(t *testing.T) {
	ctx := context.Background()
	opts := smallOptions()
	opts.FlushInterval = time.Hour // only Flush seals the open segment
	db := mustOpen(t, objstore.NewMemory(), opts)
	var shipped []weak.Pointer[byte]
	for i := range 8 {
		// The open segment's buffer, which the write goes into: it has
		// room for it (64 KiB at least), so it is not replaced.
		db.commitMu.Lock()
		seg := weak.Make(&db.seg.buf[0])
		db.commitMu.Unlock()
		if err := db.Put(ctx, []byte(fmt.Sprintf("k%d", i)), make([]byte, 4<<10), WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := db.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		shipped = append(shipped, seg)
	}
	// The WAL writer may still be finishing its round; give it a moment.
	deadline := time.Now().Add(5 * time.Second)
	for {
		runtime.GC()
		var held []int
		for i, w := range shipped {
			if w.Value() != nil {
				held = append(held, i)
			}
		}
		if len(held) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WAL buffers of writes %v are still reachable after they were shipped", held)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// preparingStore is a store that prepares objects (objstore.PutPreparer)
// the way package crypt does, and records what it is asked. A prepared
// object is stored with its bytes reversed, as sealing would transform
// them; Get reverses them back.
type preparingStore struct {
	objstore.Store
	mu       sync.Mutex
	prepared map[string]int // PreparePut calls, by key
	// holdKey's first prepared PUT waits until release is closed; entered
	// is closed when it starts waiting. failKey's first prepared PUT fails.
	holdKey, failKey   string
	entered, release   chan struct{}
	holdOnce, failOnce sync.Once
}

func reversed(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[len(b)-1-i] = c
	}
	return out
}

func (p *preparingStore) PreparePut(key string, data []byte) (objstore.PreparedPut, error) {
	p.mu.Lock()
	p.prepared[key]++
	p.mu.Unlock()
	return &reversedPut{p: p, key: key, data: reversed(data)}, nil
}

func (p *preparingStore) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	return p.Store.PutIfAbsent(ctx, key, reversed(data))
}

func (p *preparingStore) Put(ctx context.Context, key string, data []byte) error {
	return p.Store.Put(ctx, key, reversed(data))
}

func (p *preparingStore) Get(ctx context.Context, key string) ([]byte, error) {
	b, err := p.Store.Get(ctx, key)
	return reversed(b), err
}

func (p *preparingStore) GetRange(ctx context.Context, key string, off, n int64) ([]byte, error) {
	b, err := p.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	off = min(off, int64(len(b)))
	return b[off:min(off+n, int64(len(b)))], nil
}

func (p *preparingStore) preparedCount(key string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.prepared[key]
}

type reversedPut struct {
	p    *preparingStore
	key  string
	data []byte
}

func (r *reversedPut) PutIfAbsent(ctx context.Context) error {
	p := r.p
	if r.key == p.holdKey {
		p.holdOnce.Do(func() {
			close(p.entered)
			<-p.release
		})
	}
	fail := false
	if r.key == p.failKey {
		p.failOnce.Do(func() { fail = true })
	}
	if fail {
		return errors.New("injected PUT failure")
	}
	return p.Store.PutIfAbsent(ctx, r.key, r.data)
}

// TestWALSegmentsArePreparedAhead: with a store that prepares objects
// (sealing, for an encrypted export), the WAL writer has the next queued
// segment prepared while it writes one, so that the sealing is not on its
// path; a failed PUT is retried with the same prepared bytes, and what it
// wrote reads back. Before, each segment was sealed inside its own PUT,
// one after another.
func TestWALSegmentsArePreparedAhead(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	store := &preparingStore{prepared: map[string]int{}, entered: make(chan struct{}), release: make(chan struct{})}
	opts := smallOptions()
	// The database sees the store through what WrapStore returns (as it
	// sees package crypt's sealing store).
	opts.WrapStore = func(s objstore.Store) objstore.Store {
		store.Store = s
		return store
	}
	opts.FlushInterval = time.Hour // only full segments are sealed
	opts.WALMaxBytes = 4 << 10
	opts.MemtableBytes = 1 << 20
	db := mustOpen(t, mem, opts)
	first := db.nextWALID
	store.holdKey, store.failKey = walKey(first), walKey(first+1)
	value := func(i int) []byte { return bytes.Repeat([]byte{byte(i)}, 5<<10) }
	// Each write fills a segment: segment first is sealed and its PUT
	// held, while the next two queue behind it.
	for i := range 3 {
		if err := db.Put(ctx, []byte(fmt.Sprintf("k%d", i)), value(i), WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-store.entered:
	case <-time.After(10 * time.Second):
		t.Fatalf("the PUT of the first segment (%s) did not start; prepared: %v", walKey(first), store.prepared)
	}
	deadline := time.Now().Add(10 * time.Second)
	for store.preparedCount(walKey(first+1)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("while %s is written, %s is not prepared", walKey(first), walKey(first+1))
		}
		time.Sleep(time.Millisecond)
	}
	if n := store.preparedCount(walKey(first + 2)); n != 0 {
		t.Errorf("%s was prepared %d times while two segments before it wait; want none (two ahead at most)", walKey(first+2), n)
	}
	close(store.release)
	// The injected failure fails the flush that waits through it; the
	// WAL writer retries.
	for err := db.FlushWAL(ctx); err != nil; err = db.FlushWAL(ctx) {
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	for id := first; id < first+3; id++ {
		if n := store.preparedCount(walKey(id)); n != 1 {
			t.Errorf("%s prepared %d times; want once (a retry writes the same bytes)", walKey(id), n)
		}
	}
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	db = mustOpen(t, mem, opts)
	defer db.Close(ctx)
	for i := range 3 {
		got, err := db.Get(ctx, []byte(fmt.Sprintf("k%d", i)))
		if err != nil || !bytes.Equal(got, value(i)) {
			t.Fatalf("k%d after reopening: %d bytes, %v; want its value", i, len(got), err)
		}
	}
}

// TestPreparedSegmentStoredButUnconfirmed: a segment whose PUT succeeded
// but whose confirmation failed (the writer was out of touch with the
// store for long, and listing the manifests afterwards failed) is written
// again and found in place. Before, its prepared object, spent by the
// first PUT, failed every retry: the WAL writer retried forever and no
// write was acknowledged again until a restart.
func TestPreparedSegmentStoredButUnconfirmed(t *testing.T) {
	ctx := context.Background()
	clock := testenv.NewClock(time.Unix(1_800_000_000, 0))
	mem := objstore.NewMemoryClock(clock.Now)
	faulty := faultstore.New(mem, faultstore.Options{})
	opts := smallOptions()
	opts.FlushInterval = time.Hour // only Flush writes the WAL
	opts.GCMinAge = 10 * time.Minute
	opts.Now = clock.Now
	sealing(t)(&opts)
	db := mustOpen(t, faulty, opts)
	defer db.Close(ctx)
	if err := db.Put(ctx, []byte("a"), []byte("1"), WriteOptions{AwaitDurable: true}); err != nil {
		t.Fatal(err)
	}
	// Out of touch for longer than half of gc_min_age: the next WAL PUT
	// is confirmed by listing the manifests, and that listing fails once.
	clock.Advance(6 * time.Minute)
	faulty.FailNext(objstore.OpList, 1)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := db.Put(ctx, []byte("b"), []byte("2"), WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	var err error
	for {
		err = db.Flush(wctx)
		if err == nil || wctx.Err() != nil {
			break // the first attempt fails with the listing; a retry must not
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("a write after the failed confirmation is never made durable: %v", err)
	}
	if got := mustGet(t, db, "b"); got != "2" {
		t.Fatalf("b = %q", got)
	}
}
