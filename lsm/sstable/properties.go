package sstable

import (
	"encoding/binary"
	"fmt"
)

// Properties describe an SST as a whole. They are stored in the properties
// block and available without reading any data block.
type Properties struct {
	FormatVersion uint8
	Compression   Compression // the writer's choice; blocks that do not shrink are stored plain
	NumEntries    uint64      // entries, tombstones included
	NumDeletes    uint64      // tombstones
	NumDataBlocks uint64
	SmallestKey   []byte // smallest user key (nil when the SST is empty)
	LargestKey    []byte // largest user key (nil when the SST is empty)
	MinSeq        uint64 // 0 when the SST is empty
	MaxSeq        uint64
	DataSize      uint64 // bytes of data blocks as stored (with trailers)
	RawKeySize    uint64 // sum of user key lengths
	RawValueSize  uint64 // sum of value lengths
	MaxBlockSize  uint64 // largest data block payload, uncompressed (a reader refuses larger ones)
	// ValueRefs is what the KindPointer entries point into, in the
	// caller's encoding (opaque here); nil when there are none. Format
	// version 2 and later.
	ValueRefs []byte
}

// encodeProperties appends the properties payload of format version 2:
// uvarints in this order (compression, entries, deletes, data blocks, min
// seq, max seq, data size, raw key size, raw value size, max block size)
// then smallest key, largest key and value refs, each a uvarint length and
// the bytes. Version 1 has no value refs.
func encodeProperties(dst []byte, p *Properties) []byte {
	for _, v := range []uint64{uint64(p.Compression), p.NumEntries, p.NumDeletes, p.NumDataBlocks,
		p.MinSeq, p.MaxSeq, p.DataSize, p.RawKeySize, p.RawValueSize, p.MaxBlockSize} {
		dst = binary.AppendUvarint(dst, v)
	}
	dst = binary.AppendUvarint(dst, uint64(len(p.SmallestKey)))
	dst = append(dst, p.SmallestKey...)
	dst = binary.AppendUvarint(dst, uint64(len(p.LargestKey)))
	dst = append(dst, p.LargestKey...)
	dst = binary.AppendUvarint(dst, uint64(len(p.ValueRefs)))
	return append(dst, p.ValueRefs...)
}

// decodeProperties parses the properties payload of an SST of the given
// format version.
func decodeProperties(b []byte, version uint8) (Properties, error) {
	var p Properties
	var vals [10]uint64
	for i := range vals {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return p, corruptf("properties: bad varint %d", i)
		}
		vals[i] = v
		b = b[n:]
	}
	if vals[0] > 255 || !Compression(vals[0]).Valid() {
		return p, corruptf("properties: unknown compression %d", vals[0])
	}
	p.Compression = Compression(vals[0])
	p.NumEntries, p.NumDeletes, p.NumDataBlocks = vals[1], vals[2], vals[3]
	p.MinSeq, p.MaxSeq, p.DataSize, p.RawKeySize, p.RawValueSize = vals[4], vals[5], vals[6], vals[7], vals[8]
	p.MaxBlockSize = vals[9]
	readBytes := func(what string) ([]byte, error) {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return nil, corruptf("properties: bad %s length", what)
		}
		key := b[k : k+int(n) : k+int(n)]
		b = b[k+int(n):]
		return key, nil
	}
	var err error
	if p.SmallestKey, err = readBytes("smallest key"); err != nil {
		return p, err
	}
	if p.LargestKey, err = readBytes("largest key"); err != nil {
		return p, err
	}
	if version >= 2 {
		if p.ValueRefs, err = readBytes("value refs"); err != nil {
			return p, err
		}
		if len(p.ValueRefs) == 0 {
			p.ValueRefs = nil
		}
	}
	if len(b) != 0 {
		return p, corruptf("properties: %d trailing bytes", len(b))
	}
	if p.NumDeletes > p.NumEntries || p.MinSeq > p.MaxSeq || p.MaxBlockSize > maxDecodedBlock {
		return p, corruptf("properties: inconsistent counts")
	}
	if p.NumEntries == 0 {
		p.SmallestKey, p.LargestKey = nil, nil
	}
	return p, nil
}

// indexEntry points at one data block and holds its last internal key.
type indexEntry struct {
	lastKey []byte
	lastSeq uint64
	handle  blockHandle
}

// encodeIndexEntry appends one index entry:
//
//	keyLen uvarint | key | trailer uvarint | offset uvarint | length uvarint
//
// The index payload is a uvarint count followed by the entries.
func encodeIndexEntry(dst []byte, e indexEntry, kind Kind) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(e.lastKey)))
	dst = append(dst, e.lastKey...)
	dst = binary.AppendUvarint(dst, makeTrailer(e.lastSeq, kind))
	dst = binary.AppendUvarint(dst, e.handle.off)
	return binary.AppendUvarint(dst, e.handle.length)
}

// decodeIndex parses the index payload. Data blocks must be contiguous from
// offset 0 and end at or before dataEnd; the last keys must ascend.
func decodeIndex(b []byte, dataEnd uint64) ([]indexEntry, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, corruptf("index: bad count")
	}
	b = b[n:]
	if count > uint64(len(b))/4 {
		return nil, corruptf("index: %d entries cannot fit in %d bytes", count, len(b))
	}
	entries := make([]indexEntry, 0, count)
	next := uint64(0)
	for i := uint64(0); i < count; i++ {
		kl, n := binary.Uvarint(b)
		if n <= 0 || kl > uint64(len(b)-n) {
			return nil, corruptf("index entry %d: bad key length", i)
		}
		key := b[n : n+int(kl) : n+int(kl)]
		b = b[n+int(kl):]
		var vals [3]uint64
		for j := range vals {
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return nil, corruptf("index entry %d: bad varint", i)
			}
			vals[j] = v
			b = b[n:]
		}
		seq, _ := splitTrailer(vals[0])
		h := blockHandle{off: vals[1], length: vals[2]}
		if h.off != next || h.length < blockTrailerSize || h.length > dataEnd || h.off > dataEnd-h.length {
			return nil, corruptf("index entry %d: block [%d,+%d) is not where expected (%d, data ends at %d)",
				i, h.off, h.length, next, dataEnd)
		}
		next = h.end()
		e := indexEntry{lastKey: key, lastSeq: seq, handle: h}
		if i > 0 {
			p := entries[i-1]
			if compareInternal(p.lastKey, p.lastSeq, e.lastKey, e.lastSeq) >= 0 {
				return nil, corruptf("index entry %d: keys out of order", i)
			}
		}
		entries = append(entries, e)
	}
	if len(b) != 0 {
		return nil, corruptf("index: %d trailing bytes", len(b))
	}
	return entries, nil
}

func (p Properties) String() string {
	return fmt.Sprintf("entries=%d deletes=%d blocks=%d seq=[%d,%d] keys=[%q,%q] data=%d compression=%s v%d",
		p.NumEntries, p.NumDeletes, p.NumDataBlocks, p.MinSeq, p.MaxSeq, p.SmallestKey, p.LargestKey,
		p.DataSize, p.Compression, p.FormatVersion)
}
