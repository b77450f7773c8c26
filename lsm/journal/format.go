package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/zerofs-go/zerofsd/internal/crc32c"
)

// FormatVersion is the format of a journal file written in the clear.
const FormatVersion byte = 1

// SealedFormatVersion is the format of a sealed journal file (one written
// with a Cipher).
const SealedFormatVersion byte = 2

// HeaderSize is the size of the header of a file written in the clear.
const HeaderSize = 4 + 1 + 16 + 8 + 4

// SaltSize is the length of a sealed file's salt, from which its key is
// derived.
const SaltSize = 32

// tagSize is the length of an AEAD tag.
const tagSize = 16

// sealedHeaderAD is the length of a sealed header before its tag: magic,
// version, database id, writer epoch and salt, which every record of the
// file binds as associated data.
const sealedHeaderAD = 4 + 1 + 16 + 8 + SaltSize

// SealedHeaderSize is the size of a sealed file's header.
const SealedHeaderSize = sealedHeaderAD + tagSize + 4

const magic = "ZJNL"

const fileSuffix = ".journal"

// ErrCorrupt is returned (wrapped) for a header that does not decode.
var ErrCorrupt = errors.New("journal: corrupt")

// Header identifies the database and the writer epoch a journal file
// belongs to.
type Header struct {
	DBID  [16]byte
	Epoch uint64
}

func (h Header) String() string { return fmt.Sprintf("db %x epoch %d", h.DBID, h.Epoch) }

// AppendHeader appends the header of a file written in the clear to dst.
func AppendHeader(dst []byte, h Header) []byte {
	start := len(dst)
	dst = appendHeaderFields(dst, FormatVersion, h)
	return binary.LittleEndian.AppendUint32(dst, crc32c.Checksum(dst[start:]))
}

func appendHeaderFields(dst []byte, version byte, h Header) []byte {
	dst = append(dst, magic...)
	dst = append(dst, version)
	dst = append(dst, h.DBID[:]...)
	return binary.LittleEndian.AppendUint64(dst, h.Epoch)
}

// DecodeHeader parses the header at the start of data, of either format.
// It checks the header's checksum; the tag of a sealed header is checked
// when the file is read with its Cipher.
func DecodeHeader(data []byte) (Header, error) {
	fh, err := decodeFileHeader(data)
	return fh.Header, err
}

// fileHeader is a decoded file header.
type fileHeader struct {
	Header
	sealed bool
	// raw is the header as stored (its length is the header's size).
	raw []byte
}

// tag is a sealed header's tag.
func (fh fileHeader) tag() []byte { return fh.raw[sealedHeaderAD : sealedHeaderAD+tagSize] }

func decodeFileHeader(data []byte) (fileHeader, error) {
	var fh fileHeader
	if len(data) < 5 {
		return fh, fmt.Errorf("%w: %d bytes is shorter than the header", ErrCorrupt, len(data))
	}
	if string(data[:4]) != magic {
		return fh, fmt.Errorf("%w: not a journal file (bad magic)", ErrCorrupt)
	}
	size := 0
	switch data[4] {
	case FormatVersion:
		size = HeaderSize
	case SealedFormatVersion:
		size, fh.sealed = SealedHeaderSize, true
	default:
		return fh, fmt.Errorf("%w: unknown format version %d", ErrCorrupt, data[4])
	}
	if len(data) < size {
		return fh, fmt.Errorf("%w: %d bytes is shorter than the header", ErrCorrupt, len(data))
	}
	if binary.LittleEndian.Uint32(data[size-4:]) != crc32c.Checksum(data[:size-4]) {
		return fh, fmt.Errorf("%w: header checksum mismatch", ErrCorrupt)
	}
	copy(fh.DBID[:], data[5:21])
	fh.Epoch = binary.LittleEndian.Uint64(data[21:])
	fh.raw = data[:size]
	return fh, nil
}

// fileName is the name of journal file number n.
func fileName(n uint64) string { return fmt.Sprintf("%020d%s", n, fileSuffix) }

// parseFileName returns the number of a journal file name.
func parseFileName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, fileSuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}
