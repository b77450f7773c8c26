package kvfs

import (
	"context"
	"errors"
	"testing"
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
