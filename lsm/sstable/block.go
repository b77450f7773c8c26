package sstable

import (
	"encoding/binary"
	"fmt"

	"github.com/zerofs-go/zerofsd/lsm/compress"
)

// appendEntry appends one data-block entry:
//
//	shared uvarint | unshared uvarint | valueLen uvarint | trailer uvarint | key[shared:] | value
func appendEntry(dst []byte, shared int, suffix []byte, trailer uint64, value []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(shared))
	dst = binary.AppendUvarint(dst, uint64(len(suffix)))
	dst = binary.AppendUvarint(dst, uint64(len(value)))
	dst = binary.AppendUvarint(dst, trailer)
	dst = append(dst, suffix...)
	return append(dst, value...)
}

// entryOverhead is an upper bound of the header bytes of one entry.
const entryOverhead = 4 * binary.MaxVarintLen64

// appendBlockTrailer appends the compression byte and the CRC32C of
// dst[start:] plus that byte.
func appendBlockTrailer(dst []byte, start int, kind Compression) []byte {
	dst = append(dst, byte(kind))
	return binary.LittleEndian.AppendUint32(dst, checksum(dst[start:]))
}

func corruptf(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrCorrupt)
}

// unframeBlock checks the trailer of a stored block (payload | type | crc)
// and returns its decoded payload. A compressed payload may not decode to
// more than limit bytes; d == nil accepts only uncompressed blocks.
func unframeBlock(raw []byte, d *compress.Codecs, limit int) ([]byte, error) {
	if len(raw) < blockTrailerSize {
		return nil, corruptf("block of %d bytes is shorter than its trailer", len(raw))
	}
	n := len(raw) - 4
	if got, want := checksum(raw[:n]), binary.LittleEndian.Uint32(raw[n:]); got != want {
		return nil, corruptf("checksum mismatch (%#x != %#x)", got, want)
	}
	kind := Compression(raw[n-1])
	payload := raw[: n-1 : n-1]
	if !kind.Valid() || (d == nil && kind != CompressionNone) {
		return nil, corruptf("unexpected compression type %d", kind)
	}
	out, err := d.Decompress(kind, payload, limit)
	if err != nil {
		return nil, corruptf("decompress: %v", err)
	}
	return out, nil
}

// block is a decoded, verified data block. It is immutable once built and
// may be shared (through the BlockCache) by many readers and iterators.
type block struct {
	data     []byte // the entries
	restarts []byte // numRestarts little-endian uint32 offsets into data
	charge   int64  // bytes held, for the cache
}

func (b *block) numRestarts() int { return len(b.restarts) / 4 }

func (b *block) restart(i int) int {
	return int(binary.LittleEndian.Uint32(b.restarts[4*i:]))
}

// size is what the block costs in the cache.
func (b *block) size() int64 { return b.charge }

// blockOverhead is what a cached block costs beyond its bytes.
const blockOverhead = 128

// parseBlock splits a decoded data-block payload:
//
//	entries | restart[0] .. restart[n-1] (uint32 LE each) | n (uint32 LE)
func parseBlock(p []byte) (*block, error) {
	if len(p) < 4 {
		return nil, corruptf("data block of %d bytes", len(p))
	}
	n := binary.LittleEndian.Uint32(p[len(p)-4:])
	if uint64(n) > uint64(len(p)-4)/4 {
		return nil, corruptf("data block claims %d restart points in %d bytes", n, len(p))
	}
	rs := len(p) - 4 - 4*int(n)
	b := &block{data: p[:rs:rs], restarts: p[rs : len(p)-4 : len(p)-4], charge: int64(len(p)) + blockOverhead}
	if n == 0 && rs != 0 {
		return nil, corruptf("data block has %d bytes of entries but no restart point", rs)
	}
	prev := -1
	for i := 0; i < int(n); i++ {
		off := b.restart(i)
		if (i == 0 && off != 0) || off <= prev || off >= rs {
			return nil, corruptf("data block restart point %d at %d is invalid", i, off)
		}
		prev = off
	}
	return b, nil
}

// blockIter walks the entries of one block. Its key buffer is reused from
// entry to entry; values point into the immutable block.
type blockIter struct {
	b      *block
	off    int // current entry
	next   int // the entry after it
	key    []byte
	shared int // bytes of key taken from the previous entry
	seq    uint64
	kind   Kind
	value  []byte
	valid  bool
	err    error
}

func (it *blockIter) init(b *block) {
	it.b = b
	it.valid = false
	it.err = nil
	it.key = it.key[:0]
}

// decodeAt decodes the entry at off, whose predecessor's key is in it.key
// (ignored at restart points, where shared must be 0).
func (it *blockIter) decodeAt(off int) bool {
	data := it.b.data
	if off >= len(data) {
		it.valid = false
		return false
	}
	p := off
	var hdr [4]uint64
	for i := range hdr {
		v, n := binary.Uvarint(data[p:])
		if n <= 0 {
			return it.fail(corruptf("entry at %d: bad varint", off))
		}
		hdr[i] = v
		p += n
	}
	shared, unshared, vlen, trailer := hdr[0], hdr[1], hdr[2], hdr[3]
	if shared > uint64(len(it.key)) {
		return it.fail(corruptf("entry at %d shares %d key bytes of %d", off, shared, len(it.key)))
	}
	rest := uint64(len(data) - p)
	if unshared > rest || vlen > rest-unshared {
		return it.fail(corruptf("entry at %d overruns the block", off))
	}
	seq, kind := splitTrailer(trailer)
	if !validKind(kind) {
		return it.fail(corruptf("entry at %d has unknown kind %d", off, kind))
	}
	ke := p + int(unshared)
	it.key = append(it.key[:shared], data[p:ke]...)
	it.shared = int(shared)
	ve := ke + int(vlen)
	it.value = data[ke:ve:ve]
	it.seq, it.kind = seq, kind
	it.off, it.next = off, ve
	it.valid = true
	return true
}

func (it *blockIter) fail(err error) bool {
	it.err = err
	it.valid = false
	return false
}

func (it *blockIter) first() bool {
	it.key = it.key[:0]
	return it.decodeAt(0)
}

func (it *blockIter) nextEntry() bool {
	if !it.valid {
		return false
	}
	return it.decodeAt(it.next)
}

// decodeRestart decodes the entry at restart point i.
func (it *blockIter) decodeRestart(i int) bool {
	it.key = it.key[:0]
	if !it.decodeAt(it.b.restart(i)) {
		if it.err == nil {
			it.fail(corruptf("restart point %d is past the end of the block", i))
		}
		return false
	}
	if it.shared != 0 {
		return it.fail(corruptf("entry at restart point %d shares key bytes", i))
	}
	return true
}

// restartKey returns the key and sequence number of the entry at restart
// point i without copying, or ok=false when that entry does not decode.
func (b *block) restartKey(i int) (key []byte, seq uint64, ok bool) {
	data := b.data
	p := b.restart(i)
	var hdr [4]uint64
	for j := range hdr {
		v, n := binary.Uvarint(data[p:])
		if n <= 0 {
			return nil, 0, false
		}
		hdr[j] = v
		p += n
	}
	if hdr[0] != 0 || hdr[1] > uint64(len(data)-p) {
		return nil, 0, false
	}
	seq, _ = splitTrailer(hdr[3])
	return data[p : p+int(hdr[1])], seq, true
}

// seekGE positions at the first entry >= (key, seq) in internal order.
func (it *blockIter) seekGE(key []byte, seq uint64) bool {
	n := it.b.numRestarts()
	if n == 0 {
		it.valid = false
		return false
	}
	// Find the first restart point whose key is >= the target; the answer
	// lies after the restart point before it.
	lo, hi := 0, n
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		rkey, rseq, ok := it.b.restartKey(mid)
		if !ok {
			// Let the full decoder say what is wrong.
			if it.decodeRestart(mid) {
				it.fail(corruptf("restart point %d does not decode", mid))
			}
			return false
		}
		if compareInternal(rkey, rseq, key, seq) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	start := lo - 1
	if start < 0 {
		start = 0
	}
	if !it.decodeRestart(start) {
		return false
	}
	for compareInternal(it.key, it.seq, key, seq) < 0 {
		if !it.nextEntry() {
			return false
		}
	}
	return true
}
