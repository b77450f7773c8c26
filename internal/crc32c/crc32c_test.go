package crc32c

import (
	"math/rand/v2"
	"testing"
)

// TestKnownValues pins the checksum to CRC-32C's published check value and
// a few others: the values are stored in every on-disk format.
func TestKnownValues(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
	}{
		{"", 0},
		{"123456789", 0xe3069283}, // the CRC-32C check value
		{"a", 0xc1d04330},
	}
	for _, tt := range tests {
		if got := Checksum([]byte(tt.in)); got != tt.want {
			t.Errorf("Checksum(%q) = %#08x, want %#08x", tt.in, got, tt.want)
		}
	}
}

func TestUpdateIsChecksumOfConcatenation(t *testing.T) {
	a, b := []byte("hello, "), []byte("world")
	if got, want := Update(Checksum(a), b), Checksum([]byte("hello, world")); got != want {
		t.Errorf("Update(Checksum(a), b) = %#08x, want %#08x", got, want)
	}
	if got := Update(0, a); got != Checksum(a) {
		t.Errorf("Update(0, a) = %#08x, want Checksum(a) %#08x", got, Checksum(a))
	}
}

// TestSpansChecksum compares every span's checksum with Checksum of its
// bytes: spans inside one stride, across strides, at the ends, empty.
func TestSpansChecksum(t *testing.T) {
	for _, size := range []int{0, 1, spanStride - 1, spanStride, spanStride + 1, 3*spanStride + 77, 70_000} {
		data := make([]byte, size)
		r := rand.New(rand.NewPCG(uint64(size), 7))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		s := NewSpans(data)
		check := func(a, b int) {
			t.Helper()
			if got, want := s.Checksum(a, b), Checksum(data[a:b]); got != want {
				t.Fatalf("size %d: Checksum(%d, %d) = %#08x, want %#08x", size, a, b, got, want)
			}
		}
		check(0, size)
		check(size, size)
		for range 2000 {
			a := r.IntN(size + 1)
			check(a, a+r.IntN(size-a+1))
		}
		if size > 2 {
			check(1, size-1)
		}
	}
}
