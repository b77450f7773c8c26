package crc32c

import "testing"

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
