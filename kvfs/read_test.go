package kvfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
)

// failingGetKV fails Get of one key, and iterators over it (after the keys
// before it), and passes everything else to MemKV.
type failingGetKV struct {
	*MemKV
	failKey []byte
}

func (k failingGetKV) NewIterator(ctx context.Context, lower, upper []byte) (KVIterator, error) {
	it, err := k.MemKV.NewIterator(ctx, lower, upper)
	if err != nil || k.failKey == nil {
		return it, err
	}
	return &failingIter{KVIterator: it, failKey: k.failKey}, nil
}

type failingIter struct {
	KVIterator
	failKey []byte
	failed  bool
	err     error // the error after failKey; nil means errInjected
}

func (it *failingIter) Next() bool {
	if it.failed || !it.KVIterator.Next() {
		return false
	}
	if bytes.Compare(it.Key(), it.failKey) >= 0 {
		it.failed = true
		return false
	}
	return true
}

func (it *failingIter) Err() error {
	if it.failed {
		if it.err != nil {
			return it.err
		}
		return errInjected
	}
	return it.KVIterator.Err()
}

var errInjected = errors.New("injected chunk read failure")

func (k failingGetKV) Get(ctx context.Context, key []byte) ([]byte, error) {
	if k.failKey != nil && bytes.Equal(key, k.failKey) {
		return nil, errInjected
	}
	return k.MemKV.Get(ctx, key)
}

// TestReadAcrossChunks reads ranges that start, end and skip holes at every
// kind of chunk boundary (the chunks of one Read are fetched concurrently)
// and checks a failed chunk read fails the whole Read.
func TestReadAcrossChunks(t *testing.T) {
	for _, cs := range []int{MinChunkSize, MaxChunkSize} {
		t.Run(fmt.Sprintf("chunk %d", cs), func(t *testing.T) { testReadAcrossChunks(t, cs) })
	}
}

func testReadAcrossChunks(t *testing.T, chunk int) {
	ctx := context.Background()
	cred := Cred{}
	kv := failingGetKV{MemKV: NewMemKV()}
	fs, err := Open(ctx, kv, Options{ChunkSize: chunk})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close(ctx)
	f, err := fs.Create(ctx, cred, RootIno, "f", CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// 40 chunks; chunks 5 and 17..19 are holes; the file ends mid-chunk.
	size := 40*chunk - 1000
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i*7 + i/chunk)
	}
	for _, hole := range [][2]int{{5, 6}, {17, 20}} {
		clear(want[hole[0]*chunk : hole[1]*chunk])
	}
	for c := 0; c*chunk < size; c++ {
		if c == 5 || (c >= 17 && c < 20) {
			continue
		}
		lo, hi := c*chunk, min((c+1)*chunk, size)
		if _, err := fs.Write(ctx, cred, f.Attr.Ino, uint64(lo), want[lo:hi]); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		off, len int
	}{
		{"one chunk", 3, 100},
		{"chunk aligned 16 chunks", 0, 16 * chunk},
		{"unaligned across a hole", 4*chunk + 17, 3 * chunk},
		{"across three holes", 16*chunk - 1, 5*chunk + 2},
		{"more chunks than readers", 1, 30 * chunk},
		{"past the end", size - 10, 1 << 20},
		{"empty", 100, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := bytes.Repeat([]byte{0xEE}, tt.len)
			n, eof, err := fs.Read(ctx, cred, f.Attr.Ino, uint64(tt.off), buf)
			if err != nil {
				t.Fatal(err)
			}
			end := min(tt.off+tt.len, size)
			if n != end-tt.off || eof != (end == size) {
				t.Fatalf("Read(%d, %d) = %d bytes, eof %v; want %d, %v", tt.off, tt.len, n, eof, end-tt.off, end == size)
			}
			if !bytes.Equal(buf[:n], want[tt.off:end]) {
				t.Fatalf("Read(%d, %d) returned other bytes", tt.off, tt.len)
			}
		})
	}
	kv.failKey = chunkKey(f.Attr.Ino, 23)
	fs2, err := Open(ctx, kv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs2.Close(ctx)
	for _, n := range []int{8, 30} { // point reads, scans
		_, _, err = fs2.Read(ctx, cred, f.Attr.Ino, uint64(20*chunk), make([]byte, n*chunk))
		if !errors.Is(err, errInjected) {
			t.Fatalf("Read of %d chunks over a failing chunk: %v; want the injected error", n, err)
		}
	}
}
