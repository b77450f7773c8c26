package lsm

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/lsm/manifest"
	"github.com/zerofs-go/zerofsd/objstore"
)

// checkVersionMatchesManifest reports how the current version strays from
// the current manifest: it must read exactly the manifest's SSTs, and no
// frozen memtable in it may be one the manifest already holds as flushed.
func checkVersionMatchesManifest(db *DB) error {
	db.manifestMu.Lock()
	defer db.manifestMu.Unlock()
	db.mu.Lock()
	defer db.mu.Unlock()
	v := db.v.Load()
	have := make(map[string]bool)
	v.tableIDs(have)
	want := make(map[string]bool)
	manifestTableIDs(db.man, want)
	if !maps.Equal(have, want) {
		return fmt.Errorf("version reads SSTs %v, manifest %d lists %v", keys(have), db.man.ID, keys(want))
	}
	for _, m := range v.imm {
		if m.lastSeg.id <= db.man.WALIDFlushed {
			return fmt.Errorf("version holds a frozen memtable ending in WAL %d, already flushed (manifest %d flushed up to WAL %d)",
				m.lastSeg.id, db.man.ID, db.man.WALIDFlushed)
		}
	}
	return nil
}

func manifestTableIDs(m *manifest.Manifest, into map[string]bool) {
	for _, t := range m.L0 {
		into[t.ID] = true
	}
	for _, r := range m.Runs {
		for _, t := range r.Tables {
			into[t.ID] = true
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestFreezeUnderConcurrentInstalls: writers force memtable freezes while
// L0 flushes, compactions and GC install new versions. A freeze must build
// on the version current when it publishes, never on an older one: the
// version must always read exactly the manifest's SSTs and never hold an
// already flushed memtable, and every write must read back its last value,
// before and after reopening.
func TestFreezeUnderConcurrentInstalls(t *testing.T) {
	ctx := context.Background()
	store := objstore.NewMemory()
	opts := smallOptions()
	opts.MemtableBytes = 4 << 10
	opts.L0CompactionTrigger = 2
	opts.GCInterval = time.Millisecond
	opts.GCMinAge = time.Nanosecond
	db := mustOpen(t, store, opts)

	const writers = 4
	const keysPerWriter = 64
	rounds := 40
	if testing.Short() {
		rounds = 10
	}
	var stop atomic.Bool
	var checkErr error
	var checker sync.WaitGroup
	checker.Add(1)
	go func() {
		defer checker.Done()
		for !stop.Load() {
			if err := checkVersionMatchesManifest(db); err != nil {
				checkErr = err
				return
			}
		}
	}()
	last := make([]map[string]string, writers)
	err := concurrently(writers+1, func(w int) error {
		if w == writers {
			// Explicit freezes, racing with the writers' own.
			for !stop.Load() {
				if err := db.FlushMemtable(ctx); err != nil {
					return fmt.Errorf("FlushMemtable: %w", err)
				}
			}
			return nil
		}
		defer func() {
			if w == 0 {
				stop.Store(true)
			}
		}()
		last[w] = make(map[string]string)
		for r := range rounds {
			for i := range keysPerWriter {
				k := fmt.Sprintf("w%d-%03d", w, i)
				v := fmt.Sprintf("%s-round%03d-%0100d", k, r, 0)
				if err := db.Put(ctx, []byte(k), []byte(v), WriteOptions{}); err != nil {
					return fmt.Errorf("Put(%s): %w", k, err)
				}
				last[w][k] = v
			}
		}
		return nil
	})
	stop.Store(true)
	checker.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if checkErr != nil {
		t.Fatal(checkErr)
	}
	check := func(db *DB, when string) {
		t.Helper()
		for _, m := range last {
			for k, want := range m {
				got, err := db.Get(ctx, []byte(k))
				if err != nil || string(got) != want {
					t.Fatalf("%s: Get(%s) = %.40q, %v; want %.40q", when, k, got, err, want)
				}
			}
		}
	}
	check(db, "open")
	if err := db.FlushMemtable(ctx); err != nil {
		t.Fatal(err)
	}
	if err := checkVersionMatchesManifest(db); err != nil {
		t.Fatal(err)
	}
	check(db, "flushed")
	if err := db.Close(ctx); err != nil {
		t.Fatal(err)
	}
	db2 := mustOpen(t, store, opts)
	defer db2.Close(ctx)
	check(db2, "reopened")
}
