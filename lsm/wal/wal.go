package wal

import (
	"encoding/binary"

	"errors"
	"fmt"
	"github.com/zerofs-go/zerofsd/lsm/sstable"

	"github.com/zerofs-go/zerofsd/internal/crc32c"
)

// FormatVersion is the encoding written by this package. Version 2 added
// entries of kind KindSetCompressed; Decode reads versions 1 and 2.
const FormatVersion byte = 2

// minFormatVersion is the oldest version Decode reads.
const minFormatVersion byte = 1

// HeaderSize is the size of an object header.
const HeaderSize = 1 + 8 + 8 + 4

// RecordHeaderSize is the size of a record's framing (length and checksum).
const RecordHeaderSize = 8

// Kind says what an entry does: the SST format's kind, so that a WAL entry
// goes into a memtable and an SST as it is.
type Kind = sstable.Kind

// Entry kinds.
const (
	KindDelete = sstable.KindDelete
	KindSet    = sstable.KindSet
	// KindSetCompressed sets a value stored compressed: the entry's value
	// is a compressed value (package vlog), which the database decodes
	// before the entry goes into a memtable as KindSet. It appears only
	// in WAL records (format version 2), never in an SST.
	KindSetCompressed Kind = 3
)

// hasValue reports whether entries of kind carry a value.
func hasValue(kind Kind) bool { return kind == KindSet || kind == KindSetCompressed }

// ErrCorrupt is returned (wrapped) when an object or entry list cannot be
// decoded.
var ErrCorrupt = errors.New("wal: corrupt")

// Header identifies a WAL object.
type Header struct {
	WriterEpoch uint64
	WALID       uint64
}

// Record is one committed batch.
type Record struct {
	FirstSeq uint64
	Count    int
	// Entries is the encoded entry list (see AppendEntry).
	Entries []byte
	// EntriesOff is the offset of Entries in the object (set by Decode).
	EntriesOff int
}

// AppendHeader appends an object header to dst.
func AppendHeader(dst []byte, h Header) []byte {
	start := len(dst)
	dst = append(dst, FormatVersion)
	dst = binary.LittleEndian.AppendUint64(dst, h.WriterEpoch)
	dst = binary.LittleEndian.AppendUint64(dst, h.WALID)
	return binary.LittleEndian.AppendUint32(dst, crc32c.Checksum(dst[start:]))
}

// EntrySize is the size of the entry AppendEntry encodes.
func EntrySize(kind Kind, key, value []byte) int {
	n := 1 + uvarintLen(uint64(len(key))) + len(key)
	if hasValue(kind) {
		n += uvarintLen(uint64(len(value))) + len(value)
	}
	return n
}

// uvarintLen is the size of v encoded by binary.AppendUvarint.
func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// AppendEntry appends one encoded entry to dst.
func AppendEntry(dst []byte, kind Kind, key, value []byte) []byte {
	dst = append(dst, byte(kind))
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	if hasValue(kind) {
		dst = binary.AppendUvarint(dst, uint64(len(value)))
		dst = append(dst, value...)
	}
	return dst
}

// AppendRecord appends one record holding count entries (encoded with
// AppendEntry) starting at firstSeq.
func AppendRecord(dst []byte, firstSeq uint64, count int, entries []byte) []byte {
	var pre [2 * binary.MaxVarintLen64]byte
	p := binary.PutUvarint(pre[:], firstSeq)
	p += binary.PutUvarint(pre[p:], uint64(count))
	crc := crc32c.Update(crc32c.Checksum(pre[:p]), entries)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(p+len(entries)))
	dst = binary.LittleEndian.AppendUint32(dst, crc)
	dst = append(dst, pre[:p]...)
	return append(dst, entries...)
}

// Decode parses a whole WAL object. The returned records alias data.
func Decode(data []byte) (Header, []Record, error) {
	var h Header
	if len(data) < HeaderSize {
		return h, nil, fmt.Errorf("%w: %d bytes is shorter than the header", ErrCorrupt, len(data))
	}
	if binary.LittleEndian.Uint32(data[HeaderSize-4:]) != crc32c.Checksum(data[:HeaderSize-4]) {
		return h, nil, fmt.Errorf("%w: header checksum mismatch", ErrCorrupt)
	}
	if data[0] < minFormatVersion || data[0] > FormatVersion {
		return h, nil, fmt.Errorf("%w: unknown format version %d", ErrCorrupt, data[0])
	}
	h.WriterEpoch = binary.LittleEndian.Uint64(data[1:])
	h.WALID = binary.LittleEndian.Uint64(data[9:])
	var recs []Record
	for off := HeaderSize; off < len(data); {
		r, n, err := DecodeRecord(data[off:])
		if err != nil {
			return h, nil, fmt.Errorf("record at offset %d: %w", off, err)
		}
		r.EntriesOff += off
		recs = append(recs, r)
		off += n
	}
	return h, recs, nil
}

// DecodeRecord parses the record at the start of b and returns it with its
// encoded size. The record aliases b; its EntriesOff is relative to b. A short, oversized, checksum-mismatched
// or malformed record is ErrCorrupt.
func DecodeRecord(b []byte) (Record, int, error) {
	if len(b) < RecordHeaderSize {
		return Record{}, 0, fmt.Errorf("%w: truncated record header", ErrCorrupt)
	}
	n := binary.LittleEndian.Uint32(b)
	sum := binary.LittleEndian.Uint32(b[4:])
	if uint64(n) > uint64(len(b)-RecordHeaderSize) {
		return Record{}, 0, fmt.Errorf("%w: record runs past the end", ErrCorrupt)
	}
	payload := b[RecordHeaderSize : RecordHeaderSize+int(n)]
	if crc32c.Checksum(payload) != sum {
		return Record{}, 0, fmt.Errorf("%w: record checksum mismatch", ErrCorrupt)
	}
	first, a := binary.Uvarint(payload)
	if a <= 0 {
		return Record{}, 0, fmt.Errorf("%w: bad sequence number", ErrCorrupt)
	}
	count, c := binary.Uvarint(payload[a:])
	if c <= 0 || count > uint64(len(payload)) {
		return Record{}, 0, fmt.Errorf("%w: bad entry count", ErrCorrupt)
	}
	r := Record{FirstSeq: first, Count: int(count), Entries: payload[a+c:], EntriesOff: RecordHeaderSize + a + c}
	if err := r.ForEach(func(Kind, []byte, []byte) error { return nil }); err != nil {
		return Record{}, 0, err
	}
	return r, RecordHeaderSize + int(n), nil
}

// LastSeq is the sequence number of the record's last entry.
func (r Record) LastSeq() uint64 { return r.FirstSeq + uint64(r.Count) - 1 }

// ForEach calls fn for every entry of the record in order; key and value
// alias the record. It fails with ErrCorrupt if the entries do not match
// Count or cannot be parsed.
func (r Record) ForEach(fn func(kind Kind, key, value []byte) error) error {
	return r.ForEachAt(func(kind Kind, key, value []byte, _ int) error { return fn(kind, key, value) })
}

// ForEachAt is ForEach that also gives the offset of each value in Entries
// (for a delete, where its value would be).
func (r Record) ForEachAt(fn func(kind Kind, key, value []byte, valueOff int) error) error {
	b := r.Entries
	for i := 0; i < r.Count; i++ {
		if len(b) < 1 {
			return fmt.Errorf("%w: entry %d missing", ErrCorrupt, i)
		}
		kind := Kind(b[0])
		if !hasValue(kind) && kind != KindDelete {
			return fmt.Errorf("%w: entry %d has unknown kind %d", ErrCorrupt, i, kind)
		}
		b = b[1:]
		key, rest, ok := cutBytes(b)
		if !ok {
			return fmt.Errorf("%w: entry %d key truncated", ErrCorrupt, i)
		}
		b = rest
		var value []byte
		valueOff := len(r.Entries) - len(b)
		if hasValue(kind) {
			rest := b
			if value, b, ok = cutBytes(b); !ok {
				return fmt.Errorf("%w: entry %d value truncated", ErrCorrupt, i)
			}
			valueOff += len(rest) - len(b) - len(value)
		}
		if err := fn(kind, key, value, valueOff); err != nil {
			return err
		}
	}
	if len(b) != 0 {
		return fmt.Errorf("%w: %d bytes after the last entry", ErrCorrupt, len(b))
	}
	return nil
}

func cutBytes(b []byte) (s, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, false
	}
	return b[k : k+int(n) : k+int(n)], b[k+int(n):], true
}
