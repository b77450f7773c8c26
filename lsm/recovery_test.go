package lsm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/objstore"
)

// slowWALGets delays every GET of a WAL object, records how many were in
// flight at once, and can fail the GET of one WAL object.
type slowWALGets struct {
	objstore.Store
	delay   time.Duration
	failKey string

	mu                sync.Mutex
	inFlight, maxSeen int
	gets              int
}

func (s *slowWALGets) Get(ctx context.Context, key string) ([]byte, error) {
	if !strings.Contains(key, walPrefix) {
		return s.Store.Get(ctx, key)
	}
	s.mu.Lock()
	s.inFlight++
	s.gets++
	s.maxSeen = max(s.maxSeen, s.inFlight)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.mu.Unlock()
	}()
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if s.failKey != "" && strings.HasSuffix(key, s.failKey) {
		return nil, fmt.Errorf("injected GET failure of %s", key)
	}
	return s.Store.Get(ctx, key)
}

// crashWithWALObjects leaves n WAL objects (one per awaited write) that no
// manifest covers, as a writer that crashed before its memtable flush does.
func crashWithWALObjects(t *testing.T, store objstore.Store, opts Options, n int) {
	t.Helper()
	ctx := context.Background()
	db := mustOpen(t, store, opts)
	for i := 0; i < n; i++ {
		if err := db.Put(ctx, []byte(fmt.Sprintf("k%04d", i)), []byte(fmt.Sprintf("v%d", i)), WriteOptions{AwaitDurable: true}); err != nil {
			t.Fatal(err)
		}
	}
	if got := db.Stats().WALPuts; got < int64(n) {
		t.Fatalf("setup: %d awaited writes made only %d WAL objects", n, got)
	}
	db.kill()
}

func TestRecoveryReadsWALObjectsAhead(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	opts := smallOptions()
	opts.MemtableBytes = 64 << 20 // keep every write in the WAL
	const n = 120
	crashWithWALObjects(t, mem, opts, n)

	slow := &slowWALGets{Store: mem, delay: 5 * time.Millisecond}
	db := mustOpen(t, slow, opts)
	defer db.Close(ctx)
	for i := 0; i < n; i++ {
		v, err := db.Get(ctx, []byte(fmt.Sprintf("k%04d", i)))
		if err != nil || string(v) != fmt.Sprintf("v%d", i) {
			t.Fatalf("k%04d after recovery = %q, %v", i, v, err)
		}
	}
	slow.mu.Lock()
	defer slow.mu.Unlock()
	if slow.gets < n {
		t.Fatalf("recovery read %d WAL objects, want at least %d", slow.gets, n)
	}
	if slow.maxSeen < 2 || slow.maxSeen > walFetchAhead {
		t.Fatalf("recovery had at most %d WAL GETs in flight; want 2..%d", slow.maxSeen, walFetchAhead)
	}
	t.Logf("replayed %d WAL objects with up to %d GETs in flight", slow.gets, slow.maxSeen)
}

func TestRecoveryStopsAtFailedWALRead(t *testing.T) {
	ctx := context.Background()
	mem := objstore.NewMemory()
	opts := smallOptions()
	opts.MemtableBytes = 64 << 20
	crashWithWALObjects(t, mem, opts, 60)

	// The first attempt fails on one object in the middle: Open must fail
	// (never open with a hole in the replayed history) ...
	keys, err := listAll(ctx, mem, walPrefix)
	if err != nil {
		t.Fatal(err)
	}
	failing := keys[len(keys)/2].Key
	slow := &slowWALGets{Store: mem, delay: time.Millisecond, failKey: failing}
	if db, err := Open(ctx, slow, opts); err == nil {
		db.Close(ctx)
		t.Fatalf("Open succeeded although reading %s failed", failing)
	} else if !strings.Contains(err.Error(), "injected GET failure") {
		t.Fatalf("Open failed with %v; want the injected GET failure", err)
	}
	// ... and the next attempt recovers everything.
	db := mustOpen(t, mem, opts)
	defer db.Close(ctx)
	for i := 0; i < 60; i++ {
		if _, err := db.Get(ctx, []byte(fmt.Sprintf("k%04d", i))); err != nil {
			if errors.Is(err, ErrNotFound) {
				t.Fatalf("k%04d lost after a failed recovery attempt", i)
			}
			t.Fatal(err)
		}
	}
}
