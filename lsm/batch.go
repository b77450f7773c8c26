package lsm

import "github.com/zerofs-go/zerofsd/lsm/wal"

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
