package kvfs_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/zerofs-go/zerofsd/kvfs"
)

// holdingKV is a MemKV whose first batch that deletes a reclaim record (key
// prefix 0x05), once armed, is applied and then held: Write does not return
// until release. The batch is visible in the store while its writer has not
// yet finished the operation (counters, caches).
type holdingKV struct {
	*kvfs.MemKV
	mu       sync.Mutex
	armed    bool
	applied  chan struct{} // closed when the held batch is applied
	released chan struct{} // closed by release
	once     sync.Once
}

func newHoldingKV() *holdingKV {
	return &holdingKV{MemKV: kvfs.NewMemKV(), applied: make(chan struct{}), released: make(chan struct{})}
}

func (h *holdingKV) arm() { h.mu.Lock(); h.armed = true; h.mu.Unlock() }

func (h *holdingKV) release() { h.once.Do(func() { close(h.released) }) }

func (h *holdingKV) Write(ctx context.Context, ops []kvfs.KVOp, durable bool) error {
	hold := false
	h.mu.Lock()
	if h.armed {
		for _, op := range ops {
			if op.Delete && len(op.Key) == 9 && op.Key[0] == 0x05 {
				hold, h.armed = true, false
				break
			}
		}
	}
	h.mu.Unlock()
	if err := h.MemKV.Write(ctx, ops, durable); err != nil || !hold {
		return err
	}
	close(h.applied)
	<-h.released
	return nil
}

// TestReclaimPassWaitsForBackground holds the background reclaimer right
// after its batch reached the store (the reclaim record and the chunks are
// gone) and before it updated the space counters and the inode cache, then
// calls ReclaimPass: when it returns, StatFS and the file's usage must show
// the reclaim.
func TestReclaimPassWaitsForBackground(t *testing.T) {
	ctx := context.Background()
	const nchunks = 700 // above what a truncate deletes inline
	truncSize := uint64(10*kvfs.DefaultChunkSize + 1)
	for _, tc := range []struct {
		name string
		// change leaves the file's chunks to background reclaim.
		change func(t *testing.T, fs *kvfs.FS, f uint64)
		// chunks, used and dataBytes are what must be left after reclaim
		// (used: the file's, when it still exists).
		chunks    int
		used      uint64
		dataBytes int64
	}{
		{"unlink", func(t *testing.T, fs *kvfs.FS, f uint64) {
			must[kvfs.Change](t)(fs.Unlink(ctx, root, kvfs.RootIno, "f"))
		}, 0, 0, 0},
		{"truncate", func(t *testing.T, fs *kvfs.FS, f uint64) {
			must[kvfs.Change](t)(fs.SetAttr(ctx, root, f, kvfs.SetAttrRequest{Size: &truncSize}))
		}, 11, 10*3 + 1, 10*3 + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kv := newHoldingKV()
			fs := must[*kvfs.FS](t)(kvfs.Open(ctx, kv, kvfs.Options{}))
			defer fs.Close(ctx)
			defer kv.release()
			f := must[kvfs.NewEntry](t)(fs.Create(ctx, root, kvfs.RootIno, "f", kvfs.CreateRequest{})).Attr.Ino
			for c := range nchunks {
				must[kvfs.Change](t)(fs.Write(ctx, root, f, uint64(c)*kvfs.DefaultChunkSize, []byte{byte(c), 1, 2}))
			}
			kv.arm()
			tc.change(t, fs, f) // wakes the background reclaimer
			select {
			case <-kv.applied:
			case <-time.After(10 * time.Second):
				t.Fatal("the background reclaimer wrote no reclaim batch")
			}
			// ReclaimPass may wait for the held pass; let the pass go on
			// after a while. Without waiting, ReclaimPass and the checks
			// below finish long before.
			time.AfterFunc(200*time.Millisecond, kv.release)
			if _, err := fs.ReclaimPass(ctx); err != nil {
				t.Fatal(err)
			}
			if n := kv.Len(inoKey(4, f), inoKey(4, f+1)); n != tc.chunks {
				t.Fatalf("%d chunk keys after reclaim, want %d", n, tc.chunks)
			}
			if b := fs.DataBytes(); b != tc.dataBytes {
				t.Errorf("%d data bytes counted after reclaim, want %d", b, tc.dataBytes)
			}
			if tc.chunks > 0 {
				if a := must[kvfs.Attr](t)(fs.GetAttr(ctx, f)); a.Used != tc.used {
					t.Errorf("file uses %d bytes after reclaim, want %d", a.Used, tc.used)
				}
			}
			kv.release()
			checkFsck(t, fs)
		})
	}
}
