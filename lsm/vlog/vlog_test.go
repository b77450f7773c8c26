package vlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/zerofs-go/zerofsd/lsm/compress"
)

func valueID(b byte) [16]byte {
	var id [16]byte
	for i := range id {
		id[i] = b + byte(i)
	}
	return id
}

func TestPointerRoundTrip(t *testing.T) {
	for _, p := range []Pointer{
		{Obj: WAL(1), Off: 21, Len: 4096, CRC: 0xdeadbeef},
		{Obj: WAL(1 << 40), Off: 1 << 33, Len: 1, CRC: 1},
		{Obj: Value(valueID(7)), Off: HeaderSize, Len: 65536, CRC: 0},
		{Obj: WAL(7), Off: 30, Len: 1000, CRC: 5, Compressed: true, Size: 4096},
		{Obj: Value(valueID(8)), Off: HeaderSize, Len: 1, CRC: 2, Compressed: true, Size: 0},
	} {
		b := AppendPointer(nil, p)
		if len(b) > MaxPointerSize {
			t.Fatalf("%+v encodes to %d bytes, more than MaxPointerSize", p, len(b))
		}
		got, err := DecodePointer(b)
		if err != nil || got != p {
			t.Fatalf("DecodePointer(%x) = %+v, %v; want %+v", b, got, err, p)
		}
		for i := 0; i < len(b); i++ {
			if _, err := DecodePointer(b[:i]); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("truncated to %d bytes: %v, want ErrCorrupt", i, err)
			}
		}
		if _, err := DecodePointer(append(b, 0)); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("with a trailing byte: %v, want ErrCorrupt", err)
		}
	}
	if _, err := DecodePointer([]byte{9, 1, 1, 1, 0, 0, 0, 0}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unknown tag: %v, want ErrCorrupt", err)
	}
}

// TestPointerFormat pins the encoding: a pointer to a plain value is
// what the first format wrote (tags 1 and 2), so old SSTs keep reading;
// tags 3 and 4 add the decoded size.
func TestPointerFormat(t *testing.T) {
	id := valueID(0)
	for _, tc := range []struct {
		enc []byte
		p   Pointer
	}{
		{[]byte{1, 42, 21, 0x80, 0x20, 0xef, 0xbe, 0xad, 0xde}, Pointer{Obj: WAL(42), Off: 21, Len: 4096, CRC: 0xdeadbeef}},
		{append(append([]byte{2}, id[:]...), 25, 7, 1, 0, 0, 0), Pointer{Obj: Value(id), Off: 25, Len: 7, CRC: 1}},
		{[]byte{3, 42, 21, 100, 0x80, 0x20, 2, 0, 0, 0}, Pointer{Obj: WAL(42), Off: 21, Len: 100, CRC: 2, Compressed: true, Size: 4096}},
		{append(append([]byte{4}, id[:]...), 25, 7, 9, 3, 0, 0, 0), Pointer{Obj: Value(id), Off: 25, Len: 7, CRC: 3, Compressed: true, Size: 9}},
	} {
		got, err := DecodePointer(tc.enc)
		if err != nil || got != tc.p {
			t.Fatalf("DecodePointer(%x) = %+v, %v; want %+v", tc.enc, got, err, tc.p)
		}
		if enc := AppendPointer(nil, tc.p); !bytes.Equal(enc, tc.enc) {
			t.Fatalf("AppendPointer(%+v) = %x, want %x", tc.p, enc, tc.enc)
		}
		if got.ValueLen() != map[bool]uint64{false: tc.p.Len, true: tc.p.Size}[tc.p.Compressed] {
			t.Fatalf("%+v: ValueLen %d", got, got.ValueLen())
		}
	}
	if _, err := DecodePointer([]byte{5, 42, 21, 100, 0, 0, 0, 0}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("tag 5: %v, want ErrCorrupt", err)
	}
	big := binary.AppendUvarint([]byte{3, 1, 1, 1}, compress.MaxDecoded+1)
	if _, err := DecodePointer(append(big, 0, 0, 0, 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("size above compress.MaxDecoded: %v, want ErrCorrupt", err)
	}
	// Refs name objects by kind alone: a compressed pointer's tag is not
	// an object tag there.
	if _, err := DecodeRefs([]byte{refsVersion, 1, 3, 42, 10, 1}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("refs with tag 3: %v, want ErrCorrupt", err)
	}
}

func TestCompressedValue(t *testing.T) {
	codecs := compress.NewCodecs()
	text := bytes.Repeat([]byte("a value that compresses well. "), 200)
	random := make([]byte, 4096)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	for _, codec := range []compress.Codec{compress.Snappy, compress.Zstd} {
		c := compress.NewCompressor(codec, codecs)
		prefix := []byte("before")
		out, ok, err := AppendCompressed(prefix, &c, random)
		if ok || err != nil || !bytes.Equal(out, prefix) {
			t.Fatalf("%s: random bytes: ok %v, %v, %d bytes out", codec, ok, err, len(out))
		}
		stored, ok, err := AppendCompressed(nil, &c, text)
		if !ok || err != nil || stored[0] != byte(codec) || len(stored) >= len(text)/2 {
			t.Fatalf("%s: text: ok %v, %v, %d bytes", codec, ok, err, len(stored))
		}
		p := Pointer{Obj: WAL(1), Off: 100, Len: uint64(len(stored)), CRC: Checksum(stored), Compressed: true, Size: uint64(len(text))}
		if v, err := p.Value(stored, codecs); err != nil || !bytes.Equal(v, text) {
			t.Fatalf("%s: Value = %d bytes, %v", codec, len(v), err)
		}
		// Damage: the checksum catches it before decoding.
		for _, i := range []int{0, 1, len(stored) / 2, len(stored) - 1} {
			bad := bytes.Clone(stored)
			bad[i] ^= 0x10
			if v, err := p.Value(bad, codecs); !errors.Is(err, ErrCorrupt) || v != nil {
				t.Fatalf("%s: byte %d changed: %d bytes, %v; want ErrCorrupt", codec, i, len(v), err)
			}
			// With a checksum that matches the damage, decoding still
			// refuses it or yields exactly Size bytes.
			q := p
			q.CRC = Checksum(bad)
			if v, err := q.Value(bad, codecs); err == nil && uint64(len(v)) != p.Size {
				t.Fatalf("%s: byte %d changed, checksum fixed: %d bytes without an error", codec, i, len(v))
			}
		}
		// A pointer whose size disagrees with the payload.
		q := p
		q.Size--
		if _, err := q.Value(stored, codecs); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: wrong size: %v, want ErrCorrupt", codec, err)
		}
		// The codec byte must name a codec.
		for _, b := range []byte{0, 3, 255} {
			bad := bytes.Clone(stored)
			bad[0] = b
			if _, err := Decompress(bad, codecs, len(text)); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("codec byte %d: %v, want ErrCorrupt", b, err)
			}
		}
	}
}

func TestPointerCheck(t *testing.T) {
	v := []byte("some value")
	p := Pointer{Obj: WAL(3), Off: 100, Len: uint64(len(v)), CRC: Checksum(v)}
	if err := p.Check(v); err != nil {
		t.Fatal(err)
	}
	if err := p.Check([]byte("some valuE")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("changed byte: %v", err)
	}
	if err := p.Check(v[:5]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short value: %v", err)
	}
}

func TestRefsRoundTrip(t *testing.T) {
	r := Refs{}
	r.Add(WAL(9), 4096)
	r.Add(WAL(2), 10)
	r.Add(WAL(9), 4096)
	r.Add(Value(valueID(1)), 7)
	b := EncodeRefs(r)
	got, err := DecodeRefs(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[WAL(9)] != (Count{Values: 2, Bytes: 8192}) || got[Value(valueID(1))] != (Count{1, 7}) {
		t.Fatalf("decoded %v", got)
	}
	if r.Bytes() != 8192+10+7 {
		t.Fatalf("Bytes = %d", r.Bytes())
	}
	if !bytes.Equal(EncodeRefs(got), b) {
		t.Fatal("encoding is not canonical")
	}
	if EncodeRefs(Refs{}) != nil {
		t.Fatal("empty refs encode to bytes")
	}
	if got, err := DecodeRefs(nil); err != nil || len(got) != 0 {
		t.Fatalf("DecodeRefs(nil) = %v, %v", got, err)
	}
	for i := 1; i < len(b); i++ {
		if _, err := DecodeRefs(b[:i]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: %v", i, err)
		}
	}
}

func TestBuilderAndHeader(t *testing.T) {
	id := valueID(40)
	b := NewBuilder(id, 0)
	if !b.Empty() || b.Object() != Value(id) {
		t.Fatal("new builder")
	}
	plain := []byte("first")
	src1 := Pointer{Obj: WAL(4), Off: 100, Len: uint64(len(plain)), CRC: Checksum(plain)}
	c := compress.NewCompressor(compress.Zstd, nil)
	big := bytes.Repeat([]byte{1}, 5000)
	stored, ok, err := AppendCompressed(nil, &c, big)
	if !ok || err != nil {
		t.Fatalf("not compressed: %v", err)
	}
	src2 := Pointer{Obj: Value(valueID(9)), Off: 30, Len: uint64(len(stored)), CRC: Checksum(stored),
		Compressed: true, Size: uint64(len(big))}
	p1 := b.Copy(src1, plain)
	p2 := b.Copy(src2, stored)
	obj := b.Bytes()
	if got, err := DecodeHeader(obj); err != nil || got != id {
		t.Fatalf("DecodeHeader = %x, %v", got, err)
	}
	codecs := compress.NewCodecs()
	for _, tc := range []struct {
		p, src Pointer
		want   []byte
	}{{p1, src1, plain}, {p2, src2, big}} {
		if tc.p.Obj != Value(id) || tc.p.Len != tc.src.Len || tc.p.CRC != tc.src.CRC ||
			tc.p.Compressed != tc.src.Compressed || tc.p.Size != tc.src.Size {
			t.Fatalf("copy of %+v is %+v", tc.src, tc.p)
		}
		v, err := tc.p.Value(obj[tc.p.Off:tc.p.Off+tc.p.Len], codecs)
		if err != nil || !bytes.Equal(v, tc.want) {
			t.Fatalf("%+v: value of %d bytes (%v), not what was copied", tc.p, len(v), err)
		}
	}
	bad := bytes.Clone(obj)
	bad[7] ^= 1
	if _, err := DecodeHeader(bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("damaged header: %v", err)
	}
	if got, ok := ParseHexID(Value(id).HexID()); !ok || got != id {
		t.Fatal("hex id does not round-trip")
	}
}

func FuzzDecodePointer(f *testing.F) {
	f.Add(AppendPointer(nil, Pointer{Obj: WAL(5), Off: 30, Len: 4096, CRC: 9}))
	f.Add(AppendPointer(nil, Pointer{Obj: Value(valueID(3)), Off: 25, Len: 1, CRC: 1}))
	f.Add(AppendPointer(nil, Pointer{Obj: WAL(5), Off: 30, Len: 400, CRC: 9, Compressed: true, Size: 4096}))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePointer(b)
		if err != nil {
			return
		}
		if q, err := DecodePointer(AppendPointer(nil, p)); err != nil || q != p {
			t.Fatalf("%x decodes to %+v, which does not round-trip: %+v, %v", b, p, q, err)
		}
	})
}

func FuzzDecodeRefs(f *testing.F) {
	r := Refs{}
	r.Add(WAL(5), 4096)
	r.Add(Value(valueID(3)), 100)
	f.Add(EncodeRefs(r))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRefs(b)
		if err != nil {
			return
		}
		if q, err := DecodeRefs(EncodeRefs(r)); err != nil || !maps.Equal(q, r) {
			t.Fatalf("%x decodes to %v, which does not round-trip: %v, %v", b, r, q, err)
		}
	})
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add(AppendHeader(nil, valueID(1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := DecodeHeader(b)
		if err == nil && !bytes.Equal(AppendHeader(nil, id), b[:HeaderSize]) {
			t.Fatal("header does not round-trip")
		}
	})
}

func FuzzDecompress(f *testing.F) {
	codecs := compress.NewCodecs()
	for _, codec := range []compress.Codec{compress.Snappy, compress.Zstd} {
		c := compress.NewCompressor(codec, nil)
		v, _, _ := AppendCompressed(nil, &c, bytes.Repeat([]byte("abc"), 100))
		f.Add(v)
	}
	f.Add([]byte{0, 1, 2})
	const limit = 1 << 20
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Decompress(b, codecs, limit)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error without ErrCorrupt: %v", err)
			}
			return
		}
		if len(v) > limit {
			t.Fatalf("decoded %d bytes past the limit", len(v))
		}
	})
}
