package cache

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/zerofs-go/zerofsd/internal/crc32c"
)

// Page file format, version 1 (drawn in doc.go). All integers big-endian.
const (
	pageMagic      = "ZCPG"
	pageVersion    = 1
	chunkShift     = 12
	chunkSize      = 1 << chunkShift // payload bytes covered by one chunk checksum
	fixedHeaderLen = 26              // magic..payloadLen, before the names
	maxNameLen     = 1<<16 - 1       // namespace and key lengths are uint16
	maxPageSize    = 16 << 20
)

// errCorruptPage reports a page file that must not be served: bad magic,
// version, checksum, length, or a cache key that is not the one asked for.
var errCorruptPage = errors.New("corrupt cache page")

// pageHeader is the decoded header of one page file.
type pageHeader struct {
	namespace  string
	key        string
	pageSize   uint32
	page       uint64
	payloadLen uint32
	chunkCRCs  []uint32 // one per chunkSize bytes of payload, the last may cover less
}

// numChunks is the number of chunk checksums covering payloadLen bytes.
func numChunks(payloadLen int) int { return (payloadLen + chunkSize - 1) / chunkSize }

// pageHeaderLen is the encoded length of a header for these name and payload lengths.
func pageHeaderLen(nsLen, keyLen, payloadLen int) int {
	return fixedHeaderLen + nsLen + keyLen + 4*numChunks(payloadLen) + 4
}

// appendPageHeader encodes the header of the page file holding payload.
func appendPageHeader(dst []byte, id pageID, pageSize int64, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, pageMagic...)
	dst = append(dst, pageVersion, chunkShift)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(id.namespace)))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(id.key)))
	dst = binary.BigEndian.AppendUint32(dst, uint32(pageSize))
	dst = binary.BigEndian.AppendUint64(dst, uint64(id.page))
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)))
	dst = append(dst, id.namespace...)
	dst = append(dst, id.key...)
	for off := 0; off < len(payload); off += chunkSize {
		dst = binary.BigEndian.AppendUint32(dst, crc32c.Checksum(payload[off:min(off+chunkSize, len(payload))]))
	}
	return binary.BigEndian.AppendUint32(dst, crc32c.Checksum(dst[start:]))
}

// headerLenFromPrefix returns the full header length announced by the first
// fixedHeaderLen bytes of a page file, so a reader knows how much to read.
func headerLenFromPrefix(b []byte) (int, error) {
	if len(b) < fixedHeaderLen {
		return 0, fmt.Errorf("%w: header truncated at %d bytes", errCorruptPage, len(b))
	}
	if string(b[:4]) != pageMagic {
		return 0, fmt.Errorf("%w: bad magic %q", errCorruptPage, b[:4])
	}
	if b[4] != pageVersion {
		return 0, fmt.Errorf("%w: unknown version %d", errCorruptPage, b[4])
	}
	if b[5] != chunkShift {
		return 0, fmt.Errorf("%w: unsupported chunk shift %d", errCorruptPage, b[5])
	}
	nsLen := int(binary.BigEndian.Uint16(b[6:]))
	keyLen := int(binary.BigEndian.Uint16(b[8:]))
	pageSize := binary.BigEndian.Uint32(b[10:])
	payloadLen := binary.BigEndian.Uint32(b[22:])
	if pageSize == 0 || pageSize > maxPageSize || pageSize%chunkSize != 0 {
		return 0, fmt.Errorf("%w: invalid page size %d", errCorruptPage, pageSize)
	}
	if payloadLen > pageSize {
		return 0, fmt.Errorf("%w: payload length %d exceeds page size %d", errCorruptPage, payloadLen, pageSize)
	}
	return pageHeaderLen(nsLen, keyLen, int(payloadLen)), nil
}

// decodePageHeader decodes and verifies the header at the start of b (b may
// hold more: the payload). It returns the header and its encoded length.
// The payload itself is verified chunk by chunk with verifyChunks.
func decodePageHeader(b []byte) (pageHeader, int, error) {
	n, err := headerLenFromPrefix(b)
	if err != nil {
		return pageHeader{}, 0, err
	}
	if len(b) < n {
		return pageHeader{}, 0, fmt.Errorf("%w: header truncated: %d of %d bytes", errCorruptPage, len(b), n)
	}
	want := binary.BigEndian.Uint32(b[n-4:])
	if got := crc32c.Checksum(b[:n-4]); got != want {
		return pageHeader{}, 0, fmt.Errorf("%w: header checksum %08x, want %08x", errCorruptPage, got, want)
	}
	nsLen := int(binary.BigEndian.Uint16(b[6:]))
	keyLen := int(binary.BigEndian.Uint16(b[8:]))
	h := pageHeader{
		pageSize:   binary.BigEndian.Uint32(b[10:]),
		page:       binary.BigEndian.Uint64(b[14:]),
		payloadLen: binary.BigEndian.Uint32(b[22:]),
	}
	p := fixedHeaderLen
	h.namespace = string(b[p : p+nsLen])
	p += nsLen
	h.key = string(b[p : p+keyLen])
	p += keyLen
	h.chunkCRCs = make([]uint32, numChunks(int(h.payloadLen)))
	for i := range h.chunkCRCs {
		h.chunkCRCs[i] = binary.BigEndian.Uint32(b[p:])
		p += 4
	}
	return h, n, nil
}

// verifyChunks checks data, which must be the payload bytes starting at chunk
// firstChunk and ending at a chunk boundary or at the end of the payload.
func (h *pageHeader) verifyChunks(firstChunk int, data []byte) error {
	for i, off := firstChunk, 0; off < len(data); i, off = i+1, off+chunkSize {
		if i >= len(h.chunkCRCs) {
			return fmt.Errorf("%w: chunk %d past the payload", errCorruptPage, i)
		}
		end := min(off+chunkSize, len(data))
		if end-off != min(chunkSize, int(h.payloadLen)-i*chunkSize) {
			return fmt.Errorf("%w: chunk %d truncated", errCorruptPage, i)
		}
		if got := crc32c.Checksum(data[off:end]); got != h.chunkCRCs[i] {
			return fmt.Errorf("%w: chunk %d checksum %08x, want %08x", errCorruptPage, i, got, h.chunkCRCs[i])
		}
	}
	return nil
}

// decodePage decodes and fully verifies a whole page file and returns its
// header and payload (a sub-slice of b).
func decodePage(b []byte) (pageHeader, []byte, error) {
	h, n, err := decodePageHeader(b)
	if err != nil {
		return pageHeader{}, nil, err
	}
	payload := b[n:]
	if len(payload) != int(h.payloadLen) {
		return pageHeader{}, nil, fmt.Errorf("%w: payload is %d bytes, header says %d", errCorruptPage, len(payload), h.payloadLen)
	}
	if err := h.verifyChunks(0, payload); err != nil {
		return pageHeader{}, nil, err
	}
	return h, payload, nil
}
