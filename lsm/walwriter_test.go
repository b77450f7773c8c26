package lsm

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
	"weak"

	"github.com/zerofs-go/zerofsd/objstore"
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
