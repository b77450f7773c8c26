package lsm

import (
	"slices"
	"sync"

	"github.com/zerofs-go/zerofsd/lsm/wal"
)

// Batch collects writes to apply atomically with DB.Write. Its entries get
// consecutive sequence numbers, so a later entry for a key wins over an
// earlier one in the same batch. A Batch is not safe for concurrent use and
// may be reused after Reset.
type Batch struct {
	entries []byte // wal.AppendEntry encoding
	count   int
	// maxValue is the length of its longest value.
	maxValue int
}

// batchPool recycles batches (NewBatch, Release), so that building one
// does not take fresh memory for every write.
var batchPool = sync.Pool{New: func() any { return new(Batch) }}

// maxPooledBatch bounds the memory of a batch kept for reuse.
const maxPooledBatch = 4 << 20

// NewBatch returns an empty batch, reusing the memory of a released one.
func NewBatch() *Batch {
	b := batchPool.Get().(*Batch)
	b.Reset()
	return b
}

// Release gives b back for reuse by NewBatch; b must not be used after.
// DB.Write keeps nothing of a batch, so it may be released once Write
// returns.
func (b *Batch) Release() {
	if cap(b.entries) <= maxPooledBatch {
		batchPool.Put(b)
	}
}

// PutSize and DeleteSize are what Put and Delete add to Size, for Grow.
func PutSize(key, value []byte) int { return wal.EntrySize(wal.KindSet, key, value) }

// DeleteSize: see PutSize.
func DeleteSize(key []byte) int { return wal.EntrySize(wal.KindDelete, key, nil) }

// Grow makes room for n more bytes of entries, so that a batch whose size
// is known (PutSize, DeleteSize) is built without moving what it holds.
func (b *Batch) Grow(n int) { b.entries = slices.Grow(b.entries, n) }

// Put sets key to value (both are copied).
func (b *Batch) Put(key, value []byte) {
	b.entries = wal.AppendEntry(b.entries, wal.KindSet, key, value)
	b.count++
	b.maxValue = max(b.maxValue, len(value))
}

// Delete removes key.
func (b *Batch) Delete(key []byte) {
	b.entries = wal.AppendEntry(b.entries, wal.KindDelete, key, nil)
	b.count++
}

// Len is the number of writes in the batch.
func (b *Batch) Len() int { return b.count }

// Size is the encoded size of the batch in bytes.
func (b *Batch) Size() int { return len(b.entries) }

// Reset empties the batch, keeping its memory.
func (b *Batch) Reset() {
	b.entries = b.entries[:0]
	b.count = 0
	b.maxValue = 0
}
