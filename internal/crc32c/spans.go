package crc32c

import "math/bits"

// spanStride is how far apart Spans keeps checksum states: a span's
// checksum reads at most twice this many bytes.
const spanStride = 256

// Spans gives the CRC-32C of any span of one byte slice in time that does
// not grow with the span's length: the checksum of every stride of bytes
// from the start is kept (one pass over the slice, 4 bytes per 256), and a
// span's checksum is derived from those of the prefixes ending where it
// starts and where it ends. For a scan that checks a checksummed record
// at every offset of damaged data, which would otherwise read the rest of
// the data at each one.
type Spans struct {
	data     []byte
	prefixes []uint32 // prefixes[k] = Checksum(data[:k*spanStride])
}

// NewSpans returns the Spans of data, which must not change while it is
// used.
func NewSpans(data []byte) *Spans {
	s := &Spans{data: data, prefixes: make([]uint32, 0, len(data)/spanStride+1)}
	var c uint32
	for off := 0; ; off += spanStride {
		s.prefixes = append(s.prefixes, c)
		if off+spanStride > len(data) {
			return s
		}
		c = Update(c, data[off:off+spanStride])
	}
}

// Checksum returns Checksum(data[a:b]), 0 <= a <= b <= len(data).
func (s *Spans) Checksum(a, b int) uint32 {
	return s.prefix(b) ^ shift(s.prefix(a), b-a)
}

// prefix returns Checksum(data[:n]).
func (s *Spans) prefix(n int) uint32 {
	k := n / spanStride
	return Update(s.prefixes[k], s.data[k*spanStride:n])
}

// shift returns the checksum c of some bytes as it would be with n zero
// bytes appended, less the checksum of those n zeros alone: for checksums
// a of A and b of B, Checksum(A || B) = shift(a, len(B)) ^ b. The CRC is
// linear: appending zeros multiplies by a matrix over GF(2), and appending
// 2^k of them by the k-th of zeroOps.
func shift(c uint32, n int) uint32 {
	for k := 0; n > 0; k, n = k+1, n>>1 {
		if n&1 != 0 {
			c = zeroOps[k].times(c)
		}
	}
	return c
}

// gf2Matrix is a 32x32 matrix over GF(2): column i is the image of bit i.
type gf2Matrix [32]uint32

// times returns m applied to v.
func (m *gf2Matrix) times(v uint32) uint32 {
	var out uint32
	for v != 0 {
		i := bits.TrailingZeros32(v)
		out ^= m[i]
		v &= v - 1
	}
	return out
}

// square returns m applied twice.
func (m *gf2Matrix) square() *gf2Matrix {
	var sq gf2Matrix
	for i := range sq {
		sq[i] = m.times(m[i])
	}
	return &sq
}

// zeroOps[k] appends 2^k zero bytes to a CRC-32C register (reflected,
// polynomial 0x82F63B78); computed once, never changed.
var zeroOps = func() (ops [bits.UintSize]gf2Matrix) {
	var oneBit gf2Matrix // one zero bit: shift right, folding the polynomial in
	oneBit[0] = 0x82F63B78
	for i := 1; i < 32; i++ {
		oneBit[i] = 1 << (i - 1)
	}
	m := oneBit.square().square().square() // 8 bits: one byte
	for k := range ops {
		ops[k] = *m
		m = m.square()
	}
	return ops
}()
