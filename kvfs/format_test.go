package kvfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// formatV1Record is a format record as format version 1 wrote it: no chunk
// size, which is then 64 KiB. Built by hand, so a change of encodeFormat
// cannot change what it checks.
func formatV1Record(fsid uint64) []byte {
	b := []byte{1, 0, 0, 0, 1}
	b = binary.BigEndian.AppendUint64(b, fsid)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// TestFormatV1StillOpens opens a filesystem whose format record is of
// version 1 (64 KiB chunks) with options asking for another chunk size:
// it keeps 64 KiB chunks, reads what was written and takes new writes.
func TestFormatV1StillOpens(t *testing.T) {
	ctx := context.Background()
	kv := NewMemKV()
	fs, err := Open(ctx, kv, Options{ChunkSize: formatV1ChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	f, err := fs.Create(ctx, Cred{}, RootIno, "f", CreateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789abcdef"), 10000) // 160000 bytes: 2 chunks and a part
	if _, err := fs.Write(ctx, Cred{}, f.Attr.Ino, 0, data); err != nil {
		t.Fatal(err)
	}
	fsid := fs.FSID()
	fs.Close(ctx)
	if err := kv.Write(ctx, []KVOp{{Key: metaKey(metaFormat), Value: formatV1Record(fsid)}}, true); err != nil {
		t.Fatal(err)
	}

	fs, err = Open(ctx, kv, Options{ChunkSize: MinChunkSize})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close(ctx)
	if fs.ChunkSize() != 64<<10 || fs.FSID() != fsid {
		t.Fatalf("reopened with chunk size %d, fsid %x; want 65536, %x", fs.ChunkSize(), fs.FSID(), fsid)
	}
	if _, err := fs.Write(ctx, Cred{}, f.Attr.Ino, 70000, []byte("patched")); err != nil {
		t.Fatal(err)
	}
	copy(data[70000:], "patched")
	buf := make([]byte, len(data)+10)
	n, _, err := fs.Read(ctx, Cred{}, f.Attr.Ino, 0, buf)
	if err != nil || !bytes.Equal(buf[:n], data) {
		t.Fatalf("read %d bytes (%v), not what was written", n, err)
	}
	if n := kv.Len(inoPrefix(prefixChunk, f.Attr.Ino), prefixEnd(inoPrefix(prefixChunk, f.Attr.Ino))); n != 3 {
		t.Fatalf("%d chunks, want 3 of 64 KiB", n)
	}
	rep, err := fs.Fsck(ctx)
	if err != nil || !rep.OK() {
		t.Fatalf("fsck: %v %v", err, rep.Problems)
	}
}

func TestFormatRecord(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  []byte
		want formatRecord
		bad  bool
	}{
		{name: "v1", raw: formatV1Record(7), want: formatRecord{formatVersion: 1, fsid: 7, chunkSize: 64 << 10}},
		{name: "v2 4 KiB", raw: encodeFormat(formatRecord{formatVersion: 2, fsid: 9, chunkSize: 4096}),
			want: formatRecord{formatVersion: 2, fsid: 9, chunkSize: 4096}},
		{name: "v2 bad chunk size", raw: encodeFormat(formatRecord{formatVersion: 2, fsid: 9, chunkSize: 5000}), bad: true},
		{name: "v2 without chunk size", raw: sealRecord(append([]byte{1, 0, 0, 0, 2}, formatV1Record(9)[5:13]...)), bad: true},
		{name: "v1 with chunk size", raw: sealRecord(binary.BigEndian.AppendUint32(formatV1Record(9)[:13], 4096)), bad: true},
		{name: "v3", raw: encodeFormat(formatRecord{formatVersion: 3, fsid: 9, chunkSize: 4096}), bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeFormat(tc.raw)
			if tc.bad {
				if err == nil {
					t.Fatalf("decoded %+v, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("decoded %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
