package kvfs

import (
	"bytes"
	"testing"
)

func FuzzDecodeInode(f *testing.F) {
	f.Add(encodeInode(&inode{typ: TypeRegular, mode: 0o644, nlink: 1, size: 12345, used: 100, atime: -5, mtime: 7, ctime: 1 << 62}))
	f.Add(encodeInode(&inode{typ: TypeDir, mode: 0o2755, nlink: 3, parent: 1, nextCookie: 99}))
	f.Add(encodeInode(&inode{typ: TypeSymlink, mode: 0o777, target: "../some/where", flags: inodeHasVerifier, verifier: [8]byte{1, 2, 3}}))
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := decodeInode(b)
		if err != nil {
			return
		}
		if again := encodeInode(n); !bytes.Equal(again, b) {
			t.Fatalf("decode/encode is not the identity:\n in %x\nout %x", b, again)
		}
	})
}

func FuzzDecodeDirent(f *testing.F) {
	f.Add(encodeDirent(dirent{ino: 42, typ: TypeDir, cookie: 7}))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeDirent(b)
		if err != nil {
			return
		}
		if again := encodeDirent(e); !bytes.Equal(again, b) {
			t.Fatalf("decode/encode is not the identity: %x vs %x", b, again)
		}
	})
}

func FuzzDecodeCookie(f *testing.F) {
	f.Add(encodeCookie(dirent{ino: 42, typ: TypeRegular}, "name"))
	f.Add([]byte{1, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, ino, name, err := decodeCookie(b)
		if err != nil {
			return
		}
		if again := encodeCookie(dirent{ino: ino, typ: typ}, name); !bytes.Equal(again, b) {
			t.Fatalf("decode/encode is not the identity: %x vs %x", b, again)
		}
	})
}

func FuzzDecodeMeta(f *testing.F) {
	f.Add(encodeFormat(formatRecord{formatVersion: 1, fsid: 99}))
	f.Add(encodeFormat(formatRecord{formatVersion: 2, fsid: 99, chunkSize: 4096}))
	f.Add(encodeU64(1234))
	f.Add(encodeCounter(-5, 7))
	f.Add(encodeReclaim(reclaimUnlinked))
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, err := decodeFormat(b); err == nil && !bytes.Equal(encodeFormat(r), b) {
			t.Fatal("format record does not round-trip")
		}
		if v, err := decodeU64(b); err == nil && !bytes.Equal(encodeU64(v), b) {
			t.Fatal("u64 record does not round-trip")
		}
		if x, y, err := decodeCounter(b); err == nil && !bytes.Equal(encodeCounter(x, y), b) {
			t.Fatal("counter record does not round-trip")
		}
		if k, err := decodeReclaim(b); err == nil && !bytes.Equal(encodeReclaim(k), b) {
			t.Fatal("reclaim record does not round-trip")
		}
	})
}

func TestRecordsRejectCorruption(t *testing.T) {
	good := encodeInode(&inode{typ: TypeRegular, mode: 0o644, nlink: 1, target: ""})
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x40
		if _, err := decodeInode(bad); err == nil {
			t.Fatalf("flipping a bit of byte %d went unnoticed", i)
		}
	}
	if _, err := decodeInode(good[:len(good)-1]); err == nil {
		t.Fatal("truncated record accepted")
	}
}
