package lsm

import (
	"bytes"
	"testing"
)

// TestBatchGrow: a batch grown by the PutSize and DeleteSize of its writes
// holds them without moving (its memory is not reallocated), and a
// released batch comes back from NewBatch empty.
func TestBatchGrow(t *testing.T) {
	value := bytes.Repeat([]byte("v"), 4096)
	keys := [][]byte{[]byte("a"), bytes.Repeat([]byte("k"), 200), nil}
	b := NewBatch()
	size := 0
	for i := range 256 {
		k := keys[i%len(keys)]
		if i%5 == 0 {
			size += DeleteSize(k)
		} else {
			size += PutSize(k, value)
		}
	}
	b.Grow(size)
	before := cap(b.entries)
	for i := range 256 {
		k := keys[i%len(keys)]
		if i%5 == 0 {
			b.Delete(k)
		} else {
			b.Put(k, value)
		}
	}
	if b.Size() != size || cap(b.entries) != before {
		t.Fatalf("batch of %d bytes (capacity %d), want %d bytes in the capacity grown, %d", b.Size(), cap(b.entries), size, before)
	}
	b.Release()
	if n := NewBatch(); n.Len() != 0 || n.Size() != 0 {
		t.Fatalf("NewBatch: %d writes, %d bytes, want an empty batch", n.Len(), n.Size())
	}
}
