package kvfs

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// failingGetKV fails Get of one key and passes everything else to MemKV.
type failingGetKV struct {
	*MemKV
	failKey []byte
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
	ctx := context.Background()
	cred := Cred{}
	kv := failingGetKV{MemKV: NewMemKV()}
	fs, err := Open(ctx, kv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close(ctx)
	f, err := fs.Create(ctx, cred, RootIno, "f", CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	// 40 chunks; chunks 5 and 17..19 are holes; the file ends mid-chunk.
	const size = 40*ChunkSize - 1000
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i*7 + i/ChunkSize)
	}
	for _, hole := range [][2]int{{5, 6}, {17, 20}} {
		clear(want[hole[0]*ChunkSize : hole[1]*ChunkSize])
	}
	for c := 0; c*ChunkSize < size; c++ {
		if c == 5 || (c >= 17 && c < 20) {
			continue
		}
		lo, hi := c*ChunkSize, min((c+1)*ChunkSize, size)
		if _, err := fs.Write(ctx, cred, f.Attr.Ino, uint64(lo), want[lo:hi]); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		off, len int
	}{
		{"one chunk", 3, 100},
		{"chunk aligned 1 MiB", 0, 1 << 20},
		{"unaligned across a hole", 4*ChunkSize + 17, 3 * ChunkSize},
		{"across three holes", 16*ChunkSize - 1, 5*ChunkSize + 2},
		{"more chunks than readers", 1, 30 * ChunkSize},
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
	_, _, err = fs2.Read(ctx, cred, f.Attr.Ino, 20*ChunkSize, make([]byte, 8*ChunkSize))
	if !errors.Is(err, errInjected) {
		t.Fatalf("Read over a failing chunk: %v; want the injected error", err)
	}
}
