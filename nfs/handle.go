package nfs

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// HandleVersion is the format version byte of file handles.
const HandleVersion = 1

// HandleSize is the encoded size of a handle.
const HandleSize = 1 + 8 + 8 + 4

// MaxHandleSize is NFS3_FHSIZE, the largest handle NFSv3 allows.
const MaxHandleSize = 64

// ErrBadHandle is returned by ParseHandle for bytes that are not a handle
// of this server (NFS3ERR_BADHANDLE).
var ErrBadHandle = errors.New("nfs: malformed file handle")

// Handle identifies an inode of an export. See the package comment for its
// wire format.
type Handle struct {
	FSID uint64
	Ino  uint64
	Gen  uint32
}

// Append appends the encoded handle to b.
func (h Handle) Append(b []byte) []byte {
	b = append(b, HandleVersion)
	b = binary.BigEndian.AppendUint64(b, h.FSID)
	b = binary.BigEndian.AppendUint64(b, h.Ino)
	return binary.BigEndian.AppendUint32(b, h.Gen)
}

// Bytes returns the encoded handle.
func (h Handle) Bytes() []byte { return h.Append(make([]byte, 0, HandleSize)) }

// ParseHandle decodes a handle; wrong length or version is ErrBadHandle.
func ParseHandle(b []byte) (Handle, error) {
	if len(b) != HandleSize {
		return Handle{}, fmt.Errorf("%w: %d bytes, want %d", ErrBadHandle, len(b), HandleSize)
	}
	if b[0] != HandleVersion {
		return Handle{}, fmt.Errorf("%w: version %d, want %d", ErrBadHandle, b[0], HandleVersion)
	}
	return Handle{
		FSID: binary.BigEndian.Uint64(b[1:9]),
		Ino:  binary.BigEndian.Uint64(b[9:17]),
		Gen:  binary.BigEndian.Uint32(b[17:21]),
	}, nil
}
