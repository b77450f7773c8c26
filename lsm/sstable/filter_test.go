package sstable

import (
	"bytes"
	"testing"
)

func TestHashKeyIsStable(t *testing.T) {
	// The hash is part of the format (filters written by one process are
	// read by another): these values must never change within a version.
	tests := []struct {
		key  []byte
		want uint64
	}{
		{nil, 0xf490368aba8bfeac},
		{[]byte("a"), 0xc81b123a9bcfab30},
		{[]byte("inode/0000000000000001"), 0x6707dd41e63bc0d0},
		{bytes.Repeat([]byte{0xab}, 100), 0xc7d889fa4fc910b2},
	}
	for _, tc := range tests {
		if got := hashKey(tc.key); got != tc.want {
			t.Errorf("hashKey(%q) = %#x, want %#x", tc.key, got, tc.want)
		}
	}
}

func TestFilterProbes(t *testing.T) {
	tests := []struct{ bits, want int }{{1, 1}, {2, 1}, {10, 6}, {16, 11}, {100, 30}}
	for _, tc := range tests {
		if got := probes(tc.bits); got != tc.want {
			t.Errorf("probes(%d) = %d, want %d", tc.bits, got, tc.want)
		}
	}
}
