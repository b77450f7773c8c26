package kvfs

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/zerofs-go/zerofsd/internal/crc32c"
)

// ErrCorrupt is returned when a stored record fails to decode (bad length,
// unknown version or checksum mismatch).
var ErrCorrupt = errors.New("kvfs: corrupt record")

const recordVersion = 1

// sealRecord appends the CRC32C of b to b.
func sealRecord(b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, crc32c.Checksum(b))
}

// openRecord checks version and checksum and returns the body between them.
func openRecord(kind string, b []byte, minBody int) ([]byte, error) {
	if len(b) < 1+minBody+4 {
		return nil, fmt.Errorf("%w: %s record of %d bytes is too short", ErrCorrupt, kind, len(b))
	}
	if b[0] != recordVersion {
		return nil, fmt.Errorf("%w: %s record version %d unknown", ErrCorrupt, kind, b[0])
	}
	n := len(b) - 4
	if crc32c.Checksum(b[:n]) != binary.BigEndian.Uint32(b[n:]) {
		return nil, fmt.Errorf("%w: %s record checksum mismatch", ErrCorrupt, kind)
	}
	return b[1:n], nil
}

// Inode flags.
const (
	inodeHasVerifier uint8 = 1 << 0
)

// inode is the stored form of an inode. Values in the cache are never
// modified: writers copy, change and replace.
type inode struct {
	typ        FileType
	flags      uint8
	mode       uint32
	nlink      uint32
	uid, gid   uint32
	gen        uint32
	size       uint64
	used       uint64
	major      uint32
	minor      uint32
	atime      int64 // ns since the Unix epoch
	mtime      int64
	ctime      int64
	parent     uint64 // directories: the parent directory
	nextCookie uint64 // directories: the next READDIR cookie to hand out
	truncFrom  uint64 // regular files: chunks in [truncFrom, truncTo) await background reclaim
	truncTo    uint64
	verifier   [8]byte // exclusive create verifier, when flags has inodeHasVerifier
	target     string  // symlinks
}

// retireVerifier forgets the verifier of the exclusive create that made n:
// the file is no longer as the create left it, so a retransmitted CREATE
// with the same verifier is EEXIST (as with Linux's server, which keeps the
// verifier in the times).
func (n *inode) retireVerifier() {
	n.flags &^= inodeHasVerifier
	n.verifier = [8]byte{}
}

const inodeFixedLen = 1 + 1 + 4*5 + 8*2 + 4*2 + 8*3 + 8*4 + 8 + 2

// encodeInode returns the record:
//
//	version(1)=1 | type(1) | flags(1) | mode(4) | nlink(4) | uid(4) | gid(4) | gen(4) |
//	size(8) | used(8) | major(4) | minor(4) | atime(8) | mtime(8) | ctime(8) |
//	parent(8) | nextCookie(8) | truncFrom(8) | truncTo(8) | verifier(8) |
//	targetLen(2) | target | crc32c(4)
//
// integers big-endian, times as signed nanoseconds since the Unix epoch.
func encodeInode(n *inode) []byte {
	b := make([]byte, 0, 1+inodeFixedLen+len(n.target)+4)
	b = append(b, recordVersion, byte(n.typ), n.flags)
	for _, v := range []uint32{n.mode, n.nlink, n.uid, n.gid, n.gen} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	b = binary.BigEndian.AppendUint64(b, n.size)
	b = binary.BigEndian.AppendUint64(b, n.used)
	b = binary.BigEndian.AppendUint32(b, n.major)
	b = binary.BigEndian.AppendUint32(b, n.minor)
	for _, v := range []int64{n.atime, n.mtime, n.ctime} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	for _, v := range []uint64{n.parent, n.nextCookie, n.truncFrom, n.truncTo} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	b = append(b, n.verifier[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(n.target)))
	b = append(b, n.target...)
	return sealRecord(b)
}

func decodeInode(b []byte) (*inode, error) {
	body, err := openRecord("inode", b, inodeFixedLen)
	if err != nil {
		return nil, err
	}
	n := &inode{typ: FileType(body[0]), flags: body[1]}
	p := body[2:]
	u32 := func() uint32 { v := binary.BigEndian.Uint32(p); p = p[4:]; return v }
	u64 := func() uint64 { v := binary.BigEndian.Uint64(p); p = p[8:]; return v }
	n.mode, n.nlink, n.uid, n.gid, n.gen = u32(), u32(), u32(), u32(), u32()
	n.size, n.used = u64(), u64()
	n.major, n.minor = u32(), u32()
	n.atime, n.mtime, n.ctime = int64(u64()), int64(u64()), int64(u64())
	n.parent, n.nextCookie, n.truncFrom, n.truncTo = u64(), u64(), u64(), u64()
	copy(n.verifier[:], p[:8])
	p = p[8:]
	tl := int(binary.BigEndian.Uint16(p))
	p = p[2:]
	if len(p) != tl {
		return nil, fmt.Errorf("%w: inode symlink target of %d bytes, %d present", ErrCorrupt, tl, len(p))
	}
	n.target = string(p)
	if n.typ < TypeRegular || n.typ > TypeFIFO {
		return nil, fmt.Errorf("%w: inode type %d unknown", ErrCorrupt, n.typ)
	}
	return n, nil
}

// dirent is a directory entry: the value under entryKey(dir, name).
type dirent struct {
	ino    uint64
	typ    FileType
	cookie uint64
}

// encodeDirent returns: version(1)=1 | type(1) | ino(8) | cookie(8) | crc32c(4).
func encodeDirent(e dirent) []byte {
	b := make([]byte, 0, 22)
	b = append(b, recordVersion, byte(e.typ))
	b = binary.BigEndian.AppendUint64(b, e.ino)
	b = binary.BigEndian.AppendUint64(b, e.cookie)
	return sealRecord(b)
}

func decodeDirent(b []byte) (dirent, error) {
	body, err := openRecord("dirent", b, 17)
	if err != nil {
		return dirent{}, err
	}
	if len(body) != 17 {
		return dirent{}, fmt.Errorf("%w: dirent body of %d bytes", ErrCorrupt, len(body))
	}
	return dirent{typ: FileType(body[0]), ino: binary.BigEndian.Uint64(body[1:]), cookie: binary.BigEndian.Uint64(body[9:])}, nil
}

// encodeCookie returns the READDIR index record under cookieKey(dir, cookie):
// version(1)=1 | type(1) | ino(8) | name | crc32c(4).
func encodeCookie(e dirent, name string) []byte {
	b := make([]byte, 0, 14+len(name))
	b = append(b, recordVersion, byte(e.typ))
	b = binary.BigEndian.AppendUint64(b, e.ino)
	b = append(b, name...)
	return sealRecord(b)
}

func decodeCookie(b []byte) (typ FileType, ino uint64, name string, err error) {
	body, err := openRecord("cookie", b, 9)
	if err != nil {
		return 0, 0, "", err
	}
	name = string(body[9:])
	if len(name) == 0 || len(name) > MaxNameLen {
		return 0, 0, "", fmt.Errorf("%w: cookie entry name of %d bytes", ErrCorrupt, len(name))
	}
	return FileType(body[0]), binary.BigEndian.Uint64(body[1:]), name, nil
}

// Reclaim record kinds (the value under reclaimKey).
const (
	reclaimUnlinked  byte = 1 // the inode is gone: drop every chunk
	reclaimTruncated byte = 2 // drop the chunks in the inode's [truncFrom, truncTo)
)

func encodeReclaim(kind byte) []byte { return sealRecord([]byte{recordVersion, kind}) }

func decodeReclaim(b []byte) (byte, error) {
	body, err := openRecord("reclaim", b, 1)
	if err != nil {
		return 0, err
	}
	if len(body) != 1 || (body[0] != reclaimUnlinked && body[0] != reclaimTruncated) {
		return 0, fmt.Errorf("%w: reclaim record kind", ErrCorrupt)
	}
	return body[0], nil
}

// formatRecord is the value under the meta "format" key.
type formatRecord struct {
	formatVersion uint32
	fsid          uint64
	// chunkSize is the filesystem's chunk size (formatV1ChunkSize for
	// format version 1, which does not store it).
	chunkSize uint32
}

// Filesystem format versions. Version 1 has 64 KiB chunks; version 2 names
// its chunk size in the format record. Both open.
const (
	formatV1      = 1
	formatV2      = 2
	currentFormat = formatV2
)

// encodeFormat returns, for format version 1:
//
//	version(1)=1 | formatVersion(4)=1 | fsid(8) | crc32c(4)
//
// and for format version 2:
//
//	version(1)=1 | formatVersion(4)=2 | fsid(8) | chunkSize(4) | crc32c(4)
func encodeFormat(f formatRecord) []byte {
	b := []byte{recordVersion}
	b = binary.BigEndian.AppendUint32(b, f.formatVersion)
	b = binary.BigEndian.AppendUint64(b, f.fsid)
	if f.formatVersion >= formatV2 {
		b = binary.BigEndian.AppendUint32(b, f.chunkSize)
	}
	return sealRecord(b)
}

func decodeFormat(b []byte) (formatRecord, error) {
	body, err := openRecord("format", b, 12)
	if err != nil {
		return formatRecord{}, err
	}
	f := formatRecord{formatVersion: binary.BigEndian.Uint32(body), fsid: binary.BigEndian.Uint64(body[4:])}
	switch {
	case f.formatVersion == formatV1 && len(body) == 12:
		f.chunkSize = formatV1ChunkSize
	case f.formatVersion == formatV2 && len(body) == 16:
		f.chunkSize = binary.BigEndian.Uint32(body[12:])
		if !validChunkSize(uint64(f.chunkSize)) {
			return formatRecord{}, fmt.Errorf("%w: format record names chunk size %d", ErrCorrupt, f.chunkSize)
		}
	case f.formatVersion > currentFormat:
		return formatRecord{}, fmt.Errorf("kvfs: format version %d is newer than this program knows (%d)", f.formatVersion, currentFormat)
	default:
		return formatRecord{}, fmt.Errorf("%w: format record of version %d has a body of %d bytes", ErrCorrupt, f.formatVersion, len(body))
	}
	return f, nil
}

// validChunkSize reports whether n is a power of two in [MinChunkSize, MaxChunkSize].
func validChunkSize(n uint64) bool {
	return n >= MinChunkSize && n <= MaxChunkSize && n&(n-1) == 0
}

// encodeU64 / decodeU64: version(1)=1 | value(8) | crc32c(4); next inode id.
func encodeU64(v uint64) []byte {
	return sealRecord(binary.BigEndian.AppendUint64([]byte{recordVersion}, v))
}

func decodeU64(b []byte) (uint64, error) {
	body, err := openRecord("counter", b, 8)
	if err != nil {
		return 0, err
	}
	if len(body) != 8 {
		return 0, fmt.Errorf("%w: id record body of %d bytes", ErrCorrupt, len(body))
	}
	return binary.BigEndian.Uint64(body), nil
}

// encodeCounter: version(1)=1 | bytes(8, signed) | inodes(8, signed) | crc32c(4).
func encodeCounter(bytes, inodes int64) []byte {
	b := binary.BigEndian.AppendUint64([]byte{recordVersion}, uint64(bytes))
	b = binary.BigEndian.AppendUint64(b, uint64(inodes))
	return sealRecord(b)
}

func decodeCounter(b []byte) (bytes, inodes int64, err error) {
	body, err := openRecord("counter", b, 16)
	if err != nil {
		return 0, 0, err
	}
	if len(body) != 16 {
		return 0, 0, fmt.Errorf("%w: counter record body of %d bytes", ErrCorrupt, len(body))
	}
	return int64(binary.BigEndian.Uint64(body)), int64(binary.BigEndian.Uint64(body[8:])), nil
}
