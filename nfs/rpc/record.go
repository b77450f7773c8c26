package rpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
)

// ErrRecordTooLarge is returned by ReadRecord for a record above its maximum.
var ErrRecordTooLarge = errors.New("rpc: record too large")

const lastFragment = 1 << 31

// readStep is how far ahead of the bytes received ReadRecord grows its
// buffer.
const readStep = 64 << 10

// ReadRecord reads one record marked record from r, appending its bytes to
// buf[:0], and returns the result. Records longer than max bytes fail with
// ErrRecordTooLarge (the stream cannot be resynchronised afterwards). An
// io.EOF before the first byte of a record is returned as io.EOF; an end of
// input inside a record as io.ErrUnexpectedEOF.
func ReadRecord(r io.Reader, buf []byte, max int) ([]byte, error) {
	buf = buf[:0]
	var hdr [4]byte
	first := true
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if err == io.EOF && !first {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
		first = false
		h := binary.BigEndian.Uint32(hdr[:])
		n := int(h &^ lastFragment)
		if len(buf)+n > max {
			return buf, fmt.Errorf("%w: more than %d bytes", ErrRecordTooLarge, max)
		}
		// The buffer grows as the bytes arrive, a step at a time: a mark
		// alone must not make a connection hold the record's declared
		// size. Growth is amortized, so many small fragments, or steps,
		// cost linear time.
		for left := n; left > 0; {
			step := min(left, readStep)
			start := len(buf)
			buf = slices.Grow(buf, step)[:start+step]
			if _, err := io.ReadFull(r, buf[start:]); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return buf[:start], err
			}
			left -= step
		}
		if h&lastFragment != 0 {
			return buf, nil
		}
	}
}

// RecordMarkSize is the size of the record mark that BeginRecord reserves.
const RecordMarkSize = 4

// BeginRecord appends a placeholder record mark to buf; after the message
// is appended, EndRecord fills it in.
func BeginRecord(buf []byte) []byte { return append(buf, 0, 0, 0, 0) }

// EndRecord sets the record mark at the start of buf (reserved by
// BeginRecord) to describe the rest of buf as one last fragment.
func EndRecord(buf []byte) {
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-RecordMarkSize)|lastFragment)
}

// PeerAddr returns the address and port of a connection's client, an
// IPv4-mapped address unmapped and without an IPv6 zone (a zone never
// matches an address prefix), or the invalid address for a connection
// that is not over IP.
func PeerAddr(nc net.Conn) (netip.Addr, uint16) {
	ap, err := netip.ParseAddrPort(nc.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}, 0
	}
	return ap.Addr().Unmap().WithZone(""), ap.Port()
}
