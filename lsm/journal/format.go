package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/zerofs-go/zerofsd/internal/crc32c"
)

// FormatVersion is the file format written by this package.
const FormatVersion byte = 1

// HeaderSize is the size of a journal file's header.
const HeaderSize = 4 + 1 + 16 + 8 + 4

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

// AppendHeader appends a file header to dst.
func AppendHeader(dst []byte, h Header) []byte {
	start := len(dst)
	dst = append(dst, magic...)
	dst = append(dst, FormatVersion)
	dst = append(dst, h.DBID[:]...)
	dst = binary.LittleEndian.AppendUint64(dst, h.Epoch)
	return binary.LittleEndian.AppendUint32(dst, crc32c.Checksum(dst[start:]))
}

// DecodeHeader parses the header at the start of data.
func DecodeHeader(data []byte) (Header, error) {
	var h Header
	if len(data) < HeaderSize {
		return h, fmt.Errorf("%w: %d bytes is shorter than the header", ErrCorrupt, len(data))
	}
	if string(data[:4]) != magic {
		return h, fmt.Errorf("%w: not a journal file (bad magic)", ErrCorrupt)
	}
	if binary.LittleEndian.Uint32(data[HeaderSize-4:]) != crc32c.Checksum(data[:HeaderSize-4]) {
		return h, fmt.Errorf("%w: header checksum mismatch", ErrCorrupt)
	}
	if data[4] != FormatVersion {
		return h, fmt.Errorf("%w: unknown format version %d", ErrCorrupt, data[4])
	}
	copy(h.DBID[:], data[5:21])
	h.Epoch = binary.LittleEndian.Uint64(data[21:])
	return h, nil
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
