package sstable

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/zerofs-go/zerofsd/internal/crc32c"
	"github.com/zerofs-go/zerofsd/lsm/compress"
)

// Kind tells whether an entry sets a value or deletes the key (a tombstone).
type Kind uint8

const (
	// KindDelete is a tombstone: the key has no value at this sequence number.
	KindDelete Kind = 0
	// KindSet stores a value.
	KindSet Kind = 1
	// KindPointer sets a value kept outside the SST: the entry's value is a
	// reference the caller resolves (package vlog's pointer); this package
	// stores and returns it like any value. Format version 2 and later.
	KindPointer Kind = 2
)

// String returns "DEL", "SET", "PTR" or "KIND(n)".
func (k Kind) String() string {
	switch k {
	case KindDelete:
		return "DEL"
	case KindSet:
		return "SET"
	case KindPointer:
		return "PTR"
	}
	return fmt.Sprintf("KIND(%d)", uint8(k))
}

// Compression selects the block compression of an SST (a codec of package
// compress). It is chosen per writer (per database); a reader handles
// every kind, block by block.
type Compression = compress.Codec

const (
	// CompressionNone stores blocks as they are.
	CompressionNone = compress.None
	// CompressionSnappy compresses blocks with snappy (fast, modest ratio).
	CompressionSnappy = compress.Snappy
	// CompressionZstd compresses blocks with zstd (better ratio, more CPU).
	CompressionZstd = compress.Zstd
)

// validKind reports whether k is a kind entries may have.
func validKind(k Kind) bool { return k <= KindPointer }

// ErrCorrupt is returned (wrapped, naming the SST and the place) when an SST
// object fails a checksum or does not decode.
var ErrCorrupt = errors.New("sstable: corrupt")

// ErrOutOfOrder is returned (wrapped) by Writer.Add when an entry does not
// follow the previous one in internal order.
var ErrOutOfOrder = errors.New("sstable: entries out of order")

// ErrEntryTooLarge is returned (wrapped) by Writer.Add for an entry whose key
// and value together exceed MaxEntrySize.
var ErrEntryTooLarge = errors.New("sstable: entry too large")

// ErrWriterFinished is returned by Writer.Add and Writer.Finish after Finish.
var ErrWriterFinished = errors.New("sstable: writer already finished")

const (
	// FormatVersion is the format version written in the footer. Version 2
	// added KindPointer entries and the value refs property; readers take
	// versions 1 and 2.
	FormatVersion = 2
	// minFormatVersion is the oldest format version a reader opens.
	minFormatVersion = 1

	// footerMagic identifies an SST object (the ASCII bytes "zeroSST1", big-endian).
	footerMagic uint64 = 0x7a65726f53535431

	// footerSize is the fixed size of the footer.
	footerSize = 64

	// blockTrailerSize is the compression byte plus the CRC32C after each block.
	blockTrailerSize = 5

	// MaxSeq is the largest sequence number an entry may carry (56 bits).
	MaxSeq uint64 = 1<<56 - 1

	// MaxEntrySize bounds the key plus value of one entry, and so the
	// decoded size of any block a reader will accept.
	MaxEntrySize = 64 << 20

	// maxDecodedBlock bounds the decompressed size of one block (an entry
	// plus its header and restart array), so that a damaged or hostile object
	// cannot make a reader allocate without limit. Properties.MaxBlockSize
	// gives the tighter bound of each SST.
	maxDecodedBlock = MaxEntrySize + 1<<10
)

func checksum(b []byte) uint32 { return crc32c.Checksum(b) }

// trailer packs a sequence number and a kind into one integer.
func makeTrailer(seq uint64, kind Kind) uint64 { return seq<<8 | uint64(kind) }

func splitTrailer(t uint64) (uint64, Kind) { return t >> 8, Kind(t & 0xff) }

// compareInternal orders entries: user key ascending, then sequence number
// descending (newest first).
func compareInternal(ak []byte, aseq uint64, bk []byte, bseq uint64) int {
	if c := bytes.Compare(ak, bk); c != 0 {
		return c
	}
	switch {
	case aseq > bseq:
		return -1
	case aseq < bseq:
		return 1
	}
	return 0
}

// blockHandle locates a block (payload plus trailer) inside the object.
type blockHandle struct {
	off, length uint64
}

func (h blockHandle) end() uint64 { return h.off + h.length }

// footer is the fixed-size tail of every SST.
type footer struct {
	version    uint8
	index      blockHandle
	filter     blockHandle // length 0: no filter
	properties blockHandle
}

func (f footer) encode(dst []byte) []byte {
	var b [footerSize]byte
	b[0] = f.version
	binary.LittleEndian.PutUint64(b[4:], f.index.off)
	binary.LittleEndian.PutUint64(b[12:], f.index.length)
	binary.LittleEndian.PutUint64(b[20:], f.filter.off)
	binary.LittleEndian.PutUint64(b[28:], f.filter.length)
	binary.LittleEndian.PutUint64(b[36:], f.properties.off)
	binary.LittleEndian.PutUint64(b[44:], f.properties.length)
	binary.LittleEndian.PutUint64(b[52:], footerMagic)
	binary.LittleEndian.PutUint32(b[60:], checksum(b[:60]))
	return append(dst, b[:]...)
}

// decodeFooter parses the last footerSize bytes of an object of objectSize
// bytes and checks that every handle lies inside the object, before the footer.
func decodeFooter(b []byte, objectSize uint64) (footer, error) {
	var f footer
	if len(b) != footerSize {
		return f, fmt.Errorf("footer: %d bytes, want %d: %w", len(b), footerSize, ErrCorrupt)
	}
	if m := binary.LittleEndian.Uint64(b[52:]); m != footerMagic {
		return f, fmt.Errorf("footer: bad magic %#x (not an SST): %w", m, ErrCorrupt)
	}
	if got, want := checksum(b[:60]), binary.LittleEndian.Uint32(b[60:]); got != want {
		return f, fmt.Errorf("footer: checksum mismatch (%#x != %#x): %w", got, want, ErrCorrupt)
	}
	f.version = b[0]
	if f.version < minFormatVersion || f.version > FormatVersion {
		return f, fmt.Errorf("footer: unsupported format version %d: %w", f.version, ErrCorrupt)
	}
	if b[1] != 0 || b[2] != 0 || b[3] != 0 {
		return f, fmt.Errorf("footer: reserved bytes set: %w", ErrCorrupt)
	}
	f.index = blockHandle{binary.LittleEndian.Uint64(b[4:]), binary.LittleEndian.Uint64(b[12:])}
	f.filter = blockHandle{binary.LittleEndian.Uint64(b[20:]), binary.LittleEndian.Uint64(b[28:])}
	f.properties = blockHandle{binary.LittleEndian.Uint64(b[36:]), binary.LittleEndian.Uint64(b[44:])}
	if objectSize < footerSize {
		return f, fmt.Errorf("footer: object of %d bytes is shorter than a footer: %w", objectSize, ErrCorrupt)
	}
	limit := objectSize - footerSize
	check := func(what string, h blockHandle, optional bool) error {
		if optional && h.length == 0 && h.off == 0 {
			return nil
		}
		if h.length < blockTrailerSize || h.off > limit || h.length > limit-h.off {
			return fmt.Errorf("footer: %s block [%d,+%d) outside the object (%d bytes before the footer): %w",
				what, h.off, h.length, limit, ErrCorrupt)
		}
		return nil
	}
	if err := check("index", f.index, false); err != nil {
		return f, err
	}
	if err := check("filter", f.filter, true); err != nil {
		return f, err
	}
	if err := check("properties", f.properties, false); err != nil {
		return f, err
	}
	return f, nil
}

// metaStart is the offset of the first metadata block: everything from here
// to the end of the object is read when the SST is opened.
func (f footer) metaStart() uint64 {
	s := f.index.off
	if f.filter.length > 0 && f.filter.off < s {
		s = f.filter.off
	}
	if f.properties.off < s {
		s = f.properties.off
	}
	return s
}
