package kvfs

import "encoding/binary"

// Key prefixes. The values are stored on disk; never renumber them.
const (
	prefixMeta    byte = 0x00
	prefixInode   byte = 0x01
	prefixEntry   byte = 0x02
	prefixCookie  byte = 0x03
	prefixChunk   byte = 0x04
	prefixReclaim byte = 0x05
)

// Meta keys (after prefixMeta).
const (
	metaFormat  = "format"
	metaNextIno = "nextino"
	metaCounter = "counter" // followed by one shard byte
)

func metaKey(name string) []byte {
	k := make([]byte, 1+len(name))
	k[0] = prefixMeta
	copy(k[1:], name)
	return k
}

func counterKey(shard int) []byte {
	k := make([]byte, 1+len(metaCounter)+1)
	k[0] = prefixMeta
	copy(k[1:], metaCounter)
	k[len(k)-1] = byte(shard)
	return k
}

func inodeKey(ino uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixInode
	binary.BigEndian.PutUint64(k[1:], ino)
	return k
}

func entryKey(dir uint64, name string) []byte {
	k := make([]byte, 9+len(name))
	k[0] = prefixEntry
	binary.BigEndian.PutUint64(k[1:], dir)
	copy(k[9:], name)
	return k
}

func cookieKey(dir, cookie uint64) []byte {
	k := make([]byte, 17)
	k[0] = prefixCookie
	binary.BigEndian.PutUint64(k[1:], dir)
	binary.BigEndian.PutUint64(k[9:], cookie)
	return k
}

func chunkKey(ino, chunk uint64) []byte {
	k := make([]byte, 17)
	k[0] = prefixChunk
	binary.BigEndian.PutUint64(k[1:], ino)
	binary.BigEndian.PutUint64(k[9:], chunk)
	return k
}

func reclaimKey(ino uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixReclaim
	binary.BigEndian.PutUint64(k[1:], ino)
	return k
}

// prefixEnd returns the smallest key greater than every key starting with p.
func prefixEnd(p []byte) []byte {
	e := append([]byte(nil), p...)
	for i := len(e) - 1; i >= 0; i-- {
		if e[i] != 0xff {
			e[i]++
			return e[:i+1]
		}
	}
	return nil
}

// inoPrefix returns the key prefix (p, ino).
func inoPrefix(p byte, ino uint64) []byte {
	k := make([]byte, 9)
	k[0] = p
	binary.BigEndian.PutUint64(k[1:], ino)
	return k
}
