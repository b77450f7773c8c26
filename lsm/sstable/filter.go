package sstable

import (
	"encoding/binary"
	"math/bits"
)

// The bloom filter covers the distinct user keys of an SST. Each key is
// hashed once with hashKey (a fixed 64-bit function: its output is part of the
// format and must never change within a format version); the k probe
// positions are derived by double hashing, h + i*delta mod m.
//
// Filter block payload: k (1 byte, 1..30) | bit array (m/8 bytes, m >= 64).

const (
	hashPrime1 uint64 = 0x9e3779b185ebca87
	hashPrime2 uint64 = 0xc2b2ae3d27d4eb4f
	hashPrime3 uint64 = 0x165667b19e3779f9
)

// hashKey is a stable 64-bit hash: 8 bytes at a time, then a final avalanche.
func hashKey(b []byte) uint64 {
	h := hashPrime3 ^ uint64(len(b))*hashPrime1
	for len(b) >= 8 {
		w := binary.LittleEndian.Uint64(b)
		w *= hashPrime2
		w = bits.RotateLeft64(w, 31)
		w *= hashPrime1
		h ^= w
		h = bits.RotateLeft64(h, 27)*hashPrime1 + hashPrime3
		b = b[8:]
	}
	if len(b) > 0 {
		var t [8]byte
		copy(t[:], b)
		w := binary.LittleEndian.Uint64(t[:]) ^ uint64(len(b))<<56
		w *= hashPrime2
		w = bits.RotateLeft64(w, 31)
		w *= hashPrime1
		h ^= w
		h = bits.RotateLeft64(h, 27)*hashPrime1 + hashPrime3
	}
	// final avalanche (splitmix64 style)
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// probes returns the number of hash functions for bitsPerKey (about ln2 * bits).
func probes(bitsPerKey int) int {
	k := bitsPerKey * 69 / 100
	if k < 1 {
		k = 1
	}
	if k > 30 {
		k = 30
	}
	return k
}

// buildFilter returns the filter payload for the given key hashes.
func buildFilter(hashes []uint64, bitsPerKey int) []byte {
	nbits := len(hashes) * bitsPerKey
	if nbits < 64 {
		nbits = 64
	}
	nbytes := (nbits + 7) / 8
	nbits = nbytes * 8
	k := probes(bitsPerKey)
	out := make([]byte, 1+nbytes)
	out[0] = byte(k)
	array := out[1:]
	m := uint64(nbits)
	for _, h := range hashes {
		delta := bits.RotateLeft64(h, 21) | 1
		for i := 0; i < k; i++ {
			pos := h % m
			array[pos/8] |= 1 << (pos % 8)
			h += delta
		}
	}
	return out
}

// bloomFilter is a decoded filter.
type bloomFilter struct {
	k     int
	array []byte
}

func decodeFilter(p []byte) (bloomFilter, error) {
	if len(p) < 1+8 {
		return bloomFilter{}, corruptf("filter block of %d bytes", len(p))
	}
	k := int(p[0])
	if k < 1 || k > 30 {
		return bloomFilter{}, corruptf("filter block with %d probes", k)
	}
	return bloomFilter{k: k, array: p[1:]}, nil
}

func (f bloomFilter) mayContain(h uint64) bool {
	m := uint64(len(f.array)) * 8
	delta := bits.RotateLeft64(h, 21) | 1
	for i := 0; i < f.k; i++ {
		pos := h % m
		if f.array[pos/8]&(1<<(pos%8)) == 0 {
			return false
		}
		h += delta
	}
	return true
}
